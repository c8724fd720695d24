package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/clerksync/clerksync"
	"github.com/clerksync/clerksync/config"
	"github.com/clerksync/clerksync/worker"
)

// helperEnv marks the test binary run again as a worker process that
// TestKilledWorkerRecovered can kill -9.
const helperEnv = "CLERKSYNC_TEST_HELPER_WORKER"

// TestHelperWorkerProcess is the worker process of TestKilledWorkerRecovered
// (the test binary run again); run as a test, it does nothing.
func TestHelperWorkerProcess(t *testing.T) {
	if os.Getenv(helperEnv) != "1" {
		return
	}
	cfg, err := config.Load(os.LookupEnv)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	app, err := NewApp(context.Background(), cfg, Roles{Work: true}, discardLogger())
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	if err := app.Start(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	select {} // until killed
}

// TestKilledWorkerRecovered: a worker is killed (SIGKILL) while it holds
// tasks; another worker finishes every task, each applied, none archived,
// none with a retry counted. The time it takes is what Asynq allows: the
// dead worker's leases run out (up to 30 s), the recoverer takes them only
// 30 s later still, and runs once a minute per Asynq server (a process's
// four are spread over that minute); a lease-expired task then goes back
// at once (no retry delay). It is logged, not asserted.
func TestKilledWorkerRecovered(t *testing.T) {
	h := startApp(t, Roles{Migrate: true, Serve: true})
	q := worker.NewEnqueuer(h.redis, time.Hour)
	defer q.Close()
	const n = 300
	for i := range n {
		body := userEvent(t, userSnapshot{id: propUserID(i), updatedAt: 1752566400000, first: "First",
			emails: []contact{{id: "idn_e" + propUserID(i), value: "u@example.com"}}, primaryEmail: 0, primaryPhone: -1, prim: -1})
		d := clerksync.Delivery{ID: "msg_kill_" + propUserID(i), Type: clerksync.UserCreated, UserID: propUserID(i), Body: body}
		if _, err := q.Enqueue(context.Background(), d); err != nil {
			t.Fatal(err)
		}
	}
	// The doomed worker's batches wait on this lock, so that it holds
	// tasks when it dies.
	release := lockUsers(t, h.conn)
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperWorkerProcess$")
	cmd.Env = append(os.Environ(), helperEnv+"=1",
		"DATABASE_URL="+h.cfg.DatabaseURL.Reveal(), "REDIS_URL="+h.cfg.RedisURL.Reveal(),
		"DATABASE_SCHEMA="+h.cfg.DatabaseSchema, "LISTEN_ADDR=127.0.0.1:0", "WORKER_CONCURRENCY=64", "LOG_LEVEL=error")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	killed := false
	t.Cleanup(func() {
		if !killed {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})
	var held int
	waitFor(t, 30*time.Second, "the doomed worker to hold tasks", func() bool {
		held = h.queueInfo(t).Active
		return held > 0
	})
	time.Sleep(500 * time.Millisecond) // let it take all it will
	held = h.queueInfo(t).Active
	cmd.Process.Kill()
	cmd.Wait()
	killed = true
	kill := time.Now()
	release()
	startWorker(t, h)
	insp := asynq.NewInspector(h.redis)
	defer insp.Close()
	waitFor(t, 3*time.Minute, "every task completed", func() bool {
		info := h.queueInfo(t)
		if info.Archived > 0 {
			t.Fatalf("%d archived", info.Archived)
		}
		return info.Completed == n
	})
	t.Logf("the %d tasks the killed worker held were all applied %.1fs after the kill", held, time.Since(kill).Seconds())
	if got := h.count(t, `SELECT count(*) FROM users`); got != n {
		t.Errorf("%d users, want %d", got, n)
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
				t.Errorf("task %s retried %d times, want 0 (a lease that expired is no failure)", ti.ID, ti.Retried)
			}
		}
	}
}
