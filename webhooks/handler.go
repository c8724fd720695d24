// Package webhooks is the HTTP edge of clerksync: it verifies the Svix
// signature of a Clerk webhook on the raw bytes, reads just enough of the
// event to route it, queues user events durably and answers Svix with the
// status that makes it retry exactly when it should.
package webhooks

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	svix "github.com/svix/svix-webhooks/go"

	"github.com/clerksync/clerksync"
)

const (
	// maxBodyBytes is the largest body the receiver reads; Clerk events are a
	// few kilobytes, so anything near this is not one.
	maxBodyBytes = 1 << 20
	// enqueueTimeout bounds the enqueue, and so the answer once the body is
	// read: with Redis frozen or unreachable the receiver answers 503 within
	// 5 s (plus microseconds of verification), well inside Svix's 15 s
	// answer deadline, so that Svix sees a 503 and retries, not a timeout.
	// Redis answers in milliseconds; 5 s rides out a fork or fsync stall.
	// (The Enqueuer returns at the deadline even when go-redis would wait
	// longer.)
	enqueueTimeout = 5 * time.Second
	// DefaultMaxBodyBytesInFlight is the default of
	// Options.MaxBodyBytesInFlight: 64 MiB is some 7,000 typical events at
	// once, and 64 bodies at the 1 MiB limit.
	DefaultMaxBodyBytesInFlight = 64 << 20
	// DefaultRejectLogInterval is the default of Options.RejectLogInterval.
	DefaultRejectLogInterval = time.Second
)

// Options configures a Handler.
type Options struct {
	// Secrets are the endpoint's "whsec_..." signing secrets; a signature
	// valid under any one of them is accepted, so that a rotation never
	// rejects a delivery.
	Secrets []string
	// Enqueuer stores verified user events durably for the worker.
	Enqueuer clerksync.Enqueuer
	// Logger receives one line per delivery; nil means slog.Default().
	Logger *slog.Logger
	// Registerer receives the receiver's metrics; nil leaves them unregistered.
	Registerer prometheus.Registerer
	// Now is the clock the timestamp window is checked against; nil means
	// time.Now.
	Now func() time.Time
	// MaxBodyBytesInFlight bounds the memory of request bodies held at once
	// (being read, verified, parsed or queued): a request that would pass it
	// is answered 503 at once, so that unauthenticated callers cannot make
	// the process buffer without limit. 0 means DefaultMaxBodyBytesInFlight.
	MaxBodyBytesInFlight int64
	// RejectLogInterval is how often each rejection reason may write a log
	// line; the rejections in between are counted (every one in the metrics)
	// and summed up in one line per reason. 0 means DefaultRejectLogInterval.
	RejectLogInterval time.Duration
}

// Handler receives Clerk webhooks; it is safe for concurrent use.
type Handler struct {
	verifiers []*svix.Webhook
	enqueuer  clerksync.Enqueuer
	log       *slog.Logger
	rejects   *rejectLog
	now       func() time.Time
	metrics   *metrics
	bodies    *budget
}

// NewHandler builds a Handler; it fails when no secret is given, a secret is
// not base64 (with or without its whsec_ prefix), the Enqueuer is nil or the
// metrics cannot be registered. Its errors never contain a secret.
func NewHandler(o Options) (*Handler, error) {
	if len(o.Secrets) == 0 {
		return nil, errors.New("webhooks: no signing secret")
	}
	if o.Enqueuer == nil {
		return nil, errors.New("webhooks: no enqueuer")
	}
	verifiers, err := newVerifiers(o.Secrets)
	if err != nil {
		return nil, err
	}
	m, err := newMetrics(o.Registerer)
	if err != nil {
		return nil, fmt.Errorf("webhooks: register metrics: %w", err)
	}
	h := &Handler{verifiers: verifiers, enqueuer: o.Enqueuer, log: o.Logger, now: o.Now, metrics: m}
	if h.log == nil {
		h.log = slog.Default()
	}
	if h.now == nil {
		h.now = time.Now
	}
	if o.MaxBodyBytesInFlight <= 0 {
		o.MaxBodyBytesInFlight = DefaultMaxBodyBytesInFlight
	}
	if o.RejectLogInterval <= 0 {
		o.RejectLogInterval = DefaultRejectLogInterval
	}
	h.bodies = newBudget(o.MaxBodyBytesInFlight, m.bodyBytes)
	h.rejects = newRejectLog(h.log, o.RejectLogInterval)
	return h, nil
}

// newVerifiers builds one verifier per secret, once, so that a request only
// pays for the HMAC. The library's error is not wrapped: it says which byte
// of the secret is bad, and a secret's shape is no business of the logs.
func newVerifiers(secrets []string) ([]*svix.Webhook, error) {
	out := make([]*svix.Webhook, 0, len(secrets))
	for i, s := range secrets {
		wh, err := svix.NewWebhook(s)
		if err != nil {
			return nil, fmt.Errorf("webhooks: signing secret %d of %d: want whsec_ followed by base64", i+1, len(secrets))
		}
		out = append(out, wh)
	}
	return out, nil
}

// ServeHTTP answers one delivery: 2xx only once a user event is queued (or
// an ignored type is recognised), 401/400/405/413 for requests that can never
// succeed, and 503 when the queue failed or too many bodies are in flight,
// so that Svix retries.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.finish(w, r, h.handle(w, r))
}

// handle runs the steps in the order the contract needs: nothing is parsed
// before the signature is verified, nothing is answered 2xx before it is
// queued, and nothing a worker would refuse is answered 2xx.
func (h *Handler) handle(w http.ResponseWriter, r *http.Request) result {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		return rejected(http.StatusMethodNotAllowed, reasonMethod, "", nil)
	}
	body, held, res, ok := h.readBody(w, r)
	if !ok {
		return res
	}
	defer h.bodies.release(held)
	d, res, ok := h.verify(r.Header, body)
	if !ok {
		return res
	}
	return h.route(r.Context(), d, body)
}

// route parses a verified body the way the worker will and queues user
// events. The worker runs the same clerksync.ParseEvent on the queued body,
// so that the receiver and the worker cannot disagree on what is valid.
func (h *Handler) route(ctx context.Context, d delivery, body []byte) result {
	ev, err := clerksync.ParseEvent(d.id, body)
	if errors.Is(err, clerksync.ErrNoTimestamp) {
		// A deletion without an envelope time (older Clerk events) is
		// ordered by the time Svix signed it; the worker finds it in the
		// queued body. A deletion carries no personal data to rewrite.
		body = clerksync.WithTimestamp(body, d.signedAt)
		ev, err = clerksync.ParseEvent(d.id, body)
	}
	if errors.Is(err, clerksync.ErrNotUserEvent) {
		return result{status: http.StatusOK, outcome: outcomeIgnored, deliveryID: d.id, eventType: ev.Type}
	}
	if err != nil {
		return rejected(http.StatusBadRequest, reasonInvalidEvent, d.id, err)
	}
	return h.enqueue(ctx, clerksync.Delivery{
		ID: d.id, Type: ev.Type, UserID: ev.UserID, Timestamp: ev.Timestamp, Body: body,
	})
}

// enqueue queues d under a deadline of its own and translates the answer.
func (h *Handler) enqueue(ctx context.Context, d clerksync.Delivery) result {
	ctx, cancel := context.WithTimeout(ctx, enqueueTimeout)
	defer cancel()
	start := time.Now()
	got, err := h.enqueuer.Enqueue(ctx, d)
	h.metrics.enqueueDuration.Observe(time.Since(start).Seconds())
	res := result{deliveryID: d.ID, eventType: d.Type, userID: d.UserID}
	if err != nil {
		// Whatever went wrong, the event is not stored: only a retry can
		// deliver it, and only a 5xx asks Svix for one.
		res.status, res.outcome, res.reason = http.StatusServiceUnavailable, outcomeRejected, reasonEnqueueFailed
		res.err = fmt.Errorf("enqueue %s: %w", d.ID, err)
		return res
	}
	res.status, res.outcome = http.StatusOK, outcomeFor(got)
	return res
}

// outcomeFor names an enqueue result; an unknown one still means the task is
// stored (Enqueue returned no error), so it counts as accepted.
func outcomeFor(r clerksync.EnqueueResult) string {
	switch r {
	case clerksync.Duplicate:
		return outcomeDuplicate
	case clerksync.Requeued:
		return outcomeRequeued
	default:
		return outcomeAccepted
	}
}
