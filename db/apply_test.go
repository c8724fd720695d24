package db_test

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/clerksync/clerksync"
)

// userCols reads the users row as text columns so that expectations are
// written the way psql shows them.
func userCols(t *testing.T, conn *sqlx.DB, id string) map[string]any {
	t.Helper()
	row := map[string]any{}
	err := conn.QueryRowx(`SELECT id, external_id, username, first_name, last_name, image_url,
		has_image, locale, primary_email_address_id, primary_email_address,
		primary_phone_number_id, primary_phone_number, primary_web3_wallet_id,
		password_enabled, two_factor_enabled, totp_enabled, backup_code_enabled, banned, locked,
		public_metadata::text, private_metadata::text, unsafe_metadata::text,
		to_char(last_sign_in_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.MS') AS last_sign_in_at,
		to_char(last_active_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.MS') AS last_active_at,
		to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.MS') AS created_at,
		to_char(updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.MS') AS updated_at,
		source, raw IS NOT NULL AS has_raw, synced_at > now() - interval '1 minute' AS fresh
		FROM users WHERE id = $1`, id).MapScan(row)
	if err != nil {
		t.Fatalf("read user %s: %v", id, err)
	}
	for k, v := range row {
		if b, ok := v.([]byte); ok {
			row[k] = string(b)
		}
	}
	return row
}

func rows(t *testing.T, conn *sqlx.DB, q string, args ...any) [][]any {
	t.Helper()
	r, err := conn.Queryx(q, args...)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	defer r.Close()
	var out [][]any
	for r.Next() {
		vals, err := r.SliceScan()
		if err != nil {
			t.Fatal(err)
		}
		for i, v := range vals {
			if b, ok := v.([]byte); ok {
				vals[i] = string(b)
			}
		}
		out = append(out, vals)
	}
	return out
}

func TestFixturesMirrorExactly(t *testing.T) {
	t.Run("DocsExampleWithLegacyKeys", func(t *testing.T) {
		s, conn := newStore(t)
		if got := apply(t, s, fixture(t, "01-user.created.clerk-docs-example.json")); got[0] != clerksync.Applied {
			t.Fatalf("outcome %v", got)
		}
		want := map[string]any{
			"id": "user_29w83sxmDNGwOuEthce5gg56FcC", "external_id": "567772", "username": nil,
			"first_name": "Example", "last_name": "Example", "image_url": "https://img.clerk.com/xxxxxx",
			"has_image": false, "locale": nil,
			"primary_email_address_id": "idn_29w83yL7CwVlJXylYLxcslromF1",
			"primary_email_address":    "example@example.org",
			"primary_phone_number_id":  nil, "primary_phone_number": nil, "primary_web3_wallet_id": nil,
			"password_enabled": true, "two_factor_enabled": false, "totp_enabled": false,
			"backup_code_enabled": false, "banned": false, "locked": false,
			"public_metadata": "{}", "private_metadata": "{}", "unsafe_metadata": "{}",
			"last_sign_in_at": "2022-05-31 15:56:31.514", "last_active_at": nil,
			"created_at": "2022-05-31 15:56:31.514", "updated_at": "2022-05-31 15:56:31.835",
			"source": "webhook", "has_raw": true, "fresh": true,
		}
		if got := userCols(t, conn, "user_29w83sxmDNGwOuEthce5gg56FcC"); !reflect.DeepEqual(got, want) {
			t.Errorf("users row:\n got %v\nwant %v", got, want)
		}
		wantEmails := [][]any{{"idn_29w83yL7CwVlJXylYLxcslromF1", "user_29w83sxmDNGwOuEthce5gg56FcC",
			"example@example.org", "verified", "ticket", true, false, "[]", nil, nil}}
		if got := rows(t, conn, `SELECT id, user_id, email_address, verification_status,
			verification_strategy, is_primary, reserved, linked_to::text, created_at, updated_at
			FROM email_addresses`); !reflect.DeepEqual(got, wantEmails) {
			t.Errorf("email_addresses:\n got %v\nwant %v", got, wantEmails)
		}
		// The legacy keys survive in raw.
		if got := rows(t, conn, `SELECT raw->>'profile_image_url', raw ? 'birthday' FROM users`); !reflect.DeepEqual(got, [][]any{{"https://www.gravatar.com/avatar?d=mp", true}}) {
			t.Errorf("raw: %v", got)
		}
	})

	t.Run("OpenAPIExampleSecondsTimestampNullPrivateMetadata", func(t *testing.T) {
		s, conn := newStore(t)
		apply(t, s, fixture(t, "10-user.created.openapi-example.json"))
		got := userCols(t, conn, "user_2g7np7Hrk0SN6kj5EDMLDaKNL0S")
		if got["private_metadata"] != "{}" || got["has_image"] != true || got["primary_email_address"] != nil ||
			got["updated_at"] != "2024-05-28 08:00:00.000" || got["last_active_at"] != "2024-05-28 08:00:00.000" {
			t.Errorf("users row: %v", got)
		}
		// The update is newer (updated_at) although its envelope time is equal.
		if out := apply(t, s, fixture(t, "11-user.updated.openapi-example.json")); out[0] != clerksync.Applied {
			t.Fatalf("update outcome %v", out)
		}
		got = userCols(t, conn, "user_2g7np7Hrk0SN6kj5EDMLDaKNL0S")
		if got["username"] != "johndoe" || got["last_name"] != "Doe Updated" ||
			got["public_metadata"] != `{"department": "engineering"}` || got["totp_enabled"] != true ||
			got["two_factor_enabled"] != true || got["updated_at"] != "2024-05-28 08:05:00.000" {
			t.Errorf("after update: %v", got)
		}
		if out := apply(t, s, fixture(t, "12-user.deleted.openapi-example.json")); out[0] != clerksync.Deleted {
			t.Fatalf("delete outcome %v", out)
		}
		if got := rows(t, conn, `SELECT id, external_id, deleted_at = to_timestamp(1716883200) FROM deleted_users`); !reflect.DeepEqual(got, [][]any{{"user_2g7np7Hrk0SN6kj5EDMLDaKNL0S", "ex_123456789", true}}) {
			t.Errorf("tombstone: %v", got)
		}
		if got := rows(t, conn, `SELECT count(*) FROM users`); got[0][0] != int64(0) {
			t.Errorf("users left: %v", got)
		}
	})

	t.Run("Real2025EmailCode", func(t *testing.T) {
		s, conn := newStore(t)
		apply(t, s, fixture(t, "02-user.created.real-2025-email-code.json"))
		got := userCols(t, conn, "user_2vX11zP5ojq7cTRY58xT6oJqmRG")
		if got["external_id"] != nil || got["first_name"] != nil || got["primary_email_address"] != "reader@example.com" ||
			got["last_sign_in_at"] != nil || got["last_active_at"] != "2025-04-10 09:13:13.607" ||
			got["created_at"] != "2025-04-10 09:13:13.608" || got["updated_at"] != "2025-04-10 09:13:13.626" {
			t.Errorf("users row: %v", got)
		}
		want := [][]any{{"idn_2vX0zQSkP1QJLcwpcWMxR30cnez", "reader@example.com", "verified", "email_code", true, false,
			"2025-04-10 09:12:52.355", "2025-04-10 09:13:13.612"}}
		if got := rows(t, conn, `SELECT id, email_address, verification_status, verification_strategy, is_primary, reserved,
			to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.MS'), to_char(updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.MS')
			FROM email_addresses`); !reflect.DeepEqual(got, want) {
			t.Errorf("email_addresses:\n got %v\nwant %v", got, want)
		}
	})

	t.Run("ComposedMultiContactLifecycle", func(t *testing.T) {
		s, conn := newStore(t)
		const id = "user_2zK9mQv7Xc3LrT8pWn4Yb6Hd1Fs"
		apply(t, s, fixture(t, "20-user.created.composed-multi-contact.json"))
		got := userCols(t, conn, id)
		want := map[string]any{
			"id": id, "external_id": "legacy-42", "username": "ada", "first_name": "Ada", "last_name": "Lovelace",
			"image_url": "https://img.clerk.com/eyJ0eXBlIjoicHJveHkiLCJzcmMiOiJodHRwczovL2ltYWdlcy5jbGVyay5kZXYvb2F1dGhfZ29vZ2xlL2ltZ18yeksifQ",
			"has_image": true, "locale": "en-GB",
			"primary_email_address_id": "idn_2zK9m7YtR4bN8cXq2LvW5pJd3Ga", "primary_email_address": "ada@example.com",
			"primary_phone_number_id": "idn_2zKA2eXd1pO5zB8sY2gT4vA7wK9", "primary_phone_number": "+14155550123",
			"primary_web3_wallet_id": "idn_2zKA4gZf3rQ7bD1uA4iV6xC9yM2",
			"password_enabled":       false, "two_factor_enabled": true, "totp_enabled": false,
			"backup_code_enabled": false, "banned": false, "locked": false,
			"public_metadata":  `{"plan": "pro", "roles": ["admin", "editor"]}`,
			"private_metadata": `{"internal_score": 42, "stripe_customer_id": "cus_Q1w2E3r4T5y6U7"}`,
			"unsafe_metadata":  `{"theme": "dark", "onboarding_complete": true}`,
			"last_sign_in_at":  nil, "last_active_at": "2025-07-15 08:00:00.000",
			"created_at": "2025-07-15 08:00:00.120", "updated_at": "2025-07-15 08:00:00.165",
			"source": "webhook", "has_raw": true, "fresh": true,
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("users row:\n got %v\nwant %v", got, want)
		}
		wantEmails := [][]any{
			{"idn_2zK9m7YtR4bN8cXq2LvW5pJd3Ga", "ada@example.com", "verified", "from_oauth_google", true, false, `[{"id": "idn_2zK9m6WsQ3aM7bWp1KuV4oIc2Fz", "type": "oauth_google"}]`},
			{"idn_2zK9nA1sD6fG3hJ8kL2mN5pQ7rS", "ada.lovelace@analytical.example", "verified", "email_code", false, false, "[]"},
			{"idn_2zK9nB4tE7gH1jK6lM9nP2qR5sT", "ada+old@example.net", "unverified", "email_code", false, false, "[]"},
		}
		emailsQ := `SELECT id, email_address, verification_status, verification_strategy, is_primary, reserved, linked_to::text
			FROM email_addresses WHERE user_id = $1 ORDER BY created_at`
		if got := rows(t, conn, emailsQ, id); !reflect.DeepEqual(got, wantEmails) {
			t.Errorf("email_addresses:\n got %v\nwant %v", got, wantEmails)
		}
		phonesQ := `SELECT id, phone_number, verification_status, verification_strategy, is_primary,
			reserved_for_second_factor, default_second_factor FROM phone_numbers WHERE user_id = $1 ORDER BY created_at`
		wantPhones := [][]any{
			{"idn_2zKA2eXd1pO5zB8sY2gT4vA7wK9", "+14155550123", "verified", "phone_code", true, false, false},
			{"idn_2zKA3fYe2qP6aC9tZ3hU5wB8xL1", "+447700900123", "verified", "admin", false, true, true},
		}
		if got := rows(t, conn, phonesQ, id); !reflect.DeepEqual(got, wantPhones) {
			t.Errorf("phone_numbers:\n got %v\nwant %v", got, wantPhones)
		}
		wantWallets := [][]any{{"idn_2zKA4gZf3rQ7bD1uA4iV6xC9yM2", "0x71c7656ec7ab88b098defb751b7401b5f6d8976f", "verified", "web3_metamask_signature", true}}
		if got := rows(t, conn, `SELECT id, web3_wallet, verification_status, verification_strategy, is_primary FROM web3_wallets WHERE user_id = $1`, id); !reflect.DeepEqual(got, wantWallets) {
			t.Errorf("web3_wallets:\n got %v\nwant %v", got, wantWallets)
		}
		accountsQ := `SELECT id, provider, provider_user_id, identification_id, email_address, username,
			first_name, last_name, image_url, approved_scopes, label, public_metadata::text, verification_status,
			to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.MS')
			FROM external_accounts WHERE user_id = $1 ORDER BY created_at`
		wantAccounts := [][]any{
			{"eac_2zK9m6XtR4bN8cXq2LvW5pJd3Gb", "oauth_google", "104917125665513478981", "idn_2zK9m6WsQ3aM7bWp1KuV4oIc2Fz",
				"ada@example.com", nil, "Ada", "Lovelace", "https://img.clerk.com/EXAMPLE-google",
				"email https://www.googleapis.com/auth/userinfo.email https://www.googleapis.com/auth/userinfo.profile openid profile",
				nil, "{}", "verified", "2025-07-15 07:59:53.920"},
			{"eac_2zKA1dWc9oN4yA7rX1fS3uZ6vJ8", "oauth_github", "9876543", "idn_2zKA1cVb8nM3xZ6qW9eR2tY5uI7",
				"ada@example.com", "adalovelace", "Ada", "Lovelace", "https://img.clerk.com/EXAMPLE-github",
				"read:user user:email", nil, "{}", "verified", "2025-07-15 08:00:00.150"},
		}
		if got := rows(t, conn, accountsQ, id); !reflect.DeepEqual(got, wantAccounts) {
			t.Errorf("external_accounts:\n got %v\nwant %v", got, wantAccounts)
		}

		// The update switches the primary email, drops an email and the GitHub account.
		if out := apply(t, s, fixture(t, "21-user.updated.composed-multi-contact.json")); out[0] != clerksync.Applied {
			t.Fatalf("update outcome %v", out)
		}
		got = userCols(t, conn, id)
		if got["username"] != "countess_ada" || got["last_name"] != "King" ||
			got["primary_email_address"] != "ada.lovelace@analytical.example" ||
			got["public_metadata"] != `{"plan": "enterprise", "roles": ["admin"]}` ||
			got["unsafe_metadata"] != `{"theme": "light", "onboarding_complete": true}` {
			t.Errorf("after update: %v", got)
		}
		wantEmails = [][]any{
			{"idn_2zK9m7YtR4bN8cXq2LvW5pJd3Ga", "ada@example.com", "verified", "from_oauth_google", false, false, `[{"id": "idn_2zK9m6WsQ3aM7bWp1KuV4oIc2Fz", "type": "oauth_google"}]`},
			{"idn_2zK9nA1sD6fG3hJ8kL2mN5pQ7rS", "ada.lovelace@analytical.example", "verified", "email_code", true, false, "[]"},
		}
		if got := rows(t, conn, emailsQ, id); !reflect.DeepEqual(got, wantEmails) {
			t.Errorf("email_addresses after update:\n got %v\nwant %v", got, wantEmails)
		}
		if got := rows(t, conn, `SELECT id FROM external_accounts`); !reflect.DeepEqual(got, [][]any{{"eac_2zK9m6XtR4bN8cXq2LvW5pJd3Gb"}}) {
			t.Errorf("external_accounts after update: %v", got)
		}

		// The older create delivered late changes nothing.
		if out := apply(t, s, fixture(t, "20-user.created.composed-multi-contact.json")); out[0] != clerksync.Stale {
			t.Fatalf("late create outcome %v", out)
		}
		if got := userCols(t, conn, id); got["last_name"] != "King" {
			t.Errorf("stale create overwrote: %v", got)
		}

		// The minimal delete (no external_id) keeps the external_id from the row.
		if out := apply(t, s, fixture(t, "23-user.deleted.minimal-pre-2025-11.json")); out[0] != clerksync.Deleted {
			t.Fatalf("delete outcome %v", out)
		}
		apply(t, s, fixture(t, "22-user.deleted.composed.json"))
		if got := rows(t, conn, `SELECT id, external_id, deleted_at = to_timestamp(1753689600.243) FROM deleted_users`); !reflect.DeepEqual(got, [][]any{{id, "legacy-42", true}}) {
			t.Errorf("tombstone: %v", got)
		}
		assertNoPersonalData(t, conn)

		// Nothing brings the user back.
		out := apply(t, s, fixture(t, "21-user.updated.composed-multi-contact.json"), fixture(t, "20-user.created.composed-multi-contact.json"))
		if out[0] != clerksync.Stale || out[1] != clerksync.Stale {
			t.Fatalf("late snapshots after delete: %v", out)
		}
		assertNoPersonalData(t, conn)
	})
}

// assertNoPersonalData checks that no table but the tombstones holds a row.
func assertNoPersonalData(t *testing.T, conn *sqlx.DB) {
	t.Helper()
	for _, table := range []string{"users", "email_addresses", "phone_numbers", "web3_wallets", "external_accounts"} {
		var n int
		if err := conn.Get(&n, `SELECT count(*) FROM `+table); err != nil {
			t.Fatal(err)
		}
		if n != 0 {
			t.Errorf("%s still has %d rows after the delete", table, n)
		}
	}
}

func TestOrdering(t *testing.T) {
	at := func(ms int64) time.Time { return time.UnixMilli(ms).UTC() }
	snap := func(updated int64, last string) clerksync.Event {
		l := last
		return clerksync.Event{Type: clerksync.UserUpdated, UserID: "user_1", Timestamp: at(updated),
			User: &clerksync.User{ID: "user_1", LastName: &l, UpdatedAt: clerksync.Millis{Time: at(updated)},
				PublicMetadata: []byte("{}"), PrivateMetadata: []byte("{}"), UnsafeMetadata: []byte("{}"), Raw: []byte("{}")}}
	}
	del := func(ts int64) clerksync.Event {
		return clerksync.Event{Type: clerksync.UserDeleted, UserID: "user_1", Timestamp: at(ts)}
	}
	lastName := func(t *testing.T, conn *sqlx.DB) any {
		r := rows(t, conn, `SELECT last_name FROM users WHERE id = 'user_1'`)
		if len(r) == 0 {
			return nil
		}
		return r[0][0]
	}
	cases := []struct {
		name     string
		batches  [][]clerksync.Event
		want     any
		outcomes []clerksync.Outcome // of the last batch
	}{
		{"StaleUpdateIgnored", [][]clerksync.Event{{snap(2, "new")}, {snap(1, "old")}}, "new", []clerksync.Outcome{clerksync.Stale}},
		{"EqualSnapshotHarmless", [][]clerksync.Event{{snap(2, "new")}, {snap(2, "new")}}, "new", []clerksync.Outcome{clerksync.Applied}},
		{"NewerUpdateApplied", [][]clerksync.Event{{snap(1, "old")}, {snap(2, "new")}}, "new", []clerksync.Outcome{clerksync.Applied}},
		{"SameBatchNewestWins", [][]clerksync.Event{{snap(3, "c"), snap(1, "a"), snap(2, "b")}}, "c",
			[]clerksync.Outcome{clerksync.Applied, clerksync.Stale, clerksync.Stale}},
		{"DeleteThenLateUpdate", [][]clerksync.Event{{del(5)}, {snap(9, "late")}}, nil, []clerksync.Outcome{clerksync.Stale}},
		{"SameBatchDeleteWins", [][]clerksync.Event{{snap(9, "x"), del(5), snap(10, "y")}}, nil,
			[]clerksync.Outcome{clerksync.Stale, clerksync.Deleted, clerksync.Stale}},
		{"DeleteBeforeCreate", [][]clerksync.Event{{del(5)}, {snap(1, "created")}}, nil, []clerksync.Outcome{clerksync.Stale}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, conn := newStore(t)
			var out []clerksync.Outcome
			for _, b := range c.batches {
				out = apply(t, s, b...)
			}
			if !reflect.DeepEqual(out, c.outcomes) {
				t.Errorf("outcomes %v, want %v", out, c.outcomes)
			}
			if got := lastName(t, conn); got != c.want {
				t.Errorf("last_name %v, want %v", got, c.want)
			}
		})
	}
}

func TestMigrateConcurrentlyAndAgain(t *testing.T) {
	_, conn := newStore(t)
	errs := make(chan error, 4)
	for range 4 {
		go func() {
			_, err := dbMigrate(conn)
			errs <- err
		}()
	}
	for range 4 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}

func dbMigrate(conn *sqlx.DB) ([]int64, error) {
	return migrate(context.Background(), conn)
}
