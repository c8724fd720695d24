package worker

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/clerksync/clerksync"
)

// lagBuckets are clerksync_worker_event_lag_seconds's buckets: 10 ms to
// about 23 hours.
var lagBuckets = prometheus.ExponentialBuckets(0.01, 2, 24)

// maxLag is the top bucket's bound. An event older than that is a replay
// (from the Clerk Dashboard, or a task an operator ran again, or an old
// test fixture), and its age is not the pipeline's lag.
var maxLag = lagBuckets[len(lagBuckets)-1]

// observeLag records the time from Clerk emitting an event to the event
// being in the mirror. A retried task is not observed: its lag is Asynq's
// backoff, seen already as the retry state and applies_total{outcome=
// "failed"}. An event older than maxLag is observed as maxLag: it still
// counts (in the top bucket, "a day or more"), but adds at most a day to the
// sum, not the years a 2022 event would, which made the average useless.
func observeLag(h prometheus.Observer, emitted, now time.Time, retried int) {
	if emitted.IsZero() || retried > 0 {
		return
	}
	lag := now.Sub(emitted).Seconds()
	h.Observe(min(max(lag, 0), maxLag)) // a clock behind Clerk's is no lag
}

// progress reports what each committed batch did: one info line with its
// counts by outcome (a developer sees what happened to each event; a busy
// worker writes a line per transaction, not per event), and the time of
// the last commit as a gauge.
type progress struct {
	log  *slog.Logger
	last prometheus.Gauge
}

func newProgress(log *slog.Logger, reg prometheus.Registerer) *progress {
	p := &progress{log: log, last: prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "clerksync_worker_last_applied_timestamp_seconds",
		Help: "Unix time at which this worker last committed events to the mirror (applied, stale or deleted); 0 before the first.",
	})}
	if reg != nil {
		reg.MustRegister(p.last)
	}
	return p
}

// batchDone is called with the events of one committed transaction and
// their outcomes (the ids of each are logged per task, at debug).
func (p *progress) batchDone(events []clerksync.Event, outcomes []clerksync.Outcome) {
	if len(events) == 0 {
		return
	}
	p.last.SetToCurrentTime()
	if !p.log.Enabled(context.Background(), slog.LevelInfo) {
		return
	}
	var applied, stale, deleted int
	for _, o := range outcomes {
		switch o {
		case clerksync.Applied:
			applied++
		case clerksync.Stale:
			stale++
		case clerksync.Deleted:
			deleted++
		}
	}
	p.log.Info("events applied", "events", len(events), "applied", applied, "stale", stale, "deleted", deleted)
}

// NewQueueCollector exports the clerksync queue's backlog as one worker
// sees it, read from Redis at each scrape: the age of the oldest pending
// task (asynq's queue latency) and the number of pending tasks. Unlike
// asynq's own queue collector, which only receivers register, every worker
// exports these, so a worker-only deployment can alert on a backlog. When
// Redis does not answer the series are left out of the scrape.
func NewQueueCollector(insp *asynq.Inspector) prometheus.Collector {
	return &queueCollector{
		insp: insp,
		latency: prometheus.NewDesc("clerksync_worker_queue_latency_seconds",
			"Age of the oldest pending task in the clerksync queue (0 when none is pending), as this worker reads it from Redis.", nil, nil),
		pending: prometheus.NewDesc("clerksync_worker_queue_pending_tasks",
			"Tasks in the clerksync queue ready to run now, as this worker reads them from Redis.", nil, nil),
	}
}

type queueCollector struct {
	insp             *asynq.Inspector
	latency, pending *prometheus.Desc
}

func (c *queueCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.latency
	ch <- c.pending
}

func (c *queueCollector) Collect(ch chan<- prometheus.Metric) {
	info, err := QueueInfo(c.insp)
	if err != nil {
		return
	}
	ch <- prometheus.MustNewConstMetric(c.latency, prometheus.GaugeValue, info.Latency.Seconds())
	ch <- prometheus.MustNewConstMetric(c.pending, prometheus.GaugeValue, float64(info.Pending))
}

// QueueInfo reads the clerksync queue's counts. A queue that never held a
// task (Asynq creates it with the first) reads as empty, not as an error.
func QueueInfo(insp *asynq.Inspector) (asynq.QueueInfo, error) {
	queues, err := insp.Queues()
	if err != nil {
		return asynq.QueueInfo{}, fmt.Errorf("read queue %s: %w", Queue, err)
	}
	if !slices.Contains(queues, Queue) {
		return asynq.QueueInfo{Queue: Queue, Timestamp: time.Now()}, nil
	}
	info, err := insp.GetQueueInfo(Queue)
	if err != nil {
		return asynq.QueueInfo{}, fmt.Errorf("read queue %s: %w", Queue, err)
	}
	return *info, nil
}
