package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	neturl "net/url"
	"strings"
	"time"
)

const healthcheckHelp = `Asks a clerksync process (serve, work or run) for /readyz and exits 0 when it answers 200,
1 otherwise (not ready, or nothing answering within --timeout), with one line on stderr.
Made for container health checks in images without a shell or curl:

  HEALTHCHECK CMD ["/usr/local/bin/clerksync", "healthcheck"]

The default URL is http://127.0.0.1:PORT/readyz with PORT taken from LISTEN_ADDR (:8080 unless
set); a LISTEN_ADDR bound to one address is asked on that address.`

func cmdHealthcheck(ctx context.Context, e *Env, args []string) error {
	fs := newFlags(e, "healthcheck", "[--url URL] [--timeout D]", healthcheckHelp)
	target := fs.String("url", "", "the readiness `URL` to ask (default from LISTEN_ADDR)")
	timeout := fs.Duration("timeout", 3*time.Second, "give up after `D`; /readyz itself answers within 2s")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageError("unexpected argument %q (clerksync healthcheck -h)", fs.Arg(0))
	}
	if *timeout <= 0 {
		return usageError("--timeout: want a positive duration")
	}
	url := *target
	if url == "" {
		cfg, err := e.Config()
		if err != nil {
			return err
		}
		if url, err = readyzURL(cfg.ListenAddr); err != nil {
			return err
		}
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return usageError("--url %q: %v", url, err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return fmt.Errorf("%s: no answer within %s", url, *timeout)
		}
		return fmt.Errorf("%s: %w (is clerksync listening there?)", url, unwrapURLError(err))
	}
	defer resp.Body.Close()
	line := firstLine(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s answered %s: %s", url, resp.Status, line)
	}
	fmt.Fprintf(e.Stdout, "%s: %s\n", url, line)
	return nil
}

// readyzURL is where a process listening on addr answers /readyz: loopback
// unless it listens on one address only.
func readyzURL(addr string) (string, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", fmt.Errorf("LISTEN_ADDR %q: want host:port or :port", addr)
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port) + "/readyz", nil
}

// firstLine is the start of an answer's body, enough to say why it is not
// ready ("unavailable: [postgres]").
func firstLine(r io.Reader) string {
	s := bufio.NewScanner(io.LimitReader(r, 4096))
	if s.Scan() {
		return strings.TrimSpace(s.Text())
	}
	return "(empty answer)"
}

// unwrapURLError drops net/http's `Get "URL":` prefix, which repeats the URL.
func unwrapURLError(err error) error {
	var ue *neturl.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}
