package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/clerksync/clerksync"
)

// ErrNoSchema means the mirror's tables do not exist in the configured
// schema: `clerksync migrate` has not run there.
var ErrNoSchema = errors.New("the mirror schema is missing: run `clerksync migrate` first")

// ImportLoader is the bulk clerksync.Loader on Postgres: each chunk is
// COPYed into a session-private staging table and merged set-wise in one
// transaction. It is safe for concurrent use; each Load takes a connection
// from the pool.
type ImportLoader struct {
	db  *sqlx.DB
	log *slog.Logger
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
	return &ImportLoader{db: db, log: log}, nil
}

// maxAttempts bounds the retries of a chunk that lost a deadlock or a
// serialization conflict, which concurrent webhook batches can cause.
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
			return res, nil
		}
		var pqErr *pq.Error
		if !errors.As(err, &pqErr) {
			return clerksync.LoadResult{}, classify(err)
		}
		switch {
		case (pqErr.Code == "40P01" || pqErr.Code == "40001") && attempt < maxAttempts:
			l.log.WarnContext(ctx, "import chunk retried", "code", string(pqErr.Code),
				"attempt", attempt, "rows", len(users), "first_line", users[0].Line)
			if err := sleep(ctx, time.Duration(attempt*attempt)*20*time.Millisecond); err != nil {
				return clerksync.LoadResult{}, err
			}
		case pqErr.Code == "53200" && len(users) > 1: // out of shared memory: too many locks at once
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

func (l *ImportLoader) loadOnce(ctx context.Context, users []clerksync.ImportUser) (clerksync.LoadResult, error) {
	tx, err := l.db.BeginTxx(ctx, &sql.TxOptions{Isolation: sql.LevelReadCommitted})
	if err != nil {
		return clerksync.LoadResult{}, err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, createStagingSQL); err != nil {
		return clerksync.LoadResult{}, fmt.Errorf("create staging table: %w", err)
	}
	// Not waiting for the WAL flush at commit: a crash may lose the last
	// chunks reported as loaded, and running the import again restores
	// them, since it is idempotent.
	if _, err := tx.ExecContext(ctx, `SET LOCAL synchronous_commit = off`); err != nil {
		return clerksync.LoadResult{}, fmt.Errorf("set synchronous_commit: %w", err)
	}
	if err := stage(ctx, tx, users); err != nil {
		return clerksync.LoadResult{}, err
	}
	ids := make([]string, len(users))
	for i, u := range users {
		ids[i] = u.ID
	}
	if _, err := tx.ExecContext(ctx, lockUsersSQL, pq.Array(ids)); err != nil {
		return clerksync.LoadResult{}, fmt.Errorf("lock users: %w", err)
	}
	var res clerksync.LoadResult
	var staged int
	err = tx.QueryRowContext(ctx, mergeImportSQL).Scan(&res.Inserted, &res.Updated, &res.Unchanged, &res.Deleted, &staged)
	if err != nil {
		return clerksync.LoadResult{}, fmt.Errorf("merge import: %w", err)
	}
	res.Mirrored = staged - res.Inserted - res.Updated - res.Unchanged - res.Deleted
	if err := tx.Commit(); err != nil {
		return clerksync.LoadResult{}, fmt.Errorf("commit import: %w", err)
	}
	return res, nil
}

// stage COPYs users into the staging table, one row each.
func stage(ctx context.Context, tx *sqlx.Tx, users []clerksync.ImportUser) error {
	stmt, err := tx.PrepareContext(ctx, copyStagingSQL)
	if err != nil {
		return fmt.Errorf("copy staging: %w", err)
	}
	defer stmt.Close()
	args := make([]any, 16)
	var emails, phones contactArrays
	for i := range users {
		u := &users[i]
		emails.set(u.Emails)
		phones.set(u.Phones)
		pe, pp := clerksync.Primary(u.Emails), clerksync.Primary(u.Phones)
		args[0], args[1], args[2], args[3] = u.ID, str(u.Username), str(u.FirstName), str(u.LastName)
		args[4], args[5] = contactID(pe), contactValue(pe)
		args[6], args[7] = contactID(pp), contactValue(pp)
		args[8], args[9] = u.PasswordEnabled, u.TOTPEnabled
		args[10], args[11], args[12] = emails.ids, emails.values, emails.statuses
		args[13], args[14], args[15] = phones.ids, phones.values, phones.statuses
		if _, err := stmt.ExecContext(ctx, args...); err != nil {
			return fmt.Errorf("copy staging: %w", err)
		}
	}
	if _, err := stmt.ExecContext(ctx); err != nil {
		return fmt.Errorf("copy staging: %w", err)
	}
	return nil
}

// contactArrays holds one user's contacts as the staging table's parallel
// arrays, sorted by id as the merge compares them. Empty lists are NULL.
type contactArrays struct {
	ids, values, statuses pq.StringArray
	sorted                []clerksync.ImportContact
}

func (a *contactArrays) set(cs []clerksync.ImportContact) {
	a.ids, a.values, a.statuses = nil, nil, nil
	if len(cs) == 0 {
		return
	}
	a.sorted = append(a.sorted[:0], cs...)
	slices.SortFunc(a.sorted, func(x, y clerksync.ImportContact) int { return strings.Compare(x.ID, y.ID) })
	for _, c := range a.sorted {
		a.ids = append(a.ids, c.ID)
		a.values = append(a.values, c.Value)
		a.statuses = append(a.statuses, c.Status)
	}
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
