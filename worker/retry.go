package worker

import (
	"context"
	"errors"
	"time"

	"github.com/hibiken/asynq"
)

// errHandedBack marks a task the worker gives back to the queue without
// having been able to try it: Postgres was down until the task's deadline,
// or the worker is stopping. It is no failure of the task's (isFailure).
var errHandedBack = errors.New("handed back to the queue untried")

// errStopping is why a task is handed back when the worker stops.
var errStopping = errors.New("worker is stopping")

// isFailure is Asynq's IsFailure: false for what is not the task's doing,
// so that Asynq retries it without counting the attempt (and without
// archiving it when its retries are used up):
//   - errHandedBack (a Postgres outage outlasted the task's deadline, or a
//     shutdown);
//   - asynq.ErrLeaseExpired: the worker holding the task died or lost Redis,
//     and the recoverer (or the processor) hands the task back;
//   - context.Canceled: the worker's own context ended on its way out (or
//     an operator cancelled the task in the dashboard).
func isFailure(err error) bool {
	return !errors.Is(err, errHandedBack) && !errors.Is(err, asynq.ErrLeaseExpired) &&
		!errors.Is(err, context.Canceled)
}

// retryDelay is Asynq's RetryDelayFunc: a task that was not its own failure
// goes back at once (Asynq's default added 15-44 s to every task of a
// killed worker, after the recoverer had already waited for the lease);
// everything else backs off as Asynq does by default (n^4 s plus jitter:
// 25 retries over about three weeks), which is what a mirror-side problem
// (a narrowed column, a trigger refusing a value) needs while an operator
// fixes it.
func retryDelay(n int, err error, t *asynq.Task) time.Duration {
	if !isFailure(err) {
		return 0
	}
	return asynq.DefaultRetryDelayFunc(n, err, t)
}
