package importer

import (
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics returns the import's Prometheus series, registered on a registry
// of their own: clerksync_import_rows_total by outcome (inserted, updated,
// unchanged, skipped_mirrored, skipped_deleted, rejected), the credentials
// dropped, the duration, when the run ended and whether it succeeded, and
// the time of the run if it succeeded.
func (s Summary) Metrics(succeeded bool, now time.Time) *prometheus.Registry {
	reg := prometheus.NewRegistry()
	rows := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "clerksync_import_rows_total",
		Help: "CSV rows the last import handled, by outcome.",
	}, []string{"outcome"})
	l := s.Loaded
	for outcome, n := range map[string]int{
		"inserted": l.Inserted, "updated": l.Updated, "unchanged": l.Unchanged,
		"skipped_mirrored": l.Mirrored, "skipped_deleted": l.Deleted, "rejected": s.Rejected,
	} {
		rows.WithLabelValues(outcome).Add(float64(n))
	}
	creds := prometheus.NewCounter(prometheus.CounterOpts{
		Name: "clerksync_import_credential_rows_dropped_total",
		Help: "Rows of the last import that carried a password digest or TOTP secret, dropped unread.",
	})
	creds.Add(float64(s.Credentials.Rows))
	duration := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "clerksync_import_duration_seconds",
		Help: "How long the last import ran.",
	})
	duration.Set(s.Elapsed.Seconds())
	// The file is rewritten by every run, so a failed run cannot keep the
	// last success time: it says it failed, and when, instead.
	lastRun := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "clerksync_import_last_run_timestamp_seconds",
		Help: "When the last import ended (Unix time).",
	})
	lastRun.Set(float64(now.Unix()))
	ok := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "clerksync_import_last_run_success",
		Help: "1 when the last import loaded every row it could, 0 when it failed.",
	})
	if succeeded {
		ok.Set(1)
	}
	reg.MustRegister(rows, creds, duration, lastRun, ok)
	if succeeded {
		last := prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "clerksync_import_last_success_timestamp_seconds",
			Help: "When the last import that loaded every row it could ended (Unix time).",
		})
		last.Set(float64(now.Unix()))
		reg.MustRegister(last)
	}
	return reg
}

// WriteMetrics writes the summary's series to path in the Prometheus text
// format, atomically, for node_exporter's textfile collector: an import is
// a one-off process that no scraper would reach in time.
func (s Summary) WriteMetrics(path string, succeeded bool) error {
	if err := prometheus.WriteToTextfile(path, s.Metrics(succeeded, time.Now())); err != nil {
		return fmt.Errorf("write metrics: %w", err)
	}
	return nil
}
