package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/jmoiron/sqlx"
	svix "github.com/svix/svix-webhooks/go"

	"github.com/clerksync/clerksync/config"
	"github.com/clerksync/clerksync/db"
	"github.com/clerksync/clerksync/internal/testenv"
	"github.com/clerksync/clerksync/worker"
)

const testSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

// harness is a whole clerksync process on 127.0.0.1:0 over its own
// Postgres database and Redis DB.
type harness struct {
	app   *App
	cfg   config.Config
	conn  *sqlx.DB
	url   string
	redis asynq.RedisConnOpt
	wh    *svix.Webhook
	logs  *syncBuffer
}

func startApp(t testing.TB, roles Roles, tweak ...func(*config.Config)) *harness {
	t.Helper()
	ctx := context.Background()
	cfg := testConfig(t, tweak...)
	logs := &syncBuffer{}
	app, err := NewApp(ctx, cfg, roles, slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	if err != nil {
		t.Fatal(err)
	}
	if err := app.Start(); err != nil {
		t.Fatal(err)
	}
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			app.Shutdown()
		}
	})
	conn, err := db.Open(ctx, cfg.DatabaseURL.Reveal(), cfg.DatabaseSchema, 4)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	opt, _ := worker.RedisConnOpt(cfg.RedisURL.Reveal())
	wh, _ := svix.NewWebhook(testSecret)
	return &harness{app: app, cfg: cfg, conn: conn, url: "http://" + app.Addr(), redis: opt, wh: wh, logs: logs}
}

// testConfig is the configuration of a test process: its own Postgres
// database and Redis DB, the test secret, a free port.
func testConfig(t testing.TB, tweak ...func(*config.Config)) config.Config {
	t.Helper()
	cfg, err := config.Load(func(k string) (string, bool) {
		switch k {
		case "DATABASE_URL":
			return testenv.Postgres(t), true
		case "REDIS_URL":
			return testenv.Redis(t), true
		case "CLERK_WEBHOOK_SIGNING_SECRET":
			return testSecret, true
		case "LISTEN_ADDR":
			return "127.0.0.1:0", true
		case "SHUTDOWN_TIMEOUT":
			return "10s", true
		}
		return "", false
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range tweak {
		f(&cfg)
	}
	return cfg
}

// post signs body as Svix would and posts it to the receiver.
func (h *harness) post(t testing.TB, client *http.Client, msgID string, body []byte) int {
	now := time.Now()
	sig, err := h.wh.Sign(msgID, now, body)
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodPost, h.url+"/webhooks/clerk", bytes.NewReader(body))
	req.Header.Set("svix-id", msgID)
	req.Header.Set("svix-timestamp", strconv.FormatInt(now.Unix(), 10))
	req.Header.Set("svix-signature", sig)
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		t.Errorf("post %s: %v", msgID, err)
		return 0
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

func (h *harness) get(t *testing.T, path string) (int, string) {
	t.Helper()
	resp, err := http.Get(h.url + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// drained waits until the queue holds no pending, active, scheduled or
// retrying task, and fails on any archived one.
func (h *harness) drained(t testing.TB, within time.Duration) {
	t.Helper()
	h.waitDrained(t, within, 50*time.Millisecond, 3)
}

// drainedQuick returns as soon as the queue is first seen empty, for timing.
func (h *harness) drainedQuick(t testing.TB) {
	t.Helper()
	h.waitDrained(t, 10*time.Minute, 5*time.Millisecond, 1)
}

func (h *harness) waitDrained(t testing.TB, within, poll time.Duration, quietPolls int) {
	t.Helper()
	insp := asynq.NewInspector(h.redis)
	defer insp.Close()
	deadline := time.Now().Add(within)
	quiet := 0
	for quiet < quietPolls {
		if time.Now().After(deadline) {
			t.Fatalf("queue not drained within %s", within)
		}
		time.Sleep(poll)
		info, err := insp.GetQueueInfo(worker.Queue)
		if err != nil {
			quiet = 0 // the queue appears with its first task
			continue
		}
		if info.Archived > 0 {
			t.Fatalf("%d tasks archived; logs:\n%s", info.Archived, h.logs.String())
		}
		if info.Pending+info.Active+info.Scheduled+info.Retry == 0 {
			quiet++
		} else {
			quiet = 0
		}
	}
}

func (h *harness) count(t testing.TB, q string, args ...any) int {
	t.Helper()
	var n int
	if err := h.conn.Get(&n, q, args...); err != nil {
		t.Fatal(err)
	}
	return n
}

// syncBuffer collects logs from many goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
