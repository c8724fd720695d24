package main

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"regexp"

	"github.com/clerksync/clerksync/internal/simclerk"
)

// Plan names a set of user histories: the same plan always gives the same
// histories, events and delivery ids, so that a ledger needs only the plan
// and the ids to be checked.
type Plan struct {
	Prefix string `json:"prefix"`
	Users  int    `json:"users"`
	Seed   uint64 `json:"seed"`
}

// Event is one delivery of a plan: a svix-id and its body. A user's events
// are its snapshots in order, its deletion if it was deleted, and then a
// late, stale repeat of one snapshot (as a Svix retry after the deletion
// would be).
type Event struct {
	ID      string
	User    int
	Kind    string // "snapshot", "delete" or "late"
	Version int    // the snapshot a snapshot or late event carries
	Body    []byte
}

var prefixPattern = regexp.MustCompile(`^[A-Za-z0-9]{1,16}$`)

func (p Plan) validate() error {
	if !prefixPattern.MatchString(p.Prefix) {
		return fmt.Errorf("prefix %q: want 1 to 16 letters or digits", p.Prefix)
	}
	if p.Users < 1 {
		return fmt.Errorf("users %d: want at least 1", p.Users)
	}
	return nil
}

func (p *Plan) flags(fs *flag.FlagSet) {
	fs.StringVar(&p.Prefix, "prefix", "f", "user and delivery id `prefix` (letters and digits)")
	fs.IntVar(&p.Users, "users", 500, "how many users' histories")
	fs.Uint64Var(&p.Seed, "seed", 1, "random seed of the histories")
}

func (p Plan) userID(i int) string { return fmt.Sprintf("user_%s%05d", p.Prefix, i) }

// Histories are the plan's user histories, one per user.
func (p Plan) Histories() []simclerk.History {
	hs, _ := p.generate(false)
	return hs
}

// Events are the plan's histories and every event they send, once each.
func (p Plan) Events() ([]simclerk.History, []Event) { return p.generate(true) }

func (p Plan) generate(bodies bool) ([]simclerk.History, []Event) {
	r := rand.New(rand.NewPCG(p.Seed, 42))
	hs := make([]simclerk.History, p.Users)
	var evs []Event
	for i := range hs {
		h := simclerk.Gen(r, i, p.userID(i))
		hs[i] = h
		for v, s := range h.Snapshots {
			evs = append(evs, Event{ID: fmt.Sprintf("msg_%s_%d_%d", p.Prefix, i, v), User: i, Kind: "snapshot", Version: v,
				Body: bodyIf(bodies, func() []byte { return simclerk.UserEvent(s) })})
		}
		if h.DeletedAt != 0 {
			first := h.Snapshots[0]
			evs = append(evs, Event{ID: fmt.Sprintf("msg_%s_%d_del", p.Prefix, i), User: i, Kind: "delete",
				Body: bodyIf(bodies, func() []byte { return simclerk.DeleteEvent(first.ID, first.ExternalID, h.DeletedAt) })})
			v := r.IntN(len(h.Snapshots))
			evs = append(evs, Event{ID: fmt.Sprintf("msg_%s_%d_late", p.Prefix, i), User: i, Kind: "late", Version: v,
				Body: bodyIf(bodies, func() []byte { return simclerk.UserEvent(h.Snapshots[v]) })})
		}
	}
	return hs, evs
}

func bodyIf(want bool, f func() []byte) []byte {
	if !want {
		return nil
	}
	return f()
}

// sends is the order in which a sender posts the events: each once, plus
// a copy of each with probability dup, plus copies more of each, shuffled.
// Copies are the same svix-id again, as Svix retries and replays are.
func sends(evs []Event, seed uint64, dup float64, copies int) []int {
	r := rand.New(rand.NewPCG(seed, 43))
	var order []int
	for i := range evs {
		order = append(order, i)
		if r.Float64() < dup {
			order = append(order, i)
		}
		for range copies {
			order = append(order, i)
		}
	}
	r.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
	return order
}

// expectedRows are the rows user i's history leads to when only the events
// for which got is true are applied: the deletion wins over everything, else
// the newest snapshot delivered, else nothing.
func expectedRows(h simclerk.History, evs []Event, got func(id string) bool) simclerk.Rows {
	best := -1
	for _, e := range evs {
		if !got(e.ID) {
			continue
		}
		if e.Kind == "delete" {
			first := h.Snapshots[0]
			return simclerk.TombstoneRows(first.ID, first.ExternalID, h.DeletedAt)
		}
		best = max(best, e.Version)
	}
	if best < 0 {
		return simclerk.NewRows()
	}
	return simclerk.SnapshotRows(h.Snapshots[best])
}
