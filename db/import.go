package db

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
	"github.com/lib/pq/pqerror"

	"github.com/clerksync/clerksync"
)

// ErrNoSchema means the mirror's tables do not exist in the configured
// schema: `clerksync migrate` has not run there.
var ErrNoSchema = errors.New("the mirror schema is missing: run `clerksync migrate` first")

// ImportLoader is the bulk clerksync.Loader on Postgres. Each chunk is one
// transaction holding its users' advisory locks: users the mirror does not
// know are COPYed straight into its tables; users an earlier import wrote
// are compared by fingerprint, and only those that differ are rewritten;
// the others are counted and left alone (see import_sql.go). Load is safe
// for concurrent use, each call on a connection from the pool; Start runs
// before the first and Finish after the last (see deferred.go).
type ImportLoader struct {
	db  *sqlx.DB
	log *slog.Logger
	// uncheckedContacts: the role may set session_replication_role, so the
	// contacts of new users are COPYed without per-row foreign-key checks
	// (see copyNew).
	uncheckedContacts bool
	// deferred: Start dropped the indexes Finish builds (see deferred.go).
	deferred bool
	inserted atomic.Int64 // users inserted by Load
}

var _ clerksync.Loader = (*ImportLoader)(nil)

// NewImportLoader returns a Loader over db after checking that the mirror's
// tables exist; the error wraps ErrNoSchema when they do not. Import does not
// migrate by itself: changing a schema is the operator's step, and an import
// pointed at the wrong database or schema should stop, not create one.
func NewImportLoader(ctx context.Context, db *sqlx.DB, log *slog.Logger) (*ImportLoader, error) {
	var ok bool
	err := db.QueryRowContext(ctx,
		`SELECT to_regclass('users') IS NOT NULL AND to_regclass('deleted_users') IS NOT NULL
		    AND to_regclass('email_addresses') IS NOT NULL AND to_regclass('phone_numbers') IS NOT NULL`).Scan(&ok)
	if err != nil {
		return nil, fmt.Errorf("check schema: %w", classify(err))
	}
	if !ok {
		return nil, ErrNoSchema
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	unchecked := mayDisableTriggers(ctx, db)
	if !unchecked {
		log.InfoContext(ctx, "import checks each contact's foreign key row by row; grant SET ON PARAMETER session_replication_role to the role for faster imports")
	}
	return &ImportLoader{db: db, log: log, uncheckedContacts: unchecked}, nil
}

// mayDisableTriggers reports whether this role may set
// session_replication_role (a superuser, or on Postgres 15+ a role granted
// SET on it), by trying it in a transaction that is rolled back.
func mayDisableTriggers(ctx context.Context, db *sqlx.DB) bool {
	tx, err := db.BeginTxx(ctx, nil)
	if err != nil {
		return false
	}
	defer tx.Rollback()
	_, err = tx.ExecContext(ctx, `SET LOCAL session_replication_role = replica`)
	return err == nil
}

// maxAttempts bounds the retries of a chunk (see retryable).
const maxAttempts = 6

// Load writes users in one transaction (see clerksync.Loader). A chunk that
// loses a deadlock is retried whole; one that finds Postgres's shared lock
// table full is split in halves, each its own transaction.
func (l *ImportLoader) Load(ctx context.Context, users []clerksync.ImportUser) (clerksync.LoadResult, error) {
	if len(users) == 0 {
		return clerksync.LoadResult{}, nil
	}
	for attempt := 1; ; attempt++ {
		res, err := l.loadOnce(ctx, users)
		if err == nil {
			l.inserted.Add(int64(res.Inserted))
			return res, nil
		}
		var pqErr *pq.Error
		if !errors.As(err, &pqErr) {
			return clerksync.LoadResult{}, classify(err)
		}
		switch {
		case retryable(pqErr.Code) && attempt < maxAttempts:
			l.log.WarnContext(ctx, "import chunk retried", "code", string(pqErr.Code),
				"attempt", attempt, "rows", len(users), "first_line", users[0].Line)
			if err := sleep(ctx, time.Duration(attempt*attempt)*20*time.Millisecond); err != nil {
				return clerksync.LoadResult{}, err
			}
		case pqErr.Code == pqerror.OutOfMemory && len(users) > 1: // out of shared memory: too many locks at once
			l.log.WarnContext(ctx, "import chunk split: lock table full", "rows", len(users), "first_line", users[0].Line)
			half := len(users) / 2
			a, err := l.Load(ctx, users[:half])
			if err != nil {
				return a, err
			}
			b, err := l.Load(ctx, users[half:])
			return a.Add(b), err
		default:
			return clerksync.LoadResult{}, classify(err)
		}
	}
}

// retryable reports whether a chunk that failed with code may succeed when
// run again: a deadlock or serialization failure against concurrent webhook
// batches. A unique violation is not: every writer of a user holds its lock,
// so one means a bug (two contacts with one id), which a retry would hide.
func retryable(code pqerror.Code) bool {
	return code == pqerror.TRDeadlockDetected || code == pqerror.TRSerializationFailure
}

func (l *ImportLoader) loadOnce(ctx context.Context, users []clerksync.ImportUser) (clerksync.LoadResult, error) {
	// A connection of its own, so that the COPYs can reach the driver (see
	// copyLines) inside the transaction.
	conn, err := l.db.Connx(ctx)
	if err != nil {
		return clerksync.LoadResult{}, err
	}
	defer conn.Close()
	tx, err := conn.BeginTxx(ctx, &sql.TxOptions{Isolation: sql.LevelReadCommitted})
	if err != nil {
		return clerksync.LoadResult{}, err
	}
	defer tx.Rollback()
	// Not waiting for the WAL flush at commit: a crash may lose the last
	// chunks reported as loaded, and running the import again restores
	// them, since it is idempotent. And no sequential scans: every
	// statement of a chunk looks a few thousand rows up by key, but a
	// mirror that grew from empty during the import has no statistics, and
	// the planner would scan whole tables for them (see findImportedSQL).
	// No JIT either: without statistics the estimates of those lookups
	// are high enough to compile each statement, which takes longer than
	// running it.
	if _, err := tx.ExecContext(ctx, `SET LOCAL synchronous_commit = off; SET LOCAL enable_seqscan = off; SET LOCAL jit = off`); err != nil {
		return clerksync.LoadResult{}, fmt.Errorf("set up the chunk: %w", err)
	}
	ids := pq.StringArray(make([]string, len(users)))
	for i, u := range users {
		ids[i] = u.ID
	}
	if _, err := tx.ExecContext(ctx, lockUsersSQL, ids); err != nil {
		return clerksync.LoadResult{}, fmt.Errorf("lock users: %w", err)
	}
	known, err := findImported(ctx, tx, ids)
	if err != nil {
		return clerksync.LoadResult{}, err
	}
	var res clerksync.LoadResult
	var fresh, changed []clerksync.ImportUser
	var fp fingerprinter
	for i := range users {
		u := &users[i]
		k, ok := known[u.ID]
		switch {
		case !ok:
			fresh = append(fresh, *u)
		case k.source == "import":
			if fp.sum(u) == k.fingerprint {
				res.Unchanged++
			} else {
				changed = append(changed, *u)
			}
		case k.source == "deleted":
			res.Deleted++
		default: // webhook, backfill: newer than any export
			res.Mirrored++
		}
	}
	if len(fresh) > 0 {
		sortByID(fresh)
		if err := copyUsers(ctx, conn, fresh); err != nil {
			return clerksync.LoadResult{}, err
		}
		res.Inserted = len(fresh)
	}
	if len(changed) > 0 {
		sortByID(changed)
		updated, err := updateChanged(ctx, conn, tx, changed)
		if err != nil {
			return clerksync.LoadResult{}, err
		}
		// Every changed user is updated: the locks keep its row as found.
		// Should one not be, it keeps its contacts and counts as unchanged.
		res.Updated, res.Unchanged = len(updated), res.Unchanged+len(changed)-len(updated)
		changed = updated
	}
	if err := copyContacts(ctx, conn, tx, fresh, changed, l.uncheckedContacts); err != nil {
		return clerksync.LoadResult{}, err
	}
	if err := tx.Commit(); err != nil {
		return clerksync.LoadResult{}, fmt.Errorf("commit import: %w", err)
	}
	return res, nil
}

// known is what the mirror holds for one user of a chunk.
type known struct {
	source      string // webhook, backfill, import, or deleted for a tombstone
	fingerprint [sha256.Size]byte
}

// findImported returns what the mirror holds for each of ids that it knows
// (see findImportedSQL).
func findImported(ctx context.Context, tx *sqlx.Tx, ids pq.StringArray) (map[string]known, error) {
	rows, err := tx.QueryContext(ctx, findImportedSQL, ids)
	if err != nil {
		return nil, fmt.Errorf("find imported users: %w", err)
	}
	defer rows.Close()
	found := map[string]known{}
	var fp []byte
	for rows.Next() {
		var id string
		var k known
		if err := rows.Scan(&id, &k.source, &fp); err != nil {
			return nil, fmt.Errorf("find imported users: %w", err)
		}
		copy(k.fingerprint[:], fp)
		found[id] = k
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("find imported users: %w", err)
	}
	return found, nil
}

func sortByID(users []clerksync.ImportUser) {
	slices.SortFunc(users, func(a, b clerksync.ImportUser) int { return strings.Compare(a.ID, b.ID) })
}

// copyUsers COPYs users the mirror does not hold into users, in id order
// so that index inserts mostly append.
func copyUsers(ctx context.Context, conn *sqlx.Conn, users []clerksync.ImportUser) error {
	err := copyLines(ctx, conn, copyUsersSQL, func(w *copyWriter) error {
		for i := range users {
			u := &users[i]
			pe, pp := clerksync.Primary(u.Emails), clerksync.Primary(u.Phones)
			err := w.row(u.ID, str(u.Username), str(u.FirstName), str(u.LastName),
				contactID(pe), contactValue(pe), contactID(pp), contactValue(pp),
				u.PasswordEnabled, u.TOTPEnabled, u.TOTPEnabled, "import")
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("copy users: %w", err)
	}
	return nil
}

// updateChanged writes users an earlier import wrote, which differ, over
// their rows and deletes their contacts, which copyContacts then writes
// again. It returns the users it updated.
func updateChanged(ctx context.Context, conn *sqlx.Conn, tx *sqlx.Tx, users []clerksync.ImportUser) ([]clerksync.ImportUser, error) {
	if _, err := tx.ExecContext(ctx, createStagingSQL); err != nil {
		return nil, fmt.Errorf("create staging table: %w", err)
	}
	err := copyLines(ctx, conn, copyStagingSQL, func(w *copyWriter) error {
		for i := range users {
			u := &users[i]
			pe, pp := clerksync.Primary(u.Emails), clerksync.Primary(u.Phones)
			err := w.row(u.ID, str(u.Username), str(u.FirstName), str(u.LastName),
				contactID(pe), contactValue(pe), contactID(pp), contactValue(pp),
				u.PasswordEnabled, u.TOTPEnabled)
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("copy staging: %w", err)
	}
	ids := pq.StringArray(make([]string, len(users)))
	for i := range users {
		ids[i] = users[i].ID
	}
	var got []string
	if err := tx.SelectContext(ctx, &got, updateChangedUsersSQL, ids); err != nil {
		return nil, fmt.Errorf("update imported users: %w", err)
	}
	done := make(map[string]bool, len(got))
	for _, id := range got {
		done[id] = true
	}
	updated := users[:0:0]
	ids = ids[:0]
	for _, u := range users {
		if done[u.ID] {
			updated = append(updated, u)
			ids = append(ids, u.ID)
		}
	}
	for _, q := range []string{deleteChangedEmailsSQL, deleteChangedPhonesSQL} {
		if _, err := tx.ExecContext(ctx, q, ids); err != nil {
			return nil, fmt.Errorf("replace imported contacts: %w", err)
		}
	}
	return updated, nil
}

// copyContacts COPYs the contacts of new users and of changed ones (whose
// contacts updateChanged deleted), each group in user id order.
//
// With unchecked, the contacts are COPYed with session_replication_role set
// to replica, which skips the per-row foreign-key check (a third of a large
// import's time), as pg_restore --disable-triggers does. The checks are
// redundant here by construction: every contact names a user COPYed just
// before in this transaction or found there by findImported, and the
// users' advisory locks keep any other writer from deleting one before
// commit. The role is restored at once; the other statements, and every
// other writer, are checked as usual. Triggers of your own on
// email_addresses or phone_numbers do not fire for these rows either.
func copyContacts(ctx context.Context, conn *sqlx.Conn, tx *sqlx.Tx, fresh, changed []clerksync.ImportUser, unchecked bool) error {
	if len(fresh)+len(changed) == 0 {
		return nil
	}
	if unchecked {
		if _, err := tx.ExecContext(ctx, `SET LOCAL session_replication_role = replica`); err != nil {
			return fmt.Errorf("skip contact checks: %w", err)
		}
	}
	for _, c := range []struct {
		sql, what string
		list      func(*clerksync.ImportUser) []clerksync.ImportContact
	}{
		{copyEmailsSQL, "emails", func(u *clerksync.ImportUser) []clerksync.ImportContact { return u.Emails }},
		{copyPhonesSQL, "phones", func(u *clerksync.ImportUser) []clerksync.ImportContact { return u.Phones }},
	} {
		some := false
		for _, users := range [][]clerksync.ImportUser{fresh, changed} {
			for i := range users {
				some = some || len(c.list(&users[i])) > 0
			}
		}
		if !some {
			continue
		}
		err := copyLines(ctx, conn, c.sql, func(w *copyWriter) error {
			for _, users := range [][]clerksync.ImportUser{fresh, changed} {
				for i := range users {
					for _, x := range c.list(&users[i]) {
						if err := w.row(x.ID, users[i].ID, x.Value, status(x.Status), x.IsPrimary); err != nil {
							return err
						}
					}
				}
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("copy %s: %w", c.what, err)
		}
	}
	if unchecked {
		if _, err := tx.ExecContext(ctx, `SET LOCAL session_replication_role = origin`); err != nil {
			return fmt.Errorf("restore contact checks: %w", err)
		}
	}
	return nil
}

func status(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func str(s *string) any {
	if s == nil {
		return nil
	}
	return *s
}

func contactID(c *clerksync.ImportContact) any {
	if c == nil {
		return nil
	}
	return c.ID
}

func contactValue(c *clerksync.ImportContact) any {
	if c == nil {
		return nil
	}
	return c.Value
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
