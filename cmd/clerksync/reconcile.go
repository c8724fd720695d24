package main

import (
	"context"
	"fmt"

	"github.com/clerksync/clerksync/backfill"
	"github.com/clerksync/clerksync/clerkapi"
	"github.com/clerksync/clerksync/db"
)

const reconcileHelp = `Compares the mirror in DATABASE_URL with Clerk's Backend API (a full scan of
GET /v1/users with CLERK_SECRET_KEY) and reports the drift: users missing from
the mirror, users whose mirrored updated_at is older than Clerk's, and mirrored
users Clerk no longer has. It prints counts and the first ids of each kind (ids
only). With --apply it repairs them through the guarded write path: missing and
outdated users are applied as snapshots, and users Clerk no longer has are
deleted as by user.deleted (tombstone, contacts gone).

Run it after an outage (a disabled webhook endpoint, deliveries that ran out of
retries, a Redis that lost its queue), from cron or CI to alert on drift, or let
clerksync work run it on a schedule (RECONCILE_EVERY).

A mirrored user is only removed after the whole scan completed and a direct
GET /v1/users/{id} answered 404: offset paging can skip a user when others are
deleted during the scan, and such a user is applied as a snapshot instead. If
more local users are missing from Clerk's list than --max-delete, none is
removed (a key of another instance would otherwise empty the mirror). Users
Clerk changed within --grace are left to their webhooks, not counted.

The run is recorded in the mirror; every clerksync work process exports it as
clerksync_reconcile_last_success_timestamp_seconds and
clerksync_reconcile_drift_users{kind="missing|outdated|extra"}.
Rate limits and retries are as for backfill (--rate, CLERK_API_RATE).

Exit status: 0 when the mirror is in sync (or --apply repaired all the drift),
1 when the reconcile failed, 2 for a usage error, 3 when drift was found and not
repaired (run without --apply), 4 when --apply left drift (users held back by
--max-delete, or users the mirror cannot hold).`

// The exit statuses of a reconcile that found drift, so that cron and CI can
// tell "look at this" from "it broke" (1).
const (
	exitDriftFound      = 3
	exitDriftUnrepaired = 4
)

func cmdReconcile(ctx context.Context, e *Env, args []string) error {
	fs := newFlags(e, "reconcile", "[--apply] [--grace D] [--max-delete N] [--rate R] [--page-size N]", reconcileHelp)
	apply := fs.Bool("apply", false, "repair the drift found (default: report only)")
	grace := fs.Duration("grace", backfill.DefaultGrace, "leave users Clerk changed this recently to their webhooks (`duration`; 0 judges all)")
	maxDelete := fs.Int("max-delete", 0, "remove at most `N` mirrored users Clerk no longer has; above it none (0: 10% of the mirror, at least 100)")
	rateFlag := fs.String("rate", "", "Backend API requests per second (`R`), or unlimited (overrides CLERK_API_RATE; default: from the key)")
	pageSize := fs.Int("page-size", clerkapi.MaxPageSize, "users per request (`N`, at most 500)")
	if _, err := parseArgs(fs, args, 0); err != nil {
		return err
	}
	if *pageSize < 1 || *pageSize > clerkapi.MaxPageSize || *grace < 0 || *maxDelete < 0 {
		return usageError("--page-size must be 1 to 500, --grace and --max-delete not negative (clerksync reconcile -h)")
	}
	cfg, log, client, err := clerkCommand(e, *rateFlag)
	if err != nil {
		return err
	}
	conn, err := db.Open(ctx, cfg.DatabaseURL.Reveal(), cfg.DatabaseSchema, backfill.DefaultParallel+2)
	if err != nil {
		return err
	}
	defer conn.Close()
	store := db.NewStore(conn)
	opt := backfill.ReconcileOptions{
		Directory: client, Mirror: store, State: store, PageSize: *pageSize, Apply: *apply,
		Grace: *grace, MaxDelete: *maxDelete, Log: log,
	}
	if e.StderrIsTerminal {
		opt.Progress = backfill.NewProgress(e.Stderr, "reconcile")
	}
	r, err := backfill.Reconcile(ctx, opt)
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("interrupted after %d Clerk users", r.Scanned)
		}
		return fmt.Errorf("failed after %d Clerk users: %w", r.Scanned, err)
	}
	r.Write(e.Stdout)
	switch {
	case r.Unrepaired() == 0:
		return nil
	case !*apply:
		return &exitError{code: exitDriftFound, msg: r.Line() + ": not repaired (run with --apply)"}
	}
	return &exitError{code: exitDriftUnrepaired, msg: fmt.Sprintf("%s: %d left unrepaired (see the report)", r.Line(), r.Unrepaired())}
}
