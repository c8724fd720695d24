package main

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/clerksync/clerksync/backfill"
	"github.com/clerksync/clerksync/clerkapi"
	"github.com/clerksync/clerksync/config"
	"github.com/clerksync/clerksync/db"
)

const backfillHelp = `Loads every user of the Clerk instance from the Backend API (GET /v1/users, 500
per page, oldest first, with CLERK_SECRET_KEY; CLERK_API_URL overrides the
address) into the mirror in DATABASE_URL, through the same guarded write path
as the webhooks: a user the mirror holds a newer snapshot of is left alone, an
equal one is harmless, a deleted user stays deleted. Each user's raw is the
user as the API returned it; users.source becomes backfill. Safe to run while
webhooks are flowing, and again.

Run it once after installing clerksync (instead of, or after, importing the
Dashboard CSV), or whenever the mirror may have missed more than a reconcile
should repair. It prints a summary (inserted, updated, unchanged, skipped as
stale or deleted); on a terminal a progress bar shows users/s, pages and the
time left.

Resumable: after each page it saves a checkpoint in the mirror's schema; run
it again after an interruption and it continues there (--restart starts over).
Users deleted in Clerk meanwhile shift the offsets; the backfill notices
(each page must start among the users of the last one) and backs up instead
of skipping anyone.

Rate limit: it stays under Clerk's limit for the key (sk_live_: 1000 requests
per 10 s, so 900; sk_test_: 100, so 90), or --rate / CLERK_API_RATE. It waits
out 429s (Retry-After), retries 5xx answers and network errors with backoff,
and gives up after 2 minutes of them with one line. A rejected key stops it at
once.

The schema must exist: run clerksync migrate first.

Exit status: 0 when every user was applied, 1 when the backfill stopped (what
it applied stays; running it again resumes), 2 for a usage error, 3 when some
users could not be applied (their ids are printed; the others were).`

// exitInvalidUsers is the exit status of a backfill that applied every user
// it could but had to skip some that the mirror cannot hold.
const exitInvalidUsers = 3

func cmdBackfill(ctx context.Context, e *Env, args []string) error {
	fs := newFlags(e, "backfill", "[--restart] [--rate R] [--page-size N] [--parallel N]", backfillHelp)
	restart := fs.Bool("restart", false, "ignore the checkpoint of an interrupted backfill and start from the first user")
	rateFlag := fs.String("rate", "", "Backend API requests per second (`R`), or unlimited (overrides CLERK_API_RATE; default: from the key)")
	pageSize := fs.Int("page-size", clerkapi.MaxPageSize, "users per request (`N`, at most 500)")
	parallel := fs.Int("parallel", backfill.DefaultParallel, "transactions applying a page at once (`N`)")
	if _, err := parseArgs(fs, args, 0); err != nil {
		return err
	}
	if *pageSize < 1 || *pageSize > clerkapi.MaxPageSize || *parallel < 1 {
		return usageError("--page-size must be 1 to 500 and --parallel at least 1 (clerksync backfill -h)")
	}
	cfg, log, client, err := clerkCommand(e, *rateFlag)
	if err != nil {
		return err
	}
	conn, err := db.Open(ctx, cfg.DatabaseURL.Reveal(), cfg.DatabaseSchema, *parallel+2)
	if err != nil {
		return err
	}
	defer conn.Close()
	store := db.NewStore(conn)
	opt := backfill.Options{
		Directory: client, Mirror: store, State: store, PageSize: *pageSize, Parallel: *parallel,
		Restart: *restart, Log: log,
	}
	if e.StderrIsTerminal {
		opt.Progress = backfill.NewProgress(e.Stderr, "backfill")
	}
	sum, err := backfill.Run(ctx, opt)
	if err == nil || sum.Pages > 0 {
		sum.Write(e.Stdout)
	}
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("interrupted after %d users this run: run clerksync backfill again to resume", sum.Read)
		}
		return fmt.Errorf("stopped after %d users this run (those applied stay; running it again resumes): %w", sum.Read, err)
	}
	if sum.Invalid > 0 {
		return &exitError{code: exitInvalidUsers, msg: fmt.Sprintf("%d users could not be applied (see the summary)", sum.Invalid)}
	}
	return nil
}

// clerkCommand is the set-up backfill and reconcile share: the
// configuration (CLERK_SECRET_KEY required), a text logger on stderr and the
// Backend API client, its rate from --rate or CLERK_API_RATE.
func clerkCommand(e *Env, rateFlag string) (config.Config, *slog.Logger, *clerkapi.Client, error) {
	cfg, err := e.Config()
	if err != nil {
		return cfg, nil, nil, err
	}
	if err := cfg.RequireClerkSecretKey(); err != nil {
		return cfg, nil, nil, err
	}
	if rateFlag != "" {
		if _, err := config.ParseRate(rateFlag); err != nil {
			return cfg, nil, nil, usageError("--rate: %v", err)
		}
		cfg.ClerkAPIRate = rateFlag
	}
	log := slog.New(slog.NewTextHandler(e.Stderr, &slog.HandlerOptions{Level: cfg.LogLevelValue()}))
	client, err := newClerkClient(cfg, log)
	return cfg, log, client, err
}

// newClerkClient is the Backend API client the configuration describes.
func newClerkClient(cfg config.Config, log *slog.Logger) (*clerkapi.Client, error) {
	r, err := config.ParseRate(cfg.ClerkAPIRate)
	if err != nil {
		return nil, fmt.Errorf("CLERK_API_RATE: %w", err)
	}
	return clerkapi.New(clerkapi.Options{
		SecretKey: cfg.ClerkSecretKey.Reveal(), URL: cfg.ClerkAPIURL.Reveal(), Rate: r, Logger: log,
	})
}
