package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/hibiken/asynq"

	"github.com/clerksync/clerksync/worker"
)

func inspector() (*asynq.Inspector, error) {
	opt, err := worker.RedisConnOpt(env("REDIS_URL", "redis://127.0.0.1:6379/0"))
	if err != nil {
		return nil, err
	}
	return asynq.NewInspector(opt), nil
}

// queueFigures are the queue's task counts by state and the retry counts of
// every task still in Redis.
type queueFigures struct {
	pending, active, scheduled, retry, archived, completed int
	retriedSum, retriedMax, retriedTasks                   int
}

func (q queueFigures) remaining() int { return q.pending + q.active + q.scheduled + q.retry }

func (q queueFigures) print(out io.Writer, prefix string) {
	for _, f := range []struct {
		k string
		v int
	}{{"pending", q.pending}, {"active", q.active}, {"scheduled", q.scheduled}, {"retry", q.retry},
		{"archived", q.archived}, {"completed", q.completed}, {"retried_sum", q.retriedSum},
		{"retried_max", q.retriedMax}, {"retried_tasks", q.retriedTasks}} {
		figure(out, prefix+f.k, f.v)
	}
}

// counts reads the states only: cheap enough to poll.
func counts(insp *asynq.Inspector) (queueFigures, error) {
	info, err := insp.GetQueueInfo(worker.Queue)
	if err != nil {
		if missing(insp) {
			return queueFigures{}, nil // no task queued yet, or Redis lost them all
		}
		return queueFigures{}, err
	}
	return queueFigures{pending: info.Pending, active: info.Active, scheduled: info.Scheduled, retry: info.Retry,
		archived: info.Archived, completed: info.Completed}, nil
}

// missing reports whether Redis answers and knows no clerksync queue (asynq's
// GetQueueInfo does not say so with ErrQueueNotFound).
func missing(insp *asynq.Inspector) bool {
	queues, err := insp.Queues()
	if err != nil {
		return false
	}
	for _, q := range queues {
		if q == worker.Queue {
			return false
		}
	}
	return true
}

// retries lists every task to add up how often they were retried.
func retries(insp *asynq.Inspector, q *queueFigures) error {
	lists := []func(string, ...asynq.ListOption) ([]*asynq.TaskInfo, error){
		insp.ListPendingTasks, insp.ListActiveTasks, insp.ListScheduledTasks, insp.ListRetryTasks,
		insp.ListArchivedTasks, insp.ListCompletedTasks,
	}
	for _, list := range lists {
		for page := 1; ; page++ {
			tasks, err := list(worker.Queue, asynq.PageSize(1000), asynq.Page(page))
			if err != nil && (errors.Is(err, asynq.ErrQueueNotFound) || missing(insp)) {
				break
			}
			if err != nil {
				return err
			}
			for _, t := range tasks {
				q.retriedSum += t.Retried
				q.retriedMax = max(q.retriedMax, t.Retried)
				if t.Retried > 0 {
					q.retriedTasks++
				}
			}
			if len(tasks) < 1000 {
				break
			}
		}
	}
	return nil
}

func cmdQueue(_ context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("queue", flag.ContinueOnError)
	prefix := fs.String("prefix", "", "prefix of the printed keys")
	if err := fs.Parse(args); err != nil {
		return err
	}
	insp, err := inspector()
	if err != nil {
		return err
	}
	defer insp.Close()
	q, err := counts(insp)
	if err != nil {
		return fmt.Errorf("queue: %w", err)
	}
	if err := retries(insp, &q); err != nil {
		return fmt.Errorf("queue: %w", err)
	}
	q.print(out, *prefix)
	return nil
}

// parseSince reads a Unix time in seconds with a fraction (date +%s.%N).
func parseSince(s string) (time.Time, error) {
	if s == "" {
		return time.Now(), nil
	}
	f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil {
		return time.Time{}, fmt.Errorf("since %q: want Unix seconds", s)
	}
	return time.Unix(0, int64(f*1e9)), nil
}

func cmdDrain(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("drain", flag.ContinueOnError)
	timeout := fs.Duration("timeout", 3*time.Minute, "give up after this long")
	sinceFlag := fs.String("since", "", "measure from this Unix time (seconds, date +%s.%N); default now")
	// half_s: when the tasks left were first half of those at the start.
	ignoreRetry := fs.Bool("ignore-retry", false, "count the queue drained with tasks still waiting to retry")
	prefix := fs.String("prefix", "", "prefix of the printed keys")
	if err := fs.Parse(args); err != nil {
		return err
	}
	since, err := parseSince(*sinceFlag)
	if err != nil {
		return err
	}
	insp, err := inspector()
	if err != nil {
		return err
	}
	defer insp.Close()
	deadline := time.Now().Add(*timeout)
	var start *queueFigures
	firstProgress, halfAt, drainedAt := -1.0, -1.0, -1.0
	quiet := 0
	for time.Now().Before(deadline) && ctx.Err() == nil {
		q, err := counts(insp)
		if err == nil {
			left := q.remaining()
			if *ignoreRetry {
				left -= q.retry
			}
			if start == nil {
				start = &q
			} else if firstProgress < 0 && (q.completed > start.completed || q.remaining() < start.remaining()) {
				firstProgress = time.Since(since).Seconds()
			}
			if halfAt < 0 && start != nil && q.remaining() <= start.remaining()/2 {
				halfAt = time.Since(since).Seconds()
			}
			if left == 0 {
				if quiet == 0 {
					drainedAt = time.Since(since).Seconds()
				}
				quiet++
				if quiet >= 5 {
					break
				}
			} else {
				quiet = 0
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	drained := quiet >= 5
	if firstProgress < 0 && drained && start != nil && start.remaining() == 0 {
		firstProgress = 0
	}
	figure(out, *prefix+"drained", drained)
	figure(out, *prefix+"first_progress_s", firstProgress)
	figure(out, *prefix+"half_s", halfAt)
	if !drained {
		drainedAt = -1
	}
	figure(out, *prefix+"drained_s", drainedAt)
	q, err := counts(insp)
	if err == nil {
		q.print(out, *prefix+"final_")
	}
	if !drained {
		return failure("not drained")
	}
	return nil
}
