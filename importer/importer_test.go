package importer_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/clerksync/clerksync"
	"github.com/clerksync/clerksync/importer"
	"github.com/clerksync/clerksync/internal/csvgen"
)

// recorder is a Loader that keeps what it is given; the Postgres loader has
// its own tests in db/ and the whole path is tested in cmd/clerksync.
type recorder struct {
	mu      sync.Mutex
	users   []clerksync.ImportUser
	batches int
}

func (r *recorder) Load(_ context.Context, users []clerksync.ImportUser) (clerksync.LoadResult, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.users = append(r.users, users...)
	r.batches++
	return clerksync.LoadResult{Inserted: len(users)}, nil
}

func (r *recorder) byID() map[string]clerksync.ImportUser {
	m := map[string]clerksync.ImportUser{}
	for _, u := range r.users {
		m[u.ID] = u
	}
	return m
}

func run(t *testing.T, input string, opt importer.Options) (importer.Summary, *recorder) {
	t.Helper()
	rec := &recorder{}
	if opt.Loader == nil {
		opt.Loader = rec
	}
	if opt.RejectsPath == "" {
		opt.RejectsPath = filepath.Join(t.TempDir(), "rejects.csv")
	}
	r, err := importer.NewReader(strings.NewReader(input))
	if err != nil {
		t.Fatalf("NewReader: %v", err)
	}
	sum, err := importer.Run(context.Background(), r, opt)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	return sum, rec
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func rejects(t *testing.T, path string) [][]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

func ptr(s string) *string { return &s }

func contact(kind, user, value, status string, primary bool) clerksync.ImportContact {
	id := clerksync.ImportEmailID(user, value)
	if kind == "phone" {
		id = clerksync.ImportPhoneID(user, value)
	}
	return clerksync.ImportContact{ID: id, Value: value, Status: status, IsPrimary: primary}
}

func TestQuirksNormalised(t *testing.T) {
	sum, rec := run(t, readFile(t, "../testdata/import/quirks.csv"), importer.Options{})
	if sum.Read != 6 || sum.Valid != 6 || sum.Rejected != 0 {
		t.Fatalf("summary %+v", sum)
	}
	got := rec.byID()
	const v, uv = clerksync.Verified, clerksync.Unverified
	want := map[string]clerksync.ImportUser{
		"user_quirk_pipes": {Line: 2, ID: "user_quirk_pipes", FirstName: ptr("Alice"), LastName: ptr("Liddell"),
			Username: ptr("alice"), PasswordEnabled: true,
			Emails: []clerksync.ImportContact{
				contact("email", "user_quirk_pipes", "alice@example.com", v, true),
				contact("email", "user_quirk_pipes", "alice.work@example.com", v, false),
				contact("email", "user_quirk_pipes", "old@example.com", uv, false),
			}},
		"user_quirk_phones": {Line: 3, ID: "user_quirk_phones", FirstName: ptr("Zoë"), LastName: ptr("Ångström-Müller"),
			TOTPEnabled: true,
			Phones: []clerksync.ImportContact{
				contact("phone", "user_quirk_phones", "+14155550100", v, true),
				contact("phone", "user_quirk_phones", "+14155550101", v, false),
				contact("phone", "user_quirk_phones", "+14155550199", uv, false),
			}},
		"user_quirk_idonly": {Line: 4, ID: "user_quirk_idonly"},
		"user_quirk_multiline": {Line: 5, ID: "user_quirk_multiline", FirstName: ptr("Bob\nRobert"),
			LastName: ptr("O'Brien, Jr."), PasswordEnabled: true,
			Emails: []clerksync.ImportContact{contact("email", "user_quirk_multiline", "bob@example.com", v, true)}},
		"user_quirk_mixed": {Line: 7, ID: "user_quirk_mixed", FirstName: ptr("李"), LastName: ptr("🙂 Smile"),
			Username: ptr("smiley"),
			Emails: []clerksync.ImportContact{
				contact("email", "user_quirk_mixed", "a@x.example", v, false),
				contact("email", "user_quirk_mixed", "b@x.example", v, false),
				contact("email", "user_quirk_mixed", "c@x.example", v, false),
				contact("email", "user_quirk_mixed", "Primary@Only.example", "", true),
			}},
		"user_quirk_unverified": {Line: 8, ID: "user_quirk_unverified", FirstName: ptr("Dora"),
			Emails: []clerksync.ImportContact{contact("email", "user_quirk_unverified", "Dora@example.org", uv, true)}},
	}
	for id, w := range want {
		if !reflect.DeepEqual(got[id], w) {
			t.Errorf("%s:\n got %+v\nwant %+v", id, got[id], w)
		}
	}
	if sum.Credentials != (importer.Credentials{Rows: 3, PasswordDigests: 2, TOTPSecrets: 1}) {
		t.Errorf("credentials %+v", sum.Credentials)
	}
}

func TestBadRowsRejectedWithLineAndReason(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bad.rejects.csv")
	sum, rec := run(t, readFile(t, "../testdata/import/bad-rows.csv"), importer.Options{RejectsPath: path})
	want := [][]string{
		{"line", "reason", "id"},
		{"3", "no id", ""},
		{"4", "id is not a Clerk user id (user_ followed by letters, digits or _)", ""},
		{"5", "has 5 fields, the header has 13", "user_short_row"},
		{"6", "has 14 fields, the header has 13", "user_long_row"},
		{"9", "repeats the id of line 2", "user_good_one"},
		{"10", `malformed CSV: bare " in non-quoted-field`, ""},
		{"11", "id is not a Clerk user id (user_ followed by letters, digits or _)", ""},
	}
	if got := rejects(t, path); !reflect.DeepEqual(got, want) {
		t.Errorf("rejects file:\n got %q\nwant %q", got, want)
	}
	var loaded []string
	for _, u := range rec.users {
		loaded = append(loaded, u.ID)
	}
	// The row after a quoted newline (lines 7-8) loads, and line numbers
	// after it count physical lines. (Users reach the loader in id order.)
	slices.Sort(loaded)
	if w := []string{"user_good_one", "user_good_two", "user_multi_line"}; !reflect.DeepEqual(loaded, w) {
		t.Errorf("loaded %v, want %v", loaded, w)
	}
	if sum.Read != 10 || sum.Valid != 3 || sum.Rejected != 7 || sum.RejectsPath != path {
		t.Errorf("summary %+v", sum)
	}
}

func TestRejectsNeverHoldRowContent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rejects.csv")
	input := readFile(t, "../testdata/import/bad-rows.csv")
	sum, _ := run(t, input, importer.Options{RejectsPath: path})
	var out bytes.Buffer
	sum.Write(&out)
	report := readFile(t, path) + out.String() + sum.Line()
	for _, secret := range []string{"SECRETDIGEST", "TOTPNOID", "bcrypt", "$2b$", "noid@example.com", "Bad\"Quote", "usr_123"} {
		if strings.Contains(report, secret) {
			t.Errorf("rejects file or summary contains %q", secret)
		}
	}
}

func TestValidationReasons(t *testing.T) {
	const header = "id,first_name,primary_email_address,verified_email_addresses\n"
	tests := []struct {
		name, row, reason string
	}{
		{"InvalidUTF8", "user_a,\xff\xfe,,\n", "first_name is not valid UTF-8"},
		{"NULByte", "user_a,a\x00b,,\n", "first_name contains a NUL byte"},
		{"IDTooLong", "user_" + strings.Repeat("a", 60) + ",,,\n", "id is not a Clerk user id (user_ followed by letters, digits or _)"},
		{"EmptyRow", ",,,\n", "no id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "rejects.csv")
			sum, rec := run(t, header+tt.row, importer.Options{RejectsPath: path})
			if sum.Rejected != 1 || len(rec.users) != 0 {
				t.Fatalf("summary %+v, loaded %d", sum, len(rec.users))
			}
			if got := rejects(t, path)[1][1]; got != tt.reason {
				t.Errorf("reason %q, want %q", got, tt.reason)
			}
		})
	}
}

// TestLongContactsLoad: contact values have no length limit (the rule of
// clerksync.ImportContact, the webhook path's too): a 5 kB address and a
// 3 kB number load as they are.
func TestLongContactsLoad(t *testing.T) {
	email := strings.Repeat("a", 5000) + "@x.com"
	phone := "+" + strings.Repeat("1", 3000)
	sum, rec := run(t, "id,primary_email_address,verified_phone_numbers\nuser_long,"+email+","+phone+"\n", importer.Options{})
	if sum.Rejected != 0 || len(rec.users) != 1 {
		t.Fatalf("summary %+v", sum)
	}
	u := rec.users[0]
	if len(u.Emails) != 1 || u.Emails[0].Value != email || len(u.Phones) != 1 || u.Phones[0].Value != phone {
		t.Errorf("contacts of %d and %d values", len(u.Emails), len(u.Phones))
	}
}

func TestHeaderProblemsLoadNothing(t *testing.T) {
	tests := []struct {
		name, input, want string
	}{
		{"Empty", "", "the file is empty"},
		{"NoIDColumn", readFile(t, "../testdata/import/no-id-header.csv"), `no "id" column`},
		{"RepeatedColumn", "id,ID,first_name\nuser_a,user_b,x\n", `column "id" appears twice`},
		{"BOMOnly", "\ufeff", "the file is empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := importer.NewReader(strings.NewReader(tt.input))
			if !errors.Is(err, importer.ErrBadFile) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want ErrBadFile containing %q", err, tt.want)
			}
		})
	}
}

func TestOnlyIDColumnRequired(t *testing.T) {
	sum, rec := run(t, "ID\r\nuser_only_id\r\n", importer.Options{})
	if sum.Valid != 1 || rec.users[0].ID != "user_only_id" || rec.users[0].Emails != nil {
		t.Fatalf("summary %+v users %+v", sum, rec.users)
	}
}

func TestBatchesOfTheRequestedSize(t *testing.T) {
	var buf bytes.Buffer
	st, err := csvgen.Write(&buf, csvgen.Options{Rows: 2500, Seed: 7, BadRows: 0.02})
	if err != nil {
		t.Fatal(err)
	}
	sum, rec := run(t, buf.String(), importer.Options{BatchSize: 1000, Workers: 3})
	if sum.Read != st.Rows || sum.Valid != st.Good || sum.Rejected != st.Bad || len(rec.users) != st.Good {
		t.Fatalf("summary %+v, generator %+v, loaded %d", sum, st, len(rec.users))
	}
	if want := (st.Good + 999) / 1000; rec.batches != want {
		t.Errorf("%d batches, want %d", rec.batches, want)
	}
	if sum.Loaded.Inserted != st.Good {
		t.Errorf("loaded %+v", sum.Loaded)
	}
}

func TestDryRunLoadsNothing(t *testing.T) {
	r, err := importer.NewReader(strings.NewReader(readFile(t, "../testdata/import/bad-rows.csv")))
	if err != nil {
		t.Fatal(err)
	}
	sum, err := importer.Run(context.Background(), r, importer.Options{RejectsPath: filepath.Join(t.TempDir(), "r.csv")})
	if err != nil {
		t.Fatal(err)
	}
	if !sum.DryRun || sum.Valid != 3 || sum.Rejected != 7 || sum.Loaded != (clerksync.LoadResult{}) {
		t.Fatalf("summary %+v", sum)
	}
	var out bytes.Buffer
	sum.Write(&out)
	if !strings.Contains(out.String(), "dry run: nothing written") {
		t.Errorf("summary:\n%s", out.String())
	}
}

type failing struct{}

func (failing) Load(context.Context, []clerksync.ImportUser) (clerksync.LoadResult, error) {
	return clerksync.LoadResult{}, clerksync.ErrUnavailable
}

func TestLoaderErrorStopsTheImport(t *testing.T) {
	var buf bytes.Buffer
	if _, err := csvgen.Write(&buf, csvgen.Options{Rows: 50000, Seed: 1}); err != nil {
		t.Fatal(err)
	}
	r, err := importer.NewReader(&buf)
	if err != nil {
		t.Fatal(err)
	}
	_, err = importer.Run(context.Background(), r, importer.Options{Loader: failing{}, BatchSize: 100, Workers: 1,
		RejectsPath: filepath.Join(t.TempDir(), "r.csv")})
	if !errors.Is(err, clerksync.ErrUnavailable) || !strings.Contains(err.Error(), "line 2") {
		t.Fatalf("err = %v", err)
	}
}

func TestCleanImportWritesNoRejectsFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rejects.csv")
	sum, _ := run(t, readFile(t, "../testdata/clerk-dashboard-export.sample.csv"), importer.Options{RejectsPath: path})
	if sum.Rejected != 0 || sum.RejectsPath != "" {
		t.Fatalf("summary %+v", sum)
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("rejects file exists: %v", err)
	}
}

func TestProgressDrawsRowsAndRate(t *testing.T) {
	for _, size := range []int64{0, 1 << 20} {
		var out bytes.Buffer
		var buf bytes.Buffer
		csvgen.Write(&buf, csvgen.Options{Rows: 3000, Seed: 2})
		run(t, buf.String(), importer.Options{BatchSize: 500, Progress: importer.NewProgress(&out, size)})
		if !strings.Contains(out.String(), "rows") {
			t.Errorf("size %d: progress output %q", size, out.String())
		}
	}
}

func TestHeaderlessFileNotEchoed(t *testing.T) {
	row := "user_2YDryYFVMM1W1plDDKz7Gzf4we6,Jane,Doe,,jane.doe@test.com,,jane.doe@test.com,,,,,$2b$10$SECRETDIGEST,bcrypt\n"
	_, err := importer.NewReader(strings.NewReader(row))
	if !errors.Is(err, importer.ErrBadFile) {
		t.Fatalf("err = %v", err)
	}
	for _, s := range []string{"SECRET", "jane", "Jane", "user_2Y"} {
		if strings.Contains(err.Error(), s) {
			t.Errorf("error quotes the row (%q): %v", s, err)
		}
	}
}

// TestEmailsThatLowerAlikeAreOneContact: addresses that give one contact id
// (ImportEmailID lower-cases) are one contact, even where strings.EqualFold
// would keep them apart, so that no row can carry the same id twice.
func TestEmailsThatLowerAlikeAreOneContact(t *testing.T) {
	_, rec := run(t, "id,verified_email_addresses\nuser_dotted,İ@x.com|i@x.com|I@X.COM\n", importer.Options{})
	u := rec.byID()["user_dotted"]
	if len(u.Emails) != 1 || u.Emails[0].Value != "İ@x.com" {
		t.Fatalf("emails %+v, want one: the first spelling", u.Emails)
	}
}

// TestFailedRunSaysSoInItsMetrics: the metrics file of a failed import says
// it failed, since rewriting the file drops the last success time.
func TestFailedRunSaysSoInItsMetrics(t *testing.T) {
	path := filepath.Join(t.TempDir(), "import.prom")
	sum := importer.Summary{Read: 10, Rejected: 1}
	if err := sum.WriteMetrics(path, false); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	text := string(b)
	if !strings.Contains(text, "clerksync_import_last_run_success 0") || strings.Contains(text, "last_success_timestamp") ||
		!strings.Contains(text, `clerksync_import_rows_total{outcome="rejected"} 1`) {
		t.Errorf("metrics of a failed run:\n%s", text)
	}
}

// TestUnterminatedQuoteIsReported: a quote that never closes takes the
// rest of the file into one field; that row is rejected with the line the
// quote opened on and the lines it took, and the rows before it load.
func TestUnterminatedQuoteIsReported(t *testing.T) {
	var b strings.Builder
	b.WriteString("id,first_name,last_name\n")
	for i := 1; i <= 10; i++ {
		if i == 6 {
			b.WriteString("user_r6,\"Unclosed,Name\n")
			continue
		}
		fmt.Fprintf(&b, "user_r%d,First,Last\n", i)
	}
	path := filepath.Join(t.TempDir(), "rejects.csv")
	sum, rec := run(t, b.String(), importer.Options{RejectsPath: path})
	want := [][]string{{"line", "reason", "id"}, {"7",
		"malformed CSV: the quoted field opened on line 7 is never closed: lines 7-11 (5 lines, to the end of the file) were read as one row",
		"user_r6"}}
	if got := rejects(t, path); !reflect.DeepEqual(got, want) {
		t.Errorf("rejects file:\n got %q\nwant %q", got, want)
	}
	var loaded []string
	for _, u := range rec.users {
		loaded = append(loaded, u.ID)
	}
	if w := []string{"user_r1", "user_r2", "user_r3", "user_r4", "user_r5"}; !reflect.DeepEqual(loaded, w) {
		t.Errorf("loaded %v, want %v", loaded, w)
	}
	if sum.Read != 6 || sum.Lines != 11 || sum.Rejected != 1 {
		t.Errorf("summary %+v", sum)
	}
	var out bytes.Buffer
	sum.Write(&out)
	if !strings.Contains(out.String(), "read        6 rows (11 lines)") {
		t.Errorf("summary:\n%s", out.String())
	}
}

// TestRejectedRowsKeepTheirID: a rejected row carries its id whenever it
// could be read and is a Clerk user id, whatever the fault came after it.
func TestRejectedRowsKeepTheirID(t *testing.T) {
	input := "first_name,id,primary_email_address\n" +
		"A,user_bare,b\"q\n" + // a bare quote after the id
		"\"A\"x,user_before,\n" + // the fault before the id: unreadable
		"A,user_extra,\"q\"x\n" + // an extraneous quote after the id
		"A,user_short\n" + // too few fields
		"\xff,user_utf8,a@x\n" + // not UTF-8
		"A,usr_bad,a@x\n" + // not a Clerk id: never quoted back
		"A,user_open,\"never closed\n"
	path := filepath.Join(t.TempDir(), "rejects.csv")
	run(t, input, importer.Options{RejectsPath: path})
	var got [][]string
	for _, r := range rejects(t, path)[1:] {
		got = append(got, []string{r[0], r[2]})
	}
	want := [][]string{{"2", "user_bare"}, {"3", ""}, {"4", "user_extra"}, {"5", "user_short"},
		{"6", "user_utf8"}, {"7", ""}, {"8", "user_open"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("rejects (line, id):\n got %q\nwant %q", got, want)
	}
}

// failAfter is a Loader that fails from its n-th batch on.
type failAfter struct {
	mu sync.Mutex
	n  int
}

func (f *failAfter) Load(_ context.Context, users []clerksync.ImportUser) (clerksync.LoadResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.n--; f.n < 0 {
		return clerksync.LoadResult{}, clerksync.ErrUnavailable
	}
	return clerksync.LoadResult{Inserted: len(users)}, nil
}

// cancelling is a Loader that cancels the import, as Ctrl-C does.
type cancelling context.CancelFunc

func (c cancelling) Load(ctx context.Context, _ []clerksync.ImportUser) (clerksync.LoadResult, error) {
	c()
	return clerksync.LoadResult{}, ctx.Err()
}

// TestRejectsFileReplacedOnlyByACompleteRun: an interrupted run leaves the
// last complete run's rejects file as it was and says where its own
// partial list is; a complete run replaces it, and a complete run without
// rejects removes it.
func TestRejectsFileReplacedOnlyByACompleteRun(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "users.rejects.csv")
	const earlier = "line,reason,id\n3,no id,\n"
	if err := os.WriteFile(path, []byte(earlier), 0o644); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	st, err := csvgen.Write(&buf, csvgen.Options{Rows: 6000, Seed: 3, BadRows: 0.01})
	if err != nil {
		t.Fatal(err)
	}
	// A failed load, and Ctrl-C (the context cancelled while loading).
	for _, interrupt := range []string{"LoadFailed", "Cancelled"} {
		r, err := importer.NewReader(bytes.NewReader(buf.Bytes()))
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		var loader clerksync.Loader = &failAfter{n: 2}
		if interrupt == "Cancelled" {
			loader = cancelling(cancel)
		}
		sum, err := importer.Run(ctx, r, importer.Options{Loader: loader, BatchSize: 300, Workers: 1,
			SortBuffer: 32 << 10, RejectsPath: path})
		cancel()
		if err == nil {
			t.Fatalf("%s: no error", interrupt)
		}
		if got := readFile(t, path); got != earlier {
			t.Errorf("%s: the interrupted run changed the rejects file:\n%s", interrupt, got)
		}
		if !sum.RejectsPartial || filepath.Dir(sum.RejectsPath) != dir || sum.RejectsPath == path || sum.Rejected == 0 {
			t.Fatalf("%s: summary %+v", interrupt, sum)
		}
		if n := len(rejects(t, sum.RejectsPath)); n != sum.Rejected+1 {
			t.Errorf("%s: the partial file holds %d rows, the summary says %d", interrupt, n-1, sum.Rejected)
		}
		var out bytes.Buffer
		sum.Write(&out)
		if !strings.Contains(out.String(), "before the import stopped (see "+sum.RejectsPath) {
			t.Errorf("%s: summary:\n%s", interrupt, out.String())
		}
	}

	sum, _ := run(t, buf.String(), importer.Options{RejectsPath: path})
	if sum.RejectsPartial || sum.RejectsPath != path || len(rejects(t, path)) != st.Bad+1 {
		t.Errorf("complete run: summary %+v, %d rejects in the file, want %d", sum, len(rejects(t, path))-1, st.Bad)
	}
	if left, _ := filepath.Glob(path + ".partial-*"); len(left) != 2 { // the two interrupted runs' own
		t.Errorf("partial files: %v", left)
	}

	run(t, "id\nuser_clean\n", importer.Options{RejectsPath: path})
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a clean complete run left the last run's rejects file: %v", err)
	}
}

// failingInput returns its data, then an error.
type failingInput struct{ data []byte }

func (f *failingInput) Read(p []byte) (int, error) {
	if len(f.data) == 0 {
		return 0, errors.New("disk on fire")
	}
	n := copy(p, f.data)
	f.data = f.data[n:]
	return n, nil
}

// TestReadErrorStopsTheImport: an input that fails midway stops the import
// with the read error; what was read before it is counted.
func TestReadErrorStopsTheImport(t *testing.T) {
	var buf bytes.Buffer
	csvgen.Write(&buf, csvgen.Options{Rows: 3000, Seed: 4})
	data := buf.Bytes()[:buf.Len()/2]
	data = data[:bytes.LastIndexByte(data, '\n')+1]
	r, err := importer.NewReader(&failingInput{data: data})
	if err != nil {
		t.Fatal(err)
	}
	sum, err := importer.Run(context.Background(), r, importer.Options{Loader: &recorder{}, RejectsPath: filepath.Join(t.TempDir(), "r.csv")})
	if err == nil || !strings.Contains(err.Error(), "disk on fire") || sum.Read < 1000 {
		t.Fatalf("err = %v, summary %+v", err, sum)
	}
}
