package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/clerksync/clerksync/internal/testenv"
)

// The start-up line of serve, work and run shows the configuration with
// every credential hidden, query parameters included.
func TestStartupLogHidesURLCredentials(t *testing.T) {
	for _, cmd := range []string{"serve", "work", "run"} {
		t.Run(cmd, func(t *testing.T) {
			// Trust authentication ignores the password; asynq ignores the
			// query of a redis:// URL: both start, and both must not print.
			env := map[string]string{
				"DATABASE_URL":                 testenv.Postgres(t) + "&password=hunter2pg",
				"REDIS_URL":                    testenv.Redis(t) + "?sentinel_password=hunter2sentinel",
				"CLERK_WEBHOOK_SIGNING_SECRET": testSecret,
				"LISTEN_ADDR":                  "127.0.0.1:0",
				"ADMIN_USER":                   "ops",
				"ADMIN_PASSWORD":               "hunter2admin",
			}
			stderr := &syncBuffer{}
			e := &Env{Stdin: strings.NewReader(""), Stdout: &bytes.Buffer{}, Stderr: stderr,
				Lookup: func(k string) (string, bool) { v, ok := env[k]; return v, ok }}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan int, 1)
			go func() { done <- Main(ctx, e, []string{cmd}) }()
			deadline := time.Now().Add(30 * time.Second)
			for !strings.Contains(stderr.String(), "clerksync starting") {
				select {
				case code := <-done:
					t.Fatalf("exit %d before the start-up line:\n%s", code, stderr)
				case <-time.After(10 * time.Millisecond):
				}
				if time.Now().After(deadline) {
					cancel()
					t.Fatalf("no start-up line:\n%s", stderr)
				}
			}
			cancel()
			if code := <-done; code != 0 {
				t.Errorf("exit %d:\n%s", code, stderr)
			}
			out := stderr.String()
			if strings.Contains(out, "hunter2") || strings.Contains(out, testSecret[6:]) {
				t.Errorf("the log shows a credential:\n%s", out)
			}
			if !strings.Contains(out, "password=xxxxx") || !strings.Contains(out, "sentinel_password=xxxxx") {
				t.Errorf("the start-up line does not show the URLs, redacted:\n%s", out)
			}
		})
	}
}
