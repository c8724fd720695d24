package db_test

import (
	"strings"
	"testing"

	"github.com/clerksync/clerksync/db"
)

// TestPgbenchScriptRunsTheWritePath runs the script as pgbench would for
// two values of :uid and finds two users with their own contacts.
func TestPgbenchScriptRunsTheWritePath(t *testing.T) {
	_, conn := newStore(t)
	ev := fixture(t, "20-user.created.composed-multi-contact.json")
	u := *ev.User
	u.ID = "user_MARK"
	for i := range u.EmailAddresses {
		u.EmailAddresses[i].ID = "idn_MARK" + u.EmailAddresses[i].ID
	}
	script, err := db.PgbenchScript(&u, "MARK")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitN(script, "\n", 2)
	if !strings.HasPrefix(lines[0], `\set uid random(`) {
		t.Fatalf("first line %q", lines[0])
	}
	for _, uid := range []string{"1", "2", "1"} {
		sql := strings.ReplaceAll(lines[1], ":uid", uid)
		if _, err := conn.Exec(sql); err != nil {
			t.Fatalf("uid %s: %v", uid, err)
		}
	}
	var users, emails int
	conn.Get(&users, `SELECT count(*) FROM users WHERE id IN ('user_1-', 'user_2-')`)
	conn.Get(&emails, `SELECT count(*) FROM email_addresses WHERE user_id IN ('user_1-', 'user_2-')`)
	if users != 2 || emails != 6 {
		t.Fatalf("%d users, %d emails; want 2 and 6", users, emails)
	}
}
