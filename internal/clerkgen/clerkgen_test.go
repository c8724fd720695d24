package clerkgen_test

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/clerksync/clerksync"
	"github.com/clerksync/clerksync/internal/clerkgen"
)

func generator(t testing.TB) *clerkgen.Generator {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "testdata", "20-user.created.composed-multi-contact.json"))
	if err != nil {
		t.Fatal(err)
	}
	g, err := clerkgen.New(b)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// TestHistoryShape: the backlog shape (5 events a user, 10% of
// users deleted; 1,000 events here, 20,000 in the benchmarks) has that many
// of each type, every body is an event the worker
// applies, each user's snapshots grow in updated_at, and the same seed
// gives the same history.
func TestHistoryShape(t *testing.T) {
	g := generator(t)
	o := clerkgen.Options{Events: 1000, Users: 200, Delete: 0.1, Seed: 1}
	ds, finals := g.History(o)
	if len(ds) != o.Events || len(finals) != o.Users {
		t.Fatalf("%d deliveries for %d users", len(ds), len(finals))
	}
	types := map[string]int{}
	ids := map[string]bool{}
	last := map[string]int64{}
	reordered, size := 0, 0
	for _, d := range ds {
		types[d.Type]++
		size += len(d.Body)
		if ids[d.ID] {
			t.Fatalf("delivery id %s repeated", d.ID)
		}
		ids[d.ID] = true
		ev, err := clerksync.ParseEvent(d.ID, d.Body)
		if err != nil {
			t.Fatalf("%s %s: %v", d.ID, d.Type, err)
		}
		if ev.UserID != d.UserID || ev.Type != d.Type {
			t.Fatalf("%s: parsed %s %s", d.ID, ev.Type, ev.UserID)
		}
		if d.Type != clerksync.UserDeleted {
			if ev.User.UpdatedAt.UnixMilli() < last[d.UserID] {
				reordered++
			}
			last[d.UserID] = max(last[d.UserID], ev.User.UpdatedAt.UnixMilli())
		}
	}
	if types[clerksync.UserCreated] != 200 || types[clerksync.UserDeleted] != 20 || types[clerksync.UserUpdated] != 780 {
		t.Errorf("types %v", types)
	}
	if reordered == 0 {
		t.Error("delivered strictly in order: no shuffling")
	}
	for id, f := range finals {
		if !f.Deleted && last[id] != f.UpdatedAt {
			t.Errorf("%s: final updated_at %d, newest snapshot %d", id, f.UpdatedAt, last[id])
		}
	}
	again, _ := g.History(o)
	if !bytes.Equal(again[123].Body, ds[123].Body) || again[567].ID != ds[567].ID {
		t.Error("same seed, different history")
	}
	t.Logf("mean body %d bytes, %d snapshots delivered after a newer one", size/len(ds), reordered)
}

func BenchmarkHistory(b *testing.B) {
	g := generator(b)
	for b.Loop() {
		g.History(clerkgen.Options{Events: 20000, Users: 4000, Delete: 0.1, Seed: 1})
	}
}
