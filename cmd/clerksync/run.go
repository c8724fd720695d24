package main

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/redis/go-redis/v9"

	"github.com/clerksync/clerksync/config"
)

func cmdServe(ctx context.Context, e *Env, args []string) error {
	return runRoles(ctx, e, args, Roles{Serve: true}, "serve",
		"Runs the webhook receiver (POST /webhooks/clerk), /healthz, /readyz, /metrics and, with\n"+
			"ADMIN_USER and ADMIN_PASSWORD set, the queue dashboard at /asynq/. Needs CLERK_WEBHOOK_SIGNING_SECRET.")
}

func cmdWork(ctx context.Context, e *Env, args []string) error {
	return runRoles(ctx, e, args, Roles{Work: true}, "work",
		"Runs the worker that applies queued Clerk events to the Postgres mirror. Run as many as you\n"+
			"like against one Redis and Postgres: events for one user are serialised in Postgres.\n"+
			"Serves /healthz, /readyz and /metrics (no receiver, no dashboard) on LISTEN_ADDR.")
}

func cmdRun(ctx context.Context, e *Env, args []string) error {
	return runRoles(ctx, e, args, Roles{Migrate: true, Serve: true, Work: true}, "run",
		"Migrates the schema, then runs the receiver and the worker in one process: the local and\n"+
			"small-deployment default. Needs CLERK_WEBHOOK_SIGNING_SECRET.")
}

// runRoles is serve, work and run: flags, configuration, logging, and the
// app until SIGINT or SIGTERM.
func runRoles(ctx context.Context, e *Env, args []string, roles Roles, name, summary string) error {
	fs := newFlags(e, name, "[flags]", summary)
	listen := fs.String("listen", "", "HTTP address to listen on (overrides LISTEN_ADDR)")
	concurrency := fs.Int("concurrency", 0, "tasks a worker runs at once (overrides WORKER_CONCURRENCY)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	cfg, err := e.Config()
	if err != nil {
		return err
	}
	if *listen != "" {
		cfg.ListenAddr = *listen
	}
	if *concurrency > 0 {
		cfg.WorkerConcurrency = *concurrency
	}
	if roles.Serve {
		if err := cfg.RequireSigningSecrets(); err != nil {
			return err
		}
	}
	log := newLogger(e, cfg)
	// Libraries that log through the standard log package (the queue
	// gauges' collector) or go-redis's logger (a Redis that went away) then
	// write the same JSON or text lines as the rest.
	slog.SetDefault(log)
	redis.SetLogger(redisLogger{log})
	app, err := NewApp(ctx, cfg, roles, log)
	if err != nil {
		return err
	}
	log.Info("clerksync starting", "command", name, "config", cfg)
	return app.Run(ctx)
}

// redisLogger passes go-redis's messages (connection trouble) to slog.
type redisLogger struct{ log *slog.Logger }

func (l redisLogger) Printf(ctx context.Context, format string, v ...any) {
	l.log.WarnContext(ctx, "redis: "+fmt.Sprintf(format, v...))
}

// newLogger is the process's slog logger: JSON unless LOG_FORMAT=text.
func newLogger(e *Env, cfg config.Config) *slog.Logger {
	opts := &slog.HandlerOptions{Level: cfg.LogLevelValue()}
	if cfg.LogFormat == "text" {
		return slog.New(slog.NewTextHandler(e.Stderr, opts))
	}
	return slog.New(slog.NewJSONHandler(e.Stderr, opts))
}
