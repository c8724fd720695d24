package db

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
	"golang.org/x/sync/errgroup"
)

// An import into a mirror whose contact tables are empty (a first import)
// builds the two contact hash indexes (migration 00004) once, after loading,
// instead of keeping them up row by row, as Postgres's own advice for bulk
// loads and pg_restore do: every row lands on a random page of a hash
// index, which cost a fifth of Postgres's time in a 1M-user import, more
// than building the index whole at the end (make bench, heavy shape).
//
// Only these two are deferred: the user_id indexes serve the webhook path
// while the import runs (a snapshot replaces a user's contacts by user_id),
// and the primary keys are constraints. While they are missing, lookups by
// email address or phone number scan their tables, which are filling from
// empty; nothing of clerksync's own uses them.
//
// An import that ends, well or not, builds them before it returns. One that
// is killed first leaves them missing: `clerksync migrate` (and so `clerksync
// run`) and the next import build what is missing, before anything else.
// A `migrate` run during a first import builds them then: harmless, the
// rest of the import keeps them up row by row.
type deferredIndex struct {
	name, table, expr string
}

// on is what follows ON in the index's definition, migration 00004's
// (and pg_get_indexdef's, but for the schema).
func (ix deferredIndex) on() string { return ix.table + ` USING hash (` + ix.expr + `)` }

// create builds the index as migration 00004 does.
func (ix deferredIndex) create() string {
	return `CREATE INDEX IF NOT EXISTS ` + ix.name + ` ON ` + ix.on()
}

var deferredIndexes = []deferredIndex{
	{"email_addresses_lower_email_idx", "email_addresses", "lower(email_address)"},
	{"phone_numbers_phone_number_idx", "phone_numbers", "phone_number"},
}

// lockTries and lockPause: the contact tables are locked without waiting
// (NOWAIT), so that no query of an application's queues behind the import,
// a few times over about half a second; busy all that time, the import
// keeps the indexes up row by row instead.
const (
	lockTries = 5
	lockPause = 100 * time.Millisecond
)

// buildMemory is the maintenance_work_mem of a deferred index's build (see
// buildIndex).
const buildMemory = "16MB"

// largeImport is the number of users from which Finish says, before it
// builds, that it does: a few seconds per million rows.
const largeImport = 100_000

// Start prepares the mirror for an import: into empty contact tables whose
// two hash indexes are those of migration 00004, it drops them, to be built
// by Finish; otherwise it builds any of them that an import killed before
// its end left missing. Call Finish when the import ends, whatever its
// outcome.
func (l *ImportLoader) Start(ctx context.Context) error {
	var deferred bool
	// Under the migration lock: no migration runs between the check of the
	// definitions and the drop.
	err := withMigrateLock(ctx, l.db, func(conn *sqlx.Conn) error {
		var err error
		deferred, err = dropForFirstImport(ctx, conn, l.log)
		return err
	})
	if err != nil {
		return err
	}
	if deferred {
		l.deferred = true
		l.log.DebugContext(ctx, "first import: the contact hash indexes are built once the rows are in")
		return nil
	}
	return restoreIndexes(ctx, l.db, l.log)
}

// Finish builds the indexes Start deferred, if it did. The caller decides
// how long that may take: an import interrupted once still builds them (a
// few seconds per million rows), so ctx should be one a second interrupt
// cancels; then the indexes are left to `clerksync migrate`.
func (l *ImportLoader) Finish(ctx context.Context) error {
	if !l.deferred {
		return nil
	}
	level := slog.LevelDebug
	if l.inserted.Load() >= largeImport {
		level = slog.LevelInfo
	}
	l.log.Log(ctx, level, "building the contact indexes a first import defers (interrupt to leave them to clerksync migrate)")
	if err := restoreIndexes(ctx, l.db, l.log); err != nil {
		return fmt.Errorf("the contact hash indexes were not built (clerksync migrate builds them): %w", err)
	}
	l.deferred = false
	return nil
}

// dropForFirstImport drops the deferred indexes if both contact tables are
// empty and the indexes are as migration 00004 made them, under a lock that
// keeps the tables so until the drop commits. It reports whether it did.
// A mirror with rows, the usual case, is told by a look without a lock.
func dropForFirstImport(ctx context.Context, conn *sqlx.Conn, log *slog.Logger) (bool, error) {
	if ok, err := mayDefer(ctx, conn); err != nil || !ok {
		return false, err
	}
	for try := 1; ; try++ {
		deferred, busy, err := dropLocked(ctx, conn)
		if err != nil || !busy {
			return deferred, err
		}
		if try == lockTries {
			log.InfoContext(ctx, "the contact tables are in use: this first import keeps their hash indexes up row by row")
			return false, nil
		}
		if err := sleep(ctx, lockPause); err != nil {
			return false, err
		}
	}
}

// dropLocked is one try of dropForFirstImport: busy when a table could not
// be locked at once (or the lock failed any other way: then the import goes
// on with the indexes).
func dropLocked(ctx context.Context, conn *sqlx.Conn) (deferred, busy bool, err error) {
	tx, err := conn.BeginTxx(ctx, nil)
	if err != nil {
		return false, false, classify(err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `LOCK TABLE email_addresses, phone_numbers IN ACCESS EXCLUSIVE MODE NOWAIT`); err != nil {
		if ctx.Err() != nil {
			return false, false, ctx.Err()
		}
		return false, true, nil
	}
	// Again, under the lock.
	if ok, err := mayDefer(ctx, tx); err != nil || !ok {
		return false, false, err
	}
	for _, ix := range deferredIndexes {
		if _, err := tx.ExecContext(ctx, `DROP INDEX `+pq.QuoteIdentifier(ix.name)); err != nil {
			return false, false, fmt.Errorf("drop %s: %w", ix.name, classify(err))
		}
	}
	if err := tx.Commit(); err != nil {
		return false, false, classify(err)
	}
	return true, false, nil
}

// mayDefer reports whether the contact tables are empty and each deferred
// index is there as migration 00004 defines it (in the default tablespace,
// no storage parameters): an older schema's, or one a DBA changed, is kept,
// since Finish could not build it again as it was.
func mayDefer(ctx context.Context, q sqlx.QueryerContext) (bool, error) {
	var ok bool
	err := sqlx.GetContext(ctx, q, &ok,
		`SELECT NOT EXISTS (SELECT FROM email_addresses) AND NOT EXISTS (SELECT FROM phone_numbers)`)
	for _, ix := range deferredIndexes {
		if err != nil || !ok {
			break
		}
		err = sqlx.GetContext(ctx, q, &ok, `SELECT EXISTS (SELECT FROM pg_catalog.pg_class AS c
			WHERE c.oid = to_regclass($1) AND c.reltablespace = 0 AND c.reloptions IS NULL
			  AND pg_catalog.pg_get_indexdef(c.oid) = format('CREATE INDEX %I ON %I.%s', $1, current_schema(), $2::text))`,
			ix.name, ix.on())
	}
	if err != nil {
		return false, classify(err)
	}
	return ok, nil
}

// missingIndexes returns the positions in deferredIndexes of the indexes
// absent from the schema, none when the mirror's tables do not exist yet.
func missingIndexes(ctx context.Context, db sqlx.QueryerContext) ([]int, error) {
	var missing []int
	for i, ix := range deferredIndexes {
		var absent bool
		if err := sqlx.GetContext(ctx, db, &absent,
			`SELECT to_regclass('email_addresses') IS NOT NULL AND to_regclass($1) IS NULL`, ix.name); err != nil {
			return nil, classify(err)
		}
		if absent {
			missing = append(missing, i)
		}
	}
	return missing, nil
}

// indexLockID is the advisory lock that keeps two builders of the deferred
// index i apart (the migration lock's id, plus one plus i), taken in the
// transaction that builds it.
func indexLockID(i int) int64 { return migrateLockID + 1 + int64(i) }

// restoreIndexes builds the deferred indexes that are missing, each in a
// transaction of its own, side by side when the pool has the connections.
// Each build holds a SHARE lock on its table: writers wait for it, readers
// do not.
func restoreIndexes(ctx context.Context, db *sqlx.DB, log *slog.Logger) error {
	missing, err := missingIndexes(ctx, db)
	if err != nil || len(missing) == 0 {
		return err
	}
	start := time.Now()
	g, gctx := errgroup.WithContext(ctx)
	for _, i := range missing {
		g.Go(func() error { return buildIndex(gctx, db, i) })
	}
	if err := g.Wait(); err != nil {
		return err
	}
	if log != nil {
		// Said when it was long enough to be noticed (a large import).
		took, level := time.Since(start), slog.LevelDebug
		if took >= time.Second {
			level = slog.LevelInfo
		}
		log.Log(ctx, level, "contact indexes built", "indexes", len(missing),
			"seconds", took.Round(10*time.Millisecond).Seconds())
	}
	return nil
}

// buildIndex creates deferredIndexes[i] unless another session did while
// this one waited for its lock.
func buildIndex(ctx context.Context, db *sqlx.DB, i int) error {
	ix := deferredIndexes[i]
	tx, err := db.BeginTxx(ctx, nil)
	if err != nil {
		return classify(err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, indexLockID(i)); err != nil {
		return fmt.Errorf("lock %s: %w", ix.name, classify(err))
	}
	var absent bool
	if err := tx.GetContext(ctx, &absent, `SELECT to_regclass($1) IS NULL`, ix.name); err != nil {
		return classify(err)
	}
	if !absent {
		return nil
	}
	// A hash index whose first size reaches maintenance_work_mem is built
	// from its tuples sorted by bucket, each page written once, instead of
	// one random insert per row: 2.4 s instead of 3.8 s for 2M email
	// addresses. Below the limit the index fits in memory either way.
	// A role's statement or lock timeout (a managed Postgres's default)
	// must not fail a build that takes seconds per million rows.
	if _, err := tx.ExecContext(ctx, `SET LOCAL maintenance_work_mem = '`+buildMemory+`'; SET LOCAL statement_timeout = 0; SET LOCAL lock_timeout = 0`); err != nil {
		return classify(err)
	}
	if _, err := tx.ExecContext(ctx, ix.create()); err != nil {
		return fmt.Errorf("create index %s: %w", ix.name, classify(err))
	}
	return classify(tx.Commit())
}
