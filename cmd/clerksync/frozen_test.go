package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/clerksync/clerksync/config"
	"github.com/clerksync/clerksync/db"
	"github.com/clerksync/clerksync/internal/testenv"
	"github.com/clerksync/clerksync/worker"
)

// The tests here freeze (SIGSTOP) a Postgres or Redis of their own: the
// connections stay open and nothing answers, which no timeout of the
// drivers notices by itself. The bounds are checked with a client timeout
// well above them (timings on a shared machine are noisy); the measured
// times are logged.

// TestReadinessWithServicesFrozen: /readyz answers 503 naming the frozen
// service within its 2 s budget, for a receiver and for a worker.
func TestReadinessWithServicesFrozen(t *testing.T) {
	pg := testenv.StartPostgres(t)
	rd := testenv.StartRedis(t)
	pgURL := pg.CreateDatabase("ready")
	client := &http.Client{Timeout: readyBudget + 2*time.Second}
	for _, roles := range []Roles{{Serve: true}, {Work: true}} {
		name := "Serve"
		if roles.Work {
			name = "Work"
		}
		t.Run(name, func(t *testing.T) {
			base := bareApp(t, roles, withDatabase(pgURL), func(c *config.Config) { c.RedisURL = config.URL(rd.URL()) })
			check := func(want int, wantBody string) {
				t.Helper()
				start := time.Now()
				resp, err := client.Get(base + "/readyz")
				if err != nil {
					t.Fatalf("readyz did not answer within %s: %v", client.Timeout, err)
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				t.Logf("readyz %d %q after %s", resp.StatusCode, strings.TrimSpace(string(b)), time.Since(start).Round(time.Millisecond))
				if resp.StatusCode != want || !strings.Contains(string(b), wantBody) {
					t.Errorf("readyz %d %q, want %d naming %s", resp.StatusCode, b, want, wantBody)
				}
			}
			check(200, "ready")
			pg.Freeze()
			check(503, "postgres")
			pg.Thaw()
			rd.Freeze()
			check(503, "redis")
			rd.Thaw()
		})
	}
}

// TestReceiverAnswersWithRedisFrozen: with Redis frozen, a delivery is
// answered 503 within the enqueue bound (5 s), well inside Svix's 15 s.
func TestReceiverAnswersWithRedisFrozen(t *testing.T) {
	rd := testenv.StartRedis(t)
	h := startApp(t, Roles{Migrate: true, Serve: true}, func(c *config.Config) { c.RedisURL = config.URL(rd.URL()) })
	client := &http.Client{Timeout: 9 * time.Second}
	body := readFixture(t, "20-user.created.composed-multi-contact.json")
	if code := h.post(t, client, "msg_frozen_before", body); code != 200 {
		t.Fatalf("before the freeze: %d", code)
	}
	rd.Freeze()
	defer rd.Thaw()
	for i := range 2 {
		start := time.Now()
		code := h.post(t, client, fmt.Sprintf("msg_frozen_%d", i), body)
		t.Logf("answered %d after %s", code, time.Since(start).Round(time.Millisecond))
		if code != http.StatusServiceUnavailable {
			t.Errorf("status %d with Redis frozen, want 503 within the bound", code)
		}
	}
}

// TestShutdownWithPostgresFrozen: SIGTERM while the worker's batch waits on
// a frozen Postgres. The process is done within SHUTDOWN_TIMEOUT, the tasks
// it held are back in the queue without a failure counted, and another
// worker applies them once Postgres answers again.
func TestShutdownWithPostgresFrozen(t *testing.T) {
	pg := testenv.StartPostgres(t)
	pgURL := pg.CreateDatabase("frozen")
	conn, err := db.Open(context.Background(), pgURL, "", 2)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Migrate(context.Background(), conn, ""); err != nil {
		t.Fatal(err)
	}
	conn.Close()
	h := startApp(t, Roles{Serve: true}, withDatabase(pgURL))
	const n = 20
	client := &http.Client{Timeout: 10 * time.Second}
	for i := range n {
		body := userEvent(t, userSnapshot{id: propUserID(i), updatedAt: 1752566400000, first: "First",
			emails: []contact{{id: "idn_e" + propUserID(i), value: "u@example.com"}}, primaryEmail: 0, primaryPhone: -1, prim: -1})
		if code := h.post(t, client, "msg_frozen_"+propUserID(i), body); code != 200 {
			t.Fatalf("status %d", code)
		}
	}
	pg.Freeze()
	thawed := false
	defer func() {
		if !thawed {
			pg.Thaw()
		}
	}()
	const timeout = 3 * time.Second
	cfg := h.cfg
	cfg.ShutdownTimeout = timeout
	w, err := NewApp(context.Background(), cfg, Roles{Work: true}, discardLogger())
	if err != nil {
		t.Fatal(err)
	}
	ctx, sigterm := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	waitFor(t, 10*time.Second, "all tasks active", func() bool { return h.queueInfo(t).Active == n })
	start := time.Now()
	sigterm()
	select {
	case err := <-done:
		t.Logf("worker stopped %s after SIGTERM (SHUTDOWN_TIMEOUT %s)", time.Since(start).Round(time.Millisecond), timeout)
		if err != nil {
			t.Errorf("Run: %v", err)
		}
	case <-time.After(timeout + 5*time.Second):
		t.Fatalf("worker still running %s after SIGTERM", timeout+5*time.Second)
	}
	info := h.queueInfo(t)
	if info.Pending+info.Retry != n || info.Active != 0 || info.Archived != 0 {
		t.Fatalf("after shutdown: %+v, want all %d back in the queue", info, n)
	}
	insp := asynq.NewInspector(h.redis)
	defer insp.Close()
	for i := range n {
		if ti, err := insp.GetTaskInfo(worker.Queue, "msg_frozen_"+propUserID(i)); err != nil || ti.Retried != 0 {
			t.Errorf("task %d: %+v %v, want back untried (retried 0)", i, ti, err)
		}
	}
	pg.Thaw()
	thawed = true
	startWorker(t, h)
	h.drained(t, 30*time.Second)
	if got := h.count(t, `SELECT count(*) FROM users`); got != n {
		t.Fatalf("%d users, want %d", got, n)
	}
}
