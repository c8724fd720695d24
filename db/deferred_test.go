package db_test

import (
	"context"
	"fmt"
	"log/slog"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/clerksync/clerksync"
	"github.com/clerksync/clerksync/db"
)

// contactIndexes returns the definitions of the two contact hash indexes
// present in the mirror's schema, by name.
func contactIndexes(t *testing.T, conn *sqlx.DB) map[string]string {
	t.Helper()
	got := map[string]string{}
	for _, r := range rows(t, conn, `SELECT indexname, indexdef FROM pg_indexes
		WHERE schemaname = current_schema()
		  AND indexname IN ('email_addresses_lower_email_idx', 'phone_numbers_phone_number_idx')`) {
		got[r[0].(string)] = r[1].(string)
	}
	return got
}

func start(t *testing.T, l *db.ImportLoader) {
	t.Helper()
	if err := l.Start(context.Background()); err != nil {
		t.Fatalf("start: %v", err)
	}
}

func finish(t *testing.T, l *db.ImportLoader) {
	t.Helper()
	if err := l.Finish(context.Background()); err != nil {
		t.Fatalf("finish: %v", err)
	}
}

func someImportUsers(from, n int) []clerksync.ImportUser {
	var users []clerksync.ImportUser
	for i := from; i < from+n; i++ {
		users = append(users, importUser(fmt.Sprintf("user_deferred%05d", i), "Ada",
			[]string{fmt.Sprintf("Ada%d@Example.com", i), fmt.Sprintf("ada%d@work.example", i)},
			[]string{fmt.Sprintf("+1555%07d", i)}))
	}
	return users
}

func TestFirstImportBuildsContactIndexesAtItsEnd(t *testing.T) {
	ctx := context.Background()
	l, s, conn := newLoader(t)
	migrated := contactIndexes(t, conn)
	if len(migrated) != 2 {
		t.Fatalf("after migrate: %v", migrated)
	}
	start(t, l)
	if got := contactIndexes(t, conn); len(got) != 0 {
		t.Fatalf("a first import keeps up %v row by row", got)
	}
	load(t, l, someImportUsers(0, 50)...)
	// Webhooks flow meanwhile, their contacts written without the indexes.
	apply(t, s, webhookEvent(t, "user_deferredhook", "Hook@Example.com", 1752825600000))
	finish(t, l)
	if got := contactIndexes(t, conn); !reflect.DeepEqual(got, migrated) {
		t.Fatalf("after the import:\n%v\nwant what migrate made:\n%v", got, migrated)
	}
	// The rebuilt index holds every row: the imported and the webhook's.
	tx, err := conn.Beginx()
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	if _, err := tx.Exec(`SET LOCAL enable_seqscan = off`); err != nil {
		t.Fatal(err)
	}
	const lookup = `SELECT count(*) FROM email_addresses WHERE lower(email_address) = lower($1)`
	var plan []string
	if err := tx.Select(&plan, `EXPLAIN `+lookup, "x"); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(strings.Join(plan, "\n"), "email_addresses_lower_email_idx") {
		t.Fatalf("the lookup does not use the index:\n%s", strings.Join(plan, "\n"))
	}
	for _, address := range []string{"ADA7@example.com", "hook@example.COM"} {
		var n int
		if err := tx.Get(&n, lookup, address); err != nil {
			t.Fatal(err)
		}
		if n != 1 {
			t.Errorf("lookup of %s found %d rows", address, n)
		}
	}
	tx.Rollback()

	// A second import finds rows and leaves the indexes where they are.
	l2, err := db.NewImportLoader(ctx, conn, nil)
	if err != nil {
		t.Fatal(err)
	}
	start(t, l2)
	if got := contactIndexes(t, conn); !reflect.DeepEqual(got, migrated) {
		t.Fatalf("an import into a filled mirror dropped indexes: %v", got)
	}
	load(t, l2, someImportUsers(50, 10)...)
	finish(t, l2)
}

// An import killed between Start and Finish leaves the indexes missing:
// migrate builds them, and so does the next import's Start once the mirror
// holds rows.
func TestIndexesAKilledImportLeftMissingAreBuilt(t *testing.T) {
	ctx := context.Background()
	l, _, conn := newLoader(t)
	migrated := contactIndexes(t, conn)
	start(t, l)
	load(t, l, someImportUsers(0, 20)...)
	// Killed here: no Finish.
	if got := contactIndexes(t, conn); len(got) != 0 {
		t.Fatalf("indexes %v", got)
	}
	if _, err := migrate(ctx, conn); err != nil {
		t.Fatal(err)
	}
	if got := contactIndexes(t, conn); !reflect.DeepEqual(got, migrated) {
		t.Fatalf("after migrate: %v, want %v", got, migrated)
	}

	if _, err := conn.Exec(`DROP INDEX email_addresses_lower_email_idx`); err != nil {
		t.Fatal(err)
	}
	l2, err := db.NewImportLoader(ctx, conn, nil)
	if err != nil {
		t.Fatal(err)
	}
	start(t, l2)
	if got := contactIndexes(t, conn); !reflect.DeepEqual(got, migrated) {
		t.Fatalf("after the next import's start: %v, want %v", got, migrated)
	}
}

// Contact tables in use (an application's long query) are not waited for:
// the import keeps the indexes up row by row instead.
func TestFirstImportDoesNotWaitForBusyContactTables(t *testing.T) {
	ctx := context.Background()
	l, _, conn := newLoader(t)
	tx, err := conn.BeginTxx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	if _, err := tx.Exec(`SELECT count(*) FROM phone_numbers`); err != nil {
		t.Fatal(err)
	}
	began := time.Now()
	start(t, l)
	if waited := time.Since(began); waited > 20*time.Second {
		t.Fatalf("Start waited %v for the table", waited)
	}
	if got := contactIndexes(t, conn); len(got) != 2 {
		t.Fatalf("indexes dropped under a reader: %v", got)
	}
	load(t, l, someImportUsers(0, 5)...)
	finish(t, l)
}

// An import into a mirror with rows decides without locking the contact
// tables: a reader holding them does not make it wait or retry.
func TestImportIntoAFilledMirrorTakesNoTableLock(t *testing.T) {
	ctx := context.Background()
	l, _, conn := newLoader(t)
	load(t, l, someImportUsers(0, 3)...)
	tx, err := conn.BeginTxx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	if _, err := tx.Exec(`LOCK TABLE phone_numbers IN ACCESS SHARE MODE`); err != nil {
		t.Fatal(err)
	}
	var logs strings.Builder
	l2, err := db.NewImportLoader(ctx, conn, slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	if err != nil {
		t.Fatal(err)
	}
	start(t, l2)
	if strings.Contains(logs.String(), "in use") || strings.Contains(logs.String(), "first import") {
		t.Fatalf("a filled mirror's import tried to lock or defer:\n%s", logs.String())
	}
	var locks int
	if err := conn.Get(&locks, `SELECT count(*) FROM pg_locks WHERE NOT granted
		AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`); err != nil {
		t.Fatal(err)
	}
	if locks != 0 {
		t.Fatalf("%d lock requests wait", locks)
	}
}

// Indexes not as migration 00004 made them (an older schema's btrees, a
// DBA's change) are kept: Finish could not build them again as they were.
func TestFirstImportKeepsIndexesItCouldNotRebuild(t *testing.T) {
	l, _, conn := newLoader(t)
	if _, err := conn.Exec(`DROP INDEX email_addresses_lower_email_idx;
		CREATE INDEX email_addresses_lower_email_idx ON email_addresses (lower(email_address))`); err != nil {
		t.Fatal(err)
	}
	before := contactIndexes(t, conn)
	start(t, l)
	if got := contactIndexes(t, conn); !reflect.DeepEqual(got, before) {
		t.Fatalf("indexes changed: %v, were %v", got, before)
	}
	load(t, l, someImportUsers(0, 3)...)
	finish(t, l)
	if got := contactIndexes(t, conn); !reflect.DeepEqual(got, before) {
		t.Fatalf("indexes changed: %v, were %v", got, before)
	}
}

// A build cancelled (the second interrupt of an import) leaves the indexes
// to migrate, and says so.
func TestCancelledFinishLeavesTheIndexesToMigrate(t *testing.T) {
	l, _, conn := newLoader(t)
	migrated := contactIndexes(t, conn)
	start(t, l)
	load(t, l, someImportUsers(0, 3)...)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := l.Finish(ctx)
	if err == nil || !strings.Contains(err.Error(), "clerksync migrate builds them") {
		t.Fatalf("Finish: %v", err)
	}
	if got := contactIndexes(t, conn); len(got) != 0 {
		t.Fatalf("indexes %v", got)
	}
	if _, err := migrate(context.Background(), conn); err != nil {
		t.Fatal(err)
	}
	if got := contactIndexes(t, conn); !reflect.DeepEqual(got, migrated) {
		t.Fatalf("after migrate: %v, want %v", got, migrated)
	}
}
