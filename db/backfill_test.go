package db_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/clerksync/clerksync"
)

func TestMirrorStates(t *testing.T) {
	s, conn := newStore(t)
	ctx := context.Background()
	created := fixture(t, "20-user.created.composed-multi-contact.json")
	apply(t, s, created, fixture(t, "02-user.created.real-2025-email-code.json"))
	apply(t, s, fixture(t, "22-user.deleted.composed.json"))
	if _, err := conn.Exec(`INSERT INTO users (id, source) VALUES ('user_imported', 'import')`); err != nil {
		t.Fatal(err)
	}
	real := fixture(t, "02-user.created.real-2025-email-code.json")
	states, err := s.MirrorStates(ctx, []string{created.UserID, real.UserID, "user_imported", "user_unknown"})
	if err != nil {
		t.Fatal(err)
	}
	if st := states[created.UserID]; st.Live || !st.Deleted {
		t.Errorf("deleted user: %+v", st)
	}
	if st := states[real.UserID]; !st.Live || st.Deleted || !st.UpdatedAt.Equal(real.User.UpdatedAt.Time) || st.Source != "webhook" {
		t.Errorf("live user: %+v, want updated_at %v", st, real.User.UpdatedAt)
	}
	if st := states["user_imported"]; !st.Live || !st.UpdatedAt.IsZero() || st.Source != "import" {
		t.Errorf("imported user: %+v", st)
	}
	if _, ok := states["user_unknown"]; ok || len(states) != 3 {
		t.Errorf("states %v", states)
	}
}

func TestLocalUserIDs(t *testing.T) {
	s, conn := newStore(t)
	for _, id := range []string{"user_b", "user_B", "user_a", "user_c"} {
		if _, err := conn.Exec(`INSERT INTO users (id, source) VALUES ($1, 'import')`, id); err != nil {
			t.Fatal(err)
		}
	}
	var all []string
	after := ""
	for {
		ids, err := s.LocalUserIDs(context.Background(), after, 3)
		if err != nil {
			t.Fatal(err)
		}
		if len(ids) == 0 {
			break
		}
		all, after = append(all, ids...), ids[len(ids)-1]
	}
	// Byte order, as Go sorts strings: the reconcile merges the two.
	if want := []string{"user_B", "user_a", "user_b", "user_c"}; !slices.Equal(all, want) {
		t.Errorf("%v, want %v", all, want)
	}
}

func TestCheckpoint(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()
	if cp, err := s.LoadCheckpoint(ctx); cp != nil || err != nil {
		t.Fatalf("%v %v", cp, err)
	}
	want := clerksync.BackfillCheckpoint{Offset: 980, PageIDs: []string{"user_a", "user_b"}, LastID: "user_b",
		LastCreatedAt: time.UnixMilli(1752566400120).UTC(), Applied: 990, StartedAt: time.Now().UTC().Truncate(time.Microsecond)}
	for range 2 {
		if err := s.SaveCheckpoint(ctx, want); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.LoadCheckpoint(ctx)
	if err != nil || got.Offset != 980 || !slices.Equal(got.PageIDs, want.PageIDs) || got.LastID != "user_b" ||
		!got.LastCreatedAt.Equal(want.LastCreatedAt) || got.Applied != 990 || !got.StartedAt.Equal(want.StartedAt) {
		t.Fatalf("%+v (%v), want %+v", got, err, want)
	}
	if err := s.ClearCheckpoint(ctx); err != nil {
		t.Fatal(err)
	}
	if cp, err := s.LoadCheckpoint(ctx); cp != nil || err != nil {
		t.Fatalf("after clear: %v %v", cp, err)
	}
}

// TestReconcileRecord: a report-only run replaces the figures but keeps
// the time of the last repairing run, which the schedule counts from.
func TestReconcileRecord(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()
	if st, err := s.LastReconcile(ctx); err != nil || !st.SucceededAt.IsZero() {
		t.Fatalf("%+v %v", st, err)
	}
	t0 := time.Now().UTC().Truncate(time.Second)
	s.ReconcileStarted(ctx, t0)
	if err := s.ReconcileSucceeded(ctx, clerksync.ReconcileStatus{StartedAt: t0, SucceededAt: t0.Add(time.Second), Missing: 3, Applied: true}); err != nil {
		t.Fatal(err)
	}
	t1 := t0.Add(time.Minute)
	s.ReconcileStarted(ctx, t1)
	if err := s.ReconcileSucceeded(ctx, clerksync.ReconcileStatus{StartedAt: t1, SucceededAt: t1.Add(time.Second), Extra: 2, Unrepaired: 2}); err != nil {
		t.Fatal(err)
	}
	st, err := s.LastReconcile(ctx)
	if err != nil || !st.StartedAt.Equal(t1) || !st.SucceededAt.Equal(t1.Add(time.Second)) ||
		!st.ApplySucceededAt.Equal(t0.Add(time.Second)) || st.Missing != 0 || st.Extra != 2 || st.Applied || st.Unrepaired != 2 {
		t.Fatalf("%+v (%v)", st, err)
	}
}

// TestReconcileLock: one holder at a time; a holder whose session ends
// (a worker that died) frees it, and knows it lost it.
func TestReconcileLock(t *testing.T) {
	s, conn := newStore(t)
	ctx := context.Background()
	a, ok, err := s.TryReconcileLock(ctx)
	if err != nil || !ok {
		t.Fatalf("first: %v %v", ok, err)
	}
	if _, ok, err := s.TryReconcileLock(ctx); ok || err != nil {
		t.Fatalf("second while held: %v %v", ok, err)
	}
	a.Release()
	b, ok, err := s.TryReconcileLock(ctx)
	if err != nil || !ok {
		t.Fatalf("after release: %v %v", ok, err)
	}
	if err := b.Alive(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(`SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' AND objid = $1`, int64(0x7265636e)); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, func() bool { return b.Alive(ctx) != nil })
	b.Release()
	c, ok, err := s.TryReconcileLock(ctx)
	if err != nil || !ok {
		t.Fatalf("after the holder died: %v %v", ok, err)
	}
	c.Release()
}

func waitUntil(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("timed out")
		}
	}
}
