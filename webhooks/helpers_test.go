package webhooks_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	svix "github.com/svix/svix-webhooks/go"

	"github.com/clerksync/clerksync"
	"github.com/clerksync/clerksync/webhooks"
)

const (
	// testSecret and otherSecret are the two secrets of the Svix rotation vector.
	testSecret  = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	otherSecret = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD"
	testID      = "msg_2zK9nC8uF1hJ4kL7mN0pQ3rS6tV"
	maxBody     = 1 << 20
)

// testNow is the fixed clock of every test handler; requests are signed at it
// unless a test says otherwise.
var testNow = time.Unix(1752566401, 0)

// fakeEnqueuer is an in-memory queue keyed by delivery id, like the real one.
type fakeEnqueuer struct {
	mu         sync.Mutex
	err        error                   // returned by every call when set
	result     clerksync.EnqueueResult // returned for a new id when set
	calls      int
	queued     map[string]clerksync.Delivery
	order      []clerksync.Delivery
	deadlineIn time.Duration // how long the last call's context had left
}

func newFakeEnqueuer() *fakeEnqueuer {
	return &fakeEnqueuer{queued: map[string]clerksync.Delivery{}}
}

func (f *fakeEnqueuer) Enqueue(ctx context.Context, d clerksync.Delivery) (clerksync.EnqueueResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if dl, ok := ctx.Deadline(); ok {
		f.deadlineIn = time.Until(dl)
	}
	if f.err != nil {
		return "", f.err
	}
	if _, dup := f.queued[d.ID]; dup {
		return clerksync.Duplicate, nil
	}
	d.Body = bytes.Clone(d.Body)
	f.queued[d.ID] = d
	f.order = append(f.order, d)
	if f.result != "" {
		return f.result, nil
	}
	return clerksync.Queued, nil
}

func (f *fakeEnqueuer) setErr(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.err = err
}

func (f *fakeEnqueuer) snapshot() (calls int, deliveries []clerksync.Delivery) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls, append([]clerksync.Delivery(nil), f.order...)
}

// setup holds what a test needs to look at after a request.
type setup struct {
	h    *webhooks.Handler
	enq  *fakeEnqueuer
	reg  *prometheus.Registry
	logs *bytes.Buffer
}

// newSetup builds a handler with testSecret, a fake queue, a private
// registry, a JSON log buffer at debug level and the clock fixed at testNow.
func newSetup(t testing.TB, secrets ...string) *setup {
	t.Helper()
	return newSetupAt(t, testNow, secrets...)
}

// newSetupAt is newSetup with the clock fixed at now.
func newSetupAt(t testing.TB, now time.Time, secrets ...string) *setup {
	t.Helper()
	if len(secrets) == 0 {
		secrets = []string{testSecret}
	}
	s := &setup{enq: newFakeEnqueuer(), reg: prometheus.NewRegistry(), logs: &bytes.Buffer{}}
	h, err := webhooks.NewHandler(webhooks.Options{
		Secrets:    secrets,
		Enqueuer:   s.enq,
		Logger:     slog.New(slog.NewJSONHandler(&lockedWriter{w: s.logs}, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Registerer: s.reg,
		Now:        func() time.Time { return now },
	})
	if err != nil {
		t.Fatalf("NewHandler: %v", err)
	}
	s.h = h
	return s
}

// lockedWriter lets concurrent requests share one log buffer under -race.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// serve runs one request through the handler.
func (s *setup) serve(r *http.Request) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	s.h.ServeHTTP(rec, r)
	return rec
}

// sign returns the v1 signature of body under secret.
func sign(t testing.TB, secret, id string, ts time.Time, body []byte) string {
	t.Helper()
	wh, err := svix.NewWebhook(secret)
	if err != nil {
		t.Fatalf("svix.NewWebhook: %v", err)
	}
	sig, err := wh.Sign(id, ts, body)
	if err != nil {
		t.Fatalf("Sign: %v", err)
	}
	return sig
}

// signedRequest is a POST carrying body, signed with secret at ts under the
// svix-* headers.
func signedRequest(t testing.TB, secret, id string, ts time.Time, body []byte) *http.Request {
	t.Helper()
	r := httptest.NewRequest(http.MethodPost, "/webhooks/clerk", bytes.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set("svix-id", id)
	r.Header.Set("svix-timestamp", unix(ts))
	r.Header.Set("svix-signature", sign(t, secret, id, ts, body))
	return r
}

func unix(ts time.Time) string { return strconv.FormatInt(ts.Unix(), 10) }

func fixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "testdata", name))
	if err != nil {
		t.Fatalf("read fixture: %v", err)
	}
	return b
}

func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }
