package db

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"regexp"
	"strconv"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
)

//go:embed migrations/*.sql
var migrations embed.FS

// migrateLockID is the advisory lock that serialises concurrent `migrate`
// runs (the ASCII of "clksmigr"); other processes wait for it.
const migrateLockID = 0x636c6b736d696772

// versionTable is goose's record of the migrations applied, in the mirror's
// schema under a name of clerksync's own: goose's default, goose_db_version,
// is where an application using goose keeps its own history, and sharing it
// makes either tool see the other's versions as missing ones.
const versionTable = "clerksync_migrations"

// Migrate creates the schema if needed and applies the embedded migrations
// not yet applied, all inside schema (DefaultSchema when empty), which must
// be the schema db was opened for. It is safe to run again and from several
// processes at once: one applies, the others wait and find nothing to do.
// An install made before the record had its own name is adopted (see
// needsAdoption). A table of the same name already in the schema that clerksync
// did not create fails it with one line naming the table. Before the
// migrations, it builds the contact hash indexes a first import killed
// before its end left missing (see deferred.go), which takes seconds per
// million rows. It returns the versions it applied.
func Migrate(ctx context.Context, db *sqlx.DB, schema string) ([]int64, error) {
	if schema == "" {
		schema = DefaultSchema
	}
	if err := prepare(ctx, db, schema); err != nil {
		return nil, err
	}
	// What an import killed before its end left missing, before any
	// migration that may expect it (see deferred.go).
	if err := restoreIndexes(ctx, db, nil); err != nil {
		return nil, err
	}
	fsys, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return nil, err
	}
	locker, err := lock.NewPostgresSessionLocker(lock.WithLockID(migrateLockID), lock.WithLockTimeout(1, 300))
	if err != nil {
		return nil, err
	}
	p, err := goose.NewProvider(goose.DialectPostgres, db.DB, fsys,
		goose.WithTableName(versionTable), goose.WithSessionLocker(locker), goose.WithDisableGlobalRegistry(true))
	if err != nil {
		return nil, err
	}
	results, err := p.Up(ctx)
	if err != nil {
		return nil, explain(ctx, db, schema, err)
	}
	var applied []int64
	for _, r := range results {
		applied = append(applied, r.Source.Version)
	}
	if err := installWritePath(ctx, db); err != nil {
		return applied, err
	}
	return applied, nil
}

// writePathNumber reads the number of a write path definition from its
// comment ("clerksync write path N").
func writePathNumber(text string) (int, error) {
	m := writePathComment.FindStringSubmatch(text)
	if m == nil {
		return 0, errors.New("no write path number")
	}
	return strconv.Atoi(m[1])
}

var writePathComment = regexp.MustCompile(`'?clerksync write path (\d+)'?`)

// installWritePath creates or replaces clerksync_apply (sql/apply.sql) in
// the connection's schema, on every run: unlike a numbered migration it is
// code, the write path of the clerksync that migrates, so a new version
// brings its own. It holds the migration lock, because two concurrent
// CREATE OR REPLACE of one function fail ("tuple concurrently updated").
// A definition of a higher number, a newer release's, is left in place.
// Workers still running an older clerksync call the new definition, whose
// arguments stay the same (TestWritePathIsInstalled).
func installWritePath(ctx context.Context, db *sqlx.DB) error {
	ours, err := writePathNumber(applyFunctionSQL)
	if err != nil {
		return err
	}
	return withMigrateLock(ctx, db, func(conn *sqlx.Conn) error {
		var comment sql.NullString
		if err := conn.GetContext(ctx, &comment, `SELECT obj_description(p.oid, 'pg_proc') FROM pg_catalog.pg_proc AS p
			WHERE p.proname = 'clerksync_apply' AND p.pronamespace = current_schema()::regnamespace`); err != nil && !errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("read clerksync_apply: %w", classify(err))
		}
		if installed, err := writePathNumber(comment.String); err == nil && installed > ours {
			return nil // a newer release's; see sql/apply.sql
		}
		if _, err := conn.ExecContext(ctx, applyFunctionSQL); err != nil {
			return fmt.Errorf("install clerksync_apply: %w", classify(err))
		}
		return nil
	})
}

// prepare creates the schema and adopts an earlier install, under the
// migration lock, because two concurrent runs would collide creating the
// schema and an adoption must be recorded once. goose takes the same lock
// afterwards, on its own connection.
func prepare(ctx context.Context, db *sqlx.DB, schema string) error {
	return withMigrateLock(ctx, db, func(conn *sqlx.Conn) error { return prepareLocked(ctx, conn, schema) })
}

// withMigrateLock runs fn on a connection of its own holding the migration
// lock, which it takes first (waiting for another run to finish).
func withMigrateLock(ctx context.Context, db *sqlx.DB, fn func(*sqlx.Conn) error) error {
	conn, err := db.Connx(ctx)
	if err != nil {
		return classify(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, `SELECT pg_advisory_lock($1)`, int64(migrateLockID)); err != nil {
		return fmt.Errorf("lock: %w", classify(err))
	}
	defer conn.ExecContext(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, int64(migrateLockID))
	return fn(conn)
}

// prepareLocked is prepare's work, done with the lock held.
func prepareLocked(ctx context.Context, conn *sqlx.Conn, schema string) error {
	// Decided first, so that a refusal creates no schema.
	adopt, err := needsAdoption(ctx, conn, schema)
	if err != nil {
		return err
	}
	// CREATE SCHEMA IF NOT EXISTS asks for CREATE on the database even when
	// the schema exists, which a role given only a schema made for it by an
	// administrator does not have: so only when it is missing.
	var exists bool
	if err := conn.GetContext(ctx, &exists, `SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = $1)`, schema); err != nil {
		return classify(err)
	}
	if !exists {
		// The name was checked by Open's pattern; quote it all the same.
		if _, err := conn.ExecContext(ctx, `CREATE SCHEMA `+pq.QuoteIdentifier(schema)); err != nil {
			return fmt.Errorf("create schema %s: %w", schema, classify(err))
		}
	}
	// The migrations' DDL is unqualified: it lands in the connection's
	// current schema, which must be this one.
	var current *string
	if err := conn.GetContext(ctx, &current, `SELECT current_schema()`); err != nil {
		return classify(err)
	}
	if current == nil || *current != schema {
		return fmt.Errorf("the connection is not pinned to schema %s: open it with the same schema", schema)
	}
	if adopt {
		return recordVersion1(ctx, conn, schema)
	}
	return nil
}

// explain turns goose's error, which quotes the whole failing statement,
// into one line: the version and Postgres's own error, or for a name
// already taken, which table and what to do.
func explain(ctx context.Context, db *sqlx.DB, schema string, err error) error {
	var pqErr *pq.Error
	if !errors.As(err, &pqErr) {
		return classify(err)
	}
	if pqErr.Code == "42P07" { // duplicate_table: any relation, indexes too
		dropEmptyRecord(ctx, db, schema)
		return duplicateError(ctx, db, schema, pqErr)
	}
	var partial *goose.PartialError
	if errors.As(err, &partial) {
		return fmt.Errorf("migration %d: %w", partial.Failed.Source.Version, classify(pqErr))
	}
	return classify(pqErr)
}

// quotedName finds the relation's name in Postgres's message. The server
// may speak another language (lc_messages), whose translation quotes the
// name with its own marks; without a match the message is shown whole.
var quotedName = regexp.MustCompile(`["“„«»]\s*([^"“”„«»]+?)\s*["”“»«]`)

func duplicateError(ctx context.Context, db *sqlx.DB, schema string, pqErr *pq.Error) error {
	hint := "set DATABASE_SCHEMA to a schema of clerksync's own"
	if schema != DefaultSchema {
		hint += " (the default is " + DefaultSchema + ")"
	}
	m := quotedName.FindStringSubmatch(pqErr.Message)
	if m == nil {
		return fmt.Errorf("schema %s already holds a name clerksync creates (%s): %s", schema, pqErr.Message, hint)
	}
	kind := "relation"
	var relkind string
	if db.GetContext(ctx, &relkind, `SELECT c.relkind FROM pg_catalog.pg_class c
		JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = $1 AND c.relname = $2`, schema, m[1]) == nil {
		switch relkind {
		case "r", "p":
			kind = "table"
		case "i", "I":
			kind = "index"
		case "v", "m":
			kind = "view"
		case "S":
			kind = "sequence"
		}
	}
	return fmt.Errorf("%s %q already exists in schema %s and clerksync has no record of creating it: %s", kind, m[1], schema, hint)
}

// dropEmptyRecord removes the record goose created before a first
// migration failed on a name already taken, so that an operator who points
// DATABASE_SCHEMA elsewhere is not left with a stray table of clerksync's
// in the application's schema. It holds the migration lock, so no other
// run is between creating the record and migrating; a record of any
// version applied is kept. It is best-effort: the error being reported
// matters more than the tidying.
func dropEmptyRecord(ctx context.Context, db *sqlx.DB, schema string) {
	ctx = context.WithoutCancel(ctx)
	withMigrateLock(ctx, db, func(conn *sqlx.Conn) error {
		if recorded, err := hasRecord(ctx, conn, schema); err != nil || recorded {
			return err
		}
		_, err := conn.ExecContext(ctx, `DROP TABLE IF EXISTS `+pq.QuoteIdentifier(schema)+`.`+versionTable)
		return err
	})
}
