package backfill

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/clerksync/clerksync"
)

// StatusCollector exports the record of the last completed reconcile,
// whichever process ran it (a scheduled run in any worker, or the
// reconcile command), read from the mirror at each scrape: every worker
// shows the same figures, so an alert may take the max over them.
//
//	clerksync_reconcile_last_success_timestamp_seconds  when it completed
//	clerksync_reconcile_drift_users{kind="missing|outdated|extra"}  what it found
//
// Before any reconcile has completed, neither series exists.
type StatusCollector struct {
	state interface {
		LastReconcile(ctx context.Context) (clerksync.ReconcileStatus, error)
	}
	lastSuccess, drift *prometheus.Desc
}

// NewStatusCollector returns the collector over the mirror's record.
func NewStatusCollector(state clerksync.SyncState) *StatusCollector {
	return &StatusCollector{
		state: state,
		lastSuccess: prometheus.NewDesc("clerksync_reconcile_last_success_timestamp_seconds",
			"When the last reconcile (scheduled or the reconcile command) completed, in Unix seconds.", nil, nil),
		drift: prometheus.NewDesc("clerksync_reconcile_drift_users",
			"Users that differed between Clerk and the mirror in the last completed reconcile (before any repair).",
			[]string{"kind"}, nil),
	}
}

// Describe sends the two descriptors.
func (c *StatusCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.lastSuccess
	ch <- c.drift
}

// Collect reads the record; when Postgres does not answer within 2 s the
// series are left out of this scrape rather than reported wrong.
func (c *StatusCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	st, err := c.state.LastReconcile(ctx)
	if err != nil || st.SucceededAt.IsZero() {
		return
	}
	ch <- prometheus.MustNewConstMetric(c.lastSuccess, prometheus.GaugeValue, float64(st.SucceededAt.UnixMilli())/1e3)
	ch <- prometheus.MustNewConstMetric(c.drift, prometheus.GaugeValue, float64(st.Missing), "missing")
	ch <- prometheus.MustNewConstMetric(c.drift, prometheus.GaugeValue, float64(st.Outdated), "outdated")
	ch <- prometheus.MustNewConstMetric(c.drift, prometheus.GaugeValue, float64(st.Extra), "extra")
}
