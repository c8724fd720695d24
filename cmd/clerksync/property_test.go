package main

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"os"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// The property: whatever the order, duplication and concurrency of
// deliveries, the mirror ends up equal to Clerk's latest state. Histories
// include ties: different snapshots with the same updated_at, which the
// contract orders by envelope timestamp, then delivery id.

type contact struct {
	id, value string
	verified  bool
}

// userSnapshot is one state of a user in Clerk, from which both the event
// body and the expected mirror rows are derived.
type userSnapshot struct {
	id, externalID                   string
	updatedAt                        int64
	timestamp                        int64  // the envelope's; 0: updatedAt + 7
	delivery                         string // the svix-id it is delivered under
	first, last, username            string
	plan                             string
	emails, phones, wallets          []contact
	accounts                         []contact // value is the provider user id
	primaryEmail, primaryPhone, prim int       // index into emails/phones/wallets, -1 for none
}

func propUserID(i int) string { return fmt.Sprintf("user_prop%05d", i) }

func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// userEvent renders a snapshot as a Clerk user.updated event.
func userEvent(t testing.TB, s userSnapshot) []byte {
	verification := func(c contact, strategy string) map[string]any {
		status := "unverified"
		if c.verified {
			status = "verified"
		}
		return map[string]any{"status": status, "strategy": strategy, "attempts": nil}
	}
	var emails, phones, wallets, accounts []any
	for _, c := range s.emails {
		emails = append(emails, map[string]any{"id": c.id, "object": "email_address", "email_address": c.value,
			"verification": verification(c, "email_code"), "linked_to": []any{}, "reserved": false,
			"created_at": 1700000000000, "updated_at": s.updatedAt})
	}
	for _, c := range s.phones {
		phones = append(phones, map[string]any{"id": c.id, "object": "phone_number", "phone_number": c.value,
			"verification": verification(c, "phone_code"), "reserved_for_second_factor": false,
			"default_second_factor": false, "created_at": 1700000000000, "updated_at": s.updatedAt})
	}
	for _, c := range s.wallets {
		wallets = append(wallets, map[string]any{"id": c.id, "object": "web3_wallet", "web3_wallet": c.value,
			"verification": verification(c, "web3_metamask_signature")})
	}
	for _, c := range s.accounts {
		accounts = append(accounts, map[string]any{"id": c.id, "object": "external_account", "provider": "oauth_github",
			"provider_user_id": c.value, "identification_id": "idn_" + c.id, "approved_scopes": "read:user",
			"verification": verification(c, "oauth_github"), "public_metadata": map[string]any{},
			"created_at": 1700000000000, "updated_at": s.updatedAt})
	}
	pick := func(cs []contact, i int) any {
		if i < 0 {
			return nil
		}
		return cs[i].id
	}
	data := map[string]any{
		"id": s.id, "object": "user", "external_id": nilIfEmpty(s.externalID),
		"first_name": s.first, "last_name": s.last, "username": nilIfEmpty(s.username),
		"primary_email_address_id": pick(s.emails, s.primaryEmail),
		"primary_phone_number_id":  pick(s.phones, s.primaryPhone),
		"primary_web3_wallet_id":   pick(s.wallets, s.prim),
		"public_metadata":          map[string]any{"plan": s.plan},
		"private_metadata":         nil, "unsafe_metadata": map[string]any{},
		"email_addresses": orEmpty(emails), "phone_numbers": orEmpty(phones),
		"web3_wallets": orEmpty(wallets), "external_accounts": orEmpty(accounts),
		"password_enabled": true, "created_at": 1700000000000, "updated_at": s.updatedAt,
		"some_future_key": map[string]any{"x": 1},
	}
	typ := "user.updated"
	if s.first == "created" {
		typ = "user.created"
	}
	ts := s.timestamp
	if ts == 0 {
		ts = s.updatedAt + 7
	}
	b, err := json.Marshal(map[string]any{"type": typ, "object": "event", "timestamp": ts, "data": data,
		"instance_id": "ins_prop"})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func deleteEvent(id, externalID string, ts int64) []byte {
	data := map[string]any{"id": id, "object": "user", "deleted": true}
	if externalID != "" {
		data["external_id"] = externalID
	}
	b, _ := json.Marshal(map[string]any{"type": "user.deleted", "object": "event", "timestamp": ts, "data": data})
	return b
}

func nilIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func orEmpty(xs []any) []any {
	if xs == nil {
		return []any{}
	}
	return xs
}

// history is one user's events in Clerk's order and the state they lead to.
type history struct {
	snapshots []userSnapshot
	deletedAt int64 // 0: alive
	final     *userSnapshot
}

// genHistory makes a random life: a create, up to 8 updates that add and
// remove contacts and switch primaries, and in 30% of cases a deletion. A
// third of the updates tie with the snapshot before (the same updated_at)
// with an envelope timestamp earlier, equal or later than its, so that the
// winner of a tie is often not the last one generated.
func genHistory(r *rand.Rand, i int) history {
	id := propUserID(i)
	ext := ""
	if r.IntN(2) == 0 {
		ext = "ext-" + strconv.Itoa(i)
	}
	t := int64(1752566400000) + int64(i)*1000
	var h history
	pool := func(kind string, n int) []contact {
		var cs []contact
		for j := range n {
			cs = append(cs, contact{id: fmt.Sprintf("idn_%s_%s%d", id[5:], kind, j), verified: r.IntN(4) != 0})
		}
		return cs
	}
	emailPool, phonePool, walletPool, accountPool := pool("em", 5), pool("ph", 3), pool("w", 2), pool("eac", 3)
	subset := func(p []contact, version int) []contact {
		var out []contact
		for _, c := range p {
			if r.IntN(2) == 0 {
				c.value = fmt.Sprintf("%s-v%d", c.id, version) // values change too
				out = append(out, c)
			}
		}
		return out
	}
	primary := func(cs []contact) int {
		if len(cs) == 0 || r.IntN(5) == 0 {
			return -1
		}
		return r.IntN(len(cs))
	}
	n := 1 + r.IntN(9)
	ts := t
	for v := range n {
		if v == 0 || r.IntN(3) != 0 {
			t += 1 + int64(r.IntN(5000))
			ts = t + int64(r.IntN(20))
		} else {
			ts += int64(r.IntN(3)) - 1 // a tie: the envelope decides, or else the delivery id
		}
		s := userSnapshot{id: id, externalID: ext, updatedAt: t, timestamp: ts, delivery: fmt.Sprintf("msg_%d_%d", i, v),
			first: "updated", last: fmt.Sprintf("L%d", v),
			username: fmt.Sprintf("u%d_%d", i, v), plan: []string{"free", "pro", "team"}[r.IntN(3)]}
		if v == 0 {
			s.first = "created"
		}
		s.emails, s.phones, s.wallets, s.accounts = subset(emailPool, v), subset(phonePool, v), subset(walletPool, v), subset(accountPool, v)
		for k := range s.emails {
			s.emails[k].value = fmt.Sprintf("u%d.v%d.%d@Example.com", i, v, k)
		}
		s.primaryEmail, s.primaryPhone, s.prim = primary(s.emails), primary(s.phones), primary(s.wallets)
		h.snapshots = append(h.snapshots, s)
	}
	if r.IntN(10) < 3 {
		h.deletedAt = max(t, ts) + 1 + int64(r.IntN(5000))
	} else {
		h.final = &h.snapshots[0]
		for k := range h.snapshots {
			if s := &h.snapshots[k]; !s.ordersBefore(h.final) {
				h.final = s
			}
		}
	}
	return h
}

// ordersBefore is the contract's order of snapshots: updated_at, then the
// envelope timestamp, then the delivery id byte-wise.
func (s *userSnapshot) ordersBefore(o *userSnapshot) bool {
	if s.updatedAt != o.updatedAt {
		return s.updatedAt < o.updatedAt
	}
	if s.timestamp != o.timestamp {
		return s.timestamp < o.timestamp
	}
	return s.delivery < o.delivery
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
	histories := make([]history, users)
	var phase1, phase2 []delivery
	for i := range histories {
		hist := genHistory(r, i)
		histories[i] = hist
		for _, s := range hist.snapshots {
			phase1 = append(phase1, delivery{id: s.delivery, body: userEvent(t, s)})
		}
		if hist.deletedAt != 0 {
			phase1 = append(phase1, delivery{id: fmt.Sprintf("msg_%d_del", i), body: deleteEvent(hist.snapshots[0].id, hist.snapshots[0].externalID, hist.deletedAt)})
			// Late stale updates after the delete, delivered once it has landed.
			late := hist.snapshots[r.IntN(len(hist.snapshots))]
			phase2 = append(phase2, delivery{id: fmt.Sprintf("msg_%d_late", i), body: userEvent(t, late)})
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

// expectedMirror renders the final states as sorted row strings per table.
func expectedMirror(hs []history) map[string][]string {
	m := map[string][]string{"users": {}, "email_addresses": {}, "phone_numbers": {}, "web3_wallets": {}, "external_accounts": {}, "deleted_users": {}}
	for _, h := range hs {
		first := h.snapshots[0]
		if h.final == nil {
			m["deleted_users"] = append(m["deleted_users"], fmt.Sprintf("%s|%s|%d", first.id, first.externalID, h.deletedAt))
			continue
		}
		s := h.final
		primEmail, primPhone := "", ""
		if s.primaryEmail >= 0 {
			primEmail = s.emails[s.primaryEmail].value
		}
		if s.primaryPhone >= 0 {
			primPhone = s.phones[s.primaryPhone].value
		}
		m["users"] = append(m["users"], fmt.Sprintf("%s|%s|%s|%s|%s|%s|%s|%d", s.id, s.externalID, s.last, s.username, primEmail, primPhone, s.plan, s.updatedAt))
		row := func(table string, cs []contact, prim int) {
			for k, c := range cs {
				m[table] = append(m[table], fmt.Sprintf("%s|%s|%s|%t|%t", c.id, s.id, c.value, c.verified, k == prim))
			}
		}
		row("email_addresses", s.emails, s.primaryEmail)
		row("phone_numbers", s.phones, s.primaryPhone)
		row("web3_wallets", s.wallets, s.prim)
		row("external_accounts", s.accounts, -1)
	}
	for k := range m {
		sort.Strings(m[k])
	}
	return m
}

func actualMirror(t *testing.T, h *harness) map[string][]string {
	queries := map[string]string{
		"users": `SELECT concat_ws('|', id, coalesce(external_id, ''), last_name, username, coalesce(primary_email_address, ''),
			coalesce(primary_phone_number, ''), public_metadata->>'plan', (extract(epoch FROM updated_at) * 1000)::bigint) FROM users`,
		"email_addresses":   `SELECT concat_ws('|', id, user_id, email_address, coalesce(verification_status = 'verified', false)::text, is_primary::text) FROM email_addresses`,
		"phone_numbers":     `SELECT concat_ws('|', id, user_id, phone_number, coalesce(verification_status = 'verified', false)::text, is_primary::text) FROM phone_numbers`,
		"web3_wallets":      `SELECT concat_ws('|', id, user_id, web3_wallet, coalesce(verification_status = 'verified', false)::text, is_primary::text) FROM web3_wallets`,
		"external_accounts": `SELECT concat_ws('|', id, user_id, provider_user_id, coalesce(verification_status = 'verified', false)::text, 'false') FROM external_accounts`,
		"deleted_users":     `SELECT concat_ws('|', id, coalesce(external_id, ''), (extract(epoch FROM deleted_at) * 1000)::bigint) FROM deleted_users`,
	}
	m := map[string][]string{}
	for table, q := range queries {
		var rows []string
		if err := h.conn.Select(&rows, q); err != nil {
			t.Fatalf("%s: %v", table, err)
		}
		if rows == nil {
			rows = []string{}
		}
		sort.Strings(rows)
		m[table] = rows
	}
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
