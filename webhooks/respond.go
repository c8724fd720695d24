package webhooks

import (
	"context"
	"log/slog"
	"net/http"
)

// result is what became of one delivery: the answer, its metric labels and
// its log line.
type result struct {
	status     int
	outcome    string
	reason     string // set only when outcome is rejected
	deliveryID string // the svix-id; unverified on signature rejections
	eventType  string
	userID     string
	err        error
}

func rejected(status int, reason, deliveryID string, err error) result {
	return result{status: status, outcome: outcomeRejected, reason: reason, deliveryID: deliveryID, err: err}
}

// finish counts, logs and answers a delivery, in one place so that no path
// can answer without being counted.
func (h *Handler) finish(w http.ResponseWriter, r *http.Request, res result) {
	if res.eventType == "" {
		res.eventType = unknownType
	}
	h.metrics.deliveries.WithLabelValues(res.eventType, res.outcome, res.reason).Inc()
	h.logResult(r.Context(), res)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(res.status)
	_, _ = w.Write(responseBody(res))
}

// responseBody is a small JSON status for the Svix dashboard. outcome and
// reason are this package's constants, so no escaping is needed.
func responseBody(res result) []byte {
	switch res.outcome {
	case outcomeAccepted:
		return []byte(`{"status":"queued"}`)
	case outcomeRejected:
		return []byte(`{"status":"rejected","reason":"` + res.reason + `"}`)
	default:
		return []byte(`{"status":"` + res.outcome + `"}`)
	}
}

// logResult writes one line per delivery with ids only: the body, and with
// it every email and name, never reaches the log, nor do secrets or
// signatures. Rejected requests, which anyone can send, are rate-limited per
// reason (see rejectLog); a lost event (enqueue_failed) never is.
func (h *Handler) logResult(ctx context.Context, res result) {
	level := logLevel(res)
	if !h.log.Enabled(ctx, level) {
		return
	}
	if res.outcome == outcomeRejected && res.reason != reasonEnqueueFailed && !h.rejects.allow(res.reason) {
		return
	}
	attrs := make([]slog.Attr, 0, 6)
	attrs = append(attrs,
		slog.String("delivery_id", clip(res.deliveryID)),
		slog.String("event_type", res.eventType),
		slog.String("outcome", res.outcome))
	if res.userID != "" {
		attrs = append(attrs, slog.String("user_id", res.userID))
	}
	if res.reason != "" {
		attrs = append(attrs, slog.String("reason", res.reason))
	}
	if res.err != nil {
		attrs = append(attrs, slog.String("error", res.err.Error()))
	}
	h.log.LogAttrs(ctx, level, "clerk webhook", attrs...)
}

// logLevel puts a lost event at Error, a refused request that may be an
// attack or a misconfigured secret at Warn, and everything else at Info.
func logLevel(res result) slog.Level {
	switch res.reason {
	case "", reasonMethod:
		return slog.LevelInfo
	case reasonEnqueueFailed:
		return slog.LevelError
	default:
		return slog.LevelWarn
	}
}

// clip bounds an id that may come from an unauthenticated header, so that a
// forged one cannot flood the log.
func clip(id string) string {
	const limit = 128
	if len(id) > limit {
		return id[:limit] + "..."
	}
	return id
}
