package worker

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// A Postgres outage is the worker's most common trouble, and Asynq's answer
// to a failing task (exponential backoff, n^4 s, one log line per failure)
// is the wrong one for it: the backlog drained minutes after Postgres came
// back, and every task's retry count grew. So the worker treats an outage
// as one thing, not as thousands of failures:
//
//   - When a batch fails with ErrUnavailable, one ping tells an outage (the
//     ping fails too) from a passing error (a deadlock: the ping answers).
//   - During an outage every handler waits, holding its task (Asynq keeps
//     extending the lease of a running task), instead of failing it: no
//     retry is counted, nothing is archived, the tasks beyond the
//     worker's concurrency stay pending, and nothing churns through Redis.
//   - One prober pings Postgres every second; when it answers, the waiting
//     handlers go on at once, so the backlog starts draining within about a
//     second of Postgres answering.
//   - The log says once that Postgres is unavailable and once that it is
//     back; clerksync_worker_postgres_available and
//     clerksync_worker_postgres_outages_total say the same to Prometheus.
//
// A wait ends early only with the task's context (its Asynq deadline, see
// handlerContext) or the worker's shutdown; the task is then handed back to
// the queue without counting as a failure (errHandedBack, isFailure). The
// other design, failing each task with IsFailure false and a short
// RetryDelayFunc, also keeps retry counts at zero, but it cycles the whole
// backlog through Redis every few seconds for the length of the outage and
// still starts draining only after the next retry delay and forwarder pass.

// postgresWatch tracks whether Postgres answers.
type postgresWatch struct {
	ping    func(context.Context) error
	log     *slog.Logger
	metrics *metrics
	every   time.Duration // how often the prober pings during an outage
	budget  time.Duration // how long one ping may take before it counts as failed

	mu       sync.Mutex
	down     bool
	since    time.Time
	back     chan struct{} // closed when Postgres answers again; nil while up
	checking chan struct{} // closed when the check under way ends; nil when none runs
	giveUp   chan struct{} // closed when the worker stops: waiters hand their tasks back
	closed   bool
}

func newPostgresWatch(ping func(context.Context) error, log *slog.Logger, m *metrics) *postgresWatch {
	m.postgresAvailable.Set(1)
	return &postgresWatch{ping: ping, log: log, metrics: m, every: time.Second, budget: 2 * time.Second,
		giveUp: make(chan struct{})}
}

// failed is told that a batch failed with ErrUnavailable. It pings Postgres
// (once, however many batches fail at the same time) and, when the ping
// fails as well, starts an outage. It returns once the state is known, so
// that the handlers of the failed batch wait if they should.
func (w *postgresWatch) failed(cause error) {
	w.mu.Lock()
	if w.down || w.closed {
		w.mu.Unlock()
		return
	}
	if c := w.checking; c != nil {
		w.mu.Unlock()
		<-c
		return
	}
	c := make(chan struct{})
	w.checking = c
	w.mu.Unlock()

	err := w.probe()

	w.mu.Lock()
	defer w.mu.Unlock()
	w.checking = nil
	close(c)
	if err == nil || w.down || w.closed {
		return
	}
	w.down, w.since, w.back = true, time.Now(), make(chan struct{})
	w.metrics.postgresAvailable.Set(0)
	w.metrics.postgresOutages.Inc()
	// The cause is the driver's message (a refused connection, a timeout):
	// no event data is in it.
	w.log.Warn("Postgres unavailable: tasks wait for it, keeping their place, without failing or retrying; one line will say when it is back",
		"error", cause.Error())
	go w.probeUntilBack(w.back)
}

// probeUntilBack pings every second until Postgres answers, then ends the
// outage and lets every waiting handler go on.
func (w *postgresWatch) probeUntilBack(back chan struct{}) {
	t := time.NewTicker(w.every)
	defer t.Stop()
	for {
		select {
		case <-w.giveUp:
			return
		case <-t.C:
		}
		if w.probe() != nil {
			continue
		}
		w.mu.Lock()
		w.down = false
		w.back = nil
		took := time.Since(w.since)
		close(back)
		w.mu.Unlock()
		w.metrics.postgresAvailable.Set(1)
		w.log.Info("Postgres available again: waiting tasks go on", "outage_seconds", took.Round(time.Millisecond).Seconds())
		return
	}
}

// probe pings within the budget. A frozen server (stopped, not closed)
// never answers and lib/pq does not give up on its own, so the ping runs
// apart and is abandoned when the budget ends (see callWithin).
func (w *postgresWatch) probe() error {
	ctx, cancel := context.WithTimeout(context.Background(), w.budget)
	defer cancel()
	return callWithin(ctx, w.ping)
}

// wait returns at once while Postgres is up. During an outage it blocks
// until Postgres answers again, ctx ends or the worker stops; waited says
// whether it blocked, and err why it gave up.
func (w *postgresWatch) wait(ctx context.Context) (waited bool, err error) {
	w.mu.Lock()
	down, back := w.down, w.back
	w.mu.Unlock()
	if !down {
		return false, nil
	}
	w.metrics.waitingForPostgres.Inc()
	defer w.metrics.waitingForPostgres.Dec()
	select {
	case <-back:
		return true, nil
	case <-ctx.Done():
		return true, ctx.Err()
	case <-w.giveUp:
		return true, errStopping
	}
}

// isDown reports whether an outage is under way.
func (w *postgresWatch) isDown() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.down
}

// stop makes every waiter (now and later) hand its task back, and ends the
// prober. It does not wait for the prober's last ping (up to its budget,
// against a frozen Postgres): the shutdown has better use for the time.
func (w *postgresWatch) stop() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.closed {
		w.closed = true
		close(w.giveUp)
	}
}

// callWithin runs fn and returns its error, or ctx's error as soon as ctx
// ends, whichever comes first. lib/pq answers a context's end by sending a
// cancel request and then still waits for the server, so against a frozen
// server a query never returns: the caller stops waiting and leaves fn to
// finish (or not) on its own. The goroutines this leaves are bounded by the
// connection pool: once every connection is stuck, the next call waits in
// database/sql, which does give up when ctx ends.
func callWithin(ctx context.Context, fn func(context.Context) error) error {
	done := make(chan error, 1)
	go func() { done <- fn(ctx) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}
