package worker

import (
	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the worker's Prometheus series.
type metrics struct {
	applies   *prometheus.CounterVec
	duration  prometheus.Histogram
	lag       prometheus.Histogram
	batchSize prometheus.Histogram

	postgresAvailable  prometheus.Gauge
	postgresOutages    prometheus.Counter
	waitingForPostgres prometheus.Gauge
	tasksForgotten     prometheus.Counter
	handedBack         prometheus.Counter
}

// The outcome label of clerksync_worker_applies_total beyond the domain's
// applied, stale and deleted.
const outcomeFailed = "failed"

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		applies: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "clerksync_worker_applies_total",
			Help: "Events the worker handled, by event type and outcome (applied, stale, deleted, failed).",
		}, []string{"event_type", "outcome"}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "clerksync_worker_apply_duration_seconds",
			Help:    "Time from a task starting to its event being committed to Postgres.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
		}),
		lag: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "clerksync_worker_event_lag_seconds",
			Help:    "Time from Clerk's event timestamp to the event being applied to the mirror, on first attempts; events over 23h old (replays) count in the top bucket at 23h.",
			Buckets: lagBuckets,
		}),
		batchSize: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "clerksync_worker_batch_size",
			Help:    "Events applied per Postgres transaction.",
			Buckets: prometheus.ExponentialBuckets(1, 2, 8),
		}),
		postgresAvailable: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "clerksync_worker_postgres_available",
			Help: "1 while the worker reaches Postgres, 0 during an outage (tasks then wait instead of failing).",
		}),
		postgresOutages: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "clerksync_worker_postgres_outages_total",
			Help: "Postgres outages the worker saw: a batch failed and Postgres did not answer a ping.",
		}),
		waitingForPostgres: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "clerksync_worker_tasks_waiting_for_postgres",
			Help: "Tasks holding their place while Postgres is unavailable.",
		}),
		tasksForgotten: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "clerksync_worker_deleted_user_tasks_removed_total",
			Help: "Earlier tasks of deleted users removed from Redis with their payloads.",
		}),
		handedBack: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "clerksync_worker_tasks_handed_back_total",
			Help: "Tasks given back to the queue untried, without counting a failure (Postgres unavailable until the task's deadline, or a shutdown).",
		}),
	}
	if reg != nil {
		reg.MustRegister(m.applies, m.duration, m.lag, m.batchSize,
			m.postgresAvailable, m.postgresOutages, m.waitingForPostgres, m.tasksForgotten, m.handedBack)
	}
	return m
}
