package testenv

import (
	"context"
	"testing"

	"github.com/jmoiron/sqlx"

	"github.com/clerksync/clerksync/db"
)

// Mirror creates a database for the test, applies the mirror's migrations,
// and returns its URL and a connection (up to maxConns) closed when the test
// ends.
func Mirror(tb testing.TB, maxConns int) (string, *sqlx.DB) {
	tb.Helper()
	ctx := context.Background()
	url := Postgres(tb)
	conn, err := db.Open(ctx, url, "", maxConns)
	if err != nil {
		tb.Fatalf("testenv: %v", err)
	}
	tb.Cleanup(func() { conn.Close() })
	if _, err := db.Migrate(ctx, conn, ""); err != nil {
		tb.Fatalf("testenv: %v", err)
	}
	return url, conn
}
