package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/hibiken/asynq"
	"github.com/hibiken/asynq/x/metrics"
	"github.com/jmoiron/sqlx"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/redis/go-redis/v9"

	"github.com/clerksync/clerksync/config"
	"github.com/clerksync/clerksync/dashboard"
	"github.com/clerksync/clerksync/db"
	"github.com/clerksync/clerksync/webhooks"
	"github.com/clerksync/clerksync/worker"
)

// Roles say which parts of clerksync a process runs.
type Roles struct {
	Migrate bool // apply migrations before starting
	Serve   bool // the HTTP receiver, health, metrics and dashboard
	Work    bool // the Asynq worker, with health and metrics over HTTP
}

// App is one clerksync process: whichever of the receiver and the worker
// its roles ask for, over shared connections.
type App struct {
	cfg      config.Config
	roles    Roles
	log      *slog.Logger
	registry *prometheus.Registry

	db        *sqlx.DB
	store     *db.Store // the worker's mirror and the readiness check
	redis     asynq.RedisConnOpt
	rdb       redis.UniversalClient // readiness and the eviction check
	enqueuer  *worker.Enqueuer
	inspector *asynq.Inspector // the queue gauges
	dashboard *dashboard.Handler
	worker    *worker.Server
	reconcile *reconcileSchedule // RECONCILE_EVERY (schedule.go)
	http      *http.Server
	listener  net.Listener
	stopOnce  sync.Once
	stopErr   error
}

// NewApp connects what the roles need and builds the parts; Start runs them.
func NewApp(ctx context.Context, cfg config.Config, roles Roles, log *slog.Logger) (*App, error) {
	a := &App{cfg: cfg, roles: roles, log: log, registry: prometheus.NewRegistry()}
	a.registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if err := a.build(ctx); err != nil {
		a.Close()
		return nil, err
	}
	return a, nil
}

func (a *App) build(ctx context.Context) error {
	var err error
	if a.redis, err = worker.RedisConnOpt(a.cfg.RedisURL.Reveal()); err != nil {
		return err
	}
	rdb, ok := a.redis.MakeRedisClient().(redis.UniversalClient)
	if !ok {
		return fmt.Errorf("REDIS_URL: unsupported connection type %T", a.redis)
	}
	a.rdb = rdb
	checkEviction(ctx, a.log, func(ctx context.Context) (string, error) { return maxmemoryPolicy(ctx, a.rdb) })
	checkPersistence(ctx, a.log, func(ctx context.Context) (persistence, error) { return redisPersistence(ctx, a.rdb) })
	// The worker's executors plus the readiness check; the receiver only pings.
	if a.db, err = db.Connect(a.cfg.DatabaseURL.Reveal(), a.cfg.DatabaseSchema, 8); err != nil {
		return err
	}
	a.store = db.NewStore(a.db)
	if a.roles.Migrate {
		if _, err := db.Migrate(ctx, a.db, a.cfg.DatabaseSchema); err != nil {
			return fmt.Errorf("migrate: %w", err)
		}
	}
	if a.roles.Work {
		a.worker = worker.NewServer(worker.Options{
			Redis: a.redis, Mirror: a.store, Concurrency: a.cfg.WorkerConcurrency,
			ShutdownTimeout: a.cfg.ShutdownTimeout, TaskRetention: a.cfg.TaskRetention,
			Logger: a.log, Registerer: a.registry,
		})
	}
	if err := a.buildReconcile(); err != nil {
		return err
	}
	// A worker-only process listens too, for /healthz, /readyz and /metrics
	// alone, so that split deployments can probe and scrape their workers.
	return a.buildHTTP()
}

func (a *App) buildHTTP() error {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok\n") })
	mux.HandleFunc("GET /readyz", a.ready)
	mux.Handle("GET /metrics", promhttp.HandlerFor(a.registry, promhttp.HandlerOpts{Registry: a.registry}))
	if a.roles.Serve {
		if err := a.buildServe(mux); err != nil {
			return err
		}
	}
	a.http = &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		ErrorLog:          slog.NewLogLogger(a.log.Handler(), slog.LevelWarn),
		// Headers are read before any check, like bodies; Svix's are a few
		// hundred bytes (the default allows 1 MiB per connection).
		MaxHeaderBytes: 64 << 10,
	}
	return nil
}

// buildServe adds the receiver, the queue gauges and, with credentials, the
// dashboard. Only receivers export the queue gauges: they describe the
// shared queue, and one series per queue is what dashboards add up.
func (a *App) buildServe(mux *http.ServeMux) error {
	a.enqueuer = worker.NewEnqueuer(a.redis, a.cfg.TaskRetention)
	receiver, err := webhooks.NewHandler(webhooks.Options{
		Secrets: a.cfg.SigningSecrets.Reveal(), Enqueuer: a.enqueuer, Logger: a.log, Registerer: a.registry,
	})
	if err != nil {
		return err
	}
	mux.Handle("/webhooks/clerk", receiver)
	a.inspector = asynq.NewInspector(a.redis)
	if err := a.registry.Register(metrics.NewQueueMetricsCollector(a.inspector)); err != nil {
		return fmt.Errorf("register queue metrics: %w", err)
	}
	if !a.cfg.DashboardEnabled() {
		a.log.Info("dashboard disabled: set ADMIN_USER and ADMIN_PASSWORD to mount it at /asynq/")
		return nil
	}
	if a.dashboard, err = dashboard.New(dashboard.Options{
		Redis: a.redis, User: a.cfg.AdminUser, Password: a.cfg.AdminPassword.Reveal(),
	}); err != nil {
		return err
	}
	mux.Handle(dashboard.DefaultRootPath+"/", a.dashboard)
	a.log.Info("dashboard enabled", "path", dashboard.DefaultRootPath+"/")
	return nil
}

// readyBudget is how long /readyz takes at most: the documented 2 s.
const readyBudget = 2 * time.Second

// ready answers 200 only when Postgres and Redis both answer within
// readyBudget. Both are asked at once, and the answer does not wait for a
// check past the budget: lib/pq never returns from a query to a frozen
// Postgres, and go-redis waits for its own read timeout (3 s) and retries,
// whatever the context says.
func (a *App) ready(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), readyBudget)
	defer cancel()
	checks := []struct {
		name string
		ping func(context.Context) error
	}{
		{"postgres", a.store.Ping},
		{"redis", func(ctx context.Context) error { return a.rdb.Ping(ctx).Err() }},
	}
	failed := make([]chan bool, len(checks))
	for i, c := range checks {
		failed[i] = make(chan bool, 1)
		go func() { failed[i] <- c.ping(ctx) != nil }()
	}
	var problems []string
	for i, c := range checks {
		var bad, answered bool
		select {
		case bad = <-failed[i]:
			answered = true
		case <-ctx.Done():
			// A check that answered counts, even when the budget ended
			// while the other one was waited for.
			select {
			case bad = <-failed[i]:
				answered = true
			default:
			}
		}
		if bad || !answered {
			problems = append(problems, c.name)
		}
	}
	if len(problems) > 0 {
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprintf(w, "unavailable: %v\n", problems)
		return
	}
	io.WriteString(w, "ready\n")
}

// Start listens and starts the worker; it returns at once. It binds the
// address first, so that a process that cannot listen fails before it has
// taken any task.
func (a *App) Start() error {
	if a.http != nil {
		ln, err := net.Listen("tcp", a.cfg.ListenAddr)
		if err != nil {
			return fmt.Errorf("listen on %s: %w", a.cfg.ListenAddr, err)
		}
		a.listener = ln
	}
	if a.worker != nil {
		if err := a.worker.Start(); err != nil {
			if a.listener != nil {
				a.listener.Close()
			}
			return err
		}
	}
	a.startReconcile()
	if a.listener == nil {
		return nil
	}
	ln := a.listener
	go func() {
		if err := a.http.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			a.log.Error("http server stopped", "error", err)
		}
	}()
	what := "receiver"
	if !a.roles.Serve {
		what = "health and metrics"
	}
	a.log.Info(what+" listening", "addr", ln.Addr().String())
	return nil
}

// Addr is the address the HTTP server listens on ("" before Start).
func (a *App) Addr() string {
	if a.listener == nil {
		return ""
	}
	return a.listener.Addr().String()
}

// Run starts the app and, when ctx ends (SIGINT, SIGTERM), shuts it down
// gracefully.
func (a *App) Run(ctx context.Context) error {
	if err := a.Start(); err != nil {
		return err
	}
	<-ctx.Done()
	a.log.Info("shutting down", "timeout", a.cfg.ShutdownTimeout.String())
	return a.Shutdown()
}

// Shutdown stops accepting requests and tasks, lets those under way finish
// within the shutdown timeout (unfinished tasks return to the queue), and
// closes the connections.
func (a *App) Shutdown() error {
	a.stopOnce.Do(func() { a.stopErr = a.shutdown() })
	return a.stopErr
}

func (a *App) shutdown() error {
	// One deadline for everything: the receiver's requests and the
	// worker's tasks are waited for side by side, not one after the other,
	// and what still runs at the deadline is left (the worker hands its
	// tasks back first), so that the process is gone within
	// SHUTDOWN_TIMEOUT whatever Postgres or Redis do.
	ctx, cancel := context.WithTimeout(context.Background(), a.cfg.ShutdownTimeout)
	defer cancel()
	var wg sync.WaitGroup
	httpErr := make(chan error, 1)
	if a.http != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			httpErr <- a.http.Shutdown(ctx)
		}()
	} else {
		httpErr <- nil
	}
	a.stopReconcile()
	if a.worker != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			a.worker.Shutdown(ctx)
		}()
	}
	done := make(chan struct{})
	go func() {
		wg.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
		select {
		case <-done:
		case <-time.After(100 * time.Millisecond):
			// A part still waits on a Postgres or Redis that does not
			// answer. Nothing is lost by leaving: the worker has handed
			// its tasks back, or their leases expire and another worker's
			// recoverer hands them back.
			a.log.Warn("shutdown: Postgres or Redis still not answering at SHUTDOWN_TIMEOUT; exiting anyway",
				"timeout", a.cfg.ShutdownTimeout.String())
		}
	}
	a.Close()
	select {
	case err := <-httpErr:
		return err
	default:
		return nil // the receiver's part is what still runs: its requests are cut
	}
}

// Close releases the connections without waiting for work under way.
func (a *App) Close() {
	if a.enqueuer != nil {
		a.enqueuer.Close()
	}
	if a.dashboard != nil {
		a.dashboard.Close()
	}
	if a.inspector != nil {
		a.inspector.Close()
	}
	if a.rdb != nil {
		a.rdb.Close()
	}
	if a.db != nil {
		a.db.Close()
	}
}
