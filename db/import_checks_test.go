package db_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/clerksync/clerksync"
	"github.com/clerksync/clerksync/db"
	"github.com/clerksync/clerksync/internal/testenv"
)

// orphans counts contact rows whose user does not exist: what the foreign
// keys forbid.
func orphans(t *testing.T, q interface {
	Get(any, string, ...any) error
}) int {
	t.Helper()
	var n int
	err := q.Get(&n, `SELECT
		(SELECT count(*) FROM email_addresses e WHERE NOT EXISTS (SELECT 1 FROM users u WHERE u.id = e.user_id)) +
		(SELECT count(*) FROM phone_numbers p WHERE NOT EXISTS (SELECT 1 FROM users u WHERE u.id = p.user_id))`)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func someUsers(n int) []clerksync.ImportUser {
	var users []clerksync.ImportUser
	for i := range n {
		id := fmt.Sprintf("user_fk%04d", i)
		users = append(users, importUser(id, "F", []string{id + "@example.com", id + "@work.example"}, []string{fmt.Sprintf("+1415555%04d", i)}))
	}
	return users
}

// TestUncheckedContactsKeepIntegrity: a role allowed to skip the per-row
// foreign-key checks (the tests run as a superuser) still leaves no orphan,
// and the constraints keep working for every other writer afterwards.
func TestUncheckedContactsKeepIntegrity(t *testing.T) {
	_, s, conn := newLoader(t)
	var logs bytes.Buffer
	l, err := db.NewImportLoader(context.Background(), conn, slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(logs.String(), "row by row") {
		t.Fatalf("a superuser should skip the per-row checks: %q", logs.String())
	}
	load(t, l, someUsers(200)...)
	if n := orphans(t, conn); n != 0 {
		t.Fatalf("%d orphan contacts", n)
	}
	var emails int
	conn.Get(&emails, `SELECT count(*) FROM email_addresses`)
	if emails != 400 {
		t.Fatalf("%d emails, want 400", emails)
	}
	// The constraint is still enforced outside the import's COPY...
	if _, err := conn.Exec(`INSERT INTO email_addresses (id, user_id, email_address) VALUES ('idn_x', 'user_nobody', 'x@example.com')`); err == nil {
		t.Fatal("an orphan contact was accepted after the import")
	}
	// ...and still cascades a deletion.
	del := clerksync.Event{Type: clerksync.UserDeleted, UserID: "user_fk0007", Timestamp: atMillis(1)}
	if _, err := s.ApplyEvents(context.Background(), []clerksync.Event{del}); err != nil {
		t.Fatal(err)
	}
	var left int
	conn.Get(&left, `SELECT count(*) FROM email_addresses WHERE user_id = 'user_fk0007'`)
	if left != 0 {
		t.Fatalf("%d emails left after the delete", left)
	}
	// A re-import (the checked path) changes nothing and leaves no orphan.
	load(t, l, someUsers(200)...)
	if n := orphans(t, conn); n != 0 {
		t.Fatalf("%d orphan contacts after re-import", n)
	}
}

// TestRoleWithoutReplicationRoleFallsBack: a role that may not set
// session_replication_role imports the same rows with the checks on.
func TestRoleWithoutReplicationRoleFallsBack(t *testing.T) {
	_, _, conn := newLoader(t)
	role := "clerksync_test_importer_" + randomSuffix(t, conn)
	for _, q := range []string{
		`CREATE ROLE ` + role + ` LOGIN`,
		`GRANT ALL ON ALL TABLES IN SCHEMA ` + db.DefaultSchema + ` TO ` + role,
		`GRANT USAGE, CREATE ON SCHEMA ` + db.DefaultSchema + ` TO ` + role,
	} {
		if _, err := conn.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	t.Cleanup(func() {
		conn.Exec(`REVOKE ALL ON ALL TABLES IN SCHEMA ` + db.DefaultSchema + ` FROM ` + role)
		conn.Exec(`REVOKE ALL ON SCHEMA ` + db.DefaultSchema + ` FROM ` + role)
		conn.Exec(`DROP ROLE IF EXISTS ` + role)
	})
	var dbURL string
	if err := conn.Get(&dbURL, `SELECT current_database()`); err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(adminURL())
	u.User = url.User(role)
	u.Path = "/" + dbURL
	limited, err := db.Open(context.Background(), u.String(), "", 2)
	if err != nil {
		t.Fatal(err)
	}
	defer limited.Close()
	var logs bytes.Buffer
	l, err := db.NewImportLoader(context.Background(), limited, slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs.String(), "row by row") {
		t.Fatalf("the limited role was not told the checks stay on: %q", logs.String())
	}
	load(t, l, someUsers(50)...)
	var n int
	conn.Get(&n, `SELECT count(*) FROM phone_numbers`)
	if n != 50 || orphans(t, conn) != 0 {
		t.Fatalf("%d phones, %d orphans", n, orphans(t, conn))
	}
}

func atMillis(ms int64) time.Time { return time.UnixMilli(ms).UTC() }

func adminURL() string { return testenv.AdminURL() }

// randomSuffix names the test's role uniquely on the shared server.
func randomSuffix(t *testing.T, conn *sqlx.DB) string {
	t.Helper()
	var s string
	if err := conn.Get(&s, `SELECT substr(md5(random()::text), 1, 8)`); err != nil {
		t.Fatal(err)
	}
	return s
}

// TestCopyEscapesRoundTrip: the characters COPY's text format gives a
// meaning arrive as they were, and "\N" as text is not NULL.
func TestCopyEscapesRoundTrip(t *testing.T) {
	l, _, conn := newLoader(t)
	name := "tab\there, newline\nthere, cr\r, backslash \\ and \\N, unicode ŁÓdź"
	u := importUser("user_escapes", name, []string{`odd\email@example.com`}, nil)
	u.LastName = sptr(`\N`)
	load(t, l, u)
	var first, last, email string
	if err := conn.QueryRow(`SELECT u.first_name, u.last_name, e.email_address FROM users u JOIN email_addresses e ON e.user_id = u.id`).Scan(&first, &last, &email); err != nil {
		t.Fatal(err)
	}
	if first != name || last != `\N` || email != `odd\email@example.com` {
		t.Errorf("got %q %q %q", first, last, email)
	}
}
