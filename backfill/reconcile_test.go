package backfill_test

import (
	"context"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/clerksync/clerksync/backfill"
	"github.com/clerksync/clerksync/internal/clerkfake"
)

// loaded is an env whose mirror a backfill has brought level with the fake.
func loaded(t *testing.T, users int) *env {
	t.Helper()
	e := newEnv(t)
	for _, raw := range fixtureUsers(t) {
		e.fake.Put(raw)
	}
	e.fake.Generate(users)
	if _, err := e.backfill(t, context.Background(), 100); err != nil {
		t.Fatal(err)
	}
	assertExact(t, e)
	return e
}

func ids(is ...int) []string {
	var out []string
	for _, i := range is {
		out = append(out, clerkfake.GenID(i))
	}
	slices.Sort(out)
	return out
}

func sorted(xs []string) []string { return slices.Sorted(slices.Values(xs)) }

// dump is the mirror's every row, for "nothing changed".
func dump(t *testing.T, e *env) []string {
	t.Helper()
	var rows []string
	for _, q := range []string{
		`SELECT id || ' ' || source || ' ' || coalesce(updated_at::text, '-') || ' ' || coalesce(md5(raw::text), '-') FROM users`,
		`SELECT id || ' ' || user_id || ' ' || email_address FROM email_addresses`,
		`SELECT id || ' ' || deleted_at::text FROM deleted_users`,
	} {
		var r []string
		if err := e.conn.Select(&r, q); err != nil {
			t.Fatal(err)
		}
		rows = append(rows, r...)
	}
	slices.Sort(rows)
	return rows
}

// TestReconcileFindsAndRepairsDrift: each kind of drift is reported with
// its ids, nothing is written without Apply, and with Apply the mirror ends
// exact: missing users inserted, outdated ones updated, users Clerk no
// longer has removed with a tombstone and their contacts.
func TestReconcileFindsAndRepairsDrift(t *testing.T) {
	e := loaded(t, 120)
	later := clerkfake.Epoch.Add(5000 * time.Hour)
	// Missing: their user.created never arrived.
	if _, err := e.conn.Exec(`DELETE FROM users WHERE id = ANY($1)`, ids(3, 50)); err != nil {
		t.Fatal(err)
	}
	// Outdated: their user.updated never arrived, or the row is from an import.
	e.fake.Put(clerkfake.GenUser(7, later))
	e.fake.Put(clerkfake.GenUser(60, later))
	if _, err := e.conn.Exec(`DELETE FROM users WHERE id = $1`, clerkfake.GenID(9)); err != nil {
		t.Fatal(err)
	}
	if _, err := e.conn.Exec(`INSERT INTO users (id, source) VALUES ($1, 'import')`, clerkfake.GenID(9)); err != nil {
		t.Fatal(err)
	}
	// Extra: their user.deleted never arrived.
	for _, i := range []int{5000, 5001, 5002} {
		webhook(t, e.store, clerkfake.GenUser(i, time.Time{}))
	}
	// Recent: changed a moment ago; its webhook is on its way.
	e.fake.Put(clerkfake.GenUser(70, time.Now()))

	before := dump(t, e)
	r := e.reconcile(t, false, func(o *backfill.ReconcileOptions) { o.Grace = time.Minute })
	if !slices.Equal(sorted(r.Missing.IDs), ids(3, 50)) || !slices.Equal(sorted(r.Outdated.IDs), ids(7, 9, 60)) ||
		!slices.Equal(sorted(r.Extra.IDs), ids(5000, 5001, 5002)) || r.Recent != 1 {
		t.Fatalf("report %+v", r)
	}
	if r.Drift() != 8 || r.Unrepaired() != 8 || r.Applied+r.Removed != 0 {
		t.Errorf("report %+v", r)
	}
	if !slices.Equal(dump(t, e), before) {
		t.Fatal("a reconcile without Apply wrote to the mirror")
	}

	r = e.reconcile(t, true, func(o *backfill.ReconcileOptions) { o.Grace = time.Minute })
	if r.Drift() != 8 || r.Applied != 5 || r.Removed != 3 || r.Unrepaired() != 0 {
		t.Fatalf("repairing report %+v", r)
	}
	if n := count(t, e.conn, `SELECT count(*) FROM deleted_users WHERE id = ANY($1)`, ids(5000, 5001, 5002)); n != 3 {
		t.Errorf("%d tombstones for the removed users", n)
	}
	if n := count(t, e.conn, `SELECT count(*) FROM email_addresses WHERE user_id = ANY($1)`, ids(5000, 5001, 5002)); n != 0 {
		t.Errorf("the removed users' emails remain")
	}
	// The recent change is left to its webhook; without grace it is repaired.
	r = e.reconcile(t, true)
	if r.Outdated.Count != 1 || r.Outdated.IDs[0] != clerkfake.GenID(70) || r.Applied != 1 {
		t.Errorf("report %+v", r)
	}
	assertExact(t, e)
	r = e.reconcile(t, false)
	if r.Drift() != 0 || r.Unrepaired() != 0 || r.Local != len(e.fake.IDs()) || r.Scanned != len(e.fake.IDs()) {
		t.Errorf("after the repair: %+v", r)
	}
	st, err := e.store.LastReconcile(context.Background())
	if err != nil || st.SucceededAt.IsZero() || st.ApplySucceededAt.IsZero() || st.Applied || st.Missing != 0 {
		t.Errorf("recorded %+v (%v)", st, err)
	}
}

// TestReconcileNeverDeletesALiveUser: users the list does not return
// (paging skipped them) are looked up one by one; Clerk still has them, so
// they are applied as snapshots, never removed.
func TestReconcileNeverDeletesALiveUser(t *testing.T) {
	e := loaded(t, 100)
	e.fake.Put(clerkfake.GenUser(40, clerkfake.Epoch.Add(9000*time.Hour)))
	e.fake.HideFromList(ids(10, 40)...)
	r := e.reconcile(t, true)
	if r.Extra.Count != 0 || r.Removed != 0 || r.Rechecked != 2 || r.Outdated.Count != 1 || r.Applied != 1 {
		t.Fatalf("report %+v", r)
	}
	e.fake.HideFromList()
	assertExact(t, e)
}

// TestReconcileDeletionsDuringScan: users deleted in Clerk while the scan
// runs (their webhooks lost) shift the offsets; the scan skips no one,
// nobody live is removed, and with Apply the deleted ones the scan had not
// yet read go. Those it had read were live then: the next run removes them.
func TestReconcileDeletionsDuringScan(t *testing.T) {
	e := loaded(t, 250)
	base := e.fake.Stats().Lists // the backfill's
	e.fake.BeforeList(func(offset, n int) {
		if n != base+6 {
			return
		}
		for i := 0; i < 120; i += 4 {
			e.fake.Delete(clerkfake.GenID(i))
		}
	})
	e.fake.Faults(func(r *http.Request, n int) *clerkfake.Fault {
		switch n % 7 {
		case 3:
			return &clerkfake.Fault{Status: 429, RetryAfter: "0.01"}
		case 5:
			return &clerkfake.Fault{Status: 503}
		}
		return nil
	})
	r := e.reconcile(t, true, func(o *backfill.ReconcileOptions) { o.PageSize = 20 })
	if r.Extra.Count == 0 || r.Removed != r.Extra.Count || r.Missing.Count+r.Outdated.Count != 0 || r.Backups == 0 {
		t.Fatalf("report %+v", r)
	}
	for _, id := range r.Extra.IDs {
		if e.fake.User(id) != nil {
			t.Errorf("removed %s, which Clerk has", id)
		}
	}
	e.fake.BeforeList(nil)
	second := e.reconcile(t, true, func(o *backfill.ReconcileOptions) { o.PageSize = 20 })
	if r.Removed+second.Removed != 30 {
		t.Errorf("removed %d then %d, want 30 in all", r.Removed, second.Removed)
	}
	assertExact(t, e)
}

// TestReconcileHoldsMassDeletion: far more local users missing from Clerk
// than deletions explain (a key of another instance) removes nothing and
// looks nothing up.
func TestReconcileHoldsMassDeletion(t *testing.T) {
	e := loaded(t, 150)
	for i := 10; i < 150; i++ {
		e.fake.Delete(clerkfake.GenID(i))
	}
	gets := e.fake.Stats().Gets
	r := e.reconcile(t, true)
	if r.Extra.Count != 140 || r.Held != 140 || r.Removed != 0 || r.Unrepaired() != 140 || r.MaxDelete != 100 {
		t.Fatalf("report %+v", r)
	}
	if n := count(t, e.conn, `SELECT count(*) FROM users`); n != 150+len(fixtureUsers(t)) {
		t.Errorf("%d users left", n)
	}
	if e.fake.Stats().Gets != gets {
		t.Errorf("looked users up")
	}
	// Within an explicit bound, they go.
	r = e.reconcile(t, true, func(o *backfill.ReconcileOptions) { o.MaxDelete = 200 })
	if r.Removed != 140 || r.Unrepaired() != 0 {
		t.Fatalf("report %+v", r)
	}
	assertExact(t, e)
}

// TestReconcileKeepsTombstones: a user the mirror has deleted but Clerk's
// list still returns (the list was read before the deletion) is not
// brought back, and is no drift.
func TestReconcileKeepsTombstones(t *testing.T) {
	e := loaded(t, 20)
	deletion(t, e.store, clerkfake.GenID(4))
	r := e.reconcile(t, true)
	if r.Drift() != 0 || r.Applied != 0 {
		t.Fatalf("report %+v", r)
	}
	if n := count(t, e.conn, `SELECT count(*) FROM users WHERE id = $1`, clerkfake.GenID(4)); n != 0 {
		t.Error("a tombstoned user came back")
	}
}
