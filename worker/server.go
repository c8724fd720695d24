package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/clerksync/clerksync"
)

// Options configure a Server.
type Options struct {
	Redis  asynq.RedisConnOpt
	Mirror clerksync.Mirror
	// Concurrency is how many tasks run at once; their events share
	// transactions. Defaults to 256: more events waiting make larger,
	// cheaper batches (make bench: 64 drained 1,750/s, 256 about 2,250/s).
	Concurrency int
	// Executors is how many transactions run at once. Defaults to 2: on a
	// 2-core Postgres, two executors with larger batches drained faster than
	// four with smaller ones (make bench).
	Executors int
	// Processors is how many Asynq processors share the tasks. Each takes
	// one task per Redis round trip, which caps one processor near 2,000
	// tasks/s here; several lift the cap. Defaults to 4.
	Processors int
	// ShutdownTimeout is what Shutdown takes at most when its context has no
	// deadline. Defaults to 25s.
	ShutdownTimeout time.Duration
	// TaskRetention is how long the receiver keeps completed tasks
	// (TASK_RETENTION): a deleted user's completed tasks are found and
	// removed within it.
	TaskRetention time.Duration
	Logger        *slog.Logger
	Registerer    prometheus.Registerer
}

// Pinger is what a Mirror offers for the outage prober: the worker pings
// Postgres through it when a batch fails with ErrUnavailable. (db.Store is
// one.) A Mirror without it is taken to answer always: its unavailable
// batches are then retried as passing failures, with backoff.
type Pinger interface {
	// Ping reports whether Postgres answers.
	Ping(ctx context.Context) error
}

// recovererPeriod is how often an Asynq server's recoverer looks for tasks
// whose lease expired (those of a killed worker). Asynq v0.26 fixes it at a
// minute from the server's start, with nothing to configure; lateRecoverers
// more servers, of one task each, start spread over that minute (see Start).
const (
	recovererPeriod = time.Minute
	lateRecoverers  = 3
)

// handlerMargin ends a handler this long before its task's Asynq deadline,
// so that the handler, not Asynq's deadline, decides what becomes of a task
// that waited for Postgres all that time (handed back, not failed).
const handlerMargin = 5 * time.Second

// Server runs the Asynq worker that applies queued events to the mirror.
type Server struct {
	servers []*asynq.Server
	batcher *batcher
	watch   *postgresWatch
	privacy *privacy
	rdb     redis.UniversalClient
	log     *slog.Logger
	metrics *metrics
	// processors is how many of servers start at once; the others start
	// later, spread over a minute.
	processors int
	timeout    time.Duration // Options.ShutdownTimeout
	handBack   time.Duration // what a shutdown keeps for handing tasks back
	active     atomic.Int64  // handlers running
	// base is every handler's parent context, cancelled once the shutdown
	// has handed back the tasks still running.
	base       context.Context
	cancelBase context.CancelFunc

	mu       sync.Mutex
	stopping bool
	timers   []*time.Timer // the processors still to start
}

// NewServer builds a Server; Start runs it.
func NewServer(o Options) *Server {
	if o.Concurrency <= 0 {
		o.Concurrency = 256
	}
	if o.Executors <= 0 {
		o.Executors = 2
	}
	if o.Processors <= 0 {
		o.Processors = 4
	}
	o.Processors = min(o.Processors, o.Concurrency)
	late := lateRecoverers
	if o.Concurrency < o.Processors+late {
		late = 0 // too few tasks to spare one each
	}
	if o.ShutdownTimeout <= 0 {
		o.ShutdownTimeout = 25 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	m := newMetrics(o.Registerer)
	rdb, ok := o.Redis.MakeRedisClient().(redis.UniversalClient)
	if !ok {
		panic(fmt.Sprintf("worker: unsupported Redis connection type %T", o.Redis))
	}
	s := &Server{
		rdb: rdb, log: o.Logger, metrics: m, timeout: o.ShutdownTimeout,
		// A shutdown hands back the tasks still running when this much of
		// its time is left: Asynq's abort, the requeue writes and the
		// closing of its parts take milliseconds against a healthy Redis.
		handBack: min(2*time.Second, o.ShutdownTimeout/2),
	}
	s.base, s.cancelBase = context.WithCancel(context.Background())
	s.watch = newPostgresWatch(pinger(o.Mirror), o.Logger, m)
	s.privacy = newPrivacy(rdb, o.TaskRetention, o.Logger, m)
	progress := newProgress(o.Logger, o.Registerer)
	s.batcher = newBatcher(o.Mirror, o.Executors, max(1, o.Concurrency/o.Executors), batchHooks{
		observe: func(n int) { m.batchSize.Observe(float64(n)) },
		before:  s.privacy.record,
		after: func(events []clerksync.Event, outcomes []clerksync.Outcome) {
			s.privacy.committed(events, outcomes)
			progress.batchDone(events, outcomes)
		},
		unavailable: s.watch.failed,
	})
	main := o.Concurrency - late
	for i := range o.Processors + late {
		// Spread the concurrency so that the total is what was asked for;
		// the late servers take one task each.
		share := 1
		if i < o.Processors {
			share = main / o.Processors
			if i < main%o.Processors {
				share++
			}
		}
		s.servers = append(s.servers, asynq.NewServer(o.Redis, asynq.Config{
			Concurrency:    share,
			Queues:         map[string]int{Queue: 1},
			BaseContext:    func() context.Context { return s.base },
			IsFailure:      isFailure,
			RetryDelayFunc: retryDelay,
			// A task retried at once (a killed worker's, one handed back)
			// is pending again within a second, not five.
			DelayedTaskCheckInterval: time.Second,
			// Shutdown decides how long running tasks get (see Shutdown);
			// Asynq's own timeout is only the step that requeues what
			// still runs then.
			ShutdownTimeout: s.handBack / 2,
			Logger:          asynqLogger{o.Logger},
			LogLevel:        asynq.WarnLevel,
			ErrorHandler:    asynq.ErrorHandlerFunc(s.logFailure),
		}))
	}
	s.processors = o.Processors
	return s
}

// pinger is how the outage prober asks Postgres whether it answers.
func pinger(m clerksync.Mirror) func(context.Context) error {
	if p, ok := m.(Pinger); ok {
		return p.Ping
	}
	return func(context.Context) error { return nil }
}

// Start begins taking tasks from Redis and returns at once.
//
// Each Asynq server runs its recoverer, which hands back the tasks of a
// killed worker once their lease is 30 s past, at its start and then once a
// minute. The processors start now; the late servers (one task each) start
// 15, 30 and 45 s later, so that a worker process looks for a killed
// worker's tasks every 15 s rather than every minute, at no cost to its
// throughput at start.
func (s *Server) Start() error {
	s.batcher.start()
	s.privacy.start()
	mux := asynq.NewServeMux()
	mux.HandleFunc(taskPrefix, s.handle)
	for i, srv := range s.servers[:s.processors] {
		if err := srv.Start(mux); err != nil {
			for _, started := range s.servers[:i] {
				started.Shutdown()
			}
			s.batcher.close(context.Background())
			s.privacy.close()
			return fmt.Errorf("start worker: %w", err)
		}
	}
	late := s.servers[s.processors:]
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, srv := range late {
		after := time.Duration(i+1) * recovererPeriod / time.Duration(len(late)+1)
		s.timers = append(s.timers, time.AfterFunc(after, func() {
			s.mu.Lock()
			defer s.mu.Unlock()
			if s.stopping {
				return
			}
			if err := srv.Start(mux); err != nil {
				s.log.Error("worker: a recovering processor did not start", "error", err.Error())
			}
		}))
	}
	return nil
}

// Shutdown stops taking tasks and lets the running ones finish until ctx's
// deadline (or ShutdownTimeout from now, when ctx has none) is near; then it
// hands the tasks still running back to the queue, without counting a
// failure, and returns by the deadline: no task is lost, and another worker
// applies the handed-back ones again, harmlessly. Tasks waiting for an
// unavailable Postgres are handed back at once.
func (s *Server) Shutdown(ctx context.Context) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, s.timeout)
		defer cancel()
	}
	deadline, _ := ctx.Deadline()
	s.mu.Lock()
	s.stopping = true
	for _, t := range s.timers {
		t.Stop()
	}
	s.mu.Unlock()
	s.watch.stop()
	each(s.servers, (*asynq.Server).Stop)
	s.waitIdle(deadline.Add(-s.handBack))
	each(s.servers, (*asynq.Server).Shutdown)
	s.cancelBase()
	s.batcher.close(ctx)
	s.privacy.close()
	s.rdb.Close()
}

// waitIdle waits until no handler runs or the time is up.
func (s *Server) waitIdle(until time.Time) {
	for s.active.Load() > 0 && time.Now().Before(until) {
		time.Sleep(min(20*time.Millisecond, time.Until(until)))
	}
}

// each calls f on every server at once and waits for all.
func each(servers []*asynq.Server, f func(*asynq.Server)) {
	var wg sync.WaitGroup
	for _, srv := range servers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			f(srv)
		}()
	}
	wg.Wait()
}

// handle applies one task's event. Only a payload that can never be applied
// (rejected by the domain's own parsing: ErrInvalidEvent) is archived at
// once (SkipRetry); a failure on the mirror's side is retried with backoff,
// an unavailable Postgres is waited for (see postgresWatch). A stale
// snapshot is a success, and its task is revoked rather than kept: it has
// nothing to tell, and it may be a deleted user's.
func (s *Server) handle(ctx context.Context, t *asynq.Task) error {
	s.active.Add(1)
	defer s.active.Add(-1)
	start := time.Now()
	id, _ := asynq.GetTaskID(ctx)
	ev, body, err := parseTask(id, t)
	if err != nil {
		s.metrics.applies.WithLabelValues(eventTypeLabel(t.Type()), outcomeFailed).Inc()
		if body != nil {
			s.privacy.recordPoison(ctx, id, body)
		}
		return fmt.Errorf("task %s: %w: %w", id, err, asynq.SkipRetry)
	}
	ctx, cancel := handlerContext(ctx)
	defer cancel()
	retried, _ := asynq.GetRetryCount(ctx)
	outcome, err := s.apply(ctx, ev, retried > 0)
	if err != nil {
		if errors.Is(err, errHandedBack) {
			s.metrics.handedBack.Inc()
			return fmt.Errorf("task %s: %w", id, err)
		}
		s.metrics.applies.WithLabelValues(ev.Type, outcomeFailed).Inc()
		if errors.Is(err, clerksync.ErrInvalidEvent) {
			return fmt.Errorf("task %s: %w: %w", id, err, asynq.SkipRetry)
		}
		return fmt.Errorf("task %s: %w", id, err)
	}
	if ev.Type == clerksync.UserDeleted {
		// The deletion's task completes only once the user's earlier tasks
		// are gone from Redis; if that fails, it is retried (applying a
		// deletion again is harmless).
		if err := s.privacy.forget(ctx, ev.UserID); err != nil {
			s.metrics.applies.WithLabelValues(ev.Type, outcomeFailed).Inc()
			return fmt.Errorf("task %s: %w", id, err)
		}
	}
	now := time.Now()
	s.metrics.applies.WithLabelValues(ev.Type, string(outcome)).Inc()
	s.metrics.duration.Observe(now.Sub(start).Seconds())
	observeLag(s.metrics.lag, ev.Timestamp, now, retried)
	s.log.Debug("event applied", "delivery_id", id, "event_type", ev.Type, "user_id", ev.UserID, "outcome", outcome)
	if outcome == clerksync.Stale && ev.User != nil {
		return fmt.Errorf("task %s: stale snapshot, not kept: %w", id, asynq.RevokeTask)
	}
	return nil
}

// handlerContext ends a little before the task's Asynq deadline (see
// handlerMargin).
func handlerContext(ctx context.Context) (context.Context, context.CancelFunc) {
	if dl, ok := ctx.Deadline(); ok {
		return context.WithDeadline(ctx, dl.Add(-handlerMargin))
	}
	return context.WithCancel(ctx)
}

// transientTries is how often an event is submitted again at once when its
// batch failed with ErrUnavailable while Postgres still answers (a
// deadlock, a connection that broke): then the task fails and is retried
// with backoff.
const transientTries = 3

// apply submits ev to the batcher, waiting through a Postgres outage. It
// returns an error wrapping errHandedBack when the task should go back to
// the queue untried.
func (s *Server) apply(ctx context.Context, ev clerksync.Event, solo bool) (clerksync.Outcome, error) {
	tries := 0
	for {
		waited, err := s.watch.wait(ctx)
		if err != nil {
			return "", fmt.Errorf("%w: Postgres unavailable: %v", errHandedBack, err)
		}
		if waited {
			tries = 0
		}
		outcome, err := s.batcher.apply(ctx, ev, solo)
		switch {
		case err == nil:
			return outcome, nil
		case errors.Is(err, errStopping):
			return "", fmt.Errorf("%w: %v", errHandedBack, err)
		case ctx.Err() != nil:
			return "", fmt.Errorf("%w: %v", errHandedBack, ctx.Err())
		case !errors.Is(err, clerksync.ErrUnavailable):
			return "", err
		case s.watch.isDown():
			continue
		}
		if tries++; tries >= transientTries {
			return "", err
		}
	}
}

// logFailure logs a failed task with its ids only: never the payload. What
// is not the task's failure (a stale snapshot revoked, a task handed back)
// is logged at debug: an outage is logged once, by postgresWatch.
func (s *Server) logFailure(ctx context.Context, t *asynq.Task, err error) {
	id, _ := asynq.GetTaskID(ctx)
	if errors.Is(err, asynq.RevokeTask) || !isFailure(err) {
		s.log.Debug("task handed back or dropped", "delivery_id", id, "task_type", t.Type(), "reason", err.Error())
		return
	}
	retried, _ := asynq.GetRetryCount(ctx)
	maxRetry, _ := asynq.GetMaxRetry(ctx)
	level := slog.LevelWarn
	archived := errors.Is(err, asynq.SkipRetry) || retried >= maxRetry
	if archived {
		level = slog.LevelError
	}
	// The error names ids and reasons (the domain's and Postgres's messages),
	// never values from the payload.
	s.log.Log(ctx, level, "sync failed", "delivery_id", id, "task_type", t.Type(),
		"retried", retried, "archived", archived, "error", err.Error())
}

// eventTypeLabel bounds the label's values to the known types.
func eventTypeLabel(taskType string) string {
	if t := EventType(taskType); t != "" {
		return t
	}
	return "unknown"
}
