package db_test

import (
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/clerksync/clerksync"
	"github.com/clerksync/clerksync/db"
)

var pgbenchOut = flag.String("pgbench-script", "", "write make bench's pgbench script to this file (TestPgbenchScriptForBench)")

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

// TestPgbenchScriptForBench builds make bench's pgbench script (the
// multi-contact update, every id the user's own) and runs it twice for one
// :uid and once for another; with -pgbench-script FILE it also writes it
// there for scripts/bench.sh.
func TestPgbenchScriptForBench(t *testing.T) {
	_, conn := newStore(t)
	body, err := os.ReadFile(filepath.Join("..", "testdata", "21-user.updated.composed-multi-contact.json"))
	if err != nil {
		t.Fatal(err)
	}
	const marker = "BENCHUSER"
	s := strings.ReplaceAll(string(body), "user_2zK9mQv7Xc3LrT8pWn4Yb6Hd1Fs", "user_"+marker)
	s = strings.ReplaceAll(s, "idn_", "idn_"+marker)
	s = strings.ReplaceAll(s, "eac_", "eac_"+marker)
	ev, err := clerksync.ParseEvent("msg_bench", []byte(s))
	if err != nil {
		t.Fatal(err)
	}
	script, err := db.PgbenchScript(ev.User, marker)
	if err != nil {
		t.Fatal(err)
	}
	body2 := strings.SplitN(script, "\n", 2)[1]
	for _, uid := range []string{"7", "7", "8"} {
		if _, err := conn.Exec(strings.ReplaceAll(body2, ":uid", uid)); err != nil {
			t.Fatalf("uid %s: %v", uid, err)
		}
	}
	want := [][]any{{"user_7-", int64(2), int64(2), int64(1), int64(1)}, {"user_8-", int64(2), int64(2), int64(1), int64(1)}}
	got := rows(t, conn, `SELECT u.id,
		(SELECT count(*) FROM email_addresses WHERE user_id = u.id), (SELECT count(*) FROM phone_numbers WHERE user_id = u.id),
		(SELECT count(*) FROM web3_wallets WHERE user_id = u.id), (SELECT count(*) FROM external_accounts WHERE user_id = u.id)
		FROM users AS u ORDER BY u.id`)
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("users and their contacts: %v", got)
	}
	if *pgbenchOut != "" {
		if err := os.WriteFile(*pgbenchOut, []byte(script), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
