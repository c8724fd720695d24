package db_test

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/jmoiron/sqlx"

	"github.com/clerksync/clerksync"
	"github.com/clerksync/clerksync/db"
	"github.com/clerksync/clerksync/internal/testenv"
)

func newLoader(t *testing.T) (*db.ImportLoader, *db.Store, *sqlx.DB) {
	t.Helper()
	s, conn := newStore(t)
	l, err := db.NewImportLoader(context.Background(), conn, nil)
	if err != nil {
		t.Fatal(err)
	}
	return l, s, conn
}

func load(t *testing.T, l *db.ImportLoader, users ...clerksync.ImportUser) clerksync.LoadResult {
	t.Helper()
	res, err := l.Load(context.Background(), users)
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	return res
}

func sptr(s string) *string { return &s }

// importUser builds a user as the importer would: contacts deduplicated,
// with their stable ids.
func importUser(id, first string, emails []string, phones []string) clerksync.ImportUser {
	u := clerksync.ImportUser{ID: id, FirstName: sptr(first), PasswordEnabled: true}
	for i, e := range emails {
		u.Emails = append(u.Emails, clerksync.ImportContact{ID: clerksync.ImportEmailID(id, e), Value: e,
			Status: clerksync.Verified, IsPrimary: i == 0})
	}
	for i, p := range phones {
		u.Phones = append(u.Phones, clerksync.ImportContact{ID: clerksync.ImportPhoneID(id, p), Value: p,
			Status: clerksync.Unverified, IsPrimary: i == 0})
	}
	return u
}

// dump reads every row of the tables an import writes, synced_at and the
// row versions included, so that "nothing changed" means nothing was
// written.
func dump(t *testing.T, conn *sqlx.DB) map[string][][]any {
	t.Helper()
	return map[string][][]any{
		"users": rows(t, conn, `SELECT id, username, first_name, last_name, primary_email_address_id,
			primary_email_address, primary_phone_number_id, primary_phone_number, password_enabled,
			two_factor_enabled, totp_enabled, source, created_at, updated_at, raw::text,
			synced_at::text, xmin::text FROM users ORDER BY id`),
		"email_addresses": rows(t, conn, `SELECT id, user_id, email_address, verification_status,
			is_primary, xmin::text FROM email_addresses ORDER BY id`),
		"phone_numbers": rows(t, conn, `SELECT id, user_id, phone_number, verification_status,
			is_primary, xmin::text FROM phone_numbers ORDER BY id`),
		"deleted_users": rows(t, conn, `SELECT id FROM deleted_users ORDER BY id`),
	}
}

// webhookEvent is fixture 02 rewritten for user id, with one email and a
// given updated_at: a real snapshot shape for any id.
func webhookEvent(t *testing.T, id, email string, updatedAt int64) clerksync.Event {
	t.Helper()
	body, err := os.ReadFile(filepath.Join("..", "testdata", "02-user.created.real-2025-email-code.json"))
	if err != nil {
		t.Fatal(err)
	}
	var ev map[string]any
	if err := json.Unmarshal(body, &ev); err != nil {
		t.Fatal(err)
	}
	data := ev["data"].(map[string]any)
	data["id"] = id
	data["first_name"] = "FromWebhook"
	data["updated_at"] = updatedAt
	emailID := "idn_wh" + id[len("user_"):]
	data["primary_email_address_id"] = emailID
	em := data["email_addresses"].([]any)[0].(map[string]any)
	em["id"], em["email_address"] = emailID, email
	body, _ = json.Marshal(ev)
	e, err := clerksync.ParseEvent("msg_"+id, body)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func TestImportWritesUsersAndContacts(t *testing.T) {
	l, _, conn := newLoader(t)
	u := importUser("user_imp1", "Ann", []string{"ann@example.com", "ann.work@example.com"}, []string{"+14155550100"})
	u.TOTPEnabled = true
	u.Emails[1].Status = clerksync.Unverified
	bare := clerksync.ImportUser{ID: "user_imp2"}
	if res := load(t, l, u, bare); res != (clerksync.LoadResult{Inserted: 2}) {
		t.Fatalf("result %+v", res)
	}
	got := userCols(t, conn, "user_imp1")
	want := map[string]any{
		"id": "user_imp1", "external_id": nil, "username": nil, "first_name": "Ann", "last_name": nil,
		"image_url": nil, "has_image": false, "locale": nil,
		"primary_email_address_id": u.Emails[0].ID, "primary_email_address": "ann@example.com",
		"primary_phone_number_id": u.Phones[0].ID, "primary_phone_number": "+14155550100",
		"primary_web3_wallet_id": nil, "password_enabled": true, "two_factor_enabled": true,
		"totp_enabled": true, "backup_code_enabled": false, "banned": false, "locked": false,
		"public_metadata": "{}", "private_metadata": "{}", "unsafe_metadata": "{}",
		"last_sign_in_at": nil, "last_active_at": nil, "created_at": nil, "updated_at": nil,
		"source": "import", "has_raw": false, "fresh": true,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("user:\n got %v\nwant %v", got, want)
	}
	emails := rows(t, conn, `SELECT id, email_address, verification_status, is_primary FROM email_addresses
		WHERE user_id = 'user_imp1' ORDER BY email_address`)
	wantEmails := [][]any{
		{u.Emails[0].ID, "ann@example.com", "verified", true},
		{u.Emails[1].ID, "ann.work@example.com", "unverified", false},
	}
	if !reflect.DeepEqual(emails, [][]any{wantEmails[1], wantEmails[0]}) {
		t.Errorf("emails %v", emails)
	}
	phones := rows(t, conn, `SELECT id, phone_number, verification_status, is_primary FROM phone_numbers`)
	if !reflect.DeepEqual(phones, [][]any{{u.Phones[0].ID, "+14155550100", "unverified", true}}) {
		t.Errorf("phones %v", phones)
	}
	if got := userCols(t, conn, "user_imp2"); got["primary_email_address"] != nil || got["source"] != "import" {
		t.Errorf("id-only user %v", got)
	}
}

func TestReimport(t *testing.T) {
	users := []clerksync.ImportUser{
		importUser("user_re1", "Ann", []string{"ann@example.com", "a2@example.com"}, nil),
		importUser("user_re2", "Bob", []string{"bob@example.com"}, []string{"+14155550101", "+14155550102"}),
		{ID: "user_re3"},
	}
	t.Run("SameFileChangesNothing", func(t *testing.T) {
		l, _, conn := newLoader(t)
		load(t, l, users...)
		before := dump(t, conn)
		if res := load(t, l, users...); res != (clerksync.LoadResult{Unchanged: 3}) {
			t.Fatalf("result %+v", res)
		}
		if after := dump(t, conn); !reflect.DeepEqual(before, after) {
			t.Errorf("re-import changed the tables:\nbefore %v\nafter  %v", before, after)
		}
	})
	t.Run("ChangedRowsReplacedAsAWhole", func(t *testing.T) {
		l, _, conn := newLoader(t)
		load(t, l, users...)
		changed := []clerksync.ImportUser{
			importUser("user_re1", "Ann", []string{"a2@example.com"}, nil), // primary switched, one email gone
			importUser("user_re2", "Robert", []string{"bob@example.com"}, []string{"+14155550101", "+14155550102"}),
			{ID: "user_re3"},
		}
		changed[1].Phones[1].Status = clerksync.Verified
		if res := load(t, l, changed...); res != (clerksync.LoadResult{Updated: 2, Unchanged: 1}) {
			t.Fatalf("result %+v", res)
		}
		got := rows(t, conn, `SELECT user_id, email_address, is_primary FROM email_addresses ORDER BY user_id, email_address`)
		want := [][]any{{"user_re1", "a2@example.com", true}, {"user_re2", "bob@example.com", true}}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("emails %v", got)
		}
		if got := userCols(t, conn, "user_re1")["primary_email_address"]; got != "a2@example.com" {
			t.Errorf("primary %v", got)
		}
		if got := userCols(t, conn, "user_re2")["first_name"]; got != "Robert" {
			t.Errorf("first_name %v", got)
		}
		phones := rows(t, conn, `SELECT phone_number, verification_status FROM phone_numbers ORDER BY phone_number`)
		if !reflect.DeepEqual(phones, [][]any{{"+14155550101", "unverified"}, {"+14155550102", "verified"}}) {
			t.Errorf("phones %v", phones)
		}
	})
}

func TestImportMeetsWebhooks(t *testing.T) {
	t.Run("ImportAfterWebhookLeavesItUntouched", func(t *testing.T) {
		l, s, conn := newLoader(t)
		ev := fixture(t, "02-user.created.real-2025-email-code.json")
		apply(t, s, ev)
		before := dump(t, conn)
		u := importUser(ev.UserID, "Older", []string{"old@example.com"}, []string{"+14155550100"})
		if res := load(t, l, u); res != (clerksync.LoadResult{Mirrored: 1}) {
			t.Fatalf("result %+v", res)
		}
		if after := dump(t, conn); !reflect.DeepEqual(before, after) {
			t.Errorf("import touched a webhook row:\nbefore %v\nafter  %v", before, after)
		}
	})
	t.Run("WebhookAfterImportReplacesIt", func(t *testing.T) {
		l, s, conn := newLoader(t)
		ev := fixture(t, "02-user.created.real-2025-email-code.json")
		load(t, l, importUser(ev.UserID, "Imported", []string{"imported@example.com"}, []string{"+14155550100"}))
		if out := apply(t, s, ev); out[0] != clerksync.Applied {
			t.Fatalf("outcome %v", out)
		}
		got := userCols(t, conn, ev.UserID)
		if got["source"] != "webhook" || got["first_name"] != nil || got["primary_email_address"] != "reader@example.com" {
			t.Errorf("user after webhook %v", got)
		}
		left := rows(t, conn, `SELECT id FROM email_addresses WHERE id LIKE 'imp_%'
			UNION ALL SELECT id FROM phone_numbers WHERE id LIKE 'imp_%'`)
		if len(left) != 0 {
			t.Errorf("imported contacts left after the snapshot: %v", left)
		}
		// And a later import of the old export leaves the webhook's row alone.
		if res := load(t, l, importUser(ev.UserID, "Imported", []string{"imported@example.com"}, nil)); res.Mirrored != 1 {
			t.Errorf("re-import after webhook: %+v", res)
		}
	})
	t.Run("TombstonedUserStaysDeleted", func(t *testing.T) {
		l, s, conn := newLoader(t)
		del := fixture(t, "23-user.deleted.minimal-pre-2025-11.json")
		apply(t, s, del)
		if res := load(t, l, importUser(del.UserID, "Ghost", []string{"ghost@example.com"}, nil)); res != (clerksync.LoadResult{Deleted: 1}) {
			t.Fatalf("result %+v", res)
		}
		if n := rows(t, conn, `SELECT count(*) FROM users`)[0][0]; n != int64(0) {
			t.Errorf("%v users", n)
		}
		if n := rows(t, conn, `SELECT count(*) FROM email_addresses`)[0][0]; n != int64(0) {
			t.Errorf("%v emails", n)
		}
	})
}

// TestImportDuringWebhooks loads users in chunks while webhook batches for
// half of them are applied at the same time, in both orders of arrival:
// nothing deadlocks or fails, and every user the webhooks touched ends with
// the webhook's data, the others with the import's.
func TestImportDuringWebhooks(t *testing.T) {
	l, s, conn := newLoader(t)
	const n, chunk = 3000, 250
	var users []clerksync.ImportUser
	var events []clerksync.Event
	for i := range n {
		id := fmt.Sprintf("user_conc%05d", i)
		users = append(users, importUser(id, "Imported", []string{fmt.Sprintf("imp%d@example.com", i)}, nil))
		if i%2 == 0 {
			events = append(events, webhookEvent(t, id, fmt.Sprintf("wh%d@example.com", i), 1744276393612+int64(i)))
		}
	}
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for w := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w * chunk; i < n; i += 2 * chunk {
				if _, err := l.Load(ctx, users[i:min(i+chunk, n)]); err != nil {
					errs <- fmt.Errorf("import: %w", err)
				}
			}
		}()
	}
	for w := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Webhook batches in reverse order, so that they cross the import.
			for i := len(events) - 1 - w*40; i >= 0; i -= 80 {
				batch := events[max(i-39, 0) : i+1]
				if _, err := s.ApplyEvents(ctx, batch); err != nil {
					errs <- fmt.Errorf("webhook: %w", err)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	got := rows(t, conn, `SELECT source, first_name, count(*) FROM users GROUP BY 1, 2 ORDER BY 1`)
	want := [][]any{{"import", "Imported", int64(n / 2)}, {"webhook", "FromWebhook", int64(n / 2)}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("users by source: %v", got)
	}
	mixed := rows(t, conn, `SELECT u.id FROM users u JOIN email_addresses e ON e.user_id = u.id
		WHERE (u.source = 'webhook') <> (e.id NOT LIKE 'imp_%') LIMIT 5`)
	if len(mixed) != 0 {
		t.Errorf("users with the other source's contacts: %v", mixed)
	}
	if c := rows(t, conn, `SELECT count(*) FROM email_addresses`)[0][0]; c != int64(n) {
		t.Errorf("%v email rows, want %d", c, n)
	}
}

func TestImportWithoutSchemaRefused(t *testing.T) {
	conn, err := db.Open(context.Background(), testenv.Postgres(t), "", 2)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := db.NewImportLoader(context.Background(), conn, nil); !errors.Is(err, db.ErrNoSchema) {
		t.Fatalf("err = %v, want ErrNoSchema", err)
	}
}

// TestReimportComparesEveryField: a re-import finds unchanged exactly the
// users whose stored rows it would write again (the fingerprint covers odd
// values too), and rewrites a user when any one field or contact differs,
// leaving what a first import of the new row would have left.
func TestReimportComparesEveryField(t *testing.T) {
	base := func(id string) clerksync.ImportUser {
		u := importUser(id, "Tab\there \\N, ŁÓdź 🙂", []string{"a@example.com", "B@example.com"}, []string{"+14155550100"})
		u.LastName, u.Username = sptr(""), sptr(`back\slash`)
		u.Emails[1].Status, u.Emails[1].IsPrimary = "", false
		return u
	}
	mutations := map[string]func(*clerksync.ImportUser){
		"FirstName":       func(u *clerksync.ImportUser) { u.FirstName = sptr("Other") },
		"FirstNameGone":   func(u *clerksync.ImportUser) { u.FirstName = nil },
		"LastNameSet":     func(u *clerksync.ImportUser) { u.LastName = sptr("x") },
		"Username":        func(u *clerksync.ImportUser) { u.Username = nil },
		"Password":        func(u *clerksync.ImportUser) { u.PasswordEnabled = false },
		"TOTP":            func(u *clerksync.ImportUser) { u.TOTPEnabled = true },
		"PrimarySwitched": func(u *clerksync.ImportUser) { u.Emails[0].IsPrimary, u.Emails[1].IsPrimary = false, true },
		"EmailStatus":     func(u *clerksync.ImportUser) { u.Emails[1].Status = clerksync.Verified },
		"EmailGone":       func(u *clerksync.ImportUser) { u.Emails = u.Emails[:1] },
		"EmailsGone":      func(u *clerksync.ImportUser) { u.Emails = nil },
		"PhoneAdded": func(u *clerksync.ImportUser) {
			u.Phones = append(u.Phones, clerksync.ImportContact{ID: clerksync.ImportPhoneID(u.ID, "+1415"), Value: "+1415"})
		},
		"PhonesGone": func(u *clerksync.ImportUser) { u.Phones = nil },
		"PhoneValue": func(u *clerksync.ImportUser) {
			u.Phones[0].Value, u.Phones[0].ID = "+14155550199", clerksync.ImportPhoneID(u.ID, "+14155550199")
		},
	}
	var before, after []clerksync.ImportUser
	for name, mutate := range mutations {
		id := "user_fp_" + name
		before = append(before, base(id))
		u := base(id)
		mutate(&u)
		after = append(after, u)
	}
	before = append(before, base("user_fp_same"))
	after = append(after, base("user_fp_same"))

	l, _, conn := newLoader(t)
	load(t, l, before...)
	if res := load(t, l, before...); res != (clerksync.LoadResult{Unchanged: len(before)}) {
		t.Fatalf("the same users again: %+v", res)
	}
	if res := load(t, l, after...); res != (clerksync.LoadResult{Updated: len(mutations), Unchanged: 1}) {
		t.Fatalf("mutated users: %+v", res)
	}
	fresh, _, freshConn := newLoader(t)
	load(t, fresh, after...)
	if got, want := imported(t, conn), imported(t, freshConn); !reflect.DeepEqual(got, want) {
		t.Errorf("a re-import left other rows than a first import:\n got %v\nwant %v", got, want)
	}
	if res := load(t, l, after...); res != (clerksync.LoadResult{Unchanged: len(after)}) {
		t.Errorf("the mutated users again: %+v", res)
	}
}

// imported is what an import writes, without the row versions and write
// times of dump, which differ between databases.
func imported(t *testing.T, conn *sqlx.DB) [][]any {
	t.Helper()
	return rows(t, conn, `SELECT u.id, u.username, u.first_name, u.last_name, u.primary_email_address_id,
			u.primary_email_address, u.primary_phone_number_id, u.primary_phone_number, u.password_enabled,
			u.two_factor_enabled, u.totp_enabled, u.source,
			(SELECT string_agg(concat_ws('/', e.id, e.email_address, e.verification_status, e.is_primary), ' ' ORDER BY e.id)
			 FROM email_addresses e WHERE e.user_id = u.id),
			(SELECT string_agg(concat_ws('/', p.id, p.phone_number, p.verification_status, p.is_primary), ' ' ORDER BY p.id)
			 FROM phone_numbers p WHERE p.user_id = u.id)
		FROM users u ORDER BY u.id`)
}

// TestLongContactsStoredByBothPaths: the webhook path and the importer
// store the same long contacts alike (clerksync.ImportContact's rule), even
// ones no btree entry could hold: random, so that compression cannot
// shrink them under 2.7 kB.
func TestLongContactsStoredByBothPaths(t *testing.T) {
	l, s, conn := newLoader(t)
	random := func(n int) string {
		var b strings.Builder
		for b.Len() < n {
			fmt.Fprintf(&b, "%x", sha256.Sum256([]byte(fmt.Sprint(b.Len(), n))))
		}
		return b.String()[:n]
	}
	email := random(5000) + "@x.com" // 5,006 bytes, as in the issue
	phone := "+" + random(3000)
	apply(t, s, webhookEvent(t, "user_long_webhook", email, 1744276393612))
	if res := load(t, l, importUser("user_long_import", "L", []string{email}, []string{phone})); res.Inserted != 1 {
		t.Fatalf("import: %+v", res)
	}
	got := rows(t, conn, `SELECT user_id, octet_length(email_address) FROM email_addresses
		WHERE lower(email_address) = lower($1) ORDER BY user_id`, email)
	want := [][]any{{"user_long_import", int64(5006)}, {"user_long_webhook", int64(5006)}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("emails found by address: %v", got)
	}
	if got := rows(t, conn, `SELECT user_id FROM phone_numbers WHERE phone_number = $1`, phone); len(got) != 1 {
		t.Errorf("phones found by number: %v", got)
	}
	// Importing the same again is unchanged: the fingerprint covers them.
	if res := load(t, l, importUser("user_long_import", "L", []string{email}, []string{phone})); res.Unchanged != 1 {
		t.Errorf("re-import: %+v", res)
	}
}
