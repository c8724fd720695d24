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

	"github.com/clerksync/clerksync"
	"github.com/clerksync/clerksync/internal/testenv"
	"github.com/clerksync/clerksync/webhooks"
)

// userEvent is the smallest body ParseEnvelope accepts for typ.
func userEvent(typ, id string) []byte {
	return fmt.Appendf(nil, `{"data":{"id":%q,"object":"user"},"object":"event","type":%q,"timestamp":1752566400180}`, id, typ)
}

// padded is fixture 20 followed by JSON whitespace up to size bytes: still a
// valid event, and exactly as large as a test needs.
func padded(t testing.TB, size int) []byte {
	t.Helper()
	b := fixture(t, "20-user.created.composed-multi-contact.json")
	return append(b, bytes.Repeat([]byte(" "), size-len(b))...)
}

// chunked hides r's length, as a client streaming without Content-Length does.
func chunked(r *http.Request) *http.Request {
	r.ContentLength = -1
	r.Body = io.NopCloser(struct{ io.Reader }{r.Body})
	return r
}

func TestServeHTTP(t *testing.T) {
	fixture20 := func(t *testing.T) []byte { return fixture(t, "20-user.created.composed-multi-contact.json") }
	signed := func(body func(*testing.T) []byte) func(*testing.T) *http.Request {
		return func(t *testing.T) *http.Request { return signedRequest(t, testSecret, testID, testNow, body(t)) }
	}
	literal := func(s string) func(*testing.T) []byte { return func(*testing.T) []byte { return []byte(s) } }
	edit := func(body func(*testing.T) []byte, f func(t *testing.T, r *http.Request)) func(*testing.T) *http.Request {
		return func(t *testing.T) *http.Request {
			r := signedRequest(t, testSecret, testID, testNow, body(t))
			f(t, r)
			return r
		}
	}
	signedAt := func(ts time.Time) func(*testing.T) *http.Request {
		return func(t *testing.T) *http.Request { return signedRequest(t, testSecret, testID, ts, fixture20(t)) }
	}
	method := func(m string) func(*testing.T) *http.Request {
		return edit(fixture20, func(_ *testing.T, r *http.Request) { r.Method = m })
	}

	tests := []struct {
		name    string
		req     func(*testing.T) *http.Request
		enqErr  error                   // the fake queue fails with this
		result  clerksync.EnqueueResult // the fake queue answers this for a new id
		status  int
		body    string // the exact response body
		enqueue int    // calls to Enqueue
	}{
		// 2xx: queued, requeued, ignored.
		{name: "QueuedUserCreated", req: signed(fixture20), status: 200, body: `{"status":"queued"}`, enqueue: 1},
		{name: "QueuedUserDeleted", req: signed(literal(string(userEvent("user.deleted", "user_1")))), status: 200, body: `{"status":"queued"}`, enqueue: 1},
		{name: "RequeuedArchivedDelivery", req: signed(fixture20), result: clerksync.Requeued, status: 200, body: `{"status":"requeued"}`, enqueue: 1},
		{name: "IgnoredSessionCreated", req: signed(literal(`{"data":{"id":"sess_2zK9","object":"session"},"object":"event","type":"session.created"}`)), status: 200, body: `{"status":"ignored"}`},
		{name: "IgnoredOrganizationCreated", req: signed(literal(`{"data":{"id":"org_1"},"type":"organization.created"}`)), status: 200, body: `{"status":"ignored"}`},
		{name: "QueuedUnbrandedHeaders", req: edit(fixture20, func(_ *testing.T, r *http.Request) {
			for _, k := range []string{"Id", "Timestamp", "Signature"} {
				r.Header.Set("Webhook-"+k, r.Header.Get("Svix-"+k))
				r.Header.Del("Svix-" + k)
			}
		}), status: 200, body: `{"status":"queued"}`, enqueue: 1},
		{name: "QueuedSignatureAmongOtherVersions", req: edit(fixture20, func(_ *testing.T, r *http.Request) {
			r.Header.Set("svix-signature", "v1a,c2lnbmF0dXJl v2,AAAA garbage "+r.Header.Get("svix-signature"))
		}), status: 200, body: `{"status":"queued"}`, enqueue: 1},
		{name: "QueuedAtWindowEdgePast", req: signedAt(testNow.Add(-5 * time.Minute)), status: 200, body: `{"status":"queued"}`, enqueue: 1},
		{name: "QueuedAtWindowEdgeFuture", req: signedAt(testNow.Add(5 * time.Minute)), status: 200, body: `{"status":"queued"}`, enqueue: 1},
		{name: "QueuedExactlyOneMiB", req: signed(func(t *testing.T) []byte { return padded(t, maxBody) }), status: 200, body: `{"status":"queued"}`, enqueue: 1},
		{name: "QueuedExactlyOneMiBChunked", req: func(t *testing.T) *http.Request {
			return chunked(signedRequest(t, testSecret, testID, testNow, padded(t, maxBody)))
		}, status: 200, body: `{"status":"queued"}`, enqueue: 1},

		// 401: headers, timestamp, signature.
		{name: "RejectedNoHeaders", req: edit(fixture20, func(_ *testing.T, r *http.Request) {
			r.Header.Del("svix-id")
			r.Header.Del("svix-timestamp")
			r.Header.Del("svix-signature")
		}), status: 401, body: `{"status":"rejected","reason":"headers"}`},
		{name: "RejectedMissingID", req: edit(fixture20, func(_ *testing.T, r *http.Request) { r.Header.Del("svix-id") }), status: 401, body: `{"status":"rejected","reason":"headers"}`},
		{name: "RejectedMissingTimestamp", req: edit(fixture20, func(_ *testing.T, r *http.Request) { r.Header.Del("svix-timestamp") }), status: 401, body: `{"status":"rejected","reason":"headers"}`},
		{name: "RejectedMissingSignature", req: edit(fixture20, func(_ *testing.T, r *http.Request) { r.Header.Del("svix-signature") }), status: 401, body: `{"status":"rejected","reason":"headers"}`},
		{name: "RejectedMixedHeaderSets", req: edit(fixture20, func(_ *testing.T, r *http.Request) {
			r.Header.Set("webhook-signature", r.Header.Get("svix-signature"))
			r.Header.Del("svix-signature")
		}), status: 401, body: `{"status":"rejected","reason":"headers"}`},
		{name: "RejectedBadSignature", req: edit(fixture20, func(_ *testing.T, r *http.Request) {
			sig := []byte(r.Header.Get("svix-signature"))
			sig[5] ^= 1
			r.Header.Set("svix-signature", string(sig))
		}), status: 401, body: `{"status":"rejected","reason":"signature"}`},
		{name: "RejectedSignatureWithoutVersion", req: edit(fixture20, func(_ *testing.T, r *http.Request) {
			r.Header.Set("svix-signature", strings.TrimPrefix(r.Header.Get("svix-signature"), "v1,"))
		}), status: 401, body: `{"status":"rejected","reason":"signature"}`},
		{name: "RejectedOtherSecret", req: func(t *testing.T) *http.Request {
			return signedRequest(t, otherSecret, testID, testNow, fixture20(t))
		}, status: 401, body: `{"status":"rejected","reason":"signature"}`},
		{name: "RejectedSignatureOfAnotherID", req: edit(fixture20, func(_ *testing.T, r *http.Request) {
			r.Header.Set("svix-id", "msg_someoneelse")
		}), status: 401, body: `{"status":"rejected","reason":"signature"}`},
		{name: "RejectedBodyChangedAfterSigning", req: edit(fixture20, func(t *testing.T, r *http.Request) {
			r.Body = io.NopCloser(bytes.NewReader(bytes.Replace(fixture20(t), []byte("Ada"), []byte("Eve"), 1)))
		}), status: 401, body: `{"status":"rejected","reason":"signature"}`},
		{name: "RejectedTimestampMovedIntoWindow", req: func(t *testing.T) *http.Request {
			r := signedRequest(t, testSecret, testID, testNow.Add(-time.Hour), fixture20(t))
			r.Header.Set("svix-timestamp", unix(testNow))
			return r
		}, status: 401, body: `{"status":"rejected","reason":"signature"}`},
		{name: "RejectedTimestampSixMinutesOld", req: signedAt(testNow.Add(-6 * time.Minute)), status: 401, body: `{"status":"rejected","reason":"timestamp"}`},
		{name: "RejectedTimestampSixMinutesAhead", req: signedAt(testNow.Add(6 * time.Minute)), status: 401, body: `{"status":"rejected","reason":"timestamp"}`},
		{name: "RejectedGarbageTimestamp", req: edit(fixture20, func(_ *testing.T, r *http.Request) {
			r.Header.Set("svix-timestamp", "yesterday")
		}), status: 401, body: `{"status":"rejected","reason":"timestamp"}`},
		{name: "RejectedMillisecondTimestamp", req: edit(fixture20, func(_ *testing.T, r *http.Request) {
			r.Header.Set("svix-timestamp", unix(testNow)+"000")
		}), status: 401, body: `{"status":"rejected","reason":"timestamp"}`},

		// 400: verified, but not a Clerk event.
		{name: "InvalidBadJSON", req: signed(literal(`{"type":"user.created","data":`)), status: 400, body: `{"status":"rejected","reason":"invalid_event"}`},
		{name: "InvalidEmptyBody", req: signed(literal(``)), status: 400, body: `{"status":"rejected","reason":"invalid_event"}`},
		{name: "InvalidNotAnObject", req: signed(literal(`["user.created"]`)), status: 400, body: `{"status":"rejected","reason":"invalid_event"}`},
		{name: "InvalidNoType", req: signed(literal(`{"data":{"id":"user_1"},"object":"event"}`)), status: 400, body: `{"status":"rejected","reason":"invalid_event"}`},
		{name: "InvalidNoDataID", req: signed(literal(`{"data":{"object":"user"},"type":"user.created"}`)), status: 400, body: `{"status":"rejected","reason":"invalid_event"}`},
		{name: "InvalidNoData", req: signed(literal(`{"type":"user.updated"}`)), status: 400, body: `{"status":"rejected","reason":"invalid_event"}`},
		{name: "InvalidUserEventWithNonUserID", req: signed(literal(string(userEvent("user.created", "sess_2zK9")))), status: 400, body: `{"status":"rejected","reason":"invalid_event"}`},

		// 413: over 1 MiB, declared or not.
		{name: "TooLargeDeclared", req: signed(func(t *testing.T) []byte { return padded(t, maxBody+1) }), status: 413, body: `{"status":"rejected","reason":"too_large"}`},
		{name: "TooLargeChunked", req: func(t *testing.T) *http.Request {
			return chunked(signedRequest(t, testSecret, testID, testNow, padded(t, maxBody+1)))
		}, status: 413, body: `{"status":"rejected","reason":"too_large"}`},
		{name: "TooLargeByContentLengthAlone", req: edit(fixture20, func(_ *testing.T, r *http.Request) {
			r.ContentLength = 64 << 20
		}), status: 413, body: `{"status":"rejected","reason":"too_large"}`},

		// 405: only POST.
		{name: "MethodGET", req: method(http.MethodGet), status: 405, body: `{"status":"rejected","reason":"method"}`},
		{name: "MethodPUT", req: method(http.MethodPut), status: 405, body: `{"status":"rejected","reason":"method"}`},
		{name: "MethodDELETE", req: method(http.MethodDelete), status: 405, body: `{"status":"rejected","reason":"method"}`},

		// 503: never 2xx for an event that is not queued.
		{name: "UnavailableQueue", req: signed(fixture20), enqErr: fmt.Errorf("asynq enqueue: %w", clerksync.ErrUnavailable), status: 503, body: `{"status":"rejected","reason":"enqueue_failed"}`, enqueue: 1},
		{name: "UnavailableOnAnyEnqueueError", req: signed(fixture20), enqErr: errors.New("task payload rejected"), status: 503, body: `{"status":"rejected","reason":"enqueue_failed"}`, enqueue: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newSetup(t)
			s.enq.err, s.enq.result = tt.enqErr, tt.result
			rec := s.serve(tt.req(t))
			if rec.Code != tt.status {
				t.Errorf("status = %d, want %d (body %s)", rec.Code, tt.status, rec.Body)
			}
			if got := rec.Body.String(); got != tt.body {
				t.Errorf("body = %s, want %s", got, tt.body)
			}
			if got := rec.Header().Get("Content-Type"); got != "application/json" {
				t.Errorf("Content-Type = %q", got)
			}
			if calls, _ := s.enq.snapshot(); calls != tt.enqueue {
				t.Errorf("Enqueue called %d times, want %d", calls, tt.enqueue)
			}
			if tt.status == http.StatusMethodNotAllowed {
				if got := rec.Header().Get("Allow"); got != http.MethodPost {
					t.Errorf("Allow = %q, want POST", got)
				}
			}
		})
	}
}

func TestQueuedDeliveryCarriesVerifiedFields(t *testing.T) {
	s := newSetup(t)
	body := fixture(t, "20-user.created.composed-multi-contact.json")
	if rec := s.serve(signedRequest(t, testSecret, testID, testNow, body)); rec.Code != 200 {
		t.Fatalf("status = %d, want 200", rec.Code)
	}
	_, got := s.enq.snapshot()
	if len(got) != 1 {
		t.Fatalf("queued %d deliveries, want 1", len(got))
	}
	d := got[0]
	want := clerksync.Delivery{
		ID: testID, Type: clerksync.UserCreated, UserID: "user_2zK9mQv7Xc3LrT8pWn4Yb6Hd1Fs",
		Timestamp: time.UnixMilli(1752566400180).UTC(),
	}
	if d.ID != want.ID || d.Type != want.Type || d.UserID != want.UserID || !d.Timestamp.Equal(want.Timestamp) {
		t.Errorf("delivery = %+v, want %+v", d, want)
	}
	if !bytes.Equal(d.Body, body) {
		t.Errorf("delivery body is not the raw request body (%d vs %d bytes)", len(d.Body), len(body))
	}
}

func TestUnbrandedHeadersQueueTheirID(t *testing.T) {
	s := newSetup(t)
	body := userEvent(clerksync.UserUpdated, "user_1")
	r := signedRequest(t, testSecret, "msg_unbranded", testNow, body)
	for _, k := range []string{"Id", "Timestamp", "Signature"} {
		r.Header.Set("Webhook-"+k, r.Header.Get("Svix-"+k))
		r.Header.Del("Svix-" + k)
	}
	if rec := s.serve(r); rec.Code != 200 {
		t.Fatalf("status = %d, want 200", rec.Code)
	}
	if _, got := s.enq.snapshot(); len(got) != 1 || got[0].ID != "msg_unbranded" {
		t.Errorf("queued %+v, want one delivery msg_unbranded", got)
	}
}

func TestDuplicateDeliveryAnswered2xx(t *testing.T) {
	s := newSetup(t)
	body := fixture(t, "21-user.updated.composed-multi-contact.json")
	wantBodies := []string{`{"status":"queued"}`, `{"status":"duplicate"}`, `{"status":"duplicate"}`}
	for i, want := range wantBodies {
		// A Svix retry is signed afresh: same id and body, a later timestamp.
		rec := s.serve(signedRequest(t, testSecret, testID, testNow.Add(time.Duration(i)*time.Minute), body))
		if rec.Code != 200 || rec.Body.String() != want {
			t.Errorf("attempt %d: %d %s, want 200 %s", i+1, rec.Code, rec.Body, want)
		}
	}
	if calls, got := s.enq.snapshot(); calls != 3 || len(got) != 1 {
		t.Errorf("Enqueue calls = %d, queued = %d; want 3 calls, 1 queued", calls, len(got))
	}
}

func TestEveryUserFixtureQueued(t *testing.T) {
	fixtures := testenv.UserFixtures
	for name, typ := range fixtures {
		t.Run(name, func(t *testing.T) {
			s := newSetup(t)
			if rec := s.serve(signedRequest(t, testSecret, testID, testNow, fixture(t, name))); rec.Code != 200 {
				t.Fatalf("status = %d, want 200 (%s)", rec.Code, rec.Body)
			}
			_, got := s.enq.snapshot()
			if len(got) != 1 || got[0].Type != typ || !clerksync.ValidUserID(got[0].UserID) {
				t.Errorf("queued %+v, want one %s with a user id", got, typ)
			}
		})
	}
}

// The signature is checked on the raw bytes before anything reads them: an
// unsigned body is refused as unauthenticated whatever it contains.
func TestVerifiesBeforeParsing(t *testing.T) {
	body := []byte("this is not JSON")
	tests := []struct {
		name   string
		secret string
		status int
	}{
		{name: "UnsignedGarbageRejected401", secret: otherSecret, status: 401},
		{name: "SignedGarbageRejected400", secret: testSecret, status: 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newSetup(t)
			if rec := s.serve(signedRequest(t, tt.secret, testID, testNow, body)); rec.Code != tt.status {
				t.Errorf("status = %d, want %d", rec.Code, tt.status)
			}
		})
	}
}

func TestEnqueueHasBoundedDeadline(t *testing.T) {
	s := newSetup(t)
	s.serve(signedRequest(t, testSecret, testID, testNow, userEvent(clerksync.UserCreated, "user_1")))
	s.enq.mu.Lock()
	left := s.enq.deadlineIn
	s.enq.mu.Unlock()
	if left <= 0 || left > 15*time.Second {
		t.Errorf("Enqueue context has %s left, want a deadline inside Svix's 15 s", left)
	}
}

func TestRotationSecretsEachAccepted(t *testing.T) {
	s := newSetup(t, testSecret, otherSecret)
	for i, secret := range []string{testSecret, otherSecret} {
		id := fmt.Sprintf("msg_rotation_%d", i)
		if rec := s.serve(signedRequest(t, secret, id, testNow, userEvent(clerksync.UserUpdated, "user_1"))); rec.Code != 200 {
			t.Errorf("secret %d: status = %d, want 200", i+1, rec.Code)
		}
	}
}

func TestNewHandlerRefusesBadOptions(t *testing.T) {
	const badSecret = "whsec_not*base64!"
	enq := newFakeEnqueuer()
	tests := []struct {
		name string
		opts webhooks.Options
	}{
		{name: "NoSecret", opts: webhooks.Options{Enqueuer: enq}},
		{name: "SecretNotBase64", opts: webhooks.Options{Secrets: []string{testSecret, badSecret}, Enqueuer: enq}},
		{name: "EmptySecret", opts: webhooks.Options{Secrets: []string{"whsec_"}, Enqueuer: enq}},
		{name: "NoEnqueuer", opts: webhooks.Options{Secrets: []string{testSecret}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, err := webhooks.NewHandler(tt.opts)
			if err == nil || h != nil {
				t.Fatalf("NewHandler = %v, %v; want an error", h, err)
			}
			if strings.Contains(err.Error(), "not*base64") || strings.Contains(err.Error(), "MfKQ9r8G") {
				t.Errorf("error %q quotes a secret", err)
			}
		})
	}
}

func TestNewHandlerDefaults(t *testing.T) {
	// No logger, registry or clock: the handler still answers, on the wall clock.
	prev := slog.Default()
	slog.SetDefault(slog.New(slog.NewTextHandler(io.Discard, nil)))
	t.Cleanup(func() { slog.SetDefault(prev) })
	enq := newFakeEnqueuer()
	h, err := webhooks.NewHandler(webhooks.Options{Secrets: []string{testSecret}, Enqueuer: enq})
	if err != nil {
		t.Fatalf("NewHandler: %v", err)
	}
	for _, tt := range []struct {
		name   string
		ts     time.Time
		status int
	}{
		{name: "QueuedSignedNow", ts: time.Now(), status: 200},
		{name: "RejectedSignedAtVectorTime", ts: testNow, status: 401},
	} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, signedRequest(t, testSecret, "msg_"+tt.name, tt.ts, userEvent(clerksync.UserCreated, "user_1")))
		if rec.Code != tt.status {
			t.Errorf("%s: status = %d, want %d", tt.name, rec.Code, tt.status)
		}
	}
}

func TestConcurrentDeliveries(t *testing.T) {
	s := newSetup(t)
	const clients, perClient = 32, 8
	var wg sync.WaitGroup
	codes := make(chan int, clients*perClient*2)
	for c := range clients {
		wg.Go(func() {
			for i := range perClient {
				id := fmt.Sprintf("msg_%d_%d", c, i)
				body := userEvent(clerksync.UserUpdated, fmt.Sprintf("user_%d", c))
				// Each delivery arrives twice, as Svix retries do.
				for range 2 {
					codes <- s.serve(signedRequest(t, testSecret, id, testNow, body)).Code
				}
			}
		})
	}
	wg.Wait()
	close(codes)
	for code := range codes {
		if code != 200 {
			t.Fatalf("status = %d, want 200", code)
		}
	}
	if calls, got := s.enq.snapshot(); calls != clients*perClient*2 || len(got) != clients*perClient {
		t.Errorf("Enqueue calls = %d, queued = %d; want %d and %d", calls, len(got), clients*perClient*2, clients*perClient)
	}
}

// Through a real server the size limit holds for a streamed body too, and a
// signed event is queued as through the recorder.
func TestOverRealServer(t *testing.T) {
	s := newSetup(t)
	srv := httptest.NewServer(s.h)
	t.Cleanup(srv.Close)
	tests := []struct {
		name   string
		body   []byte
		stream bool
		status int
	}{
		{name: "Queued", body: fixture(t, "20-user.created.composed-multi-contact.json"), status: 200},
		{name: "QueuedExactlyOneMiBStreamed", body: padded(t, maxBody), stream: true, status: 200},
		{name: "TooLargeStreamed", body: padded(t, maxBody+1), stream: true, status: 413},
		{name: "TooLargeDeclared", body: padded(t, maxBody+1), status: 413},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id := fmt.Sprintf("msg_server_%d", i)
			var body io.Reader = bytes.NewReader(tt.body)
			if tt.stream {
				body = struct{ io.Reader }{body} // unknown length: sent chunked
			}
			req, err := http.NewRequest(http.MethodPost, srv.URL+"/webhooks/clerk", body)
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("svix-id", id)
			req.Header.Set("svix-timestamp", unix(testNow))
			req.Header.Set("svix-signature", sign(t, testSecret, id, testNow, tt.body))
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Fatalf("POST: %v", err)
			}
			defer resp.Body.Close()
			if resp.StatusCode != tt.status {
				t.Errorf("status = %d, want %d", resp.StatusCode, tt.status)
			}
		})
	}
}
