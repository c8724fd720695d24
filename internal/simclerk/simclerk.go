// Package simclerk simulates Clerk for tests and fault scenarios: random user
// histories (a create, updates that add and remove contacts and switch
// primaries, perhaps a deletion), the webhook events they send, and the rows
// the mirror must hold once it has applied some or all of those events.
package simclerk

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"sort"
	"strconv"
)

// Contact is one email, phone, wallet or external account of a snapshot.
type Contact struct {
	ID, Value string
	Verified  bool
}

// Snapshot is one state of a user in Clerk, from which both the event body
// and the expected mirror rows are derived.
type Snapshot struct {
	ID, ExternalID string
	UpdatedAt      int64
	// Timestamp is the envelope's (0: UpdatedAt + 7) and Delivery the svix-id
	// the snapshot is delivered under ("": the caller names it): a tie of
	// UpdatedAt is ordered by them (see OrdersBefore).
	Timestamp             int64
	Delivery              string
	First, Last, Username string
	Plan                  string
	// Accounts' Value is the provider user id.
	Emails, Phones, Wallets, Accounts []Contact
	// Indexes into Emails, Phones and Wallets; -1 for none.
	PrimaryEmail, PrimaryPhone, PrimaryWallet int
}

// History is one user's snapshots in Clerk's order and how it ends.
type History struct {
	Snapshots []Snapshot
	DeletedAt int64 // Unix ms of the deletion; 0 while the user lives
}

// Final is the snapshot the mirror must end with: the last in the
// contract's order (see OrdersBefore), nil when the user was deleted.
func (h History) Final() *Snapshot {
	if h.DeletedAt != 0 {
		return nil
	}
	final := &h.Snapshots[0]
	for k := range h.Snapshots {
		if s := &h.Snapshots[k]; !s.OrdersBefore(final) {
			final = s
		}
	}
	return final
}

// OrdersBefore is the contract's order of snapshots: updated_at, then the
// envelope timestamp, then the delivery id byte-wise.
func (s *Snapshot) OrdersBefore(o *Snapshot) bool {
	if s.UpdatedAt != o.UpdatedAt {
		return s.UpdatedAt < o.UpdatedAt
	}
	if s.envelopeTime() != o.envelopeTime() {
		return s.envelopeTime() < o.envelopeTime()
	}
	return s.Delivery < o.Delivery
}

func (s *Snapshot) envelopeTime() int64 {
	if s.Timestamp == 0 {
		return s.UpdatedAt + 7
	}
	return s.Timestamp
}

// Gen makes a random life for user number i with the given id: a create, up
// to 8 updates, and in 30% of cases a deletion. The same generator state
// gives the same history.
func Gen(r *rand.Rand, i int, id string) History { return gen(r, i, id, false) }

// GenWithTies is Gen where a third of the updates tie with the snapshot
// before (the same updated_at) with an envelope timestamp earlier, equal or
// later than its, so that the winner of a tie is often not the last one
// generated; every snapshot is named its delivery id (msg_<i>_<version>).
func GenWithTies(r *rand.Rand, i int, id string) History { return gen(r, i, id, true) }

func gen(r *rand.Rand, i int, id string, ties bool) History {
	ext := ""
	if r.IntN(2) == 0 {
		ext = "ext-" + strconv.Itoa(i)
	}
	t := int64(1752566400000) + int64(i)*1000
	var h History
	pool := func(kind string, n int) []Contact {
		var cs []Contact
		for j := range n {
			cs = append(cs, Contact{ID: fmt.Sprintf("idn_%s_%s%d", id[5:], kind, j), Verified: r.IntN(4) != 0})
		}
		return cs
	}
	emailPool, phonePool, walletPool, accountPool := pool("em", 5), pool("ph", 3), pool("w", 2), pool("eac", 3)
	subset := func(p []Contact, version int) []Contact {
		var out []Contact
		for _, c := range p {
			if r.IntN(2) == 0 {
				c.Value = fmt.Sprintf("%s-v%d", c.ID, version) // values change too
				out = append(out, c)
			}
		}
		return out
	}
	primary := func(cs []Contact) int {
		if len(cs) == 0 || r.IntN(5) == 0 {
			return -1
		}
		return r.IntN(len(cs))
	}
	n := 1 + r.IntN(9)
	ts := int64(0)
	for v := range n {
		switch {
		case !ties:
			t += 1 + int64(r.IntN(5000))
		case v == 0 || r.IntN(3) != 0:
			t += 1 + int64(r.IntN(5000))
			ts = t + int64(r.IntN(20))
		default:
			ts += int64(r.IntN(3)) - 1 // a tie: the envelope decides, or else the delivery id
		}
		s := Snapshot{ID: id, ExternalID: ext, UpdatedAt: t, First: "updated", Last: fmt.Sprintf("L%d", v),
			Username: fmt.Sprintf("u%d_%d", i, v), Plan: []string{"free", "pro", "team"}[r.IntN(3)]}
		if ties {
			s.Timestamp, s.Delivery = ts, fmt.Sprintf("msg_%d_%d", i, v)
		}
		if v == 0 {
			s.First = "created"
		}
		s.Emails, s.Phones, s.Wallets, s.Accounts = subset(emailPool, v), subset(phonePool, v), subset(walletPool, v), subset(accountPool, v)
		for k := range s.Emails {
			s.Emails[k].Value = fmt.Sprintf("u%d.v%d.%d@Example.com", i, v, k)
		}
		s.PrimaryEmail, s.PrimaryPhone, s.PrimaryWallet = primary(s.Emails), primary(s.Phones), primary(s.Wallets)
		h.Snapshots = append(h.Snapshots, s)
	}
	if r.IntN(10) < 3 {
		h.DeletedAt = max(t, ts) + 1 + int64(r.IntN(5000))
	}
	return h
}

// UserEvent renders a snapshot as a Clerk user.created (the first version)
// or user.updated event, with an unknown key as Clerk may add any day.
func UserEvent(s Snapshot) []byte {
	verification := func(c Contact, strategy string) map[string]any {
		status := "unverified"
		if c.Verified {
			status = "verified"
		}
		return map[string]any{"status": status, "strategy": strategy, "attempts": nil}
	}
	var emails, phones, wallets, accounts []any
	for _, c := range s.Emails {
		emails = append(emails, map[string]any{"id": c.ID, "object": "email_address", "email_address": c.Value,
			"verification": verification(c, "email_code"), "linked_to": []any{}, "reserved": false,
			"created_at": 1700000000000, "updated_at": s.UpdatedAt})
	}
	for _, c := range s.Phones {
		phones = append(phones, map[string]any{"id": c.ID, "object": "phone_number", "phone_number": c.Value,
			"verification": verification(c, "phone_code"), "reserved_for_second_factor": false,
			"default_second_factor": false, "created_at": 1700000000000, "updated_at": s.UpdatedAt})
	}
	for _, c := range s.Wallets {
		wallets = append(wallets, map[string]any{"id": c.ID, "object": "web3_wallet", "web3_wallet": c.Value,
			"verification": verification(c, "web3_metamask_signature")})
	}
	for _, c := range s.Accounts {
		accounts = append(accounts, map[string]any{"id": c.ID, "object": "external_account", "provider": "oauth_github",
			"provider_user_id": c.Value, "identification_id": "idn_" + c.ID, "approved_scopes": "read:user",
			"verification": verification(c, "oauth_github"), "public_metadata": map[string]any{},
			"created_at": 1700000000000, "updated_at": s.UpdatedAt})
	}
	pick := func(cs []Contact, i int) any {
		if i < 0 {
			return nil
		}
		return cs[i].ID
	}
	data := map[string]any{
		"id": s.ID, "object": "user", "external_id": nilIfEmpty(s.ExternalID),
		"first_name": s.First, "last_name": s.Last, "username": nilIfEmpty(s.Username),
		"primary_email_address_id": pick(s.Emails, s.PrimaryEmail),
		"primary_phone_number_id":  pick(s.Phones, s.PrimaryPhone),
		"primary_web3_wallet_id":   pick(s.Wallets, s.PrimaryWallet),
		"public_metadata":          map[string]any{"plan": s.Plan},
		"private_metadata":         nil, "unsafe_metadata": map[string]any{},
		"email_addresses": orEmpty(emails), "phone_numbers": orEmpty(phones),
		"web3_wallets": orEmpty(wallets), "external_accounts": orEmpty(accounts),
		"password_enabled": true, "created_at": 1700000000000, "updated_at": s.UpdatedAt,
		"some_future_key": map[string]any{"x": 1},
	}
	typ := "user.updated"
	if s.First == "created" {
		typ = "user.created"
	}
	return mustJSON(map[string]any{"type": typ, "object": "event", "timestamp": s.envelopeTime(), "data": data,
		"instance_id": "ins_prop"})
}

// DeleteEvent renders a user.deleted event at ts (Unix ms).
func DeleteEvent(id, externalID string, ts int64) []byte {
	data := map[string]any{"id": id, "object": "user", "deleted": true}
	if externalID != "" {
		data["external_id"] = externalID
	}
	return mustJSON(map[string]any{"type": "user.deleted", "object": "event", "timestamp": ts, "data": data})
}

// mustJSON marshals values built here from strings, numbers, bools, maps and
// slices, which cannot fail.
func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("simclerk: marshal: %v", err))
	}
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

// Tables are the mirror tables that Rows and RowQueries cover.
var Tables = []string{"users", "email_addresses", "phone_numbers", "web3_wallets", "external_accounts", "deleted_users"}

// Rows are rendered mirror rows per table, each sorted, comparable with what
// RowQueries select.
type Rows map[string][]string

// NewRows is an empty Rows with every table present.
func NewRows() Rows {
	m := Rows{}
	for _, t := range Tables {
		m[t] = []string{}
	}
	return m
}

// Add appends the rows of o.
func (m Rows) Add(o Rows) {
	for t, rs := range o {
		m[t] = append(m[t], rs...)
	}
}

// Sort sorts every table's rows, so that two Rows compare with reflect.DeepEqual.
func (m Rows) Sort() {
	for _, rs := range m {
		sort.Strings(rs)
	}
}

// SnapshotRows are the rows a live user in state s has in the mirror.
func SnapshotRows(s Snapshot) Rows {
	m := NewRows()
	primEmail, primPhone := "", ""
	if s.PrimaryEmail >= 0 {
		primEmail = s.Emails[s.PrimaryEmail].Value
	}
	if s.PrimaryPhone >= 0 {
		primPhone = s.Phones[s.PrimaryPhone].Value
	}
	m["users"] = append(m["users"], fmt.Sprintf("%s|%s|%s|%s|%s|%s|%s|%d", s.ID, s.ExternalID, s.Last, s.Username, primEmail, primPhone, s.Plan, s.UpdatedAt))
	row := func(table string, cs []Contact, prim int) {
		for k, c := range cs {
			m[table] = append(m[table], fmt.Sprintf("%s|%s|%s|%t|%t", c.ID, s.ID, c.Value, c.Verified, k == prim))
		}
	}
	row("email_addresses", s.Emails, s.PrimaryEmail)
	row("phone_numbers", s.Phones, s.PrimaryPhone)
	row("web3_wallets", s.Wallets, s.PrimaryWallet)
	row("external_accounts", s.Accounts, -1)
	m.Sort()
	return m
}

// TombstoneRows are the rows a deleted user leaves: its tombstone only.
func TombstoneRows(id, externalID string, deletedAt int64) Rows {
	m := NewRows()
	m["deleted_users"] = append(m["deleted_users"], fmt.Sprintf("%s|%s|%d", id, externalID, deletedAt))
	return m
}

// FinalRows are the rows the whole history leads to.
func (h History) FinalRows() Rows {
	if s := h.Final(); s != nil {
		return SnapshotRows(*s)
	}
	first := h.Snapshots[0]
	return TombstoneRows(first.ID, first.ExternalID, h.DeletedAt)
}

// Expected is the mirror that applying every event of every history leads to.
func Expected(hs []History) Rows {
	m := NewRows()
	for _, h := range hs {
		m.Add(h.FinalRows())
	}
	m.Sort()
	return m
}

// RowQueries select, per table, each row's user id and its rendering in the
// form SnapshotRows and TombstoneRows produce. They name no schema: the
// connection's search_path does.
var RowQueries = map[string]string{
	"users": `SELECT id, concat_ws('|', id, coalesce(external_id, ''), last_name, username, coalesce(primary_email_address, ''),
		coalesce(primary_phone_number, ''), public_metadata->>'plan', (extract(epoch FROM updated_at) * 1000)::bigint) FROM users`,
	"email_addresses":   `SELECT user_id, concat_ws('|', id, user_id, email_address, coalesce(verification_status = 'verified', false)::text, is_primary::text) FROM email_addresses`,
	"phone_numbers":     `SELECT user_id, concat_ws('|', id, user_id, phone_number, coalesce(verification_status = 'verified', false)::text, is_primary::text) FROM phone_numbers`,
	"web3_wallets":      `SELECT user_id, concat_ws('|', id, user_id, web3_wallet, coalesce(verification_status = 'verified', false)::text, is_primary::text) FROM web3_wallets`,
	"external_accounts": `SELECT user_id, concat_ws('|', id, user_id, provider_user_id, coalesce(verification_status = 'verified', false)::text, 'false') FROM external_accounts`,
	"deleted_users":     `SELECT id, concat_ws('|', id, coalesce(external_id, ''), (extract(epoch FROM deleted_at) * 1000)::bigint) FROM deleted_users`,
}
