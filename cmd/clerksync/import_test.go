package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/jmoiron/sqlx"

	"github.com/clerksync/clerksync"
	"github.com/clerksync/clerksync/db"
	"github.com/clerksync/clerksync/internal/testenv"
)

type impResult struct {
	code           int
	stdout, stderr string
}

// impRun runs `clerksync import args...` in-process with DATABASE_URL set
// to dbURL.
func impRun(t *testing.T, dbURL string, stdin string, args ...string) impResult {
	t.Helper()
	var out, errOut bytes.Buffer
	e := &Env{
		Stdin: strings.NewReader(stdin), Stdout: &out, Stderr: &errOut,
		Lookup: func(k string) (string, bool) {
			if k == "DATABASE_URL" {
				return dbURL, true
			}
			return "", false
		},
	}
	code := Main(context.Background(), e, append([]string{"import"}, args...))
	return impResult{code, out.String(), errOut.String()}
}

// impDB returns the URL of a fresh, migrated database and a connection to it.
func impDB(t *testing.T) (string, *sqlx.DB) {
	t.Helper()
	return testenv.Mirror(t, 2)
}

// impCopy copies a test file into a temporary directory, where the default
// rejects file will be written next to it.
func impCopy(t *testing.T, src string) string {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(t.TempDir(), filepath.Base(src))
	if err := os.WriteFile(dst, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return dst
}

func impRows(t *testing.T, conn *sqlx.DB, q string) [][]string {
	t.Helper()
	r, err := conn.Queryx(q)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	defer r.Close()
	var out [][]string
	for r.Next() {
		vals, err := r.SliceScan()
		if err != nil {
			t.Fatal(err)
		}
		row := make([]string, len(vals))
		for i, v := range vals {
			switch v := v.(type) {
			case nil:
				row[i] = "NULL"
			case []byte:
				row[i] = string(v)
			default:
				row[i] = fmt.Sprint(v)
			}
		}
		out = append(out, row)
	}
	return out
}

// impDump is every row of every mirror table, contact ids and synced_at
// included.
func impDump(t *testing.T, conn *sqlx.DB) [][]string {
	t.Helper()
	var all [][]string
	for _, q := range []string{
		`SELECT 'users', id, coalesce(username, '-'), coalesce(first_name, '-'), coalesce(last_name, '-'),
			coalesce(primary_email_address_id, '-'), coalesce(primary_email_address, '-'),
			coalesce(primary_phone_number_id, '-'), coalesce(primary_phone_number, '-'),
			password_enabled::text, two_factor_enabled::text, totp_enabled::text, source,
			coalesce(updated_at::text, '-'), coalesce(raw::text, '-'), synced_at::text FROM users ORDER BY id`,
		`SELECT 'email', id, user_id, email_address, coalesce(verification_status, '-'), is_primary::text
			FROM email_addresses ORDER BY id`,
		`SELECT 'phone', id, user_id, phone_number, coalesce(verification_status, '-'), is_primary::text
			FROM phone_numbers ORDER BY id`,
	} {
		all = append(all, impRows(t, conn, q)...)
	}
	return all
}

// credentials returns every password digest, hasher and TOTP secret in a
// Dashboard export, read with encoding/csv independently of the importer.
func credentials(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	r := csv.NewReader(bytes.NewReader(bytes.TrimPrefix(b, []byte("\ufeff"))))
	r.FieldsPerRecord = -1
	r.LazyQuotes = true // the bad-rows file has a stray quote
	recs, err := r.ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	cols := map[string]bool{"totp_secret": true, "password_digest": true, "password_hasher": true}
	seen := map[string]bool{}
	var out []string
	for i, name := range recs[0] {
		if !cols[strings.ToLower(strings.TrimSpace(name))] {
			continue
		}
		for _, rec := range recs[1:] {
			if i < len(rec) && strings.TrimSpace(rec[i]) != "" && !seen[rec[i]] {
				seen[rec[i]] = true
				out = append(out, strings.TrimSpace(rec[i]))
			}
		}
	}
	return out
}

// hitsInDatabase searches every column of every table in the database, cast
// to text, for s and returns where it was found.
func hitsInDatabase(t *testing.T, conn *sqlx.DB, s string) []string {
	t.Helper()
	cols := impRows(t, conn, `SELECT c.table_schema, c.table_name, c.column_name FROM information_schema.columns AS c
		JOIN information_schema.tables AS t USING (table_schema, table_name)
		WHERE t.table_type = 'BASE TABLE' AND c.table_schema NOT IN ('pg_catalog', 'information_schema')`)
	if len(cols) < 60 {
		t.Fatalf("found only %d columns to search", len(cols))
	}
	var hits []string
	for _, c := range cols {
		q := fmt.Sprintf(`SELECT count(*) FROM %q.%q WHERE position($1 IN CAST(%q AS text)) > 0`, c[0], c[1], c[2])
		var n int
		if err := conn.Get(&n, q, s); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		if n > 0 {
			hits = append(hits, strings.Join(c, "."))
		}
	}
	return hits
}

// assertNowhereInDatabase checks that no column of any table holds any of
// secrets; a known address is searched first, to show the search finds.
func assertNowhereInDatabase(t *testing.T, conn *sqlx.DB, control string, secrets []string) {
	t.Helper()
	if hits := hitsInDatabase(t, conn, control); len(hits) == 0 {
		t.Fatalf("the search does not find %q, which was imported", control)
	}
	for _, s := range secrets {
		if hits := hitsInDatabase(t, conn, s); len(hits) > 0 {
			t.Errorf("a credential (%.6s...) is stored in %v", s, hits)
		}
	}
}

func assertNotIn(t *testing.T, where, text string, secrets []string) {
	t.Helper()
	for _, s := range secrets {
		if strings.Contains(text, s) {
			t.Errorf("%s holds a credential (%.6s...)", where, s)
		}
	}
}

func TestImportSampleExport(t *testing.T) {
	url, conn := impDB(t)
	file := impCopy(t, "../../testdata/clerk-dashboard-export.sample.csv")
	res := impRun(t, url, "", file)
	if res.code != 0 {
		t.Fatalf("exit %d\nstdout %s\nstderr %s", res.code, res.stdout, res.stderr)
	}
	for _, want := range []string{
		"read        9 rows", "imported    9 (new 9, updated 0, unchanged 0)",
		"skipped     0 already mirrored", "rejected    0",
		"credentials 3 rows carried some (3 password digests, 1 TOTP secrets)",
	} {
		if !strings.Contains(res.stdout, want) {
			t.Errorf("summary lacks %q:\n%s", want, res.stdout)
		}
	}
	got := impRows(t, conn, `SELECT u.id, coalesce(u.primary_email_address, '-'), coalesce(u.primary_phone_number, '-'),
		u.password_enabled::text, u.totp_enabled::text,
		(SELECT string_agg(e.email_address || ':' || coalesce(e.verification_status, '-') || ':' || e.is_primary::text, ' '
		        ORDER BY e.email_address) FROM email_addresses e WHERE e.user_id = u.id),
		(SELECT string_agg(p.phone_number || ':' || p.verification_status || ':' || p.is_primary::text, ' '
		        ORDER BY p.phone_number) FROM phone_numbers p WHERE p.user_id = u.id)
		FROM users u ORDER BY u.id`)
	want := [][]string{
		{"user_2YDryYFVMM1W1plDDKz7Gzf4we6", "jane.doe@test.com", "-", "true", "false", "jane.doe@test.com:verified:true", "NULL"},
		{"user_2ZZCgLE7kJG2CRBxTZ6YUIvzS10", "johndoe@test.com", "-", "false", "false", "johndoe@test.com:verified:true", "NULL"},
		{"user_3fL2M3N4O5P6Q7R8S9T0U1V2W3X", "-", "+12125550100", "false", "false", "NULL", "+12125550100:verified:true"},
		{"user_argon_imported", "ari@test.com", "-", "true", "false", "ari@test.com:verified:true", "NULL"},
		{"user_mixed_separator_test", "first@test.com", "-", "false", "false",
			"first@test.com:verified:true second@test.com:unverified:false third@test.com:unverified:false", "NULL"},
		{"user_no_identifier_test", "-", "-", "false", "false", "NULL", "NULL"},
		{"user_pipe_email_test", "primary@test.com", "-", "false", "false",
			"primary@test.com:verified:true secondary@test.com:verified:false", "NULL"},
		{"user_pipe_phone_test", "-", "+12125550200", "false", "false", "NULL",
			"+12125550200:verified:true +12125550201:unverified:false"},
		{"user_quoted_comma_test", "ob@test.com", "-", "true", "true",
			"ob.work@test.com:verified:false ob@test.com:verified:true", "NULL"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("mirror:\n got %q\nwant %q", got, want)
	}
	// A first import builds the contact hash indexes at its end, as
	// migrate defined them.
	indexes := impRows(t, conn, `SELECT indexname || ' ' || indexdef FROM pg_indexes
		WHERE schemaname = current_schema() AND indexdef LIKE '%USING hash%' ORDER BY indexname`)
	wantIndexes := [][]string{
		{"email_addresses_lower_email_idx CREATE INDEX email_addresses_lower_email_idx ON clerk.email_addresses USING hash (lower(email_address))"},
		{"phone_numbers_phone_number_idx CREATE INDEX phone_numbers_phone_number_idx ON clerk.phone_numbers USING hash (phone_number)"},
	}
	if !reflect.DeepEqual(indexes, wantIndexes) {
		t.Errorf("indexes after a first import:\n got %q\nwant %q", indexes, wantIndexes)
	}
	secrets := credentials(t, file)
	if len(secrets) != 6 { // 3 digests, 2 hashers, 1 TOTP secret
		t.Fatalf("test file credentials: %d", len(secrets))
	}
	assertNowhereInDatabase(t, conn, "jane.doe@test.com", secrets)
	assertNotIn(t, "stdout", res.stdout, secrets)
	assertNotIn(t, "stderr", res.stderr, secrets)
}

func TestImportQuirks(t *testing.T) {
	url, conn := impDB(t)
	file := impCopy(t, "../../testdata/import/quirks.csv")
	if res := impRun(t, url, "", file); res.code != 0 {
		t.Fatalf("exit %d: %s %s", res.code, res.stdout, res.stderr)
	}
	got := impRows(t, conn, `SELECT u.id, coalesce(u.first_name, '-'), coalesce(u.last_name, '-'),
		coalesce(u.username, '-'), coalesce(u.primary_email_address, '-'), coalesce(u.primary_phone_number, '-'),
		(SELECT coalesce(string_agg(e.email_address || ':' || coalesce(e.verification_status, '-') || ':' || e.is_primary::text, ' '
		        ORDER BY lower(e.email_address)), '-') FROM email_addresses e WHERE e.user_id = u.id),
		(SELECT coalesce(string_agg(p.phone_number || ':' || p.verification_status || ':' || p.is_primary::text, ' '
		        ORDER BY p.phone_number), '-') FROM phone_numbers p WHERE p.user_id = u.id)
		FROM users u ORDER BY u.id`)
	want := [][]string{
		// id only: a web3 or OAuth-only user.
		{"user_quirk_idonly", "-", "-", "-", "-", "-", "-", "-"},
		// The primary address is in no list: kept, without a status; both separators.
		{"user_quirk_mixed", "李", "🙂 Smile", "smiley", "Primary@Only.example", "-",
			"a@x.example:verified:false b@x.example:verified:false c@x.example:verified:false Primary@Only.example:-:true", "-"},
		// A quoted CRLF inside a name, a comma inside quotes, an argon2id digest with commas.
		{"user_quirk_multiline", "Bob\nRobert", "O'Brien, Jr.", "-", "bob@example.com", "-", "bob@example.com:verified:true", "-"},
		// Phone-only, commas and pipes, spaces, a repeated number, unicode names.
		{"user_quirk_phones", "Zoë", "Ångström-Müller", "-", "-", "+14155550100", "-",
			"+14155550100:verified:true +14155550101:verified:false +14155550199:unverified:false"},
		// Spaces around values, the same address in other case (first spelling kept).
		{"user_quirk_pipes", "Alice", "Liddell", "alice", "alice@example.com", "-",
			"alice.work@example.com:verified:false alice@example.com:verified:true old@example.com:unverified:false", "-"},
		// The primary matches an unverified address in other case: that row is the primary.
		{"user_quirk_unverified", "Dora", "-", "-", "Dora@example.org", "-", "Dora@example.org:unverified:true", "-"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("mirror:\n got %q\nwant %q", got, want)
	}
	assertNowhereInDatabase(t, conn, "alice.work@example.com", credentials(t, file))
}

func TestImportBadRows(t *testing.T) {
	url, conn := impDB(t)
	file := impCopy(t, "../../testdata/import/bad-rows.csv")
	res := impRun(t, url, "", file)
	rejectsPath := strings.TrimSuffix(file, ".csv") + ".rejects.csv"
	if res.code != exitRejected {
		t.Fatalf("exit %d, want %d\n%s%s", res.code, exitRejected, res.stdout, res.stderr)
	}
	if want := fmt.Sprintf("clerksync import: 7 of 10 rows rejected (see %s); 3 imported, 0 skipped\n", rejectsPath); res.stderr != want {
		t.Errorf("stderr %q, want %q", res.stderr, want)
	}
	b, err := os.ReadFile(rejectsPath)
	if err != nil {
		t.Fatal(err)
	}
	wantRejects := "line,reason,id\n3,no id,\n4,\"id is not a Clerk user id (user_ followed by letters, digits or _)\",\n" +
		"5,\"has 5 fields, the header has 13\",user_short_row\n6,\"has 14 fields, the header has 13\",user_long_row\n" +
		"9,repeats the id of line 2,user_good_one\n10,\"malformed CSV: bare \"\" in non-quoted-field\",\n" +
		"11,\"id is not a Clerk user id (user_ followed by letters, digits or _)\",\n"
	if string(b) != wantRejects {
		t.Errorf("rejects file:\n%s\nwant\n%s", b, wantRejects)
	}
	ids := impRows(t, conn, `SELECT id, first_name FROM users ORDER BY id`)
	if want := [][]string{{"user_good_one", "Good"}, {"user_good_two", "Good"}, {"user_multi_line", "Multi\nLine"}}; !reflect.DeepEqual(ids, want) {
		t.Errorf("loaded %q", ids)
	}
	secrets := append(credentials(t, file), "TOTPNOID", "noid@example.com")
	assertNowhereInDatabase(t, conn, "two@example.com", secrets)
	assertNotIn(t, "rejects file", string(b), secrets)
	assertNotIn(t, "stdout and stderr", res.stdout+res.stderr, secrets)
}

func TestImportAgainChangesNothing(t *testing.T) {
	url, conn := impDB(t)
	file := impCopy(t, "../../testdata/clerk-dashboard-export.sample.csv")
	if res := impRun(t, url, "", file); res.code != 0 {
		t.Fatalf("first run: %d %s", res.code, res.stderr)
	}
	before := impDump(t, conn)
	res := impRun(t, url, "", file)
	if res.code != 0 || !strings.Contains(res.stdout, "imported    9 (new 0, updated 0, unchanged 9)") {
		t.Fatalf("second run: %d\n%s%s", res.code, res.stdout, res.stderr)
	}
	if after := impDump(t, conn); !reflect.DeepEqual(before, after) {
		t.Errorf("a second import changed the mirror:\nbefore %q\nafter  %q", before, after)
	}
}

func TestImportAfterWebhookKeepsTheWebhookRow(t *testing.T) {
	url, conn := impDB(t)
	body := readFixture(t, "02-user.created.real-2025-email-code.json")
	ev, err := clerksync.ParseEvent("msg_1", body)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.NewStore(conn).ApplyEvents(context.Background(), []clerksync.Event{ev}); err != nil {
		t.Fatal(err)
	}
	before := impDump(t, conn)
	file := filepath.Join(t.TempDir(), "older.csv")
	os.WriteFile(file, []byte("id,first_name,primary_email_address,verified_email_addresses\n"+
		ev.UserID+",Old,old@example.com,old@example.com\nuser_other,New,new@example.com,new@example.com\n"), 0o644)
	res := impRun(t, url, "", file)
	if res.code != 0 || !strings.Contains(res.stdout, "skipped     1 already mirrored") {
		t.Fatalf("exit %d\n%s%s", res.code, res.stdout, res.stderr)
	}
	after := impDump(t, conn)
	var kept [][]string
	for _, r := range after {
		if !strings.Contains(strings.Join(r, " "), "user_other") {
			kept = append(kept, r)
		}
	}
	if !reflect.DeepEqual(before, kept) {
		t.Errorf("the webhook's user changed:\nbefore %q\nafter  %q", before, kept)
	}
}

func TestImportDryRunWritesNothing(t *testing.T) {
	url, conn := impDB(t)
	file := impCopy(t, "../../testdata/import/bad-rows.csv")
	res := impRun(t, url, "", "--dry-run", file)
	if res.code != exitRejected || !strings.Contains(res.stdout, "valid       3 (dry run: nothing written)") {
		t.Fatalf("exit %d\n%s%s", res.code, res.stdout, res.stderr)
	}
	if n := impRows(t, conn, `SELECT count(*) FROM users`)[0][0]; n != "0" {
		t.Errorf("%s users after a dry run", n)
	}
	// A dry run does not even connect.
	res = impRun(t, "postgres://nobody@127.0.0.1:1/none?sslmode=disable", "",
		impCopy(t, "../../testdata/clerk-dashboard-export.sample.csv"), "--dry-run")
	if res.code != 0 {
		t.Errorf("dry run without a database: exit %d %s", res.code, res.stderr)
	}
}

func TestImportFromStdin(t *testing.T) {
	url, conn := impDB(t)
	b, _ := os.ReadFile("../../testdata/import/quirks.csv")
	rejects := filepath.Join(t.TempDir(), "r.csv")
	res := impRun(t, url, string(b), "--rejects", rejects, "--batch", "2", "-")
	if res.code != 0 || !strings.Contains(res.stdout, "imported    6 (new 6") {
		t.Fatalf("exit %d\n%s%s", res.code, res.stdout, res.stderr)
	}
	if n := impRows(t, conn, `SELECT count(*) FROM users`)[0][0]; n != "6" {
		t.Errorf("%s users", n)
	}
}

func TestImportRefusals(t *testing.T) {
	url, conn := impDB(t)
	sample := impCopy(t, "../../testdata/clerk-dashboard-export.sample.csv")
	unmigrated := testenv.Postgres(t)
	tests := []struct {
		name   string
		dbURL  string
		args   []string
		code   int
		stderr string
	}{
		{"MissingFile", url, []string{"/nonexistent/users.csv"}, 1, "open /nonexistent/users.csv: no such file or directory"},
		{"Directory", url, []string{t.TempDir()}, 1, "is a directory"},
		{"NoIDHeader", url, []string{impCopy(t, "../../testdata/import/no-id-header.csv")}, 1, `the header has no "id" column`},
		{"EmptyFile", url, []string{"-"}, 1, "stdin: not a Clerk user export: the file is empty"},
		{"SchemaMissing", unmigrated, []string{sample}, 1, "run `clerksync migrate` first"},
		{"NoFile", url, nil, 2, "name the CSV file to import"},
		{"TwoFiles", url, []string{sample, sample}, 2, "one FILE only"},
		{"BadBatch", url, []string{"--batch", "0", sample}, 2, "must be at least 1"},
		{"RejectsOverInput", url, []string{"--rejects", sample, sample}, 1, "would overwrite the input"},
		{"RejectsLinkedToInput", url, []string{"--rejects", linkTo(t, sample), sample}, 1, "would overwrite the input"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := impRun(t, tt.dbURL, "", tt.args...)
			if res.code != tt.code || !strings.Contains(res.stderr, tt.stderr) {
				t.Errorf("exit %d, stderr %q; want %d and %q", res.code, res.stderr, tt.code, tt.stderr)
			}
			if n := strings.Count(strings.TrimSpace(res.stderr), "\n"); tt.code == 1 && n != 0 {
				t.Errorf("stderr has %d lines, want one", n+1)
			}
		})
	}
	if n := impRows(t, conn, `SELECT count(*) FROM users`)[0][0]; n != "0" {
		t.Errorf("%s users loaded by refused imports", n)
	}
}

func TestImportHelp(t *testing.T) {
	res := impRun(t, "", "", "-h")
	for _, want := range []string{"Usage: clerksync import [--rejects PATH] [--dry-run] [--batch N] [--parallel N] [--metrics-file PATH] FILE|-",
		"-rejects PATH", "-dry-run", "-batch N", "-parallel N", "-metrics-file PATH", "Exit status"} {
		if res.code != 0 || !strings.Contains(res.stderr, want) {
			t.Errorf("exit %d, help lacks %q:\n%s", res.code, want, res.stderr)
		}
	}
}

func TestImportFlagsAfterFile(t *testing.T) {
	file := impCopy(t, "../../testdata/clerk-dashboard-export.sample.csv")
	if res := impRun(t, "", "", file, "--dry-run"); res.code != 0 || !strings.Contains(res.stdout, "dry run") {
		t.Errorf("exit %d\n%s%s", res.code, res.stdout, res.stderr)
	}
}

func TestRejectsPathDefaults(t *testing.T) {
	for _, tt := range []struct{ file, flag, want string }{
		{"exports/users.csv", "", "exports/users.rejects.csv"},
		{"users", "", "users.rejects.csv"},
		{"-", "", "clerksync-import.rejects.csv"},
		{"users.csv", "/tmp/r.csv", "/tmp/r.csv"},
	} {
		if got := rejectsPath(tt.file, tt.flag); got != tt.want {
			t.Errorf("rejectsPath(%q, %q) = %q, want %q", tt.file, tt.flag, got, tt.want)
		}
	}
}

// TestImportMetricsFile: the import rows by outcome, for the textfile
// collector, moving with what the import did.
func TestImportMetricsFile(t *testing.T) {
	url, conn := impDB(t)
	// One user already mirrored from a webhook, to be skipped.
	ev, err := clerksync.ParseEvent("msg_1", []byte(`{"type":"user.created","timestamp":1752566400180,
		"data":{"id":"user_good_one","updated_at":1752566400165,"email_addresses":[]}}`))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.NewStore(conn).ApplyEvents(context.Background(), []clerksync.Event{ev}); err != nil {
		t.Fatal(err)
	}
	file := impCopy(t, "../../testdata/import/bad-rows.csv")
	metrics := filepath.Join(t.TempDir(), "clerksync_import.prom")
	if res := impRun(t, url, "", "--metrics-file", metrics, file); res.code != exitRejected {
		t.Fatalf("exit %d: %s", res.code, res.stderr)
	}
	b, err := os.ReadFile(metrics)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`clerksync_import_rows_total{outcome="inserted"} 2`,
		`clerksync_import_rows_total{outcome="skipped_mirrored"} 1`,
		`clerksync_import_rows_total{outcome="rejected"} 7`,
		`clerksync_import_rows_total{outcome="updated"} 0`,
		`clerksync_import_duration_seconds `,
		`clerksync_import_credential_rows_dropped_total `,
		`clerksync_import_last_run_success 1`,
		`clerksync_import_last_run_timestamp_seconds `,
	} {
		if !strings.Contains(string(b), want) {
			t.Errorf("metrics file lacks %q:\n%s", want, b)
		}
	}
	// Rejected rows are the file's problem: the run itself completed.
	if !strings.Contains(string(b), "clerksync_import_last_success_timestamp_seconds") {
		t.Error("a completed import has no last-success time")
	}
	// The next run rewrites the file with its own figures.
	next := filepath.Join(t.TempDir(), "next.csv")
	os.WriteFile(next, []byte("id,first_name\nuser_good_two,Renamed\nuser_brand_new,New\n"), 0o644)
	if res := impRun(t, url, "", "--metrics-file", metrics, next); res.code != 0 {
		t.Fatalf("exit %d: %s", res.code, res.stderr)
	}
	b, _ = os.ReadFile(metrics)
	for _, want := range []string{`clerksync_import_rows_total{outcome="updated"} 1`, `clerksync_import_rows_total{outcome="inserted"} 1`,
		`clerksync_import_rows_total{outcome="rejected"} 0`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("metrics after the second run lack %q:\n%s", want, b)
		}
	}
}

// linkTo returns a symbolic link to path, in a directory of its own.
func linkTo(t *testing.T, path string) string {
	t.Helper()
	abs, err := filepath.Abs(path)
	if err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(t.TempDir(), "link.csv")
	if err := os.Symlink(abs, link); err != nil {
		t.Fatal(err)
	}
	return link
}
