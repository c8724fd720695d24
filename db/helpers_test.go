package db_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/jmoiron/sqlx"

	"github.com/clerksync/clerksync"
	"github.com/clerksync/clerksync/db"
	"github.com/clerksync/clerksync/internal/testenv"
)

// newStore returns a Store over a fresh, migrated database.
func newStore(t *testing.T) (*db.Store, *sqlx.DB) {
	t.Helper()
	_, conn := testenv.Mirror(t, 8)
	return db.NewStore(conn), conn
}

func fixture(t *testing.T, name string) clerksync.Event {
	t.Helper()
	body, err := os.ReadFile(filepath.Join("..", "testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	ev, err := clerksync.ParseEvent("msg_"+name, body)
	if err != nil {
		t.Fatalf("parse %s: %v", name, err)
	}
	return ev
}

func apply(t *testing.T, s *db.Store, events ...clerksync.Event) []clerksync.Outcome {
	t.Helper()
	out, err := s.ApplyEvents(context.Background(), events)
	if err != nil {
		t.Fatalf("apply: %v", err)
	}
	return out
}

func migrate(ctx context.Context, conn *sqlx.DB) ([]int64, error) { return db.Migrate(ctx, conn, "") }
