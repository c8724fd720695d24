package main

import (
	"github.com/clerksync/clerksync/worker/payload"

	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"regexp"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/clerksync/clerksync"
	"github.com/clerksync/clerksync/worker"
)

const tasksHelp = `Lists and acts on clerksync's queue (the Asynq queue "clerksync" in REDIS_URL) from a terminal or
a script, without the dashboard. It shows ids, event types, user ids, states, retry counts, times
and error messages, never a payload (the user's data).

Subcommands:
  ls [--state STATE] [--limit N] [--json]   list tasks (every state unless --state)
  show ID [--json]                          one task
  run ID                                    move an archived, retrying or scheduled task back to the queue now
  run --all-archived                        the same for every archived task
  delete ID                                 remove a task that is not running: its event is not applied
                                            (a later delivery of it from Clerk queues it again)
  stats [--json]                            the queue's counts and the age of its oldest pending task

States: pending (waiting for a worker), active (being applied), scheduled, retry (failed, waiting
for its next attempt), archived (failed for good: needs an operator), completed (kept for
TASK_RETENTION). A task's id is the delivery's svix-id.

Exit status: 0 done, 1 failed (no such task, a task in the wrong state, Redis unreachable), 2 usage.
Run clerksync tasks SUBCOMMAND -h for its flags.`

// taskStates are Asynq's states in the order a task moves through them.
var taskStates = []string{"pending", "active", "scheduled", "retry", "archived", "completed"}

func cmdTasks(ctx context.Context, e *Env, args []string) error {
	if len(args) == 0 {
		return usageError("want a subcommand: ls, show, run, delete or stats (clerksync tasks -h)")
	}
	sub, rest := args[0], args[1:]
	switch sub {
	case "-h", "-help", "--help", "help":
		fmt.Fprintln(e.Stderr, tasksHelp)
		return flag.ErrHelp
	case "ls", "list":
		return tasksList(e, rest)
	case "show":
		return tasksShow(e, rest)
	case "run":
		return tasksRun(e, rest)
	case "delete", "rm":
		return tasksDelete(e, rest)
	case "stats":
		return tasksStats(e, rest)
	}
	return usageError("unknown subcommand %q: want ls, show, run, delete or stats (clerksync tasks -h)", sub)
}

// taskView is what clerksync shows of a task: never its payload or result.
type taskView struct {
	ID            string     `json:"id"`
	EventType     string     `json:"event_type"`
	UserID        string     `json:"user_id,omitempty"`
	State         string     `json:"state"`
	Retried       int        `json:"retried"`
	MaxRetry      int        `json:"max_retry"`
	NextProcessAt *time.Time `json:"next_process_at,omitempty"`
	LastFailedAt  *time.Time `json:"last_failed_at,omitempty"`
	CompletedAt   *time.Time `json:"completed_at,omitempty"`
	LastError     string     `json:"last_error,omitempty"`
}

func viewOf(t *asynq.TaskInfo) taskView {
	v := taskView{
		ID: t.ID, EventType: worker.EventType(t.Type), State: t.State.String(),
		Retried: t.Retried, MaxRetry: t.MaxRetry, LastError: safeError(t.LastErr),
		NextProcessAt: timeOrNil(t.NextProcessAt), LastFailedAt: timeOrNil(t.LastFailedAt),
		CompletedAt: timeOrNil(t.CompletedAt),
	}
	if v.EventType == "" {
		v.EventType = "(" + t.Type + ")"
	}
	// The user id is read from the payload, as the dashboard's redaction
	// does; nothing else of it leaves this function.
	if body, err := payload.Decode(t.Payload); err == nil {
		if env, err := clerksync.ParseEnvelope(body); err == nil {
			v.UserID = env.ObjectID
		}
	}
	if t.State == asynq.TaskStatePending || t.State == asynq.TaskStateActive {
		v.NextProcessAt = nil
	}
	return v
}

// when is the one time that matters for a task in its state.
func (v taskView) when() string {
	switch {
	case v.State == "completed" && v.CompletedAt != nil:
		return "completed " + stamp(*v.CompletedAt)
	case v.State == "archived" && v.LastFailedAt != nil:
		return "failed " + stamp(*v.LastFailedAt)
	case v.NextProcessAt != nil:
		return "next " + stamp(*v.NextProcessAt)
	}
	return "-"
}

func tasksList(e *Env, args []string) error {
	fs := newFlags(e, "tasks ls", "[--state STATE] [--limit N] [--json]",
		"Lists tasks of the clerksync queue: all states (pending, active, scheduled, retry, archived,\n"+
			"completed, in that order) unless --state names one. Never shows payloads.")
	state := fs.String("state", "", "only tasks in `STATE`: pending, active, scheduled, retry, archived or completed")
	limit := fs.Int("limit", 100, "show at most `N` tasks")
	asJSON := fs.Bool("json", false, "print a JSON array (times in RFC 3339, UTC)")
	if _, err := parseArgs(fs, args, 0); err != nil {
		return err
	}
	states := taskStates
	if *state != "" {
		if !slices.Contains(taskStates, *state) {
			return usageError("--state %q: want one of %s", *state, strings.Join(taskStates, ", "))
		}
		states = []string{*state}
	}
	if *limit < 1 {
		return usageError("--limit %d: want at least 1", *limit)
	}
	insp, target, err := openInspector(e)
	if err != nil {
		return err
	}
	defer insp.Close()
	views := []taskView{}
	for _, s := range states {
		if len(views) >= *limit {
			break
		}
		tasks, err := listTasks(insp, s, *limit-len(views))
		if err != nil {
			return redisError(target, err)
		}
		for _, t := range tasks {
			views = append(views, viewOf(t))
		}
	}
	if *asJSON {
		return writeJSON(e.Stdout, views)
	}
	if len(views) == 0 {
		what := "no tasks"
		if *state != "" {
			what = "no " + *state + " tasks"
		}
		fmt.Fprintf(e.Stdout, "%s in queue %s\n", what, worker.Queue)
		return nil
	}
	tw := tabwriter.NewWriter(e.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tEVENT\tUSER\tSTATE\tRETRIED\tWHEN\tERROR")
	for _, v := range views {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d/%d\t%s\t%s\n", v.ID, v.EventType, orDash(v.UserID), v.State,
			v.Retried, v.MaxRetry, v.when(), orDash(v.LastError))
	}
	return tw.Flush()
}

func listTasks(insp *asynq.Inspector, state string, n int) ([]*asynq.TaskInfo, error) {
	list := map[string]func(string, ...asynq.ListOption) ([]*asynq.TaskInfo, error){
		"pending": insp.ListPendingTasks, "active": insp.ListActiveTasks, "scheduled": insp.ListScheduledTasks,
		"retry": insp.ListRetryTasks, "archived": insp.ListArchivedTasks, "completed": insp.ListCompletedTasks,
	}[state]
	tasks, err := list(worker.Queue, asynq.PageSize(n))
	if errors.Is(err, asynq.ErrQueueNotFound) {
		return nil, nil // no task was ever queued
	}
	return tasks, err
}

// openTask opens the queue and looks up task id in it; the caller closes
// the inspector.
func openTask(e *Env, id string) (insp *asynq.Inspector, info *asynq.TaskInfo, target string, err error) {
	insp, target, err = openInspector(e)
	if err != nil {
		return nil, nil, "", err
	}
	if info, err = insp.GetTaskInfo(worker.Queue, id); err != nil {
		insp.Close()
		return nil, nil, "", taskError(target, id, err)
	}
	return insp, info, target, nil
}

func tasksShow(e *Env, args []string) error {
	fs := newFlags(e, "tasks show", "ID [--json]", "Shows one task of the clerksync queue (never its payload).")
	asJSON := fs.Bool("json", false, "print a JSON object")
	id, err := parseArgs(fs, args, 1)
	if err != nil {
		return err
	}
	insp, info, _, err := openTask(e, id)
	if err != nil {
		return err
	}
	defer insp.Close()
	v := viewOf(info)
	if *asJSON {
		return writeJSON(e.Stdout, v)
	}
	tw := tabwriter.NewWriter(e.Stdout, 0, 4, 2, ' ', 0)
	for _, kv := range [][2]string{
		{"id", v.ID}, {"event", v.EventType}, {"user", orDash(v.UserID)}, {"state", v.State},
		{"retried", fmt.Sprintf("%d of %d", v.Retried, v.MaxRetry)}, {"next attempt", stampOrDash(v.NextProcessAt)},
		{"last failed", stampOrDash(v.LastFailedAt)}, {"completed", stampOrDash(v.CompletedAt)},
		{"last error", orDash(v.LastError)},
	} {
		fmt.Fprintf(tw, "%s\t%s\n", kv[0], kv[1])
	}
	return tw.Flush()
}

func tasksRun(e *Env, args []string) error {
	fs := newFlags(e, "tasks run", "ID | --all-archived",
		"Moves a task that is archived, waiting to retry or scheduled back to the queue, to be applied\n"+
			"now (as the dashboard's Run does); with --all-archived, every archived task. Applying an event\n"+
			"again is harmless: the mirror keeps the newest snapshot.")
	all := fs.Bool("all-archived", false, "run every archived task")
	id, err := parseArgs(fs, args, -1)
	if err != nil {
		return err
	}
	if (id == "") == !*all {
		return usageError("name one task ID or --all-archived (clerksync tasks run -h)")
	}
	insp, target, err := openInspector(e)
	if err != nil {
		return err
	}
	defer insp.Close()
	if *all {
		n, err := insp.RunAllArchivedTasks(worker.Queue)
		if err != nil && !isQueueNotFound(insp) {
			return redisError(target, err)
		}
		fmt.Fprintf(e.Stdout, "%d archived task(s) moved back to pending\n", n)
		return nil
	}
	info, err := insp.GetTaskInfo(worker.Queue, id)
	if err != nil {
		return taskError(target, id, err)
	}
	switch info.State {
	case asynq.TaskStatePending:
		return fmt.Errorf("task %q is pending already: a worker takes it next", id)
	case asynq.TaskStateActive:
		return fmt.Errorf("task %q is being applied now", id)
	case asynq.TaskStateCompleted:
		return fmt.Errorf("task %q is completed: replay the message from the Clerk Dashboard to apply it again", id)
	}
	if err := insp.RunTask(worker.Queue, id); err != nil {
		return taskError(target, id, err)
	}
	fmt.Fprintf(e.Stdout, "%s (%s): %s -> pending\n", id, viewOf(info).EventType, info.State)
	return nil
}

func tasksDelete(e *Env, args []string) error {
	fs := newFlags(e, "tasks delete", "ID",
		"Removes a task that is not running (pending, scheduled, retry, archived or completed) from the\n"+
			"queue, payload and all. Its event is not applied; if Clerk delivers it again (a retry, or a\n"+
			"replay from the Clerk Dashboard) it is queued afresh.")
	id, err := parseArgs(fs, args, 1)
	if err != nil {
		return err
	}
	insp, info, target, err := openTask(e, id)
	if err != nil {
		return err
	}
	defer insp.Close()
	if info.State == asynq.TaskStateActive {
		return fmt.Errorf("task %q is being applied now: wait until it completes or fails", id)
	}
	if err := insp.DeleteTask(worker.Queue, id); err != nil {
		return taskError(target, id, err)
	}
	fmt.Fprintf(e.Stdout, "%s (%s, %s): deleted\n", id, viewOf(info).EventType, info.State)
	return nil
}

// queueStats is what tasks stats shows.
type queueStats struct {
	Queue          string  `json:"queue"`
	Pending        int     `json:"pending"`
	Active         int     `json:"active"`
	Scheduled      int     `json:"scheduled"`
	Retry          int     `json:"retry"`
	Archived       int     `json:"archived"`
	Completed      int     `json:"completed"`
	LatencySeconds float64 `json:"oldest_pending_seconds"`
	ProcessedToday int     `json:"processed_today"`
	FailedToday    int     `json:"failed_today"`
	MemoryBytes    int64   `json:"memory_bytes_approx"`
	Paused         bool    `json:"paused"`
}

func tasksStats(e *Env, args []string) error {
	fs := newFlags(e, "tasks stats", "[--json]",
		"Shows the clerksync queue's task counts by state, the age of its oldest pending task, today's\n"+
			"processed and failed counts (UTC day) and its approximate memory in Redis.")
	asJSON := fs.Bool("json", false, "print a JSON object")
	if _, err := parseArgs(fs, args, 0); err != nil {
		return err
	}
	insp, target, err := openInspector(e)
	if err != nil {
		return err
	}
	defer insp.Close()
	info, err := worker.QueueInfo(insp)
	if err != nil {
		return redisError(target, err)
	}
	st := queueStats{
		Queue: worker.Queue, Pending: info.Pending, Active: info.Active, Scheduled: info.Scheduled,
		Retry: info.Retry, Archived: info.Archived, Completed: info.Completed,
		LatencySeconds: info.Latency.Seconds(), ProcessedToday: info.Processed, FailedToday: info.Failed,
		MemoryBytes: info.MemoryUsage, Paused: info.Paused,
	}
	if *asJSON {
		return writeJSON(e.Stdout, st)
	}
	tw := tabwriter.NewWriter(e.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "queue\t%s\n", st.Queue)
	fmt.Fprintf(tw, "pending\t%d\noldest pending\t%s\nactive\t%d\nscheduled\t%d\nretry\t%d\narchived\t%d\ncompleted\t%d\n",
		st.Pending, info.Latency.Round(time.Millisecond), st.Active, st.Scheduled, st.Retry, st.Archived, st.Completed)
	fmt.Fprintf(tw, "processed today\t%d\nfailed today\t%d\nmemory\t~%d bytes\npaused\t%t\n",
		st.ProcessedToday, st.FailedToday, st.MemoryBytes, st.Paused)
	return tw.Flush()
}

// openInspector connects to REDIS_URL. go-redis's own retry messages are
// dropped: the command's one error line says what failed.
func openInspector(e *Env) (*asynq.Inspector, string, error) {
	cfg, err := e.Config()
	if err != nil {
		return nil, "", err
	}
	opt, err := worker.RedisConnOpt(cfg.RedisURL.Reveal())
	if err != nil {
		return nil, "", err
	}
	redis.SetLogger(redisLogger{slog.New(slog.DiscardHandler)})
	return asynq.NewInspector(opt), redisHosts(cfg.RedisURL.Reveal()), nil
}

// parseArgs parses flags before and after the positional arguments: want
// is how many there must be (-1: zero or one). It returns the first.
func parseArgs(fs *flag.FlagSet, args []string, want int) (string, error) {
	if err := parseFlags(fs, args); err != nil {
		return "", err
	}
	var pos []string
	for fs.NArg() > 0 {
		pos = append(pos, fs.Arg(0))
		if err := parseFlags(fs, fs.Args()[1:]); err != nil {
			return "", err
		}
	}
	switch {
	case want == 0 && len(pos) > 0:
		return "", usageError("unexpected argument %q (clerksync %s -h)", pos[0], fs.Name())
	case want == 1 && len(pos) != 1, want == -1 && len(pos) > 1:
		return "", usageError("want one task ID (clerksync %s -h)", fs.Name())
	case len(pos) == 0:
		return "", nil
	}
	return pos[0], nil
}

// taskError says what went wrong with one task in one line.
func taskError(target, id string, err error) error {
	switch {
	case errors.Is(err, asynq.ErrTaskNotFound), errors.Is(err, asynq.ErrQueueNotFound):
		return fmt.Errorf("no task %q in queue %s (clerksync tasks ls lists them)", id, worker.Queue)
	case strings.Contains(err.Error(), "FAILED_PRECONDITION"):
		// Asynq's word for a task in the wrong state ("task is already
		// running", "cannot delete an active task").
		_, why, _ := strings.Cut(err.Error(), "FAILED_PRECONDITION: ")
		return fmt.Errorf("task %q: %s", id, why)
	}
	return redisError(target, err)
}

func redisError(target string, err error) error {
	return fmt.Errorf("redis at %s (REDIS_URL): %v", target, strings.TrimPrefix(err.Error(), "asynq: "))
}

// isQueueNotFound reports whether the clerksync queue was never created.
func isQueueNotFound(insp *asynq.Inspector) bool {
	qs, err := insp.Queues()
	return err == nil && !slices.Contains(qs, worker.Queue)
}

// email matches anything shaped like an email address.
var email = regexp.MustCompile(`[^\s@"'<>(),;:]+@[^\s@"'<>(),;:]+\.[A-Za-z]{2,}`)

// safeError shows a task's last error on one line. The worker's errors name
// ids and reasons only (the domain's and Postgres's messages); as a
// backstop, anything shaped like an email address is masked, and the line
// is capped.
func safeError(s string) string {
	s = email.ReplaceAllString(oneLine(s), "[email redacted]")
	if r := []rune(s); len(r) > 300 {
		s = string(r[:300]) + "..."
	}
	return s
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func timeOrNil(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC().Truncate(time.Second)
	return &u
}

func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339) }

func stampOrDash(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return stamp(*t)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
