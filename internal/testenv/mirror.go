package testenv

import (
	"context"
	"database/sql"
	"strings"
	"testing"

	"github.com/jmoiron/sqlx"

	"github.com/clerksync/clerksync/db"
)

// Mirror creates a database for the test, applies the mirror's migrations
// in db.DefaultSchema, and returns its URL and a connection (up to maxConns,
// pinned to that schema) closed when the test ends. When the test ends it
// also fails the test if anything was created in public: the mirror never
// touches tables outside its schema.
func Mirror(tb testing.TB, maxConns int) (string, *sqlx.DB) {
	tb.Helper()
	ctx := context.Background()
	url := Postgres(tb)
	conn, err := db.Open(ctx, url, db.DefaultSchema, maxConns)
	if err != nil {
		tb.Fatalf("testenv: %v", err)
	}
	tb.Cleanup(func() { conn.Close() })
	tb.Cleanup(func() { AssertPublicEmpty(tb, url) })
	if _, err := db.Migrate(ctx, conn, db.DefaultSchema); err != nil {
		tb.Fatalf("testenv: %v", err)
	}
	return url, conn
}

// AssertPublicEmpty fails the test unless the public schema of the
// database at url holds no relations, functions or types.
func AssertPublicEmpty(tb testing.TB, url string) {
	tb.Helper()
	conn, err := sql.Open("postgres", url)
	if err != nil {
		tb.Errorf("testenv: %v", err)
		return
	}
	defer conn.Close()
	var names []string
	rows, err := conn.Query(`SELECT relname FROM pg_class WHERE relnamespace = 'public'::regnamespace
		UNION ALL SELECT proname || '()' FROM pg_proc WHERE pronamespace = 'public'::regnamespace
		UNION ALL SELECT typname FROM pg_type WHERE typnamespace = 'public'::regnamespace
		ORDER BY 1`)
	if err != nil {
		tb.Errorf("testenv: list public: %v", err)
		return
	}
	defer rows.Close()
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			tb.Errorf("testenv: list public: %v", err)
			return
		}
		names = append(names, n)
	}
	if len(names) > 0 {
		tb.Errorf("testenv: schema public holds %s: the mirror must touch nothing outside its schema", strings.Join(names, ", "))
	}
}
