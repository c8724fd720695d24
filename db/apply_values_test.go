package db_test

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/lib/pq"

	"github.com/clerksync/clerksync"
)

// nulEvent is a user.updated whose names, metadata keys and values, contacts
// and unknown keys carry NUL, which Postgres text and jsonb cannot hold.
const nulEvent = `{"type":"user.updated","timestamp":1700000000100,"data":{"id":"user_nul",
	"first_name":"A\u0000da","last_name":"\u0000","username":"back\\u0000slash","external_id":"ext\u0000",
	"public_metadata":{"k\u0000ey":"v\u0000al"},"unsafe_metadata":{"\u0000":["\u0000"]},
	"primary_email_address_id":"idn_e","primary_phone_number_id":"idn_p","updated_at":1700000000000,
	"email_addresses":[{"id":"idn_e","email_address":"a\u0000@example.com","verification":{"status":"verified","strategy":"email\u0000code"},"linked_to":[{"id":"\u0000"}]}],
	"phone_numbers":[{"id":"idn_p","phone_number":"+1\u0000"}],
	"web3_wallets":[{"id":"idn_w","web3_wallet":"0x\u0000"}],
	"external_accounts":[{"id":"eac_1","provider":"oauth_github","provider_user_id":"\u0000","first_name":"\u0000x","public_metadata":{"\u0000":"\u0000"}}],
	"unknown":"\u0000"}}`

func TestNULStoredAsReplacementCharacter(t *testing.T) {
	s, conn := newStore(t)
	ev, err := clerksync.ParseEvent("msg_nul", []byte(nulEvent))
	if err != nil {
		t.Fatal(err)
	}
	if out := apply(t, s, ev); out[0] != clerksync.Applied {
		t.Fatalf("outcome %v", out)
	}
	const r = "\uFFFD"
	want := [][]any{{"A" + r + "da", r, `back\u0000slash`, "ext" + r, `{"k` + r + `ey": "v` + r + `al"}`, `{"` + r + `": ["` + r + `"]}`,
		"a" + r + "@example.com", "+1" + r, r, `back\u0000slash`}}
	got := rows(t, conn, `SELECT first_name, last_name, username, external_id, public_metadata::text, unsafe_metadata::text,
		primary_email_address, primary_phone_number, raw->>'unknown', raw->>'username' FROM users`)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("users:\n got %q\nwant %q", got, want)
	}
	want = [][]any{{"a" + r + "@example.com", "email" + r + "code", `[{"id": "` + r + `"}]`, "+1" + r, "0x" + r, r, r + "x", `{"` + r + `": "` + r + `"}`}}
	got = rows(t, conn, `SELECT e.email_address, e.verification_strategy, e.linked_to::text, p.phone_number, w.web3_wallet,
		a.provider_user_id, a.first_name, a.public_metadata::text
		FROM email_addresses e, phone_numbers p, web3_wallets w, external_accounts a`)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("contacts:\n got %q\nwant %q", got, want)
	}

	del, err := clerksync.ParseEvent("msg_nul_del", []byte(`{"type":"user.deleted","timestamp":1700000000200,"data":{"id":"user_gone","external_id":"x\u0000y","deleted":true}}`))
	if err != nil {
		t.Fatal(err)
	}
	if out := apply(t, s, del); out[0] != clerksync.Deleted {
		t.Fatalf("delete outcome %v", out)
	}
	if got := rows(t, conn, `SELECT external_id FROM deleted_users WHERE id = 'user_gone'`); !reflect.DeepEqual(got, [][]any{{"x" + r + "y"}}) {
		t.Errorf("tombstone external_id %q", got)
	}
}

// TestNumbersDecodeUserRefusesPostgresRefuses holds DecodeUser's numeric
// limits to Postgres itself: each number DecodeUser refuses, jsonb refuses
// (value overflows numeric format), and each one it keeps is stored.
func TestNumbersDecodeUserRefusesPostgresRefuses(t *testing.T) {
	s, conn := newStore(t)
	refused := []string{"1e131072", "-1e131072", "10e131071", "0.0001e131076", "9.99e131072", "1e-16384", "1.5e-16383",
		"0e-16384", "1.00e-16382", "0e1073741823", "0e-1073741823", "1e99999999999", "1" + strings.Repeat("0", 131072),
		"0." + strings.Repeat("0", 16383) + "1", "1." + strings.Repeat("0", 16384)}
	kept := []string{"1e131071", "-9.9999e131071", "10e131070", "0.5e131072", "0.0001e131075", "1e-16383", "1.0e-16382",
		"0e-16383", "0e1073741822", "0.00000e131072", "1" + strings.Repeat("0", 131071), "0." + strings.Repeat("1", 16383),
		"123e-16383", "12.3e-16382", "1E+131071", "-0", "0"}
	user := func(n string) []byte {
		return []byte(`{"type":"user.updated","timestamp":1700000000100,"data":{"id":"user_n","updated_at":1700000000000,"public_metadata":{"n":` + n + `}}}`)
	}
	for _, n := range refused {
		if _, err := clerksync.ParseEvent("msg_n", user(n)); !errors.Is(err, clerksync.ErrInvalidEvent) {
			t.Errorf("%.30s: DecodeUser kept it (%v)", n, err)
		}
		var pqErr *pq.Error
		if _, err := conn.Exec(`SELECT CAST($1 AS jsonb)`, "["+n+"]"); !errors.As(err, &pqErr) || pqErr.Code != "22003" {
			t.Errorf("%.30s: Postgres: %v, want 22003", n, err)
		}
	}
	for _, n := range kept {
		ev, err := clerksync.ParseEvent("msg_n", user(n))
		if err != nil {
			t.Errorf("%.30s: %v", n, err)
			continue
		}
		if out := apply(t, s, ev); out[0] != clerksync.Applied {
			t.Errorf("%.30s: outcome %v", n, out)
		}
	}
}

func TestLatestTimeIsStored(t *testing.T) {
	s, conn := newStore(t)
	ev, err := clerksync.ParseEvent("msg_t", []byte(`{"type":"user.updated","timestamp":1700000000100,"data":{"id":"user_t",
		"updated_at":253402300799999,"email_addresses":[{"id":"idn_t","email_address":"t@example.com","created_at":253402300799999}]}}`))
	if err != nil {
		t.Fatal(err)
	}
	apply(t, s, ev)
	want := [][]any{{"9999-12-31 23:59:59.999", "9999-12-31 23:59:59.999"}}
	if got := rows(t, conn, `SELECT to_char(u.updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.MS'),
		to_char(e.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.MS') FROM users u JOIN email_addresses e ON e.user_id = u.id`); !reflect.DeepEqual(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}
