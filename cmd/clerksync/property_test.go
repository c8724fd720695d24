package main

import (
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"os"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/clerksync/clerksync/internal/simclerk"
)

// The property: whatever the order, duplication and concurrency of
// deliveries, the mirror ends up equal to Clerk's latest state. Histories
// include ties (simclerk.GenWithTies): different snapshots with the same
// updated_at, which the contract orders by envelope timestamp, then delivery id.

// contact and userSnapshot are the tests' short names for simclerk's
// types, so that a test can write a user in one line.
type contact struct {
	id, value string
	verified  bool
}

// userSnapshot is one state of a user in Clerk (see simclerk.Snapshot).
type userSnapshot struct {
	id, externalID                   string
	updatedAt                        int64
	first, last, username            string
	plan                             string
	emails, phones, wallets          []contact
	accounts                         []contact // value is the provider user id
	primaryEmail, primaryPhone, prim int       // index into emails/phones/wallets, -1 for none
}

func (s userSnapshot) sim() simclerk.Snapshot {
	conv := func(cs []contact) []simclerk.Contact {
		var out []simclerk.Contact
		for _, c := range cs {
			out = append(out, simclerk.Contact{ID: c.id, Value: c.value, Verified: c.verified})
		}
		return out
	}
	return simclerk.Snapshot{ID: s.id, ExternalID: s.externalID, UpdatedAt: s.updatedAt, First: s.first, Last: s.last,
		Username: s.username, Plan: s.plan, Emails: conv(s.emails), Phones: conv(s.phones), Wallets: conv(s.wallets),
		Accounts: conv(s.accounts), PrimaryEmail: s.primaryEmail, PrimaryPhone: s.primaryPhone, PrimaryWallet: s.prim}
}

func propUserID(i int) string { return fmt.Sprintf("user_prop%05d", i) }

func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// userEvent renders a snapshot as a Clerk user.created or user.updated event.
func userEvent(_ testing.TB, s userSnapshot) []byte { return simclerk.UserEvent(s.sim()) }

func deleteEvent(id, externalID string, ts int64) []byte {
	return simclerk.DeleteEvent(id, externalID, ts)
}

type delivery struct {
	id   string
	body []byte
}

func TestConvergenceProperty(t *testing.T) {
	users := envInt("PROPERTY_USERS", 500)
	dupRate := 0.3
	workers := envInt("PROPERTY_CONCURRENCY", 16)
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("PROPERTY_SEED"); s != "" {
		seed, _ = strconv.ParseUint(s, 10, 64)
	}
	t.Logf("seed %d (PROPERTY_SEED to repeat), %d users, %.0f%% duplicates, %d concurrent deliveries", seed, users, dupRate*100, workers)
	r := rand.New(rand.NewPCG(seed, 42))

	h := startApp(t, Roles{Migrate: true, Serve: true, Work: true})
	histories := make([]simclerk.History, users)
	var phase1, phase2 []delivery
	for i := range histories {
		hist := simclerk.GenWithTies(r, i, propUserID(i))
		histories[i] = hist
		for _, s := range hist.Snapshots {
			phase1 = append(phase1, delivery{id: s.Delivery, body: simclerk.UserEvent(s)})
		}
		if hist.DeletedAt != 0 {
			first := hist.Snapshots[0]
			phase1 = append(phase1, delivery{id: fmt.Sprintf("msg_%d_del", i), body: simclerk.DeleteEvent(first.ID, first.ExternalID, hist.DeletedAt)})
			// Late stale updates after the delete, delivered once it has landed.
			late := hist.Snapshots[r.IntN(len(hist.Snapshots))]
			phase2 = append(phase2, delivery{id: fmt.Sprintf("msg_%d_late", i), body: simclerk.UserEvent(late)})
		}
	}
	deliver := func(ds []delivery) {
		// Duplicates: the same svix-id again, as Svix retries and replays do.
		all := append([]delivery(nil), ds...)
		for _, d := range ds {
			if r.Float64() < dupRate {
				all = append(all, d)
			}
		}
		r.Shuffle(len(all), func(i, j int) { all[i], all[j] = all[j], all[i] })
		t.Logf("delivering %d requests (%d events)", len(all), len(ds))
		ch := make(chan delivery)
		var wg sync.WaitGroup
		client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: workers}}
		for range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for d := range ch {
					if code := h.post(t, client, d.id, d.body); code != 200 {
						t.Errorf("delivery %s: status %d", d.id, code)
					}
				}
			}()
		}
		for _, d := range all {
			ch <- d
		}
		close(ch)
		wg.Wait()
		h.drained(t, 3*time.Minute)
	}
	deliver(phase1)
	deliver(phase2)

	want := expectedMirror(histories)
	got := actualMirror(t, h)
	for table := range want {
		if !reflect.DeepEqual(got[table], want[table]) {
			t.Errorf("%s differs: %s", table, diff(got[table], want[table]))
		}
	}
}

func expectedMirror(hs []simclerk.History) simclerk.Rows { return simclerk.Expected(hs) }

func actualMirror(t *testing.T, h *harness) simclerk.Rows {
	m := simclerk.NewRows()
	for table, q := range simclerk.RowQueries {
		var rows []struct {
			UserID string `db:"user_id"`
			Row    string `db:"row"`
		}
		if err := h.conn.Select(&rows, "SELECT u AS user_id, r AS row FROM ("+q+") AS t(u, r)"); err != nil {
			t.Fatalf("%s: %v", table, err)
		}
		for _, r := range rows {
			m[table] = append(m[table], r.Row)
		}
	}
	m.Sort()
	return m
}

func diff(got, want []string) string {
	g, w := map[string]bool{}, map[string]bool{}
	for _, s := range got {
		g[s] = true
	}
	for _, s := range want {
		w[s] = true
	}
	var out []string
	for _, s := range want {
		if !g[s] && len(out) < 10 {
			out = append(out, "missing "+s)
		}
	}
	for _, s := range got {
		if !w[s] && len(out) < 20 {
			out = append(out, "unexpected "+s)
		}
	}
	return fmt.Sprintf("%d rows vs %d wanted; %s", len(got), len(want), strings.Join(out, "; "))
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}
