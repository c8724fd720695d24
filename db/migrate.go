package db

import (
	"context"
	"embed"
	"fmt"
	"io/fs"

	"github.com/jmoiron/sqlx"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
)

//go:embed migrations/*.sql
var migrations embed.FS

// migrateLockID is the advisory lock that serialises concurrent `migrate`
// runs (the ASCII of "clksmigr"); other processes wait for it.
const migrateLockID = 0x636c6b736d696772

// Migrate creates the schema if needed and applies the embedded migrations
// not yet applied. It is safe to run again and from several processes at
// once: one applies, the others wait and find nothing to do. It returns the
// versions it applied.
func Migrate(ctx context.Context, db *sqlx.DB, schema string) ([]int64, error) {
	if schema == "" {
		schema = "public"
	}
	if err := createSchema(ctx, db, schema); err != nil {
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
		goose.WithSessionLocker(locker), goose.WithDisableGlobalRegistry(true))
	if err != nil {
		return nil, fmt.Errorf("migrate: %w", err)
	}
	results, err := p.Up(ctx)
	if err != nil {
		return nil, fmt.Errorf("migrate: %w", classify(err))
	}
	var applied []int64
	for _, r := range results {
		applied = append(applied, r.Source.Version)
	}
	return applied, nil
}

// createSchema runs CREATE SCHEMA IF NOT EXISTS under the migration lock,
// because two concurrent runs of it can still collide on the catalog.
func createSchema(ctx context.Context, db *sqlx.DB, schema string) error {
	conn, err := db.Connx(ctx)
	if err != nil {
		return fmt.Errorf("migrate: %w", classify(err))
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, `SELECT pg_advisory_lock($1)`, int64(migrateLockID)); err != nil {
		return fmt.Errorf("migrate: lock: %w", classify(err))
	}
	defer conn.ExecContext(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, int64(migrateLockID))
	// The name was checked by Open's pattern; quote it all the same.
	if _, err := conn.ExecContext(ctx, `CREATE SCHEMA IF NOT EXISTS `+quoteIdent(schema)); err != nil {
		return fmt.Errorf("migrate: create schema %s: %w", schema, classify(err))
	}
	return nil
}

func quoteIdent(s string) string { return `"` + s + `"` }
