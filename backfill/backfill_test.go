package backfill_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/clerksync/clerksync"
	"github.com/clerksync/clerksync/backfill"
	"github.com/clerksync/clerksync/clerkapi"
	"github.com/clerksync/clerksync/internal/clerkfake"
)

// TestBackfillLoadsEveryUser: fixtures and generated users over several
// pages land exactly, raw as the API returned them, source backfill.
func TestBackfillLoadsEveryUser(t *testing.T) {
	e := newEnv(t)
	for _, raw := range fixtureUsers(t) {
		e.fake.Put(raw)
	}
	e.fake.Generate(437)
	sum, err := e.backfill(t, context.Background(), 50)
	if err != nil {
		t.Fatal(err)
	}
	assertExact(t, e)
	total := len(e.fake.IDs())
	if sum.Read != total || sum.Inserted != total || sum.Total != total || sum.Updated+sum.Unchanged+sum.Stale+sum.Deleted+sum.Invalid != 0 {
		t.Errorf("summary %+v, want %d inserted", sum, total)
	}
	if n := count(t, e.conn, `SELECT count(*) FROM users WHERE source <> 'backfill'`); n != 0 {
		t.Errorf("%d users not from the backfill", n)
	}
	// The composed fixture's contacts, as the webhook path writes them.
	if n := count(t, e.conn, `SELECT count(*) FROM email_addresses WHERE user_id = 'user_2zK9mQv7Xc3LrT8pWn4Yb6Hd1Fs'`); n != 2 {
		t.Errorf("composed user has %d emails, want 2 (its update removed one)", n)
	}
	if n := count(t, e.conn, `SELECT count(*) FROM backfill_checkpoint`); n != 0 {
		t.Errorf("checkpoint left after a complete backfill")
	}

	// Again: nothing changes, every user unchanged.
	sum, err = e.backfill(t, context.Background(), 500)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Unchanged != total || sum.Inserted+sum.Updated != 0 {
		t.Errorf("second run %+v, want all unchanged", sum)
	}
	assertExact(t, e)
}

// TestBackfillGuard: an older API snapshot never overwrites a newer webhook
// row, an equal one is harmless, a tombstone is never undone, and an
// imported row is replaced.
func TestBackfillGuard(t *testing.T) {
	e := newEnv(t)
	e.fake.Generate(20)
	base := clerkfake.Epoch.Add(48 * time.Hour)
	// user 1: the mirror has a newer webhook snapshot than the API serves.
	newer := clerkfake.GenUser(1, base.Add(time.Hour))
	webhook(t, e.store, newer)
	e.fake.Put(clerkfake.GenUser(1, base))
	// user 2: the same snapshot came by webhook.
	webhook(t, e.store, e.fake.User(clerkfake.GenID(2)))
	// user 3: an older webhook snapshot.
	webhook(t, e.store, clerkfake.GenUser(3, clerkfake.Epoch))
	// user 4: deleted by webhook, still listed (the list was read before).
	deletion(t, e.store, clerkfake.GenID(4))
	// user 5: known only from a CSV import.
	if _, err := e.conn.Exec(`INSERT INTO users (id, source, first_name) VALUES ($1, 'import', 'Imported')`, clerkfake.GenID(5)); err != nil {
		t.Fatal(err)
	}

	sum, err := e.backfill(t, context.Background(), 7)
	if err != nil {
		t.Fatal(err)
	}
	want := backfill.Summary{Inserted: 15, Updated: 2, Unchanged: 1, Stale: 1, Deleted: 1}
	if sum.Inserted != want.Inserted || sum.Updated != want.Updated || sum.Unchanged != want.Unchanged ||
		sum.Stale != want.Stale || sum.Deleted != want.Deleted {
		t.Errorf("summary %+v, want %+v", sum, want)
	}
	var same bool
	if err := e.conn.Get(&same, `SELECT raw = CAST($1 AS jsonb) AND source = 'webhook' FROM users WHERE id = $2`, string(newer), clerkfake.GenID(1)); err != nil || !same {
		t.Errorf("the newer webhook row was overwritten (%v)", err)
	}
	if n := count(t, e.conn, `SELECT count(*) FROM users WHERE id = $1`, clerkfake.GenID(4)); n != 0 {
		t.Errorf("a tombstoned user came back")
	}
	if n := count(t, e.conn, `SELECT count(*) FROM email_addresses WHERE user_id = $1`, clerkfake.GenID(4)); n != 0 {
		t.Errorf("a tombstoned user's emails came back")
	}
	if n := count(t, e.conn, `SELECT count(*) FROM users WHERE id = $1 AND source = 'backfill' AND raw IS NOT NULL`, clerkfake.GenID(5)); n != 1 {
		t.Errorf("the imported row was not replaced")
	}
}

// TestBackfillRidesOutFaults: 429s with Retry-After and 5xx blips (HTML
// bodies, as proxies send) are retried; the mirror ends exact.
func TestBackfillRidesOutFaults(t *testing.T) {
	e := newEnv(t)
	e.fake.Generate(300)
	e.fake.Faults(func(r *http.Request, n int) *clerkfake.Fault {
		switch n % 5 {
		case 1:
			return &clerkfake.Fault{Status: http.StatusTooManyRequests, RetryAfter: "0.05"}
		case 2:
			return &clerkfake.Fault{Status: []int{500, 502, 503, 504}[n%4]}
		}
		return nil
	})
	sum, err := e.backfill(t, context.Background(), 40)
	if err != nil {
		t.Fatal(err)
	}
	assertExact(t, e)
	if st := e.fake.Stats(); st.Faults < 4 {
		t.Errorf("only %d faults served", st.Faults)
	}
	if sum.Inserted != 300 {
		t.Errorf("inserted %d", sum.Inserted)
	}
}

// TestBackfillGivesUp: a Backend API that keeps failing ends the backfill
// with one line after the retry bound, resumable.
func TestBackfillGivesUp(t *testing.T) {
	e := newEnv(t)
	e.fake.Generate(30)
	e.fake.Faults(func(r *http.Request, n int) *clerkfake.Fault {
		if r.URL.Path == "/v1/users" && r.URL.Query().Get("offset") != "0" {
			return &clerkfake.Fault{Status: http.StatusServiceUnavailable}
		}
		return nil
	})
	e.client = newClient(t, e.fake, func(o *clerkapi.Options) { o.RetryFor = 300 * time.Millisecond })
	_, err := e.backfill(t, context.Background(), 10)
	var gave *clerkapi.GaveUpError
	if !errors.As(err, &gave) || strings.Contains(err.Error(), "\n") || !strings.Contains(err.Error(), "503") {
		t.Fatalf("err = %v, want one line giving up on 503", err)
	}
	if n := count(t, e.conn, `SELECT count(*) FROM backfill_checkpoint`); n != 1 {
		t.Errorf("no checkpoint to resume from")
	}
}

// TestBackfillKeyRejected: a 401 stops at once, naming CLERK_SECRET_KEY and
// never the key.
func TestBackfillKeyRejected(t *testing.T) {
	e := newEnv(t)
	e.fake.Generate(3)
	e.fake.SetKey("sk_test_the_right_one")
	_, err := e.backfill(t, context.Background(), 10)
	if !errors.Is(err, clerkapi.ErrKeyRejected) || !strings.Contains(err.Error(), "CLERK_SECRET_KEY") {
		t.Fatalf("err = %v", err)
	}
	if strings.Contains(err.Error(), clerkfake.Key) {
		t.Errorf("the error quotes the key")
	}
	if n := e.fake.Stats().Requests; n != 1 {
		t.Errorf("%d requests, want 1: a rejected key is not retried", n)
	}
}

// TestBackfillUserChangesBetweenPages: users change while the backfill
// pages through, and their webhooks arrive meanwhile; whatever the order,
// the mirror ends with Clerk's latest.
func TestBackfillUserChangesBetweenPages(t *testing.T) {
	e := newEnv(t)
	e.fake.Generate(100)
	later := clerkfake.Epoch.Add(1000 * time.Hour)
	e.fake.BeforeList(func(offset, n int) {
		if n != 3 {
			return
		}
		// One already read (page 1), one on the page being read, one ahead.
		for i, id := range []int{5, 25, 80} {
			raw := clerkfake.GenUser(id, later.Add(time.Duration(i)*time.Minute))
			e.fake.Put(raw)
			webhook(t, e.store, raw)
		}
	})
	sum, err := e.backfill(t, context.Background(), 10)
	if err != nil {
		t.Fatal(err)
	}
	assertExact(t, e)
	// The two changed on or ahead of the page being read are found
	// unchanged (their webhook came first) or, when the page was fetched
	// ahead before they changed, stale: never written over.
	if sum.Unchanged+sum.Stale < 2 {
		t.Errorf("summary %+v: the users changed ahead were neither unchanged nor stale", sum)
	}
}

// TestBackfillUsersDeletedDuringScan: deletions before the current offset
// shift the later users back; the backfill backs up and skips no one, even
// when more than a page was deleted.
func TestBackfillUsersDeletedDuringScan(t *testing.T) {
	for name, deleteN := range map[string]int{"FewDeleted": 3, "MoreThanAPage": 35, "ManyPages": 90} {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t)
			e.fake.Generate(300)
			e.fake.BeforeList(func(offset, n int) {
				if n != 12 { // well into the list
					return
				}
				var gone []string
				for i := 0; len(gone) < deleteN; i += 2 {
					id := clerkfake.GenID(i)
					if e.fake.Delete(id) {
						gone = append(gone, id)
					}
				}
				deletion(t, e.store, gone...) // their user.deleted webhooks
			})
			sum, err := e.backfill(t, context.Background(), 10)
			if err != nil {
				t.Fatal(err)
			}
			assertExact(t, e)
			if sum.Backups == 0 {
				t.Errorf("no backup after the offsets shifted: %+v", sum)
			}
			if n := count(t, e.conn, `SELECT count(*) FROM deleted_users`); n != deleteN {
				t.Errorf("%d tombstones, want %d", n, deleteN)
			}
		})
	}
}

// TestBackfillResumes: an interrupted backfill resumes after its last
// page, not from the start, also when users were deleted in between.
func TestBackfillResumes(t *testing.T) {
	e := newEnv(t)
	e.fake.Generate(400)
	ctx, cancel := context.WithCancel(context.Background())
	// Ctrl-C once the checkpoint is past 200 users, so that the deletions
	// below shift the offsets before it by more than a page.
	e.fake.BeforeList(func(offset, n int) {
		var next int
		e.conn.Get(&next, `SELECT coalesce(max(next_offset), 0) FROM backfill_checkpoint`)
		if next >= 200 {
			cancel()
		}
	})
	first, err := e.backfill(t, ctx, 20)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted run: %v", err)
	}
	cp, err := e.store.LoadCheckpoint(context.Background())
	if err != nil || cp == nil {
		t.Fatalf("no checkpoint (%v)", err)
	}
	if cp.Applied != first.Read || cp.Offset <= 0 || len(cp.PageIDs) == 0 || cp.LastID == "" {
		t.Fatalf("checkpoint %+v after %d users", cp, first.Read)
	}
	applied := count(t, e.conn, `SELECT count(*) FROM users`)
	if applied < 200 || applied >= 400 {
		t.Fatalf("%d users applied before the interruption", applied)
	}
	// Users before the checkpoint are deleted (with their webhooks) while
	// the backfill is stopped: the offsets shift by more than a page.
	var gone []string
	for i := 0; i < 60; i++ {
		id := clerkfake.GenID(i * 3)
		e.fake.Delete(id)
		gone = append(gone, id)
	}
	deletion(t, e.store, gone...)
	e.fake.BeforeList(nil)
	before := e.fake.Stats().Lists
	second, err := e.backfill(t, context.Background(), 20)
	if err != nil {
		t.Fatal(err)
	}
	assertExact(t, e)
	if !second.Resumed || second.ResumedAt != cp.Offset || second.AppliedBefore != cp.Applied {
		t.Errorf("second run %+v did not resume from %+v", second, cp)
	}
	if second.Inserted != 400-applied {
		t.Errorf("second run inserted %d, want the %d left", second.Inserted, 400-applied)
	}
	if lists := e.fake.Stats().Lists - before; lists >= 400/20 {
		t.Errorf("second run made %d list requests: it started over", lists)
	}
}

// TestBackfillSkipsWhatTheMirrorCannotHold: a user the mirror refuses
// (a contact without an id) is counted and named; the others load.
func TestBackfillSkipsWhatTheMirrorCannotHold(t *testing.T) {
	e := newEnv(t)
	e.fake.Generate(10)
	e.fake.Put([]byte(`{"id":"user_2broken","object":"user","created_at":1704067205500,"updated_at":1704067205500,
		"email_addresses":[{"email_address":"x@example.com"}]}`))
	sum, err := e.backfill(t, context.Background(), 4)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Invalid != 1 || len(sum.InvalidIDs) != 1 || sum.InvalidIDs[0] != "user_2broken" || sum.Inserted != 10 {
		t.Errorf("summary %+v", sum)
	}
}

// TestBackfillPrefetches: pages are requested ahead, a few at once, never
// more than four, and not beyond the count the API gave.
func TestBackfillPrefetches(t *testing.T) {
	e := newEnv(t)
	e.fake.Generate(200)
	e.fake.SetLatency(30 * time.Millisecond)
	sum, err := e.backfill(t, context.Background(), 20)
	if err != nil {
		t.Fatal(err)
	}
	assertExact(t, e)
	st := e.fake.Stats()
	if st.MaxInflight < 2 || st.MaxInflight > 4 {
		t.Errorf("%d requests at once, want 2 to 4", st.MaxInflight)
	}
	// 200 users in strides of 18: 12 pages, the last one short.
	if st.Lists != 12 || sum.Requests != 12 {
		t.Errorf("%d list requests (%d counted), want 12: none beyond the end", st.Lists, sum.Requests)
	}
}

// cancelAtSave is the store, cancelling the run as the third page's
// checkpoint is saved: a Ctrl-C between applying a page and recording it.
type cancelAtSave struct {
	clerksync.SyncState
	cancel context.CancelFunc
	saves  int
}

func (c *cancelAtSave) SaveCheckpoint(ctx context.Context, cp clerksync.BackfillCheckpoint) error {
	if c.saves++; c.saves == 3 {
		c.cancel()
	}
	return c.SyncState.SaveCheckpoint(ctx, cp)
}

// TestBackfillRecordsTheLastPageApplied: interrupted between applying a
// page and saving its checkpoint, the run still records the page, so that
// the checkpoint agrees with what it applied and says it read.
func TestBackfillRecordsTheLastPageApplied(t *testing.T) {
	e := newEnv(t)
	e.fake.Generate(200)
	ctx, cancel := context.WithCancel(context.Background())
	state := &cancelAtSave{SyncState: e.store, cancel: cancel}
	sum, err := e.backfill(t, ctx, 20, func(o *backfill.Options) { o.State = state })
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted run: %v", err)
	}
	cp, err := e.store.LoadCheckpoint(context.Background())
	if err != nil || cp == nil {
		t.Fatalf("no checkpoint (%v)", err)
	}
	if applied := count(t, e.conn, `SELECT count(*) FROM users`); cp.Applied != sum.Read || cp.Applied != applied {
		t.Fatalf("checkpoint says %d applied, the run read %d, the mirror holds %d", cp.Applied, sum.Read, applied)
	}
}
