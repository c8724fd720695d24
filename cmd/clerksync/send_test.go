package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/clerksync/clerksync"
)

// sendEnv is the environment of a `clerksync send` run: the test secret,
// the given LISTEN_ADDR and stdin.
func sendEnv(secret, listen string, stdin []byte) (*Env, *bytes.Buffer, *bytes.Buffer) {
	var out, errOut bytes.Buffer
	return &Env{
		Stdin: bytes.NewReader(stdin), Stdout: &out, Stderr: &errOut,
		Lookup: func(k string) (string, bool) {
			switch k {
			case "CLERK_WEBHOOK_SIGNING_SECRET":
				return secret, true
			case "LISTEN_ADDR":
				return listen, listen != ""
			}
			return "", false
		},
	}, &out, &errOut
}

// TestSendFillsTheMirror: the dev loop. Each bundled sample, signed and
// posted by `clerksync send`, lands in the mirror of a running clerksync.
func TestSendFillsTheMirror(t *testing.T) {
	h := startApp(t, Roles{Migrate: true, Serve: true, Work: true})
	_, port, _ := net.SplitHostPort(h.app.Addr())
	send := func(listen string, args ...string) {
		t.Helper()
		e, out, errOut := sendEnv(testSecret, listen, nil)
		if code := Main(context.Background(), e, append([]string{"send"}, args...)); code != 0 {
			t.Fatalf("send %v: exit %d\nstdout: %s\nstderr: %s", args, code, out, errOut)
		}
		if !strings.Contains(out.String(), "200 OK") {
			t.Errorf("send %v printed %q", args, out)
		}
		h.drained(t, 20*time.Second)
	}
	const demo = "user_clerksync_demo"

	// No argument: user.created, to the receiver at LISTEN_ADDR (":port"
	// meaning loopback).
	send(":" + port)
	if n := h.count(t, `SELECT count(*) FROM users WHERE id = $1 AND primary_email_address = 'demo@example.com' AND last_name = 'User'`, demo); n != 1 {
		t.Fatal("user.created sample not mirrored")
	}
	if n := h.count(t, `SELECT count(*) FROM email_addresses WHERE user_id = $1`, demo); n != 3 {
		t.Errorf("%d emails, want 3", n)
	}

	// The update is newer than the creation however the fixtures' times
	// read: send stamps each sample with now.
	send("", "--url", h.url+"/webhooks/clerk", "user.updated")
	if n := h.count(t, `SELECT count(*) FROM users WHERE id = $1 AND primary_email_address = 'demo.user@example.org' AND last_name = 'Sample'`, demo); n != 1 {
		t.Fatal("user.updated sample not applied")
	}
	if n := h.count(t, `SELECT count(*) FROM email_addresses WHERE user_id = $1`, demo); n != 2 {
		t.Errorf("%d emails after the update, want 2", n)
	}

	// Flags after the type work too.
	send("", "user.deleted", "--url", h.url+"/webhooks/clerk")
	if n := h.count(t, `SELECT count(*) FROM users WHERE id = $1`, demo); n != 0 {
		t.Fatal("user.deleted sample did not remove the user")
	}
	if n := h.count(t, `SELECT count(*) FROM deleted_users WHERE id = $1 AND external_id = 'demo-42'`, demo); n != 1 {
		t.Error("no tombstone")
	}

	// A FILE is sent as it is; - reads stdin.
	send("", "--url", h.url+"/webhooks/clerk", filepath.Join("..", "..", "testdata", "10-user.created.openapi-example.json"))
	if n := h.count(t, `SELECT count(*) FROM users WHERE id = 'user_2g7np7Hrk0SN6kj5EDMLDaKNL0S'`); n != 1 {
		t.Error("FILE not mirrored")
	}
	e, out, errOut := sendEnv(testSecret, "", readFixture(t, "02-user.created.real-2025-email-code.json"))
	if code := Main(context.Background(), e, []string{"send", "--url", h.url + "/webhooks/clerk", "-"}); code != 0 {
		t.Fatalf("send -: exit %d: %s %s", code, out, errOut)
	}
	h.drained(t, 20*time.Second)
	if n := h.count(t, `SELECT count(*) FROM users`); n != 2 {
		t.Errorf("%d users, want 2", n)
	}
}

// TestSendFailures: anything but a 2xx answer, and every usage mistake,
// exits non-zero with one line on stderr that never shows the secret.
func TestSendFailures(t *testing.T) {
	h := startApp(t, Roles{Serve: true})
	url := h.url + "/webhooks/clerk"
	const otherSecret = "whsec_b3RoZXItc2VjcmV0LW5vdC10aGUtcmVjZWl2ZXJzLTEyMzQ="
	for _, tc := range []struct {
		name     string
		secret   string
		args     []string
		stdin    string
		wantCode int
		wantErr  string
	}{
		{"WrongSecret401", otherSecret, []string{"--url", url}, "", 1, "answered 401"},
		{"NotAnEvent400", testSecret, []string{"--url", url, "-"}, `{"hello":"world"}`, 1, "answered 400"},
		{"NoSecret", "", []string{"--url", url}, "", 1, "CLERK_WEBHOOK_SIGNING_SECRET is not set"},
		{"UnknownType", testSecret, []string{"--url", url, "user.banned"}, "", 2, "neither user.created"},
		{"TwoTargets", testSecret, []string{"--url", url, "user.created", "user.updated"}, "", 2, "one TYPE or FILE"},
		{"NobodyListening", testSecret, []string{"--url", "http://127.0.0.1:1/webhooks/clerk"}, "", 1, "is clerksync run or serve listening"},
		{"TooLargeNotCut", testSecret, []string{"--url", url, "-"}, `{"type":"user.created","data":{"id":"user_x","pad":"` + strings.Repeat("x", 1<<20) + `"}}`, 1, "larger than the receiver's 1 MiB limit"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, out, errOut := sendEnv(tc.secret, "", []byte(tc.stdin))
			code := Main(context.Background(), e, append([]string{"send"}, tc.args...))
			if code != tc.wantCode {
				t.Errorf("exit %d, want %d", code, tc.wantCode)
			}
			msg := errOut.String()
			if !strings.Contains(msg, tc.wantErr) || strings.Count(msg, "\n") != 1 {
				t.Errorf("stderr %q, want one line with %q", msg, tc.wantErr)
			}
			for _, s := range []string{testSecret, otherSecret} {
				if strings.Contains(out.String()+msg, s) {
					t.Error("output shows a secret")
				}
			}
		})
	}
}

func TestSendHelp(t *testing.T) {
	e, out, errOut := sendEnv(testSecret, "", nil)
	if code := Main(context.Background(), e, []string{"send", "-h"}); code != 0 {
		t.Fatalf("exit %d", code)
	}
	help := out.String() + errOut.String()
	for _, want := range []string{"user.created", "user.updated", "user.deleted", "--url", "LISTEN_ADDR", "FILE"} {
		if !strings.Contains(help, want) && !strings.Contains(help, strings.TrimPrefix(want, "-")) {
			t.Errorf("help does not mention %s", want)
		}
	}
	if strings.Contains(help, testSecret) {
		t.Error("help shows the secret")
	}
}

func TestReceiverURL(t *testing.T) {
	for addr, want := range map[string]string{
		":8080":          "http://127.0.0.1:8080/webhooks/clerk",
		"0.0.0.0:8080":   "http://127.0.0.1:8080/webhooks/clerk",
		"[::]:9000":      "http://127.0.0.1:9000/webhooks/clerk",
		"127.0.0.1:8080": "http://127.0.0.1:8080/webhooks/clerk",
		"example.org:80": "http://example.org:80/webhooks/clerk",
		"[::1]:8080":     "http://[::1]:8080/webhooks/clerk",
	} {
		if got := receiverURL(addr); got != want {
			t.Errorf("receiverURL(%q) = %q, want %q", addr, got, want)
		}
	}
}

// TestSamplesAreOrdered: every bundled sample is a valid event about the
// demo user, and stamping puts it at the given time.
func TestSamplesAreOrdered(t *testing.T) {
	now := time.UnixMilli(1900000000123)
	for _, typ := range []string{clerksync.UserCreated, clerksync.UserUpdated, clerksync.UserDeleted} {
		body, err := sendBody(&Env{}, typ, now)
		if err != nil {
			t.Fatal(err)
		}
		ev, err := clerksync.ParseEvent("msg_sample", body)
		if err != nil {
			t.Fatalf("%s: %v", typ, err)
		}
		if ev.Type != typ || ev.UserID != "user_clerksync_demo" || !ev.Timestamp.Equal(now) || !eventVersion(ev).Equal(now) {
			t.Errorf("%s: type %s user %s timestamp %s version %s", typ, ev.Type, ev.UserID, ev.Timestamp, eventVersion(ev))
		}
		if !json.Valid(body) {
			t.Errorf("%s: not JSON", typ)
		}
	}
}

// eventVersion is what orders ev: updated_at for a snapshot, the envelope
// time for a deletion.
func eventVersion(ev clerksync.Event) time.Time {
	if ev.User != nil {
		return ev.User.UpdatedAt.Time
	}
	return ev.Timestamp
}
