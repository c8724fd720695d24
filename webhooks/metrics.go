package webhooks

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// The outcome label: what the receiver did with a delivery.
const (
	outcomeAccepted  = "accepted"
	outcomeDuplicate = "duplicate"
	outcomeRequeued  = "requeued"
	outcomeIgnored   = "ignored"
	outcomeRejected  = "rejected"
)

// The reason label: why a delivery was rejected ("" when it was not).
const (
	reasonMethod        = "method"
	reasonTooLarge      = "too_large"
	reasonReadFailed    = "read_failed"
	reasonHeaders       = "headers"
	reasonTimestamp     = "timestamp"
	reasonSignature     = "signature"
	reasonInvalidEvent  = "invalid_event"
	reasonDeliveryID    = "delivery_id"
	reasonBusy          = "busy"
	reasonEnqueueFailed = "enqueue_failed"
)

// unknownType labels deliveries rejected before their body was parsed.
const unknownType = "unknown"

type metrics struct {
	deliveries      *prometheus.CounterVec
	enqueueDuration prometheus.Histogram
	bodyBytes       prometheus.Gauge
}

// newMetrics builds the receiver's collectors and registers them on reg when
// there is one.
func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "clerksync_webhook_deliveries_total",
			Help: "Webhook deliveries received, by event type, outcome and rejection reason.",
		}, []string{"event_type", "outcome", "reason"}),
		enqueueDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "clerksync_webhook_enqueue_duration_seconds",
			Help: "Time to queue a verified user event, failed attempts included.",
			// Redis answers in about a millisecond; the top buckets show the
			// queue approaching the 10 s enqueue deadline.
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}),
		bodyBytes: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "clerksync_webhook_body_bytes_in_flight",
			Help: "Bytes of request bodies held by the receiver (being read, verified, parsed or queued); requests past its bound are rejected with reason busy.",
		}),
	}
	if reg == nil {
		return m, nil
	}
	var err error
	if m.deliveries, err = register(reg, m.deliveries); err != nil {
		return nil, err
	}
	if m.enqueueDuration, err = register(reg, m.enqueueDuration); err != nil {
		return nil, err
	}
	if m.bodyBytes, err = register(reg, m.bodyBytes); err != nil {
		return nil, err
	}
	return m, nil
}

// register registers c, or adopts the collector already registered under its
// name, so that two handlers on one registry share their counts instead of
// failing.
func register[C prometheus.Collector](reg prometheus.Registerer, c C) (C, error) {
	err := reg.Register(c)
	var already prometheus.AlreadyRegisteredError
	if errors.As(err, &already) {
		if existing, ok := already.ExistingCollector.(C); ok {
			return existing, nil
		}
	}
	return c, err
}
