package db

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
	"github.com/lib/pq/pqerror"
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
type deferredIndex struct {
	name   string
	create string // the definition of migration 00004
}

var deferredIndexes = []deferredIndex{
	{"email_addresses_lower_email_idx",
		`CREATE INDEX IF NOT EXISTS email_addresses_lower_email_idx ON email_addresses USING hash (lower(email_address))`},
	{"phone_numbers_phone_number_idx",
		`CREATE INDEX IF NOT EXISTS phone_numbers_phone_number_idx ON phone_numbers USING hash (phone_number)`},
}

// deferLockTimeout bounds the wait for the contact tables at the start of a
// first import: an application's long query on them must not hold the
// import up, nor queue its own queries behind the import's lock.
const deferLockTimeout = "1s"

// buildMemory is the maintenance_work_mem of a deferred index's build (see
// buildIndex).
const buildMemory = "16MB"

// Start prepares the mirror for an import: into empty contact tables, it
// drops the indexes the import builds at its end (see deferredIndexes);
// otherwise it builds any of them that an import killed before its end
// left missing. Call Finish when the import ends, whatever its outcome.
func (l *ImportLoader) Start(ctx context.Context) error {
	var deferred bool
	// Under the migration lock, so that a migration never finds an index
	// of its gone (Migrate builds what is missing first).
	err := withMigrateLock(ctx, l.db, func(conn *sqlx.Conn) error {
		var err error
		deferred, err = dropForFirstImport(ctx, conn)
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

// Finish builds the indexes Start deferred. It runs even when ctx has
// ended (an interrupted import), so that the mirror is left whole.
func (l *ImportLoader) Finish(ctx context.Context) error {
	if !l.deferred {
		return nil
	}
	if err := restoreIndexes(context.WithoutCancel(ctx), l.db, l.log); err != nil {
		return fmt.Errorf("build the contact indexes (clerksync migrate builds them too): %w", err)
	}
	l.deferred = false
	return nil
}

// dropForFirstImport drops the deferred indexes if both contact tables are
// empty, under a lock that keeps them so until the drop commits. It reports
// whether it did; it does not when the tables are busy for longer than
// deferLockTimeout.
func dropForFirstImport(ctx context.Context, conn *sqlx.Conn) (bool, error) {
	tx, err := conn.BeginTxx(ctx, nil)
	if err != nil {
		return false, classify(err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `SET LOCAL lock_timeout = '`+deferLockTimeout+`'`); err != nil {
		return false, classify(err)
	}
	if _, err := tx.ExecContext(ctx, `LOCK TABLE email_addresses, phone_numbers IN ACCESS EXCLUSIVE MODE`); err != nil {
		var pqErr *pq.Error
		if errors.As(err, &pqErr) && pqErr.Code == pqerror.LockNotAvailable {
			return false, nil
		}
		return false, fmt.Errorf("lock the contact tables: %w", classify(err))
	}
	var empty bool
	if err := tx.GetContext(ctx, &empty, `SELECT NOT EXISTS (SELECT FROM email_addresses) AND NOT EXISTS (SELECT FROM phone_numbers)`); err != nil {
		return false, classify(err)
	}
	if !empty {
		return false, nil
	}
	for _, ix := range deferredIndexes {
		if _, err := tx.ExecContext(ctx, `DROP INDEX IF EXISTS `+pq.QuoteIdentifier(ix.name)); err != nil {
			return false, fmt.Errorf("drop %s: %w", ix.name, classify(err))
		}
	}
	if err := tx.Commit(); err != nil {
		return false, classify(err)
	}
	return true, nil
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
	if _, err := tx.ExecContext(ctx, `SET LOCAL maintenance_work_mem = '`+buildMemory+`'`); err != nil {
		return classify(err)
	}
	if _, err := tx.ExecContext(ctx, ix.create); err != nil {
		return fmt.Errorf("create index %s: %w", ix.name, classify(err))
	}
	return classify(tx.Commit())
}
