package worker_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/clerksync/clerksync"
	"github.com/clerksync/clerksync/db"
	"github.com/clerksync/clerksync/internal/testenv"
	"github.com/clerksync/clerksync/worker"
)

// syncBuffer collects log lines from many goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// snapshotBody is a minimal valid user.created event.
func snapshotBody(userID, firstName string, updatedAt int64) []byte {
	return fmt.Appendf(nil, `{"type":"user.created","object":"event","timestamp":%d,"data":{"id":%q,"object":"user",
		"first_name":%q,"created_at":%d,"updated_at":%d,"email_addresses":[],"phone_numbers":[],"web3_wallets":[],
		"external_accounts":[],"public_metadata":{},"private_metadata":{},"unsafe_metadata":{}}}`,
		updatedAt, userID, firstName, updatedAt, updatedAt)
}

func snapshotDelivery(id, userID, firstName string, updatedAt int64) clerksync.Delivery {
	return clerksync.Delivery{ID: id, Type: clerksync.UserCreated, UserID: userID, Body: snapshotBody(userID, firstName, updatedAt)}
}

// TestPostgresOutageWaitedOut: Postgres stops in the middle of a backlog and
// comes back. No task fails, is retried or archived; the log says once that
// Postgres is unavailable and once that it is back; the backlog drains once
// it is. (Before issue 7 every task fell into Asynq's backoff and logged a
// warning per failure.)
func TestPostgresOutageWaitedOut(t *testing.T) {
	pg := testenv.StartPostgres(t)
	url := pg.CreateDatabase("mirror")
	ctx := context.Background()
	conn, err := db.Open(ctx, url, "", 8)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	if _, err := db.Migrate(ctx, conn, ""); err != nil {
		t.Fatal(err)
	}
	opt, err := worker.RedisConnOpt(testenv.Redis(t))
	if err != nil {
		t.Fatal(err)
	}
	// Completed tasks are kept so that their retry counts can be read.
	q := worker.NewEnqueuer(opt, time.Hour)
	t.Cleanup(func() { q.Close() })
	const n = 600
	for i := range n {
		d := snapshotDelivery(fmt.Sprintf("msg_outage_%04d", i), fmt.Sprintf("user_outage%04d", i), "Ann", 1752566400000)
		if _, err := q.Enqueue(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	logs := &syncBuffer{}
	reg := prometheus.NewRegistry()
	srv := worker.NewServer(worker.Options{Redis: opt, Mirror: db.NewStore(conn), Concurrency: 16,
		TaskRetention: time.Hour, ShutdownTimeout: 5 * time.Second, Registerer: reg,
		Logger: slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo}))})
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Shutdown(context.Background()) })
	insp := asynq.NewInspector(opt)
	defer insp.Close()
	completed := func() int {
		info, err := insp.GetQueueInfo(worker.Queue)
		if err != nil {
			t.Fatal(err)
		}
		return info.Completed
	}
	eventually(t, "the backlog to start draining", func() bool { return completed() > 0 })
	pg.Stop()
	eventually(t, "the worker to see the outage", func() bool {
		return testutil.ToFloat64(metric(t, reg, "clerksync_worker_postgres_outages_total")) == 1
	})
	// Longer than Asynq's first retry delays (15 s and up) would matter, no
	// longer than a test should take.
	time.Sleep(3 * time.Second)
	stuck := completed()
	if stuck == n {
		t.Fatal("the backlog drained before the outage; make it larger")
	}
	pg.Start()
	back := time.Now()
	eventually(t, "draining to resume", func() bool { return completed() > stuck })
	t.Logf("draining resumed %.1fs after Postgres answered again (%d of %d done before)", time.Since(back).Seconds(), stuck, n)
	deadline := time.Now().Add(60 * time.Second)
	for completed() < n {
		if time.Now().After(deadline) {
			info, _ := insp.GetQueueInfo(worker.Queue)
			t.Fatalf("not drained: %+v\n%s", info, logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	info, _ := insp.GetQueueInfo(worker.Queue)
	if info.Archived != 0 || info.Retry != 0 {
		t.Errorf("archived %d, retrying %d, want none", info.Archived, info.Retry)
	}
	for page := 1; ; page++ {
		tasks, err := insp.ListCompletedTasks(worker.Queue, asynq.PageSize(100), asynq.Page(page))
		if err != nil {
			t.Fatal(err)
		}
		if len(tasks) == 0 {
			break
		}
		for _, ti := range tasks {
			if ti.Retried != 0 {
				t.Errorf("task %s retried %d times, want 0", ti.ID, ti.Retried)
			}
		}
	}
	var users int
	if err := conn.Get(&users, `SELECT count(*) FROM users`); err != nil || users != n {
		t.Errorf("%d users (%v), want %d", users, err, n)
	}
	out := logs.String()
	if got := strings.Count(out, `"msg":"Postgres unavailable`); got != 1 {
		t.Errorf("%d 'unavailable' lines, want 1:\n%s", got, out)
	}
	if got := strings.Count(out, `"msg":"Postgres available again`); got != 1 {
		t.Errorf("%d 'available again' lines, want 1:\n%s", got, out)
	}
	// The per-batch "events applied" lines are progress, not the outage's.
	var outageLines int
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if !strings.Contains(l, `"msg":"events applied"`) {
			outageLines++
		}
	}
	if outageLines > 10 {
		t.Errorf("%d log lines for one outage, want a handful:\n%s", outageLines, out)
	}
	if got := testutil.ToFloat64(metric(t, reg, "clerksync_worker_postgres_available")); got != 1 {
		t.Errorf("postgres_available %v after the outage, want 1", got)
	}
}

// TestOutageOutlastingTheTaskDeadline: a task that waits for Postgres until
// near its Asynq deadline is handed back, its retry count untouched, and
// taken again.
func TestOutageOutlastingTheTaskDeadline(t *testing.T) {
	opt, err := worker.RedisConnOpt(testenv.Redis(t))
	if err != nil {
		t.Fatal(err)
	}
	conn, err := db.Connect("postgres://postgres@127.0.0.1:1/nowhere?sslmode=disable&connect_timeout=2", "", 2)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	reg := prometheus.NewRegistry()
	srv := worker.NewServer(worker.Options{Redis: opt, Mirror: db.NewStore(conn), Concurrency: 4,
		ShutdownTimeout: 2 * time.Second, Registerer: reg})
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Shutdown(context.Background()) })
	client := asynq.NewClient(opt)
	defer client.Close()
	// Asynq's default task timeout is 30 minutes; this one's leaves the
	// handler 2 s (its margin is 5 s).
	d := snapshotDelivery("msg_deadline", "user_deadline", "Ann", 1752566400000)
	if _, err := client.Enqueue(asynq.NewTask(worker.TaskType(d.Type), d.Body), asynq.TaskID(d.ID),
		asynq.Queue(worker.Queue), asynq.Timeout(7*time.Second), asynq.MaxRetry(1)); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the task handed back", func() bool {
		return testutil.ToFloat64(metric(t, reg, "clerksync_worker_tasks_handed_back_total")) >= 1
	})
	insp := asynq.NewInspector(opt)
	defer insp.Close()
	info, err := insp.GetTaskInfo(worker.Queue, "msg_deadline")
	if err != nil {
		t.Fatal(err)
	}
	if info.Retried != 0 || info.State == asynq.TaskStateArchived {
		t.Errorf("after the hand-back: %v, retried %d; want back in the queue, retried 0", info.State, info.Retried)
	}
	// Taken again (and waiting again) rather than archived, although its
	// one retry would be used up had the hand-back counted.
	eventually(t, "the task taken again", func() bool {
		return testutil.ToFloat64(metric(t, reg, "clerksync_worker_tasks_handed_back_total")) >= 2
	})
	if info, err := insp.GetTaskInfo(worker.Queue, "msg_deadline"); err != nil || info.State == asynq.TaskStateArchived || info.Retried != 0 {
		t.Errorf("after two hand-backs: %+v %v", info, err)
	}
}

// TestShutdownDuringOutage: tasks waiting for Postgres are handed back at
// once when the worker stops (no use waiting out SHUTDOWN_TIMEOUT for a
// Postgres that is down), their retry counts untouched.
func TestShutdownDuringOutage(t *testing.T) {
	e := newEnv(t)
	conn, err := db.Connect("postgres://postgres@127.0.0.1:1/nowhere?sslmode=disable&connect_timeout=2", "", 2)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	reg := prometheus.NewRegistry()
	srv := worker.NewServer(worker.Options{Redis: e.redis, Mirror: db.NewStore(conn), Concurrency: 4,
		ShutdownTimeout: 20 * time.Second, Registerer: reg})
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		e.enqueue(t, snapshotDelivery(fmt.Sprintf("msg_sdo_%d", i), fmt.Sprintf("user_sdo%d", i), "Ann", 1752566400000))
	}
	eventually(t, "the tasks waiting for Postgres", func() bool {
		return testutil.ToFloat64(metric(t, reg, "clerksync_worker_tasks_waiting_for_postgres")) == 3
	})
	start := time.Now()
	srv.Shutdown(context.Background())
	t.Logf("shut down in %s (SHUTDOWN_TIMEOUT 20s)", time.Since(start).Round(time.Millisecond))
	insp := asynq.NewInspector(e.redis)
	defer insp.Close()
	for i := range 3 {
		info, err := insp.GetTaskInfo(worker.Queue, fmt.Sprintf("msg_sdo_%d", i))
		if err != nil || info.Retried != 0 || info.State == asynq.TaskStateArchived || info.State == asynq.TaskStateActive {
			t.Errorf("task %d after shutdown: %+v %v; want back in the queue, retried 0", i, info, err)
		}
	}
	if got := testutil.ToFloat64(metric(t, reg, "clerksync_worker_tasks_handed_back_total")); got != 3 {
		t.Errorf("%v handed back, want 3", got)
	}
}
