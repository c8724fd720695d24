package db_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/clerksync/clerksync"
	"github.com/clerksync/clerksync/db"
	"github.com/clerksync/clerksync/internal/testenv"
)

// TestPlansFollowTheMirrorsGrowth: a first sync into an empty mirror keeps
// meeting the contact tables through their indexes once they are large, and
// so does a store started after the tables have statistics. Left to costs,
// each connection keeps the plan it made for empty tables, and every event
// scans the whole contact tables; and a plan made after ANALYZE, which
// guesses 100 rows for each jsonb_populate_recordset, hashes them against
// sequential scans of the contact tables (clerksync_apply's SET enable_seqscan = off).
func TestPlansFollowTheMirrorsGrowth(t *testing.T) {
	store, conn := newStore(t)
	body, err := os.ReadFile(filepath.Join("..", "testdata", "21-user.updated.composed-multi-contact.json"))
	if err != nil {
		t.Fatal(err)
	}
	const n, tail = 3600, 300
	events := make([]clerksync.Event, n)
	for i := range events {
		u := fmt.Sprintf("user_grow%07d", i)
		s := strings.ReplaceAll(string(body), "user_2zK9mQv7Xc3LrT8pWn4Yb6Hd1Fs", u)
		s = strings.ReplaceAll(s, `idn_`, `idn_`+u[5:]+`_`)
		s = strings.ReplaceAll(s, `eac_`, `eac_`+u[5:]+`_`)
		if events[i], err = clerksync.ParseEvent(fmt.Sprintf("msg_grow_%d", i), []byte(s)); err != nil {
			t.Fatal(err)
		}
	}
	applyFrom := func(events []clerksync.Event) {
		var wg sync.WaitGroup
		next := make(chan clerksync.Event)
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for e := range next {
					if _, err := store.ApplyEvents(context.Background(), []clerksync.Event{e}); err != nil {
						t.Error(err)
					}
				}
			}()
		}
		for _, e := range events {
			next <- e
		}
		close(next)
		wg.Wait()
	}
	seqScans := func() int64 {
		// Backends report their counts within a second or so of a commit.
		time.Sleep(1500 * time.Millisecond)
		var n int64
		if err := conn.Get(&n, `SELECT coalesce(seq_scan, 0) FROM pg_stat_user_tables WHERE relid = 'email_addresses'::regclass`); err != nil {
			t.Fatal(err)
		}
		return n
	}
	applyFrom(events[:n-2*tail])
	before := seqScans()
	applyFrom(events[n-2*tail : n-tail])
	if scans := seqScans() - before; scans > tail/10 {
		t.Errorf("%d events, into a mirror of %d users, scanned email_addresses whole %d times", tail, n-2*tail, scans)
	}
	if _, err := conn.Exec(`ANALYZE`); err != nil {
		t.Fatal(err)
	}
	store = db.NewStore(conn)
	before = seqScans()
	applyFrom(events[n-tail:])
	if scans := seqScans() - before; scans > tail/10 {
		t.Errorf("after ANALYZE, the last %d events, into a mirror of %d users, scanned email_addresses whole %d times", tail, n-tail, scans)
	}
}

// TestPlansIgnoreStaleStatistics: a session whose plans were made on an
// analysed, empty mirror still meets the tables through index probes after
// the mirror grew to 100,000 users under it (an import by another process,
// before autovacuum analyses anything). Left to costs, the plans hash the
// batch against whole scans of the contact and tombstone indexes, reading
// every row of them for one event.
func TestPlansIgnoreStaleStatistics(t *testing.T) {
	url, conn := testenv.Mirror(t, 1) // one connection: the store's plans stay in one session
	store := db.NewStore(conn)
	if _, err := conn.Exec(`ANALYZE`); err != nil {
		t.Fatal(err)
	}
	ev := fixture(t, "20-user.created.composed-multi-contact.json")
	event := func(i int) clerksync.Event {
		e := ev
		u := *ev.User
		u.ID = fmt.Sprintf("user_stale%03d", i)
		u.EmailAddresses = slices.Clone(u.EmailAddresses)
		for j := range u.EmailAddresses {
			u.EmailAddresses[j].ID = fmt.Sprintf("idn_stale%03d_%d", i, j)
			u.EmailAddresses[j].UserID = u.ID
		}
		u.PhoneNumbers, u.Web3Wallets, u.ExternalAccounts = nil, nil, nil
		e.UserID, e.User = u.ID, &u
		return e
	}
	for i := range 8 { // past the five custom plans: a generic one is kept
		apply(t, store, event(i))
	}
	other, err := db.Open(context.Background(), url, db.DefaultSchema, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	for _, q := range []string{
		`INSERT INTO users (id, source, updated_at) SELECT 'user_bulk' || g, 'import', now() FROM generate_series(1, 100000) g`,
		`INSERT INTO email_addresses (id, user_id, email_address) SELECT 'idn_bulk' || g || '_' || k, 'user_bulk' || g, g || '@example.com' FROM generate_series(1, 100000) g, generate_series(1, 2) k`,
		`INSERT INTO deleted_users (id, deleted_at) SELECT 'user_gone' || g, now() FROM generate_series(1, 100000) g`,
	} {
		if _, err := other.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	read := func() map[string]int64 {
		time.Sleep(1500 * time.Millisecond) // backends report their counts within a second or so
		var rows []struct {
			Name string `db:"relname"`
			N    int64  `db:"n"`
		}
		if err := other.Select(&rows, `SELECT t.relname, coalesce(t.seq_tup_read, 0)
			    + (SELECT coalesce(sum(i.idx_tup_read), 0) FROM pg_stat_user_indexes AS i WHERE i.relid = t.relid) AS n
			FROM pg_stat_user_tables AS t WHERE t.relname IN ('email_addresses', 'deleted_users')`); err != nil {
			t.Fatal(err)
		}
		m := map[string]int64{}
		for _, r := range rows {
			m[r.Name] = r.N
		}
		return m
	}
	before := read()
	apply(t, store, event(100))
	after := read()
	for _, table := range []string{"email_addresses", "deleted_users"} {
		if n := after[table] - before[table]; n > 1000 {
			t.Errorf("one event read %d rows of %s", n, table)
		}
	}
}
