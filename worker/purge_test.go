package worker

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/clerksync/clerksync"
	"github.com/clerksync/clerksync/internal/testenv"
)

// TestRunningTaskPurgedOnceItEnds: a deleted user's task that is running
// when the deletion is applied cannot be deleted then; it is removed as
// soon as it ends, although it completed with a retention.
func TestRunningTaskPurgedOnceItEnds(t *testing.T) {
	opt, err := RedisConnOpt(testenv.Redis(t))
	if err != nil {
		t.Fatal(err)
	}
	rdb := opt.MakeRedisClient().(redis.UniversalClient)
	defer rdb.Close()
	p := newPrivacy(rdb, time.Hour, slog.New(slog.NewTextHandler(io.Discard, nil)), newMetrics(nil))
	ctx := context.Background()

	client := asynq.NewClient(opt)
	defer client.Close()
	if _, err := client.Enqueue(asynq.NewTask(TaskType(clerksync.UserUpdated), []byte(`{"secret":"x"}`)),
		asynq.TaskID("msg_running"), asynq.Queue(Queue), asynq.Retention(time.Hour)); err != nil {
		t.Fatal(err)
	}
	// A server whose handler holds the task until released.
	started, release := make(chan struct{}), make(chan struct{})
	srv := asynq.NewServer(opt, asynq.Config{Concurrency: 1, Queues: map[string]int{Queue: 1}, LogLevel: asynq.ErrorLevel})
	if err := srv.Start(asynq.HandlerFunc(func(context.Context, *asynq.Task) error {
		close(started)
		<-release
		return nil
	})); err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown()
	<-started
	ev := clerksync.Event{DeliveryID: "msg_running", Type: clerksync.UserUpdated, UserID: "user_running", User: &clerksync.User{}}
	if err := p.record(ctx, []clerksync.Event{ev}); err != nil {
		t.Fatal(err)
	}
	if err := p.forget(ctx, "user_running"); err != nil {
		t.Fatal(err)
	}
	if n, _ := rdb.ZCard(ctx, purgeKey).Result(); n != 1 {
		t.Fatalf("%d tasks waiting to be purged, want the running one", n)
	}
	close(release)
	insp := asynq.NewInspector(opt)
	defer insp.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		p.sweep()
		if _, err := insp.GetTaskInfo(Queue, "msg_running"); isNotFound(err) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the task that was running is still in Redis after it ended")
		}
		time.Sleep(100 * time.Millisecond)
	}
	if n, _ := rdb.ZCard(ctx, purgeKey).Result(); n != 0 {
		t.Errorf("%d tasks left in the purge set", n)
	}
	if n, _ := rdb.Exists(ctx, indexKey("user_running")).Result(); n != 0 {
		t.Errorf("the deleted user's index is still there")
	}
}
