package main

import (
	"reflect"
	"testing"

	"github.com/clerksync/clerksync/internal/simclerk"
)

func TestPlanIsDeterministic(t *testing.T) {
	p := Plan{Prefix: "t", Users: 50, Seed: 7}
	_, a := p.Events()
	_, b := p.Events()
	if !reflect.DeepEqual(a, b) {
		t.Fatal("the same plan gave different events")
	}
	if !reflect.DeepEqual(p.Histories(), func() []simclerk.History { h, _ := p.Events(); return h }()) {
		t.Fatal("Histories and Events disagree")
	}
	if !reflect.DeepEqual(sends(a, 7, 0.3, 2), sends(b, 7, 0.3, 2)) {
		t.Fatal("the same plan gave a different send order")
	}
	if n := len(sends(a, 7, 0, 2)); n != 3*len(a) {
		t.Fatalf("two copies of %d events: %d sends", len(a), n)
	}
}

// userEvents returns the first user of a plan whose history has a deletion
// (deleted true) or not, with its events.
func userEvents(t *testing.T, deleted bool) (simclerk.History, []Event) {
	p := Plan{Prefix: "t", Users: 100, Seed: 3}
	hs, evs := p.Events()
	for i, h := range hs {
		if (h.DeletedAt != 0) != deleted || len(h.Snapshots) < 3 {
			continue
		}
		var mine []Event
		for _, e := range evs {
			if e.User == i {
				mine = append(mine, e)
			}
		}
		return h, mine
	}
	t.Fatal("no such user in the plan")
	return simclerk.History{}, nil
}

func TestExpectedRowsFollowTheDeliveredEvents(t *testing.T) {
	h, evs := userEvents(t, false)
	all := func(string) bool { return true }
	none := func(string) bool { return false }
	only := func(id string) func(string) bool { return func(s string) bool { return s == id } }
	if got := expectedRows(h, evs, all); !sameRows(got, h.FinalRows()) {
		t.Errorf("every event: %v, want the final state", got)
	}
	if got := expectedRows(h, evs, none); !sameRows(got, simclerk.NewRows()) {
		t.Errorf("no event: %v, want nothing", got)
	}
	if got := expectedRows(h, evs, only(evs[1].ID)); !sameRows(got, simclerk.SnapshotRows(h.Snapshots[1])) {
		t.Errorf("the second snapshot only: %v", got)
	}
	// The newest delivered snapshot wins, whatever else was lost.
	firstTwo := func(s string) bool { return s == evs[0].ID || s == evs[1].ID }
	if got := expectedRows(h, evs, firstTwo); !sameRows(got, simclerk.SnapshotRows(h.Snapshots[1])) {
		t.Errorf("the first two: %v", got)
	}
}

func TestExpectedRowsDeletionWins(t *testing.T) {
	h, evs := userEvents(t, true)
	var del string
	for _, e := range evs {
		if e.Kind == "delete" {
			del = e.ID
		}
	}
	first := h.Snapshots[0]
	want := simclerk.TombstoneRows(first.ID, first.ExternalID, h.DeletedAt)
	if got := expectedRows(h, evs, func(s string) bool { return s == del }); !sameRows(got, want) {
		t.Errorf("the deletion alone: %v, want the tombstone", got)
	}
	if got := expectedRows(h, evs, func(string) bool { return true }); !sameRows(got, want) {
		t.Errorf("everything: %v, want the tombstone", got)
	}
}

func TestJudge(t *testing.T) {
	h, evs := userEvents(t, false)
	last := evs[len(evs)-1].ID
	all := func(string) bool { return true }
	allButLast := func(s string) bool { return s != last }
	final := simclerk.SnapshotRows(h.Snapshots[len(h.Snapshots)-1])
	older := simclerk.SnapshotRows(h.Snapshots[0])
	bogus := simclerk.SnapshotRows(h.Snapshots[0])
	bogus["users"] = []string{"nonsense"}
	for _, c := range []struct {
		name       string
		got, tried func(string) bool
		actual     simclerk.Rows
		want       verdict
	}{
		{"Exact", all, all, final, exact},
		{"OlderStateIsLost", all, all, older, lost},
		{"NothingIsLost", all, all, simclerk.NewRows(), lost},
		{"Unanswered503AppliedIsExtra", allButLast, all, final, extra},
		{"UnknownStateIsWrong", all, all, bogus, wrong},
	} {
		t.Run(c.name, func(t *testing.T) {
			if v := judge(h, evs, c.got, c.tried, c.actual); v != c.want {
				t.Errorf("got %s, want %s", v, c.want)
			}
		})
	}
}
