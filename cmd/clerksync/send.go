package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	neturl "net/url"
	"os"
	"strconv"
	"time"

	svix "github.com/svix/svix-webhooks/go"

	"github.com/clerksync/clerksync"
)

// samples are the bundled demo events: one user, user_clerksync_demo, created,
// updated and deleted, with made-up contact details.
//
//go:embed samples/*.json
var samples embed.FS

const sendHelp = `Signs a Clerk webhook event with the first CLERK_WEBHOOK_SIGNING_SECRET, as Svix
would (a fresh svix-id, the current svix-timestamp), posts it to the receiver and
prints the answer: a way to see the mirror fill without a Clerk account or a tunnel.

TYPE is one of the bundled samples, all about the demo user user_clerksync_demo:
  user.created   (the default) a user with three emails, two phones, a wallet,
                 Google and GitHub accounts and metadata
  user.updated   the same user later: primary email switched, an email and the
                 GitHub account removed, names and metadata changed
  user.deleted   the deletion: the user and its contact rows go, a tombstone stays
A sample's timestamp (and a snapshot's updated_at) is set to now, so that each
send is newer than the one before. Once the demo user is deleted it stays deleted:
the mirror never brings a deleted user back.

FILE is any Clerk event JSON file, sent byte for byte; - reads it from stdin.

The receiver is --url, or http://LISTEN_ADDR/webhooks/clerk (a LISTEN_ADDR
without a host, like :8080, means 127.0.0.1).

Exit status: 0 when the receiver answered 2xx, 1 otherwise, 2 for a usage error.`

// sendTimeout bounds the whole request; Svix itself gives up after 15 s.
const sendTimeout = 15 * time.Second

func cmdSend(ctx context.Context, e *Env, args []string) error {
	fs := newFlags(e, "send", "[--url URL] [TYPE|FILE|-]", sendHelp)
	target := fs.String("url", "", "post to `URL` instead of http://LISTEN_ADDR/webhooks/clerk")
	what, err := parseSendArgs(fs, args)
	if err != nil {
		return err
	}
	body, err := sendBody(e, what, time.Now())
	if err != nil {
		return err
	}
	cfg, err := e.Config()
	if err != nil {
		return err
	}
	if err := cfg.RequireSigningSecrets(); err != nil {
		return err
	}
	url := *target
	if url == "" {
		url = receiverURL(cfg.ListenAddr)
	}
	env, err := clerksync.ParseEnvelope(body)
	if err == nil {
		fmt.Fprintf(e.Stdout, "POST %s  %s %s\n", url, env.Type, env.ObjectID)
	} else {
		// Sent anyway: seeing the receiver answer 400 is the point of a bad file.
		fmt.Fprintf(e.Stdout, "POST %s  (not a Clerk event: %v)\n", url, err)
	}
	return post(ctx, e, url, cfg.SigningSecrets[0].Reveal(), body)
}

// parseSendArgs takes flags before or after the one positional argument.
func parseSendArgs(fs *flag.FlagSet, args []string) (string, error) {
	if err := parseFlags(fs, args); err != nil {
		return "", err
	}
	rest := fs.Args()
	if len(rest) == 0 {
		return clerksync.UserCreated, nil
	}
	what := rest[0]
	if err := parseFlags(fs, rest[1:]); err != nil {
		return "", err
	}
	if fs.NArg() > 0 {
		return "", &exitError{code: 2, msg: fmt.Sprintf("one TYPE or FILE at most, got %q too (clerksync send -h)", fs.Arg(0))}
	}
	return what, nil
}

// sendBody is the event to send: a bundled sample stamped with now, a file
// as it is, or stdin.
func sendBody(e *Env, what string, now time.Time) ([]byte, error) {
	if clerksync.IsUserEvent(what) {
		raw, err := samples.ReadFile("samples/" + what + ".json")
		if err != nil {
			return nil, fmt.Errorf("sample %s: %w", what, err)
		}
		return stampSample(raw, now)
	}
	if what == "-" {
		return readEvent(e.Stdin, "stdin")
	}
	f, err := os.Open(what)
	if errors.Is(err, os.ErrNotExist) {
		return nil, &exitError{code: 2, msg: fmt.Sprintf("%q is neither user.created, user.updated, user.deleted nor a file", what)}
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", what, err)
	}
	defer f.Close()
	return readEvent(f, what)
}

// maxEventBytes is the receiver's body limit: a larger event would only be
// refused with 413, so it is refused here, whole, rather than cut and signed.
const maxEventBytes = 1 << 20

func readEvent(r io.Reader, name string) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, maxEventBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	if len(b) > maxEventBytes {
		return nil, fmt.Errorf("%s is larger than the receiver's 1 MiB limit", name)
	}
	return b, nil
}

// stampSample sets the envelope timestamp and a snapshot's updated_at to
// now, so that a later send orders after an earlier one, as in Clerk.
func stampSample(raw []byte, now time.Time) ([]byte, error) {
	ms := json.RawMessage(strconv.FormatInt(now.UnixMilli(), 10))
	var ev map[string]json.RawMessage
	if err := json.Unmarshal(raw, &ev); err != nil {
		return nil, fmt.Errorf("sample: %w", err)
	}
	var data map[string]json.RawMessage
	if err := json.Unmarshal(ev["data"], &data); err != nil {
		return nil, fmt.Errorf("sample data: %w", err)
	}
	if _, ok := data["updated_at"]; ok {
		data["updated_at"] = ms
	}
	d, err := json.Marshal(data)
	if err != nil {
		return nil, fmt.Errorf("sample data: %w", err)
	}
	ev["data"], ev["timestamp"] = d, ms
	out, err := json.MarshalIndent(ev, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("sample: %w", err)
	}
	return out, nil
}

// receiverURL is the webhook endpoint of a receiver listening on addr; an
// address without a host (":8080", "0.0.0.0:8080") is reached on loopback.
func receiverURL(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "http://" + addr + "/webhooks/clerk"
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port) + "/webhooks/clerk"
}

// post signs body as Svix does and posts it; anything but a 2xx answer is
// an error (exit 1) after the answer is printed.
func post(ctx context.Context, e *Env, url, secret string, body []byte) error {
	wh, err := svix.NewWebhook(secret)
	if err != nil {
		return errors.New("CLERK_WEBHOOK_SIGNING_SECRET: want whsec_ followed by base64")
	}
	msgID := "msg_" + randomID()
	now := time.Now()
	sig, err := wh.Sign(msgID, now, body)
	if err != nil {
		return fmt.Errorf("sign: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, sendTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return &exitError{code: 2, msg: fmt.Sprintf("--url %q: %v", url, err)}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("svix-id", msgID)
	req.Header.Set("svix-timestamp", strconv.FormatInt(now.Unix(), 10))
	req.Header.Set("svix-signature", sig)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		// url.Error repeats the method and URL; the message has them already.
		var ue *neturl.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return fmt.Errorf("post to %s: %w (is clerksync run or serve listening there?)", url, err)
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	fmt.Fprintf(e.Stdout, "svix-id %s\n%s %s\n", msgID, resp.Proto, resp.Status)
	if len(answer) > 0 {
		fmt.Fprintf(e.Stdout, "%s\n", bytes.TrimRight(answer, "\n"))
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return &exitError{code: 1, msg: fmt.Sprintf("the receiver answered %s", resp.Status)}
	}
	return nil
}

// randomID is a fresh delivery id, unique like Svix's.
func randomID() string {
	b := make([]byte, 12)
	rand.Read(b)
	return hex.EncodeToString(b)
}
