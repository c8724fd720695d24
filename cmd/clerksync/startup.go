package main

import (
	"context"
	"log/slog"
	"net/url"
	"sync"
	"time"

	"github.com/clerksync/clerksync/config"
	"github.com/clerksync/clerksync/db"
)

// checkPostgresAtStart connects to DATABASE_URL once as serve and work
// start. A process that comes up before its database is normal under an
// orchestrator, so it does not exit: it says so in one error line (naming
// the host and database, never the password, with the driver's reason: a
// refused connection, a wrong password, a missing database) and tries again,
// 2 s apart doubling to 30 s, until Postgres answers, which it says once.
// Meanwhile /readyz answers 503 naming postgres. The returned function stops
// the checking.
func checkPostgresAtStart(ctx context.Context, log *slog.Logger, cfg config.Config) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		watchPostgres(ctx, log, cfg, 2*time.Second, 30*time.Second)
	}()
	return func() {
		cancel()
		wg.Wait()
	}
}

func watchPostgres(ctx context.Context, log *slog.Logger, cfg config.Config, wait, maxWait time.Duration) {
	target := postgresTarget(cfg.DatabaseURL.Reveal())
	start := time.Now()
	for failures := 0; ; failures++ {
		err := pingPostgres(ctx, cfg)
		if ctx.Err() != nil {
			return
		}
		if err == nil {
			if failures > 0 {
				log.Info("postgres reachable", "postgres", target, "after", time.Since(start).Round(time.Second).String())
			}
			return
		}
		if failures == 0 {
			log.Error("postgres unreachable at start: check DATABASE_URL and that Postgres runs; "+
				"retrying until it answers (/readyz answers 503 meanwhile)", "postgres", target, "error", err.Error())
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		wait = min(2*wait, maxWait)
	}
}

func pingPostgres(ctx context.Context, cfg config.Config) error {
	conn, err := db.Open(ctx, cfg.DatabaseURL.Reveal(), cfg.DatabaseSchema, 1)
	if err != nil {
		return err
	}
	return conn.Close()
}

// postgresTarget is DATABASE_URL's host and database, without credentials.
func postgresTarget(databaseURL string) string {
	u, err := url.Parse(databaseURL)
	if err != nil {
		return "(DATABASE_URL does not parse)"
	}
	return u.Host + u.Path
}
