package worker

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hibiken/asynq"

	"github.com/clerksync/clerksync"
	"github.com/clerksync/clerksync/worker/payload"
)

// maxRetry is how often a transiently failing task is retried before it is
// archived for an operator: with Asynq's backoff, about three weeks.
const maxRetry = 25

// Enqueuer queues webhook deliveries as Asynq tasks, one per delivery, with
// the delivery id (svix-id) as the task id.
type Enqueuer struct {
	client    *asynq.Client
	inspector *asynq.Inspector
	retention time.Duration
}

var _ clerksync.Enqueuer = (*Enqueuer)(nil)

// NewEnqueuer connects an Enqueuer to Redis. Completed tasks stay visible
// (in the dashboard, and as duplicates of a replay) for retention; 0 removes
// them at once.
func NewEnqueuer(opt asynq.RedisConnOpt, retention time.Duration) *Enqueuer {
	return &Enqueuer{client: asynq.NewClient(opt), inspector: asynq.NewInspector(opt), retention: retention}
}

// Enqueue stores a task whose payload is the verified body exactly as
// received, compressed (package payload). It returns once Redis has
// acknowledged the write.
//
// A delivery whose task is still pending, running, waiting to retry or
// completed within the retention period is a Duplicate: nothing new is
// queued. A delivery whose task was archived after failing is moved back to
// the queue (Requeued), as the dashboard's "run" would: a replay from Svix is
// an operator asking for another try. A delivery whose completed task has
// expired is queued and applied again, harmlessly.
//
// It returns when ctx ends even if Redis has not answered (a frozen Redis:
// go-redis waits for its own timeouts and retries, whatever the context
// says), with an error wrapping ErrUnavailable; the write under way may
// still land, and the delivery's retry is then a Duplicate.
func (q *Enqueuer) Enqueue(ctx context.Context, d clerksync.Delivery) (clerksync.EnqueueResult, error) {
	type answer struct {
		res clerksync.EnqueueResult
		err error
	}
	done := make(chan answer, 1)
	go func() {
		res, err := q.enqueue(ctx, d)
		done <- answer{res, err}
	}()
	select {
	case a := <-done:
		return a.res, a.err
	case <-ctx.Done():
		return "", fmt.Errorf("enqueue %s: %w: %v", d.ID, clerksync.ErrUnavailable, ctx.Err())
	}
}

func (q *Enqueuer) enqueue(ctx context.Context, d clerksync.Delivery) (clerksync.EnqueueResult, error) {
	task := asynq.NewTask(TaskType(d.Type), payload.Encode(d.Body))
	for attempt := 0; ; attempt++ {
		_, err := q.client.EnqueueContext(ctx, task, asynq.TaskID(d.ID), asynq.Queue(Queue),
			asynq.MaxRetry(maxRetry), asynq.Retention(q.retention))
		if err == nil {
			return clerksync.Queued, nil
		}
		if !errors.Is(err, asynq.ErrTaskIDConflict) {
			return "", fmt.Errorf("enqueue %s: %w: %v", d.ID, clerksync.ErrUnavailable, err)
		}
		res, err := q.resolveConflict(d.ID)
		if errors.Is(err, asynq.ErrTaskNotFound) && attempt < 3 {
			// Completed and removed between the two calls: queue it afresh.
			continue
		}
		return res, err
	}
}

// resolveConflict decides what a repeated delivery id means from the state
// of the task that holds it.
func (q *Enqueuer) resolveConflict(id string) (clerksync.EnqueueResult, error) {
	info, err := q.inspector.GetTaskInfo(Queue, id)
	if errors.Is(err, asynq.ErrTaskNotFound) {
		return "", err
	}
	if err != nil {
		return "", fmt.Errorf("enqueue %s: inspect: %w: %v", id, clerksync.ErrUnavailable, err)
	}
	if info.State != asynq.TaskStateArchived {
		return clerksync.Duplicate, nil
	}
	err = q.inspector.RunTask(Queue, id)
	if errors.Is(err, asynq.ErrTaskNotFound) {
		return "", err
	}
	if err != nil {
		return "", fmt.Errorf("enqueue %s: requeue archived task: %w: %v", id, clerksync.ErrUnavailable, err)
	}
	return clerksync.Requeued, nil
}

// Ping reports whether Redis answers; the error wraps ErrUnavailable.
func (q *Enqueuer) Ping() error {
	if err := q.client.Ping(); err != nil {
		return fmt.Errorf("ping redis: %w", clerksync.ErrUnavailable)
	}
	return nil
}

// Close releases the connections.
func (q *Enqueuer) Close() error {
	return errors.Join(q.client.Close(), q.inspector.Close())
}
