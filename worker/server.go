package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"

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
	// ShutdownTimeout bounds how long Shutdown waits for running tasks;
	// tasks still running then go back to the queue. Defaults to 25s.
	ShutdownTimeout time.Duration
	Logger          *slog.Logger
	Registerer      prometheus.Registerer
}

// Server runs the Asynq worker that applies queued events to the mirror.
type Server struct {
	servers []*asynq.Server
	batcher *batcher
	log     *slog.Logger
	metrics *metrics
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
	if o.ShutdownTimeout <= 0 {
		o.ShutdownTimeout = 25 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	m := newMetrics(o.Registerer)
	s := &Server{
		batcher: newBatcher(o.Mirror, o.Executors, max(1, o.Concurrency/o.Executors),
			func(n int) { m.batchSize.Observe(float64(n)) }),
		log:     o.Logger,
		metrics: m,
	}
	for i := range o.Processors {
		// Spread the concurrency so that the total is what was asked for.
		share := o.Concurrency / o.Processors
		if i < o.Concurrency%o.Processors {
			share++
		}
		s.servers = append(s.servers, asynq.NewServer(o.Redis, asynq.Config{
			Concurrency:     share,
			Queues:          map[string]int{Queue: 1},
			ShutdownTimeout: o.ShutdownTimeout,
			Logger:          asynqLogger{o.Logger},
			LogLevel:        asynq.WarnLevel,
			ErrorHandler:    asynq.ErrorHandlerFunc(s.logFailure),
		}))
	}
	return s
}

// Start begins taking tasks from Redis and returns at once.
func (s *Server) Start() error {
	s.batcher.start()
	mux := asynq.NewServeMux()
	mux.HandleFunc(taskPrefix, s.handle)
	for i, srv := range s.servers {
		if err := srv.Start(mux); err != nil {
			for _, started := range s.servers[:i] {
				started.Shutdown()
			}
			s.batcher.close()
			return fmt.Errorf("start worker: %w", err)
		}
	}
	return nil
}

// Shutdown stops taking tasks, waits up to the shutdown timeout for the
// running ones to finish, and puts back in the queue any still running: no
// task is lost.
func (s *Server) Shutdown() {
	var wg sync.WaitGroup
	for _, srv := range s.servers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			srv.Shutdown()
		}()
	}
	wg.Wait()
	s.batcher.close()
}

// handle applies one task's event. A payload that can never be applied is
// archived at once (SkipRetry); any other failure is retried with backoff.
// A stale event is a success.
func (s *Server) handle(ctx context.Context, t *asynq.Task) error {
	start := time.Now()
	id, _ := asynq.GetTaskID(ctx)
	ev, err := parseTask(id, t)
	if err != nil {
		s.metrics.applies.WithLabelValues(eventTypeLabel(t.Type()), outcomeFailed).Inc()
		return fmt.Errorf("task %s: %w: %w", id, err, asynq.SkipRetry)
	}
	outcome, err := s.batcher.apply(ctx, ev)
	if err != nil {
		s.metrics.applies.WithLabelValues(ev.Type, outcomeFailed).Inc()
		if errors.Is(err, clerksync.ErrInvalidEvent) {
			return fmt.Errorf("task %s: %w: %w", id, err, asynq.SkipRetry)
		}
		return fmt.Errorf("task %s: %w", id, err)
	}
	now := time.Now()
	s.metrics.applies.WithLabelValues(ev.Type, string(outcome)).Inc()
	s.metrics.duration.Observe(now.Sub(start).Seconds())
	if !ev.Timestamp.IsZero() {
		s.metrics.lag.Observe(now.Sub(ev.Timestamp).Seconds())
	}
	s.log.Debug("event applied", "delivery_id", id, "event_type", ev.Type, "user_id", ev.UserID, "outcome", outcome)
	return nil
}

// logFailure logs a failed task with its ids only: never the payload.
func (s *Server) logFailure(ctx context.Context, t *asynq.Task, err error) {
	id, _ := asynq.GetTaskID(ctx)
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
