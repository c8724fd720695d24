package main

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func readFixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestEndToEnd boots the whole program (migrate, receiver, worker) on
// 127.0.0.1:0 and drives it over HTTP as Clerk would.
func TestEndToEnd(t *testing.T) {
	h := startApp(t, Roles{Migrate: true, Serve: true, Work: true})
	client := &http.Client{Timeout: 10 * time.Second}

	if code, _ := h.get(t, "/healthz"); code != 200 {
		t.Errorf("healthz %d", code)
	}
	if code, body := h.get(t, "/readyz"); code != 200 {
		t.Errorf("readyz %d %s", code, body)
	}
	for i, name := range []string{
		"20-user.created.composed-multi-contact.json",
		"21-user.updated.composed-multi-contact.json",
		"02-user.created.real-2025-email-code.json",
		"10-user.created.openapi-example.json",
		"11-user.updated.openapi-example.json",
	} {
		if code := h.post(t, client, "msg_e2e_"+string(rune('a'+i)), readFixture(t, name)); code != 200 {
			t.Fatalf("%s: status %d", name, code)
		}
	}
	// Not a user event: accepted and ignored.
	if code := h.post(t, client, "msg_session", []byte(`{"type":"session.created","object":"event","data":{"id":"sess_1"}}`)); code != 200 {
		t.Fatalf("session.created: %d", code)
	}
	h.drained(t, 20*time.Second)
	if n := h.count(t, `SELECT count(*) FROM users`); n != 3 {
		t.Fatalf("%d users, want 3", n)
	}
	if n := h.count(t, `SELECT count(*) FROM users WHERE last_name = 'King' AND primary_email_address = 'ada.lovelace@analytical.example'`); n != 1 {
		t.Errorf("update not applied")
	}
	if n := h.count(t, `SELECT count(*) FROM users WHERE username = 'johndoe'`); n != 1 {
		t.Errorf("openapi update not applied")
	}

	// The deletion removes everything personal.
	if code := h.post(t, client, "msg_e2e_del", readFixture(t, "22-user.deleted.composed.json")); code != 200 {
		t.Fatalf("delete: %d", code)
	}
	h.drained(t, 20*time.Second)
	if n := h.count(t, `SELECT count(*) FROM users WHERE id = 'user_2zK9mQv7Xc3LrT8pWn4Yb6Hd1Fs'`); n != 0 {
		t.Errorf("deleted user still there")
	}
	if n := h.count(t, `SELECT count(*) FROM email_addresses WHERE email_address LIKE 'ada%'`); n != 0 {
		t.Errorf("deleted user's emails still there")
	}
	if n := h.count(t, `SELECT count(*) FROM deleted_users WHERE external_id = 'legacy-42'`); n != 1 {
		t.Errorf("no tombstone")
	}
	// No personal data in the logs either.
	logs := h.logs.String()
	for _, pii := range []string{"ada@example.com", "Lovelace", "+14155550123", "reader@example.com", "cus_Q1w2E3r4T5y6U7", testSecret} {
		if strings.Contains(logs, pii) {
			t.Errorf("logs contain %q", pii)
		}
	}
}

// TestGracefulShutdown: SIGTERM (the context ending) stops the receiver and
// worker without losing a queued event, and Run returns nil (exit 0).
func TestGracefulShutdown(t *testing.T) {
	h := startApp(t, Roles{Migrate: true, Serve: true})
	client := &http.Client{Timeout: 10 * time.Second}
	const n = 50
	for i := range n {
		body := userEvent(t, userSnapshot{id: propUserID(i), updatedAt: 1752566400000, first: "First", emails: []contact{{id: "idn_e" + propUserID(i), value: "u@example.com"}}, primaryEmail: 0, primaryPhone: -1, prim: -1})
		if code := h.post(t, client, "msg_shutdown_"+propUserID(i), body); code != 200 {
			t.Fatalf("status %d", code)
		}
	}
	// A worker that is told to stop while the tasks run: what it did not
	// finish goes back to the queue, and a second worker finishes it.
	ctx, cancel := context.WithCancel(context.Background())
	w, err := NewApp(ctx, h.cfg, Roles{Work: true}, discardLogger())
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	time.Sleep(100 * time.Millisecond)
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("worker did not stop")
	}
	w2, err := NewApp(context.Background(), h.cfg, Roles{Work: true}, discardLogger())
	if err != nil {
		t.Fatal(err)
	}
	if err := w2.Start(); err != nil {
		t.Fatal(err)
	}
	defer w2.Shutdown()
	h.drained(t, 20*time.Second)
	if got := h.count(t, `SELECT count(*) FROM users`); got != n {
		t.Fatalf("%d users after shutdown and restart, want %d", got, n)
	}
	// The receiver stops accepting and its Run returns cleanly too.
	if err := h.app.Shutdown(); err != nil {
		t.Fatalf("receiver shutdown: %v", err)
	}
	if _, err := client.Get(h.url + "/healthz"); err == nil {
		t.Error("receiver still answers after shutdown")
	}
}
