package worker_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/clerksync/clerksync"
	"github.com/clerksync/clerksync/db"
	"github.com/clerksync/clerksync/worker"
)

// lockedBuffer collects log lines from many goroutines.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// lines are the JSON log lines whose msg is msg.
func (b *lockedBuffer) lines(t *testing.T, msg string) []map[string]any {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []map[string]any
	s := bufio.NewScanner(bytes.NewReader(b.buf.Bytes()))
	for s.Scan() {
		var m map[string]any
		if err := json.Unmarshal(s.Bytes(), &m); err != nil {
			t.Fatalf("log line %q: %v", s.Text(), err)
		}
		if m["msg"] == msg {
			out = append(out, m)
		}
	}
	return out
}

func (e *env) startLoggingWorker(t *testing.T, logs *lockedBuffer, mirror clerksync.Mirror) *worker.Server {
	t.Helper()
	s := worker.NewServer(worker.Options{Redis: e.redis, Mirror: mirror, Concurrency: 8,
		ShutdownTimeout: 5 * time.Second, Registerer: e.registry,
		Logger: slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo}))})
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Shutdown(context.Background()) })
	return s
}

// histogram is the family's one histogram.
func histogram(t *testing.T, reg *prometheus.Registry, name string) *dto.Histogram {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf.GetMetric()[0].GetHistogram()
		}
	}
	t.Fatalf("no %s", name)
	return nil
}

func gauge(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf.GetMetric()[0].GetGauge().GetValue()
		}
	}
	t.Fatalf("no %s", name)
	return 0
}

// TestBatchLogLine: each committed batch is one info line with its counts
// by outcome, and the last-applied gauge moves. No payload value is logged.
func TestBatchLogLine(t *testing.T) {
	e := newEnv(t)
	logs := &lockedBuffer{}
	e.startLoggingWorker(t, logs, db.NewStore(e.conn))
	before := float64(time.Now().Unix())
	e.enqueue(t, delivery(t, "msg_log_created", "20-user.created.composed-multi-contact.json"))
	eventually(t, "one batch line", func() bool { return len(logs.lines(t, "events applied")) == 1 })
	e.enqueue(t, delivery(t, "msg_log_updated", "21-user.updated.composed-multi-contact.json"))
	eventually(t, "two batch lines", func() bool { return len(logs.lines(t, "events applied")) == 2 })
	e.enqueue(t, delivery(t, "msg_log_late", "20-user.created.composed-multi-contact.json"))
	eventually(t, "three batch lines", func() bool { return len(logs.lines(t, "events applied")) == 3 })
	e.enqueue(t, delivery(t, "msg_log_deleted", "22-user.deleted.composed.json"))
	eventually(t, "four batch lines", func() bool { return len(logs.lines(t, "events applied")) == 4 })
	sum := map[string]float64{}
	for _, l := range logs.lines(t, "events applied") {
		if l["level"] != "INFO" {
			t.Errorf("level %v", l["level"])
		}
		for _, k := range []string{"events", "applied", "stale", "deleted"} {
			sum[k] += l[k].(float64)
		}
	}
	if sum["events"] != 4 || sum["applied"] != 2 || sum["stale"] != 1 || sum["deleted"] != 1 {
		t.Errorf("counts %v, want 4 events: 2 applied, 1 stale, 1 deleted", sum)
	}
	if last := gauge(t, e.registry, "clerksync_worker_last_applied_timestamp_seconds"); last < before {
		t.Errorf("last applied %v, want >= %v", last, before)
	}
	logs.mu.Lock()
	out := logs.buf.String()
	logs.mu.Unlock()
	for _, personal := range []string{"@example.com", "King", "+1"} {
		if strings.Contains(out, personal) {
			t.Errorf("logs show %q:\n%s", personal, out)
		}
	}
}

// TestLagIgnoresReplaysAndRetries: a 2025 fixture replayed today counts in
// the lag histogram's top bucket at about a day, not at its real age (which
// put years into the sum), and a retried task is not observed at all.
func TestLagIgnoresReplaysAndRetries(t *testing.T) {
	e := newEnv(t)
	logs := &lockedBuffer{}
	// A worker whose mirror refuses the write (a mirror-side failure, which
	// is retried) fails the fresh event once. A Postgres that is down would
	// not do: the worker waits it out without failing the task.
	failing := worker.NewServer(worker.Options{Redis: e.redis, Mirror: refusingMirror{}, Concurrency: 2,
		ShutdownTimeout: 5 * time.Second, Logger: slog.New(slog.DiscardHandler)})
	if err := failing.Start(); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UnixMilli()
	fresh := clerksync.Delivery{ID: "msg_lag_retried", Type: clerksync.UserCreated, UserID: "user_lag",
		Timestamp: time.UnixMilli(now), Body: fmt.Appendf(nil,
			`{"type":"user.created","object":"event","timestamp":%d,"data":{"id":"user_lag","updated_at":%d,"created_at":%d}}`, now, now, now)}
	e.enqueue(t, fresh)
	insp := asynq.NewInspector(e.redis)
	defer insp.Close()
	eventually(t, "the fresh event to wait for a retry", func() bool {
		info, err := insp.GetTaskInfo(worker.Queue, fresh.ID)
		return err == nil && info.State == asynq.TaskStateRetry
	})
	failing.Shutdown(context.Background())
	if err := insp.RunTask(worker.Queue, fresh.ID); err != nil {
		t.Fatal(err)
	}

	e.startLoggingWorker(t, logs, db.NewStore(e.conn))
	e.enqueue(t, delivery(t, "msg_lag_old", "20-user.created.composed-multi-contact.json"))
	eventually(t, "both applied", func() bool {
		n := 0
		for _, l := range logs.lines(t, "events applied") {
			n += int(l["applied"].(float64))
		}
		return n == 2
	})
	h := histogram(t, e.registry, "clerksync_worker_event_lag_seconds")
	if h.GetSampleCount() != 1 {
		t.Errorf("%d lag observations, want 1 (the replayed fixture, not the retried event)", h.GetSampleCount())
	}
	if day := 24 * time.Hour.Seconds(); h.GetSampleSum() > day {
		t.Errorf("lag sum %vs: the 2025 fixture's age leaked in (want at most a day)", h.GetSampleSum())
	}
}

// TestQueueCollector: a worker exports the backlog it reads from Redis,
// zero for a queue that never held a task.
func TestQueueCollector(t *testing.T) {
	e := newEnv(t)
	insp := asynq.NewInspector(e.redis)
	defer insp.Close()
	reg := prometheus.NewRegistry()
	reg.MustRegister(worker.NewQueueCollector(insp))
	if got := gauge(t, reg, "clerksync_worker_queue_pending_tasks"); got != 0 {
		t.Errorf("pending %v before any task", got)
	}
	e.enqueue(t, delivery(t, "msg_q_1", "20-user.created.composed-multi-contact.json"))
	e.enqueue(t, delivery(t, "msg_q_2", "21-user.updated.composed-multi-contact.json"))
	if got := gauge(t, reg, "clerksync_worker_queue_pending_tasks"); got != 2 {
		t.Errorf("pending %v, want 2", got)
	}
	eventually(t, "latency to show", func() bool { return gauge(t, reg, "clerksync_worker_queue_latency_seconds") > 0 })

	// Redis gone: the series are left out, the scrape still works.
	down, _ := worker.RedisConnOpt("redis://127.0.0.1:1/0")
	dInsp := asynq.NewInspector(down)
	defer dInsp.Close()
	dReg := prometheus.NewRegistry()
	dReg.MustRegister(worker.NewQueueCollector(dInsp))
	if mfs, err := dReg.Gather(); err != nil || len(mfs) != 0 {
		t.Errorf("with Redis down: %v, %d families", err, len(mfs))
	}
}

// refusingMirror fails every batch as a mirror whose schema refuses a value
// would: an error that is neither the event's fault nor an outage.
type refusingMirror struct{}

func (refusingMirror) ApplyEvents(context.Context, []clerksync.Event) ([]clerksync.Outcome, error) {
	return nil, errors.New("refused by the mirror")
}

func (refusingMirror) Ping(context.Context) error { return nil }
