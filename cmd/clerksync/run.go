package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"

	"github.com/redis/go-redis/v9"

	"github.com/clerksync/clerksync/config"
	"github.com/clerksync/clerksync/worker"
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
	fs := newFlags(e, name, "[flags]", summary+"\n\n"+startHelp(roles))
	listen := fs.String("listen", "", "HTTP address to listen on (overrides LISTEN_ADDR)")
	var concurrency *int
	if roles.Work {
		concurrency = fs.Int("concurrency", 0, "tasks a worker runs at once, at least 1 (overrides WORKER_CONCURRENCY)")
	}
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageError("unexpected argument %q (clerksync %s -h)", fs.Arg(0), name)
	}
	cfg, err := e.Config()
	if err != nil {
		return err
	}
	if *listen != "" {
		cfg.ListenAddr = *listen
	}
	if flagSet(fs, "concurrency") {
		if *concurrency < 1 {
			return usageError("--concurrency %d: want at least 1, as WORKER_CONCURRENCY does", *concurrency)
		}
		cfg.WorkerConcurrency = *concurrency
	}
	if roles.Serve {
		if err := cfg.RequireSigningSecrets(); err != nil {
			return err
		}
	}
	quiet := newRedisQuieter(newLogger(e, cfg).Handler(), cfg.RedisURL.Reveal(), redisPinger(cfg))
	defer quiet.Close()
	log := slog.New(quiet)
	// Libraries that log through the standard log package (the queue
	// gauges' collector) or go-redis's logger (a Redis that went away) then
	// write the same JSON or text lines as the rest, and an outage is one
	// line, not hundreds.
	slog.SetDefault(log)
	redis.SetLogger(redisLogger{log})
	app, err := NewApp(ctx, cfg, roles, log)
	if err != nil {
		return err
	}
	closeMetrics := registerProcessMetrics(app, roles)
	defer closeMetrics()
	log.Info("clerksync starting", "command", name, "version", readBuildInfo().Version, "config", cfg)
	if !roles.Migrate {
		// run has migrated already, so Postgres answered.
		defer checkPostgresAtStart(ctx, log, cfg)()
	}
	return app.Run(ctx)
}

// startHelp says what a process does when a service is down at start.
func startHelp(roles Roles) string {
	if roles.Migrate {
		return "Postgres must answer at start (run migrates first): otherwise it exits 1. Redis may come later."
	}
	return "It starts even when Postgres or Redis is down, as under an orchestrator that starts everything at\n" +
		"once: it says so in one error line, keeps retrying, says when each answers, and /readyz answers\n" +
		"503 until both do."
}

// flagSet reports whether the command line set the named flag.
func flagSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

// redisPinger pings REDIS_URL on a connection of its own, for the quieter
// to tell when Redis is back.
func redisPinger(cfg config.Config) func(context.Context) error {
	return func(ctx context.Context) error {
		opt, err := worker.RedisConnOpt(cfg.RedisURL.Reveal())
		if err != nil {
			return err
		}
		rdb, ok := opt.MakeRedisClient().(redis.UniversalClient)
		if !ok {
			return fmt.Errorf("REDIS_URL: unsupported connection type %T", opt)
		}
		defer rdb.Close()
		return rdb.Ping(ctx).Err()
	}
}

// newLogger is the process's slog logger: JSON unless LOG_FORMAT=text.
func newLogger(e *Env, cfg config.Config) *slog.Logger {
	opts := &slog.HandlerOptions{Level: cfg.LogLevelValue()}
	if cfg.LogFormat == "text" {
		return slog.New(slog.NewTextHandler(e.Stderr, opts))
	}
	return slog.New(slog.NewJSONHandler(e.Stderr, opts))
}
