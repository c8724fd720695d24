package db_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/clerksync/clerksync"
	"github.com/clerksync/clerksync/db"
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
