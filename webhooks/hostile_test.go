package webhooks_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/clerksync/clerksync"
	"github.com/clerksync/clerksync/webhooks"
)

// syncLog is a log buffer that may be read while the handler writes to it
// (the reject log's summaries come from a timer).
type syncLog struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *syncLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *syncLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// newHostileSetup is newSetup with a body budget and a reject-log interval;
// its logs are in the syncLog.
func newHostileSetup(t *testing.T, budget int64, every time.Duration) (*setup, *syncLog) {
	t.Helper()
	s := &setup{enq: newFakeEnqueuer(), reg: prometheus.NewRegistry()}
	logs := &syncLog{}
	h, err := webhooks.NewHandler(webhooks.Options{
		Secrets:              []string{testSecret},
		Enqueuer:             s.enq,
		Logger:               slog.New(slog.NewJSONHandler(logs, nil)),
		Registerer:           s.reg,
		Now:                  func() time.Time { return testNow },
		MaxBodyBytesInFlight: budget,
		RejectLogInterval:    every,
	})
	if err != nil {
		t.Fatal(err)
	}
	s.h = h
	return s, logs
}

func (s *setup) gauge(t *testing.T) int64 {
	t.Helper()
	mfs, err := s.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "clerksync_webhook_body_bytes_in_flight" {
			return int64(mf.GetMetric()[0].GetGauge().GetValue())
		}
	}
	t.Fatal("clerksync_webhook_body_bytes_in_flight is not registered")
	return 0
}

// waitGauge waits until the bytes in flight are want (the handler reads
// in the server's goroutines).
func (s *setup) waitGauge(t *testing.T, want int64) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for s.gauge(t) != want {
		if time.Now().After(deadline) {
			t.Fatalf("bytes in flight %d, want %d", s.gauge(t), want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func post(t *testing.T, srv *httptest.Server, id string, body []byte) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/webhooks/clerk", bytes.NewReader(body))
	req.Header.Set("svix-id", id)
	req.Header.Set("svix-timestamp", unix(testNow))
	req.Header.Set("svix-signature", sign(t, testSecret, id, testNow, body))
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatalf("POST: %v", err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// Unauthenticated bodies cannot make the receiver buffer without bound:
// slow senders hold what they have sent, and past the budget every request
// is answered 503 at once (without waiting for the slow ones), counted as
// busy; once they go, normal service resumes.
func TestBodyBudgetHolds(t *testing.T) {
	// Each slow sender sends 100,000 bytes of a declared 1 MiB and stalls:
	// its buffer has then grown from 513 bytes by doubling to 131,328.
	const perSlow, slowHold, slowSenders = 100_000, 131_328, 4
	s, _ := newHostileSetup(t, slowSenders*slowHold, time.Hour)
	srv := httptest.NewServer(s.h)
	t.Cleanup(srv.Close)
	fixture20 := fixture(t, "20-user.created.composed-multi-contact.json")

	var wg sync.WaitGroup
	pipes := make([]*io.PipeWriter, slowSenders+1)
	codes := make(chan int, slowSenders+1)
	for i := range pipes {
		pr, pw := io.Pipe()
		pipes[i] = pw
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/webhooks/clerk", pr)
		req.ContentLength = 1 << 20
		req.Header.Set("svix-id", fmt.Sprintf("msg_slow_%d", i))
		req.Header.Set("svix-timestamp", unix(testNow))
		req.Header.Set("svix-signature", "v1,Zm9yZ2Vk")
		wg.Go(func() {
			resp, err := srv.Client().Do(req)
			if err == nil {
				codes <- resp.StatusCode
				resp.Body.Close()
			}
		})
		if i < slowSenders {
			go pw.Write(bytes.Repeat([]byte(" "), perSlow))
			s.waitGauge(t, int64(i+1)*slowHold)
		}
	}
	// The budget is full: the extra slow sender and a normal delivery are
	// refused at once, while the slow ones still hold their bytes.
	if code := <-codes; code != http.StatusServiceUnavailable {
		t.Errorf("extra slow sender: %d, want 503", code)
	}
	if code := post(t, srv, "msg_normal", fixture20); code != http.StatusServiceUnavailable {
		t.Errorf("normal delivery past the budget: %d, want 503", code)
	}
	if got := s.gauge(t); got != slowSenders*slowHold {
		t.Errorf("bytes in flight %d, want the budget %d", got, slowSenders*slowHold)
	}
	const want = `
# HELP clerksync_webhook_deliveries_total Webhook deliveries received, by event type, outcome and rejection reason.
# TYPE clerksync_webhook_deliveries_total counter
clerksync_webhook_deliveries_total{event_type="unknown",outcome="rejected",reason="busy"} 2
`
	if err := testutil.GatherAndCompare(s.reg, strings.NewReader(want), "clerksync_webhook_deliveries_total"); err != nil {
		t.Error(err)
	}
	// The slow senders give up: their bytes come back, service resumes.
	for _, pw := range pipes {
		pw.CloseWithError(errors.New("sender gave up"))
	}
	wg.Wait()
	s.waitGauge(t, 0)
	if code := post(t, srv, "msg_after", fixture20); code != http.StatusOK {
		t.Errorf("delivery after the slow senders left: %d, want 200", code)
	}
	s.waitGauge(t, 0)
}

// Legitimate traffic at normal concurrency never meets a budget that holds
// a few times what it needs: 32 clients with 9.5 KB events fit in 1 MiB.
func TestBodyBudgetLeavesNormalTrafficAlone(t *testing.T) {
	s, _ := newHostileSetup(t, 1<<20, time.Hour)
	srv := httptest.NewServer(s.h)
	t.Cleanup(srv.Close)
	body := fixture(t, "20-user.created.composed-multi-contact.json")
	var wg sync.WaitGroup
	var mu sync.Mutex
	bad := map[int]int{}
	for c := range 32 {
		wg.Go(func() {
			for i := range 10 {
				if code := post(t, srv, fmt.Sprintf("msg_%d_%d", c, i), body); code != http.StatusOK {
					mu.Lock()
					bad[code]++
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	if len(bad) > 0 {
		t.Errorf("answers other than 200: %v", bad)
	}
	if calls, got := s.enq.snapshot(); calls != 320 || len(got) != 320 {
		t.Errorf("queued %d of 320", len(got))
	}
	s.waitGauge(t, 0)
}

// A flood of forged requests writes a bounded number of log lines: per
// reason at most one line per interval plus one summary, and together the
// lines and the summaries account for every rejection. A lost event is
// still logged, each one, at Error.
func TestRejectedFloodLogsBoundedLines(t *testing.T) {
	const every = 100 * time.Millisecond
	const forged, lost = 5000, 3
	s, logs := newHostileSetup(t, 0, every)
	body := fixture(t, "20-user.created.composed-multi-contact.json")
	forgedReq := func(i int) *http.Request {
		return signedRequest(t, "whsec_c3RyYW5nZXItc2VjcmV0LW5vdC1jbGVya3M=", fmt.Sprintf("msg_forged_%d", i), testNow, body)
	}
	start := time.Now()
	for i := range forged {
		if i%1000 == 0 && i/1000 < lost {
			// A genuine delivery that the queue loses, among the flood.
			s.enq.setErr(clerksync.ErrUnavailable)
			s.serve(signedRequest(t, testSecret, fmt.Sprintf("msg_lost_%d", i), testNow, body))
			s.enq.setErr(nil)
		}
		if rec := s.serve(forgedReq(i)); rec.Code != http.StatusUnauthorized {
			t.Fatalf("forged request %d: %d", i, rec.Code)
		}
	}
	elapsed := time.Since(start)
	// Wait for the last summary: every rejection is then accounted for.
	var written, skipped, errorsLogged int
	deadline := time.Now().Add(10 * time.Second)
	for {
		written, skipped, errorsLogged = 0, 0, 0
		for _, l := range logLines(t, logs.String()) {
			switch {
			case l["level"] == "ERROR" && l["reason"] == "enqueue_failed":
				errorsLogged++
			case l["reason"] == "signature" && l["msg"] == "clerk webhook":
				written++
			case l["reason"] == "signature":
				skipped += int(l["skipped"].(float64))
			}
		}
		if written+skipped == forged || time.Now().After(deadline) {
			break
		}
		time.Sleep(every)
	}
	if written+skipped != forged {
		t.Errorf("%d lines and %d skipped, want %d rejections accounted for", written, skipped, forged)
	}
	intervals := int(elapsed/every) + 1
	if lines := strings.Count(logs.String(), "\n"); lines > 2*intervals+lost+1 {
		t.Errorf("%d log lines for %d forged requests in %s, want at most %d", lines, forged, elapsed, 2*intervals+lost+1)
	}
	if written > intervals {
		t.Errorf("%d signature lines in %d intervals", written, intervals)
	}
	if errorsLogged != lost {
		t.Errorf("%d enqueue failures logged at Error, want %d", errorsLogged, lost)
	}
	// Every request is still counted.
	want := fmt.Sprintf(`
# HELP clerksync_webhook_deliveries_total Webhook deliveries received, by event type, outcome and rejection reason.
# TYPE clerksync_webhook_deliveries_total counter
clerksync_webhook_deliveries_total{event_type="unknown",outcome="rejected",reason="signature"} %d
clerksync_webhook_deliveries_total{event_type="user.created",outcome="rejected",reason="enqueue_failed"} %d
`, forged, lost)
	if err := testutil.GatherAndCompare(s.reg, strings.NewReader(want), "clerksync_webhook_deliveries_total"); err != nil {
		t.Error(err)
	}
}
