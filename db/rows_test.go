package db_test

import (
	"fmt"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/clerksync/clerksync"
)

// TestRowTypesMatchTables: the json tags of the row types are exactly each
// table's columns, so that a column added without its field (or a field
// whose tag names no column, which jsonb_populate_recordset ignores) fails
// here rather than mirroring NULLs.
func TestRowTypesMatchTables(t *testing.T) {
	_, conn := newStore(t)
	// The users columns the store adds to clerksync.User's own.
	storeColumns := []string{"source", "synced_at", "raw", "event_timestamp", "delivery_id"}
	for table, typ := range map[string]reflect.Type{
		"users":             reflect.TypeFor[clerksync.User](),
		"email_addresses":   reflect.TypeFor[clerksync.EmailAddress](),
		"phone_numbers":     reflect.TypeFor[clerksync.PhoneNumber](),
		"web3_wallets":      reflect.TypeFor[clerksync.Web3Wallet](),
		"external_accounts": reflect.TypeFor[clerksync.ExternalAccount](),
	} {
		var columns []string
		if err := conn.Select(&columns, `SELECT attname FROM pg_attribute
			WHERE attrelid = CAST($1 AS regclass) AND attnum > 0 AND NOT attisdropped ORDER BY attname`, table); err != nil {
			t.Fatal(err)
		}
		fields := jsonTags(typ)
		if table == "users" {
			fields = append(fields, storeColumns...)
		}
		slices.Sort(fields)
		if !slices.Equal(fields, columns) {
			t.Errorf("%s: the row type's keys\n %v\nare not its columns\n %v", table, fields, columns)
		}
	}
}

func jsonTags(typ reflect.Type) []string {
	var tags []string
	for f := range typ.Fields() {
		tag, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		switch {
		case f.Anonymous && tag == "":
			tags = append(tags, jsonTags(f.Type)...)
		case tag != "-" && f.IsExported():
			tags = append(tags, tag)
		}
	}
	return tags
}

// TestUpsertSetsEveryColumn: the upsert's SET list, the one place the
// write path (sql/apply.sql) names columns, sets every users column but the key.
func TestUpsertSetsEveryColumn(t *testing.T) {
	_, conn := newStore(t)
	sql, err := os.ReadFile("sql/apply.sql")
	if err != nil {
		t.Fatal(err)
	}
	set := regexp.MustCompile(`(?s)DO UPDATE SET(.*?)\n\s*-- The ordering guard`).FindSubmatch(sql)
	if set == nil {
		t.Fatal("no SET list in apply.sql")
	}
	var got []string
	for _, m := range regexp.MustCompile(`(\w+) = excluded\.(\w+)`).FindAllStringSubmatch(string(set[1]), -1) {
		if m[1] != m[2] {
			t.Errorf("%s is set from excluded.%s", m[1], m[2])
		}
		got = append(got, m[1])
	}
	var want []string
	if err := conn.Select(&want, `SELECT attname FROM pg_attribute
		WHERE attrelid = CAST('users' AS regclass) AND attnum > 0 AND NOT attisdropped AND attname <> 'id' ORDER BY attnum`); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, want) {
		t.Errorf("SET list\n %v\nwant every column but id, in table order\n %v", got, want)
	}
}

// TestContactRowsReplacedWhole: a snapshot's contacts replace the stored
// ones; unchanged rows are left alone (the same tuple), changed ones
// replaced, removed ones deleted, and a contact id that moved from another
// user moves with it.
func TestContactRowsReplacedWhole(t *testing.T) {
	s, conn := newStore(t)
	body := func(id string, updated int, emails string) []byte {
		return fmt.Appendf(nil, `{"type":"user.updated","timestamp":1700000000100,"data":{"id":%q,"updated_at":%d,"email_addresses":[%s]}}`,
			id, 1700000000000+updated, emails)
	}
	email := func(id, address, status string) string {
		return `{"id":"` + id + `","email_address":"` + address + `","verification":{"status":"` + status + `"}}`
	}
	parse := func(b []byte) clerksync.Event {
		ev, err := clerksync.ParseEvent("msg", b)
		if err != nil {
			t.Fatal(err)
		}
		return ev
	}
	apply(t, s, parse(body("user_a", 1, email("idn_1", "one@example.com", "verified")+","+
		email("idn_2", "two@example.com", "unverified")+","+email("idn_3", "three@example.com", "verified"))),
		parse(body("user_b", 1, email("idn_9", "nine@example.com", "verified"))))
	tuples := func() map[string]string {
		m := map[string]string{}
		for _, r := range rows(t, conn, `SELECT id, ctid::text || xmin::text FROM email_addresses`) {
			m[r[0].(string)] = r[1].(string)
		}
		return m
	}
	before := tuples()
	// idn_1 unchanged, idn_2 verified now, idn_3 removed, idn_9 moved from user_b, idn_4 new.
	apply(t, s, parse(body("user_a", 2, email("idn_1", "one@example.com", "verified")+","+
		email("idn_2", "two@example.com", "verified")+","+email("idn_9", "nine@example.com", "verified")+","+
		email("idn_4", "four@example.com", "unverified"))))
	after := tuples()
	if after["idn_1"] != before["idn_1"] {
		t.Error("the unchanged row was rewritten")
	}
	if after["idn_2"] == before["idn_2"] || after["idn_9"] == before["idn_9"] {
		t.Error("a changed or moved row was left as it was")
	}
	want := [][]any{{"idn_1", "user_a", "verified"}, {"idn_2", "user_a", "verified"}, {"idn_4", "user_a", "unverified"}, {"idn_9", "user_a", "verified"}}
	if got := rows(t, conn, `SELECT id, user_id, verification_status FROM email_addresses ORDER BY id`); !reflect.DeepEqual(got, want) {
		t.Errorf("email_addresses:\n got %v\nwant %v", got, want)
	}
}

// TestOneUserLock: the import's lock statement and the write path take the
// same lock for a user (class and key), or an import chunk and a webhook
// batch would not serialise.
func TestOneUserLock(t *testing.T) {
	lock := regexp.MustCompile(`pg_advisory_xact_lock\((\d+), k\)\s+FROM \(SELECT DISTINCT hashtext\(id\) AS k FROM unnest\(`)
	var got []string
	for _, f := range []string{"sql/lock_users.sql", "sql/apply.sql"} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		m := lock.FindSubmatch(b)
		if m == nil {
			t.Fatalf("%s: no per-user lock statement", f)
		}
		got = append(got, string(m[1]))
	}
	if got[0] != got[1] {
		t.Fatalf("lock classes %v", got)
	}
}
