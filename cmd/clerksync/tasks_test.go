package main

import (
	"github.com/clerksync/clerksync/worker/payload"

	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/clerksync/clerksync/internal/testenv"
	"github.com/clerksync/clerksync/worker"
)

// Payload bytes that must never reach the tasks command's output.
const (
	payloadMarker = "payload-marker-7f3a"
	payloadEmail  = "leak.check@example.com"
)

// taskQueue is a clerksync queue in a Redis DB of its own, holding a task in
// every state: ids name their state (msg_pending, msg_archived_1, ...).
type taskQueue struct {
	env  map[string]string
	insp *asynq.Inspector
}

// taskPayload is the payload a receiver queues: compressed.
func taskPayload(id, eventType string) []byte {
	return payload.Encode(fmt.Appendf(nil, `{"type":%q,"object":"event","timestamp":1752566400180,"data":{"id":"user_%s","first_name":%q,`+
		`"email_addresses":[{"id":"idn_1","email_address":%q}],"updated_at":1752566400000}}`, eventType, id, payloadMarker, payloadEmail))
}

// newTaskQueue fills the queue. An Asynq server with a handler of the
// test's own moves the tasks into their states: completed (kept for an
// hour), retry (next attempt in an hour), archived (SkipRetry, with an
// error that quotes an email address), active (held until the test ends).
// Then the queue is paused, so that pending and scheduled tasks stay so.
func newTaskQueue(t *testing.T) *taskQueue {
	t.Helper()
	redisURL := testenv.Redis(t)
	opt, err := worker.RedisConnOpt(redisURL)
	if err != nil {
		t.Fatal(err)
	}
	client := asynq.NewClient(opt)
	t.Cleanup(func() { client.Close() })
	insp := asynq.NewInspector(opt)
	t.Cleanup(func() { insp.Close() })
	enqueue := func(id, eventType string, opts ...asynq.Option) {
		t.Helper()
		opts = append([]asynq.Option{asynq.TaskID(id), asynq.Queue(worker.Queue), asynq.MaxRetry(25), asynq.Retention(time.Hour)}, opts...)
		if _, err := client.Enqueue(asynq.NewTask(worker.TaskType(eventType), taskPayload(id, eventType)), opts...); err != nil {
			t.Fatal(err)
		}
	}
	release := make(chan struct{})
	srv := asynq.NewServer(opt, asynq.Config{
		Concurrency: 4, Queues: map[string]int{worker.Queue: 1}, LogLevel: asynq.FatalLevel,
		RetryDelayFunc:  func(int, error, *asynq.Task) time.Duration { return time.Hour },
		ShutdownTimeout: 5 * time.Second,
	})
	err = srv.Start(asynq.HandlerFunc(func(ctx context.Context, task *asynq.Task) error {
		id, _ := asynq.GetTaskID(ctx)
		switch {
		case id == "msg_retry":
			return errors.New("apply msg_retry: service unavailable")
		case strings.HasPrefix(id, "msg_archived"):
			return fmt.Errorf("task %s: invalid event: %s is not allowed: %w", id, payloadEmail, asynq.SkipRetry)
		case id == "msg_active":
			select {
			case <-release:
			case <-ctx.Done():
			}
			return errors.New("released")
		}
		return nil
	}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		close(release)
		srv.Shutdown()
	})
	enqueue("msg_completed", "user.created")
	enqueue("msg_retry", "user.updated")
	enqueue("msg_archived_1", "user.created")
	enqueue("msg_archived_2", "user.deleted")
	enqueue("msg_active", "user.updated")
	q := &taskQueue{env: map[string]string{"REDIS_URL": redisURL}, insp: insp}
	waitFor(t, 20*time.Second, "tasks in their states", func() bool {
		return q.state(t, "msg_completed") == "completed" && q.state(t, "msg_retry") == "retry" &&
			q.state(t, "msg_archived_1") == "archived" && q.state(t, "msg_archived_2") == "archived" &&
			q.state(t, "msg_active") == "active"
	})
	if err := insp.PauseQueue(worker.Queue); err != nil {
		t.Fatal(err)
	}
	enqueue("msg_pending", "user.created")
	enqueue("msg_scheduled", "user.updated", asynq.ProcessIn(time.Hour))
	return q
}

// state is a task's state, or "" when there is no such task.
func (q *taskQueue) state(t *testing.T, id string) string {
	info, err := q.insp.GetTaskInfo(worker.Queue, id)
	if errors.Is(err, asynq.ErrTaskNotFound) || errors.Is(err, asynq.ErrQueueNotFound) {
		return ""
	}
	if err != nil {
		t.Fatal(err)
	}
	return info.State.String()
}

// tasks runs clerksync tasks ARGS against the queue, and fails the test if
// its output shows any byte of a payload.
func (q *taskQueue) tasks(t *testing.T, args ...string) cliResult {
	t.Helper()
	r := runCLI(t, q.env, append([]string{"tasks"}, args...)...)
	for _, leak := range []string{payloadMarker, payloadEmail, "email_addresses", "first_name"} {
		if strings.Contains(r.stdout+r.stderr, leak) {
			t.Errorf("tasks %v shows %q:\n%s%s", args, leak, r.stdout, r.stderr)
		}
	}
	return r
}

func (q *taskQueue) listJSON(t *testing.T, args ...string) []taskView {
	t.Helper()
	r := q.tasks(t, append([]string{"ls", "--json"}, args...)...)
	if r.code != 0 {
		t.Fatalf("ls %v: exit %d %s", args, r.code, r.stderr)
	}
	var views []taskView
	if err := json.Unmarshal([]byte(r.stdout), &views); err != nil {
		t.Fatalf("ls %v: %v\n%s", args, err, r.stdout)
	}
	return views
}

func ids(views []taskView) []string {
	var out []string
	for _, v := range views {
		out = append(out, v.ID)
	}
	slices.Sort(out)
	return out
}

func TestTasks(t *testing.T) {
	q := newTaskQueue(t)

	t.Run("ListPerState", func(t *testing.T) {
		for state, want := range map[string][]string{
			"pending": {"msg_pending"}, "active": {"msg_active"}, "scheduled": {"msg_scheduled"},
			"retry": {"msg_retry"}, "archived": {"msg_archived_1", "msg_archived_2"}, "completed": {"msg_completed"},
		} {
			views := q.listJSON(t, "--state", state)
			if got := ids(views); !slices.Equal(got, want) {
				t.Errorf("%s: %v, want %v", state, got, want)
			}
			for _, v := range views {
				if v.State != state || v.EventType == "" || v.UserID != "user_"+v.ID || v.MaxRetry != 25 {
					t.Errorf("%s: %+v", state, v)
				}
			}
		}
		all := q.listJSON(t)
		if len(all) != 7 {
			t.Errorf("all states: %d tasks, want 7: %v", len(all), ids(all))
		}
		if got := q.listJSON(t, "--limit", "2"); len(got) != 2 {
			t.Errorf("--limit 2: %d tasks", len(got))
		}
	})

	t.Run("TimesAndErrors", func(t *testing.T) {
		byID := map[string]taskView{}
		for _, v := range q.listJSON(t) {
			byID[v.ID] = v
		}
		if v := byID["msg_retry"]; v.Retried != 1 || v.NextProcessAt == nil || v.LastFailedAt == nil ||
			!strings.Contains(v.LastError, "service unavailable") {
			t.Errorf("retry: %+v", v)
		}
		if v := byID["msg_archived_1"]; v.LastFailedAt == nil || !strings.Contains(v.LastError, "[email redacted] is not allowed") {
			t.Errorf("archived: %+v", v)
		}
		if v := byID["msg_completed"]; v.CompletedAt == nil || v.LastError != "" {
			t.Errorf("completed: %+v", v)
		}
		if v := byID["msg_pending"]; v.NextProcessAt != nil {
			t.Errorf("pending: %+v", v)
		}
		if v := byID["msg_scheduled"]; v.NextProcessAt == nil || v.NextProcessAt.Before(time.Now().Add(30*time.Minute)) {
			t.Errorf("scheduled: %+v", v)
		}
	})

	t.Run("TextTable", func(t *testing.T) {
		r := q.tasks(t, "ls", "--state", "archived")
		if r.code != 0 || !strings.HasPrefix(r.stdout, "ID ") || !strings.Contains(r.stdout, "msg_archived_2") ||
			!strings.Contains(r.stdout, "user.deleted") || !strings.Contains(r.stdout, "failed 20") {
			t.Errorf("exit %d\n%s%s", r.code, r.stdout, r.stderr)
		}
		r = q.tasks(t, "show", "msg_retry")
		if r.code != 0 || !strings.Contains(r.stdout, "retried       1 of 25") {
			t.Errorf("show: exit %d\n%s%s", r.code, r.stdout, r.stderr)
		}
		var v taskView
		r = q.tasks(t, "show", "msg_retry", "--json")
		if err := json.Unmarshal([]byte(r.stdout), &v); err != nil || v.ID != "msg_retry" {
			t.Errorf("show --json: %v %s", err, r.stdout)
		}
	})

	t.Run("Stats", func(t *testing.T) {
		var st queueStats
		r := q.tasks(t, "stats", "--json")
		if err := json.Unmarshal([]byte(r.stdout), &st); err != nil || r.code != 0 {
			t.Fatalf("exit %d %v %s", r.code, err, r.stdout)
		}
		if st.Pending != 1 || st.Active != 1 || st.Scheduled != 1 || st.Retry != 1 || st.Archived != 2 ||
			st.Completed != 1 || !st.Paused {
			t.Errorf("%+v", st)
		}
		if r := q.tasks(t, "stats"); r.code != 0 || !strings.Contains(r.stdout, "archived         2") {
			t.Errorf("exit %d\n%s", r.code, r.stdout)
		}
	})

	t.Run("RunArchivedID", func(t *testing.T) {
		r := q.tasks(t, "run", "msg_archived_1")
		if r.code != 0 || !oneLineOn(r.stdout, "msg_archived_1 (user.created): archived -> pending") {
			t.Errorf("exit %d %q %q", r.code, r.stdout, r.stderr)
		}
		if s := q.state(t, "msg_archived_1"); s != "pending" {
			t.Errorf("state %s, want pending", s)
		}
		// A pending task cannot be run again: one line, exit 1.
		r = q.tasks(t, "run", "msg_archived_1")
		if r.code != 1 || !oneLineOn(r.stderr, `clerksync tasks: task "msg_archived_1" is pending already`) {
			t.Errorf("again: exit %d %q", r.code, r.stderr)
		}
	})

	t.Run("RunAllArchived", func(t *testing.T) {
		r := q.tasks(t, "run", "--all-archived")
		if r.code != 0 || !oneLineOn(r.stdout, "1 archived task(s) moved back to pending") {
			t.Errorf("exit %d %q %q", r.code, r.stdout, r.stderr)
		}
		if s := q.state(t, "msg_archived_2"); s != "pending" {
			t.Errorf("state %s, want pending", s)
		}
	})

	t.Run("DeleteID", func(t *testing.T) {
		r := q.tasks(t, "delete", "msg_scheduled")
		if r.code != 0 || !oneLineOn(r.stdout, "msg_scheduled (user.updated, scheduled): deleted") {
			t.Errorf("exit %d %q %q", r.code, r.stdout, r.stderr)
		}
		if s := q.state(t, "msg_scheduled"); s != "" {
			t.Errorf("still there: %s", s)
		}
		// A running task cannot be deleted.
		r = q.tasks(t, "delete", "msg_active")
		if r.code != 1 || !oneLineOn(r.stderr, `task "msg_active" is being applied now`) {
			t.Errorf("active: exit %d %q", r.code, r.stderr)
		}
	})

	t.Run("UnknownID", func(t *testing.T) {
		for _, sub := range []string{"run", "delete", "show"} {
			r := q.tasks(t, sub, "msg_nosuch")
			if r.code != 1 || !oneLineOn(r.stderr, `clerksync tasks: no task "msg_nosuch" in queue clerksync`) {
				t.Errorf("%s: exit %d %q", sub, r.code, r.stderr)
			}
		}
	})
}

// TestTasksEmptyAndUnreachable: a Redis that never held a task is an empty
// queue; an unreachable one is one line naming its host, never its password.
func TestTasksEmptyAndUnreachable(t *testing.T) {
	env := map[string]string{"REDIS_URL": testenv.Redis(t)}
	if r := runCLI(t, env, "tasks", "ls"); r.code != 0 || r.stdout != "no tasks in queue clerksync\n" {
		t.Errorf("ls: exit %d %q %q", r.code, r.stdout, r.stderr)
	}
	if r := runCLI(t, env, "tasks", "ls", "--json"); r.code != 0 || strings.TrimSpace(r.stdout) != "[]" {
		t.Errorf("ls --json: exit %d %q", r.code, r.stdout)
	}
	if r := runCLI(t, env, "tasks", "run", "--all-archived"); r.code != 0 || !strings.HasPrefix(r.stdout, "0 archived") {
		t.Errorf("run --all-archived: exit %d %q %q", r.code, r.stdout, r.stderr)
	}
	if r := runCLI(t, env, "tasks", "stats", "--json"); r.code != 0 || !strings.Contains(r.stdout, `"pending": 0`) {
		t.Errorf("stats: exit %d %q %q", r.code, r.stdout, r.stderr)
	}
	if r := runCLI(t, env, "tasks", "run", "msg_x"); r.code != 1 || !oneLineOn(r.stderr, `no task "msg_x"`) {
		t.Errorf("run msg_x: exit %d %q", r.code, r.stderr)
	}
	down := map[string]string{"REDIS_URL": "redis://:hunter2secret@127.0.0.1:1/0"}
	for _, args := range [][]string{{"ls"}, {"stats"}, {"run", "msg_x"}, {"delete", "msg_x"}} {
		r := runCLI(t, down, append([]string{"tasks"}, args...)...)
		if r.code != 1 || !oneLineOn(r.stderr, "redis at 127.0.0.1:1 (REDIS_URL)") || strings.Contains(r.stderr, "hunter2secret") {
			t.Errorf("%v: exit %d %q", args, r.code, r.stderr)
		}
	}
}
