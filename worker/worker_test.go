package worker_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/jmoiron/sqlx"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/clerksync/clerksync"
	"github.com/clerksync/clerksync/db"
	"github.com/clerksync/clerksync/internal/testenv"
	"github.com/clerksync/clerksync/worker"
	"github.com/clerksync/clerksync/worker/payload"
)

type env struct {
	redis    asynq.RedisConnOpt
	conn     *sqlx.DB
	enqueuer *worker.Enqueuer
	registry *prometheus.Registry
}

func newEnv(t *testing.T) *env {
	t.Helper()
	_, conn := testenv.Mirror(t, 8)
	opt, err := worker.RedisConnOpt(testenv.Redis(t))
	if err != nil {
		t.Fatal(err)
	}
	q := worker.NewEnqueuer(opt, 0)
	t.Cleanup(func() { q.Close() })
	return &env{redis: opt, conn: conn, enqueuer: q, registry: prometheus.NewRegistry()}
}

func (e *env) startWorker(t *testing.T) *worker.Server {
	t.Helper()
	s := worker.NewServer(worker.Options{Redis: e.redis, Mirror: db.NewStore(e.conn), Concurrency: 8,
		ShutdownTimeout: 5 * time.Second, Registerer: e.registry})
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Shutdown(context.Background()) })
	return s
}

func delivery(t *testing.T, id, name string) clerksync.Delivery {
	t.Helper()
	body, err := os.ReadFile(filepath.Join("..", "testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	env, err := clerksync.ParseEnvelope(body)
	if err != nil {
		t.Fatal(err)
	}
	return clerksync.Delivery{ID: id, Type: env.Type, UserID: env.ObjectID, Timestamp: env.Timestamp, Body: body}
}

func (e *env) enqueue(t *testing.T, d clerksync.Delivery) clerksync.EnqueueResult {
	t.Helper()
	res, err := e.enqueuer.Enqueue(context.Background(), d)
	if err != nil {
		t.Fatalf("enqueue %s: %v", d.ID, err)
	}
	return res
}

// eventually polls cond for up to 10s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (e *env) count(t *testing.T, q string, args ...any) int {
	t.Helper()
	var n int
	if err := e.conn.Get(&n, q, args...); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestDeliveriesApplied(t *testing.T) {
	e := newEnv(t)
	e.startWorker(t)
	for i, name := range []string{"20-user.created.composed-multi-contact.json", "21-user.updated.composed-multi-contact.json"} {
		if res := e.enqueue(t, delivery(t, "msg_"+string(rune('a'+i)), name)); res != clerksync.Queued {
			t.Fatalf("enqueue result %s", res)
		}
	}
	eventually(t, "the update to land", func() bool {
		return e.count(t, `SELECT count(*) FROM users WHERE last_name = 'King'`) == 1
	})
	eventually(t, "two applies counted", func() bool {
		return testutil.ToFloat64(metric(t, e.registry, "clerksync_worker_applies_total")) == 2
	})
	if n := e.count(t, `SELECT count(*) FROM email_addresses`); n != 2 {
		t.Errorf("%d email rows, want 2", n)
	}
}

func TestDuplicateDeliveryQueuedOnce(t *testing.T) {
	e := newEnv(t)
	d := delivery(t, "msg_dup", "20-user.created.composed-multi-contact.json")
	if res := e.enqueue(t, d); res != clerksync.Queued {
		t.Fatalf("first: %s", res)
	}
	if res := e.enqueue(t, d); res != clerksync.Duplicate {
		t.Fatalf("second: %s", res)
	}
	insp := asynq.NewInspector(e.redis)
	defer insp.Close()
	info, err := insp.GetQueueInfo(worker.Queue)
	if err != nil {
		t.Fatal(err)
	}
	if info.Pending != 1 {
		t.Fatalf("%d pending tasks, want 1", info.Pending)
	}
	e.startWorker(t)
	eventually(t, "the user to land", func() bool { return e.count(t, `SELECT count(*) FROM users`) == 1 })
	// Once completed (not retained), a replay is queued and applied again, harmlessly.
	eventually(t, "the task to complete", func() bool {
		_, err := insp.GetTaskInfo(worker.Queue, "msg_dup")
		return err != nil
	})
	if res := e.enqueue(t, d); res != clerksync.Queued {
		t.Fatalf("replay after completion: %s", res)
	}
	eventually(t, "the replay to be applied", func() bool {
		return testutil.ToFloat64(metric(t, e.registry, "clerksync_worker_applies_total")) == 2
	})
	if n := e.count(t, `SELECT count(*) FROM users`); n != 1 {
		t.Fatalf("%d users", n)
	}
}

func TestRetainedCompletedTaskAnswersReplayAsDuplicate(t *testing.T) {
	e := newEnv(t)
	q := worker.NewEnqueuer(e.redis, time.Hour)
	defer q.Close()
	d := delivery(t, "msg_kept", "20-user.created.composed-multi-contact.json")
	if res, err := q.Enqueue(context.Background(), d); err != nil || res != clerksync.Queued {
		t.Fatalf("first: %s %v", res, err)
	}
	e.startWorker(t)
	insp := asynq.NewInspector(e.redis)
	defer insp.Close()
	eventually(t, "the task to be completed and kept", func() bool {
		info, err := insp.GetTaskInfo(worker.Queue, "msg_kept")
		return err == nil && info.State == asynq.TaskStateCompleted
	})
	if res, err := q.Enqueue(context.Background(), d); err != nil || res != clerksync.Duplicate {
		t.Fatalf("replay within retention: %s %v", res, err)
	}
}

func TestInvalidPayloadArchivedThenReplayRequeues(t *testing.T) {
	e := newEnv(t)
	insp := asynq.NewInspector(e.redis)
	defer insp.Close()
	// A payload that passed the receiver's envelope check but is no valid user.
	bad := clerksync.Delivery{ID: "msg_bad", Type: clerksync.UserCreated, UserID: "user_x",
		Body: []byte(`{"type":"user.created","timestamp":1752566400180,"data":{"id":"user_x","email_addresses":[{"email_address":"no-id@example.com"}]}}`)}
	e.enqueue(t, bad)
	e.startWorker(t)
	eventually(t, "the task to be archived", func() bool {
		info, err := insp.GetTaskInfo(worker.Queue, "msg_bad")
		return err == nil && info.State == asynq.TaskStateArchived
	})
	if info, _ := insp.GetTaskInfo(worker.Queue, "msg_bad"); info.Retried != 0 {
		t.Errorf("retried %d times before archiving, want 0 (SkipRetry)", info.Retried)
	}
	// A replay of the archived delivery moves it back to the queue; it fails again.
	if res := e.enqueue(t, bad); res != clerksync.Requeued {
		t.Fatalf("replay of archived: %s", res)
	}
	eventually(t, "the failed count to reach 2", func() bool {
		return testutil.ToFloat64(metric(t, e.registry, "clerksync_worker_applies_total")) == 2
	})
}

// TestTaskPayloadCompressed: the Enqueuer stores the body compressed, at
// most half its size for a Clerk event.
func TestTaskPayloadCompressed(t *testing.T) {
	e := newEnv(t)
	d := delivery(t, "msg_small", "20-user.created.composed-multi-contact.json")
	e.enqueue(t, d)
	insp := asynq.NewInspector(e.redis)
	defer insp.Close()
	info, err := insp.GetTaskInfo(worker.Queue, "msg_small")
	if err != nil {
		t.Fatal(err)
	}
	if !payload.Compressed(info.Payload) || len(info.Payload) > len(d.Body)/2 {
		t.Fatalf("stored %d bytes for a %d-byte body (compressed: %v)", len(info.Payload), len(d.Body), payload.Compressed(info.Payload))
	}
	if bytes.Contains(info.Payload, []byte(`"email_address"`)) {
		t.Error("the stored payload holds the body's JSON as is")
	}
}

// TestUncompressedTaskFromBeforeTheUpgradeApplied: a task queued by an
// older receiver holds the body as received; the worker applies it.
func TestUncompressedTaskFromBeforeTheUpgradeApplied(t *testing.T) {
	e := newEnv(t)
	d := delivery(t, "msg_old", "20-user.created.composed-multi-contact.json")
	c := asynq.NewClient(e.redis)
	defer c.Close()
	if _, err := c.Enqueue(asynq.NewTask(worker.TaskType(d.Type), d.Body), asynq.TaskID(d.ID), asynq.Queue(worker.Queue)); err != nil {
		t.Fatal(err)
	}
	e.startWorker(t)
	eventually(t, "the user to land", func() bool {
		return e.count(t, `SELECT count(*) FROM users WHERE id = 'user_2zK9mQv7Xc3LrT8pWn4Yb6Hd1Fs'`) == 1
	})
}

// TestCorruptPayloadArchivedAtOnce: a compressed payload that does not
// decompress can never be applied: it is archived without retries, and the
// log names the task, never the payload's bytes.
func TestCorruptPayloadArchivedAtOnce(t *testing.T) {
	e := newEnv(t)
	d := delivery(t, "msg_corrupt", "20-user.created.composed-multi-contact.json")
	p := payload.Encode(d.Body)
	p[len(p)/2] ^= 0x40
	c := asynq.NewClient(e.redis)
	defer c.Close()
	if _, err := c.Enqueue(asynq.NewTask(worker.TaskType(d.Type), p), asynq.TaskID(d.ID), asynq.Queue(worker.Queue),
		asynq.MaxRetry(25)); err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	var mu sync.Mutex
	s := worker.NewServer(worker.Options{Redis: e.redis, Mirror: db.NewStore(e.conn), Concurrency: 8,
		ShutdownTimeout: 5 * time.Second, Registerer: e.registry,
		Logger: slog.New(slog.NewJSONHandler(lockedWriter{&mu, &logs}, nil))})
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Shutdown(context.Background()) })
	insp := asynq.NewInspector(e.redis)
	defer insp.Close()
	eventually(t, "the task to be archived", func() bool {
		info, err := insp.GetTaskInfo(worker.Queue, "msg_corrupt")
		return err == nil && info.State == asynq.TaskStateArchived
	})
	info, _ := insp.GetTaskInfo(worker.Queue, "msg_corrupt")
	if info.Retried != 0 || !strings.Contains(info.LastErr, "corrupt task payload") {
		t.Errorf("retried %d times, last error %q; want 0 and a corrupt payload", info.Retried, info.LastErr)
	}
	eventually(t, "the failure logged", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return strings.Contains(logs.String(), "msg_corrupt")
	})
	mu.Lock()
	defer mu.Unlock()
	for _, leak := range []string{"ada@example.com", "Lovelace", string(p[10:20])} {
		if strings.Contains(logs.String()+info.LastErr, leak) {
			t.Errorf("log or error holds %q", leak)
		}
	}
	if n := e.count(t, `SELECT count(*) FROM users`); n != 0 {
		t.Errorf("%d users from a corrupt payload", n)
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func TestRedisUnreachableIsUnavailable(t *testing.T) {
	opt, err := worker.RedisConnOpt("redis://127.0.0.1:1/0")
	if err != nil {
		t.Fatal(err)
	}
	q := worker.NewEnqueuer(opt, 0)
	defer q.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err = q.Enqueue(ctx, clerksync.Delivery{ID: "msg_1", Type: clerksync.UserCreated, Body: []byte(`{}`)})
	if err == nil || !errorsIs(err, clerksync.ErrUnavailable) {
		t.Fatalf("err %v, want ErrUnavailable", err)
	}
}

func TestRedisURLForms(t *testing.T) {
	for _, u := range []string{"redis://127.0.0.1:6379/0", "rediss://:pw@cache:6380/1",
		"redis-sentinel://:pw@s1:26379,s2:26379/0?master=mymaster", "redis-cluster://:pw@n1:7000,n2:7001"} {
		if _, err := worker.RedisConnOpt(u); err != nil {
			t.Errorf("%s: %v", u, err)
		}
	}
	opt, err := worker.RedisConnOpt("redis-sentinel://:pw@s1:26379,s2:26379/3?master=mymaster")
	if f, ok := opt.(asynq.RedisFailoverClientOpt); err != nil || !ok || f.Password != "pw" || f.SentinelPassword != "pw" ||
		f.DB != 3 || f.MasterName != "mymaster" || len(f.SentinelAddrs) != 2 {
		t.Errorf("sentinel: %+v %v", opt, err)
	}
	if _, err := worker.RedisConnOpt("redis-sentinel://s1:26379/0"); err == nil {
		t.Error("sentinel without master accepted")
	}
	if _, err := worker.RedisConnOpt("http://:secretpw@x"); err == nil || contains(err.Error(), "secretpw") {
		t.Errorf("bad scheme: %v", err)
	}
}
