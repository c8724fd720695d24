package webhooks_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/clerksync/clerksync"
	"github.com/clerksync/clerksync/webhooks"
)

// enqueueTimings reads how many enqueue durations reg has observed.
func enqueueTimings(t *testing.T, reg prometheus.Gatherer) uint64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("Gather: %v", err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "clerksync_webhook_enqueue_duration_seconds" && len(mf.GetMetric()) == 1 {
			return mf.GetMetric()[0].GetHistogram().GetSampleCount()
		}
	}
	t.Fatal("clerksync_webhook_enqueue_duration_seconds is not registered as one histogram")
	return 0
}

// Each outcome moves its own series, and only the deliveries that reached the
// queue are timed.
func TestMetricsCountEveryOutcome(t *testing.T) {
	s := newSetup(t)
	created := fixture(t, "20-user.created.composed-multi-contact.json")
	updated := fixture(t, "21-user.updated.composed-multi-contact.json")
	steps := []struct {
		name   string
		req    func() *http.Request
		enqErr error
		status int
	}{
		{"Accepted", func() *http.Request { return signedRequest(t, testSecret, "msg_1", testNow, created) }, nil, 200},
		{"Duplicate", func() *http.Request { return signedRequest(t, testSecret, "msg_1", testNow, created) }, nil, 200},
		{"Ignored", func() *http.Request {
			return signedRequest(t, testSecret, "msg_2", testNow, []byte(`{"data":{"id":"sess_1"},"type":"session.created"}`))
		}, nil, 200},
		{"RejectedSignature", func() *http.Request { return signedRequest(t, otherSecret, "msg_3", testNow, created) }, nil, 401},
		{"RejectedInvalidEvent", func() *http.Request { return signedRequest(t, testSecret, "msg_4", testNow, []byte(`{`)) }, nil, 400},
		{"RejectedMethod", func() *http.Request { return httptest.NewRequest(http.MethodGet, "/webhooks/clerk", nil) }, nil, 405},
		{"EnqueueFailed", func() *http.Request { return signedRequest(t, testSecret, "msg_5", testNow, updated) }, clerksync.ErrUnavailable, 503},
	}
	for _, st := range steps {
		s.enq.setErr(st.enqErr)
		if rec := s.serve(st.req()); rec.Code != st.status {
			t.Fatalf("%s: status = %d, want %d", st.name, rec.Code, st.status)
		}
	}
	const want = `
# HELP clerksync_webhook_deliveries_total Webhook deliveries received, by event type, outcome and rejection reason.
# TYPE clerksync_webhook_deliveries_total counter
clerksync_webhook_deliveries_total{event_type="session.created",outcome="ignored",reason=""} 1
clerksync_webhook_deliveries_total{event_type="unknown",outcome="rejected",reason="invalid_event"} 1
clerksync_webhook_deliveries_total{event_type="unknown",outcome="rejected",reason="method"} 1
clerksync_webhook_deliveries_total{event_type="unknown",outcome="rejected",reason="signature"} 1
clerksync_webhook_deliveries_total{event_type="user.created",outcome="accepted",reason=""} 1
clerksync_webhook_deliveries_total{event_type="user.created",outcome="duplicate",reason=""} 1
clerksync_webhook_deliveries_total{event_type="user.updated",outcome="rejected",reason="enqueue_failed"} 1
`
	if err := testutil.GatherAndCompare(s.reg, strings.NewReader(want), "clerksync_webhook_deliveries_total"); err != nil {
		t.Error(err)
	}
	// Accepted, Duplicate and EnqueueFailed reached the queue.
	if got := enqueueTimings(t, s.reg); got != 3 {
		t.Errorf("enqueue duration observed %d times, want 3", got)
	}
}

// Two handlers on one registry (a reload, or serve and run side by side in a
// test) share the series instead of failing to register.
func TestMetricsSharedByHandlersOnOneRegistry(t *testing.T) {
	reg := prometheus.NewRegistry()
	body := userEvent(clerksync.UserCreated, "user_1")
	for i := range 2 {
		h, err := webhooks.NewHandler(webhooks.Options{
			Secrets: []string{testSecret}, Enqueuer: newFakeEnqueuer(), Registerer: reg,
			Logger: discardLogger(), Now: func() time.Time { return testNow },
		})
		if err != nil {
			t.Fatalf("handler %d: NewHandler: %v", i+1, err)
		}
		h.ServeHTTP(httptest.NewRecorder(), signedRequest(t, testSecret, "msg_1", testNow, body))
	}
	const want = `
# HELP clerksync_webhook_deliveries_total Webhook deliveries received, by event type, outcome and rejection reason.
# TYPE clerksync_webhook_deliveries_total counter
clerksync_webhook_deliveries_total{event_type="user.created",outcome="accepted",reason=""} 2
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "clerksync_webhook_deliveries_total"); err != nil {
		t.Error(err)
	}
}

// The log names deliveries by id only: no body content (emails, names), no
// secret and no signature, on any path, including the failures.
func TestLogsCarryIDsNeverPersonalDataOrSecrets(t *testing.T) {
	s := newSetup(t, testSecret, otherSecret)
	body := fixture(t, "20-user.created.composed-multi-contact.json")
	goodSig := sign(t, testSecret, testID, testNow, body)
	otherSig := sign(t, otherSecret, testID, testNow, body)

	s.serve(signedRequest(t, testSecret, testID, testNow, body))                                                                 // accepted
	s.serve(signedRequest(t, testSecret, testID, testNow, body))                                                                 // duplicate
	s.serve(signedRequest(t, testSecret, "msg_old", testNow.Add(-time.Hour), body))                                              // timestamp
	s.serve(signedRequest(t, "whsec_c3RyYW5nZXItc2VjcmV0LW5vdC1jbGVya3M=", "msg_forged", testNow, body))                         // signature
	s.serve(signedRequest(t, testSecret, "msg_bad", testNow, []byte(`{"type":"user.created","data":{"id":"ada@example.com"}}`))) // invalid
	s.enq.setErr(fmt.Errorf("redis: dial tcp: %w", clerksync.ErrUnavailable))
	s.serve(signedRequest(t, testSecret, "msg_lost", testNow, body)) // enqueue failed

	logs := s.logs.String()
	forbidden := []string{
		"ada@example.com", "ada.lovelace@analytical.example", "Lovelace", // personal data from the body
		testSecret, strings.TrimPrefix(testSecret, "whsec_"), strings.TrimPrefix(otherSecret, "whsec_"),
		strings.TrimPrefix(goodSig, "v1,"), strings.TrimPrefix(otherSig, "v1,"),
	}
	for _, f := range forbidden {
		if strings.Contains(logs, f) {
			t.Errorf("log contains %q:\n%s", f, logs)
		}
	}

	lines := logLines(t, logs)
	want := []struct{ level, outcome, reason, deliveryID string }{
		{"INFO", "accepted", "", testID},
		{"INFO", "duplicate", "", testID},
		{"WARN", "rejected", "timestamp", "msg_old"},
		{"WARN", "rejected", "signature", "msg_forged"},
		{"WARN", "rejected", "invalid_event", "msg_bad"},
		{"ERROR", "rejected", "enqueue_failed", "msg_lost"},
	}
	if len(lines) != len(want) {
		t.Fatalf("got %d log lines, want %d:\n%s", len(lines), len(want), logs)
	}
	for i, w := range want {
		l := lines[i]
		if l["level"] != w.level || l["outcome"] != w.outcome || str(l["reason"]) != w.reason || l["delivery_id"] != w.deliveryID {
			t.Errorf("line %d = %v, want level %s outcome %s reason %q delivery_id %s", i+1, l, w.level, w.outcome, w.reason, w.deliveryID)
		}
	}
	for _, i := range []int{0, 1, 5} {
		if lines[i]["user_id"] != "user_2zK9mQv7Xc3LrT8pWn4Yb6Hd1Fs" || lines[i]["event_type"] != "user.created" {
			t.Errorf("line %d lacks the user id or event type: %v", i+1, lines[i])
		}
	}
	if e := str(lines[5]["error"]); !strings.Contains(e, clerksync.ErrUnavailable.Error()) {
		t.Errorf("enqueue failure logged without its cause: %q", e)
	}
}

func logLines(t *testing.T, logs string) []map[string]any {
	t.Helper()
	var out []map[string]any
	sc := bufio.NewScanner(strings.NewReader(logs))
	for sc.Scan() {
		var l map[string]any
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatalf("log line is not JSON: %v: %s", err, sc.Text())
		}
		out = append(out, l)
	}
	return out
}

func str(v any) string {
	s, _ := v.(string)
	return s
}
