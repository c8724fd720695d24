package clerksync_test

import (
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/clerksync/clerksync"
	"github.com/clerksync/clerksync/internal/testenv"
)

func TestParseEnvelope(t *testing.T) {
	cases := []struct {
		name, body string
		want       clerksync.Envelope
		invalid    bool
	}{
		{"MillisecondTimestamp", `{"type":"user.created","timestamp":1752566400180,"data":{"id":"user_1"}}`,
			clerksync.Envelope{Type: "user.created", Timestamp: time.UnixMilli(1752566400180).UTC(), ObjectID: "user_1"}, false},
		{"SecondTimestampFromOpenAPIExamples", `{"type":"user.deleted","timestamp":1716883200,"data":{"id":"user_1"}}`,
			clerksync.Envelope{Type: "user.deleted", Timestamp: time.Unix(1716883200, 0).UTC(), ObjectID: "user_1"}, false},
		{"NoTimestamp", `{"type":"user.updated","data":{"id":"user_1"}}`,
			clerksync.Envelope{Type: "user.updated", ObjectID: "user_1"}, false},
		{"OtherTypeAnyID", `{"type":"session.created","data":{"id":"sess_1"}}`,
			clerksync.Envelope{Type: "session.created", ObjectID: "sess_1"}, false},
		{"BadJSON", `{"type":`, clerksync.Envelope{}, true},
		{"NotAnObject", `[1,2]`, clerksync.Envelope{}, true},
		{"NoType", `{"data":{"id":"user_1"}}`, clerksync.Envelope{}, true},
		{"NoData", `{"type":"user.created"}`, clerksync.Envelope{}, true},
		{"NullData", `{"type":"user.created","data":null}`, clerksync.Envelope{}, true},
		{"DataNotObject", `{"type":"user.created","data":"user_1"}`, clerksync.Envelope{}, true},
		{"NoDataID", `{"type":"user.created","data":{}}`, clerksync.Envelope{}, true},
		{"UserEventWithNonUserID", `{"type":"user.created","data":{"id":"sess_1"}}`, clerksync.Envelope{}, true},
		{"NegativeTimestamp", `{"type":"user.created","timestamp":-5,"data":{"id":"user_1"}}`, clerksync.Envelope{}, true},
		{"FractionalTimestamp", `{"type":"user.created","timestamp":1.5,"data":{"id":"user_1"}}`, clerksync.Envelope{}, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := clerksync.ParseEnvelope([]byte(c.body))
			if c.invalid {
				if !errors.Is(err, clerksync.ErrInvalidEvent) {
					t.Fatalf("err %v, want ErrInvalidEvent", err)
				}
				return
			}
			if err != nil || got != c.want {
				t.Fatalf("got %+v, %v; want %+v", got, err, c.want)
			}
		})
	}
}

func TestValidUserID(t *testing.T) {
	for id, want := range map[string]bool{
		"user_2zK9mQv7Xc3LrT8pWn4Yb6Hd1Fs": true, "user_pipe_email_test": true, "user_": false, "": false,
		"usr_1": false, "user_a-b": false, "user_a b": false, "USER_abc": false,
		"user_" + string(make([]byte, 60)): false,
	} {
		if got := clerksync.ValidUserID(id); got != want {
			t.Errorf("ValidUserID(%q) = %v", id, got)
		}
	}
}

func TestParseEventFixtures(t *testing.T) {
	for name, want := range testenv.UserFixtures {
		body, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		ev, err := clerksync.ParseEvent("msg_1", body)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if ev.Type != want || ev.DeliveryID != "msg_1" || !clerksync.ValidUserID(ev.UserID) {
			t.Errorf("%s: %+v", name, ev)
		}
		if (ev.User == nil) != (want == clerksync.UserDeleted) {
			t.Errorf("%s: user %v", name, ev.User)
		}
	}
}

func TestDeletedEventExternalID(t *testing.T) {
	ev, err := clerksync.ParseEvent("m", []byte(`{"type":"user.deleted","timestamp":1753689600243,"data":{"id":"user_1","deleted":true,"external_id":"ext"}}`))
	if err != nil || ev.ExternalID == nil || *ev.ExternalID != "ext" || !ev.Timestamp.Equal(time.UnixMilli(1753689600243)) {
		t.Fatalf("%+v %v", ev, err)
	}
	if _, err := clerksync.ParseEvent("m", []byte(`{"type":"user.deleted","data":{"id":"user_1"}}`)); !errors.Is(err, clerksync.ErrInvalidEvent) {
		t.Fatalf("a deletion without a timestamp cannot be ordered: %v", err)
	}
	if _, err := clerksync.ParseEvent("m", []byte(`{"type":"session.created","timestamp":1,"data":{"id":"sess_1"}}`)); !errors.Is(err, clerksync.ErrInvalidEvent) {
		t.Fatalf("non-user events are not applied: %v", err)
	}
}

func TestDecodeTolerantly(t *testing.T) {
	body := `{"type":"user.updated","timestamp":1700000000500,"data":{
		"id":"user_1","object":"user","brand_new_key":{"nested":[1,2]},
		"public_metadata":null,"private_metadata":null,"unsafe_metadata":{"a":1},
		"primary_email_address_id":"idn_e1","primary_phone_number_id":"","updated_at":1700000000000,
		"email_addresses":[{"id":"idn_e1","email_address":"a@example.com","verification":null,"linked_to":null},
		                   {"id":"idn_e1","email_address":"a2@example.com"}],
		"external_accounts":[
			{"object":"google_account","id":"idn_g1","google_id":"1234","given_name":"Ada","family_name":"L","picture":"https://pic","email_address":"a@example.com","approved_scopes":"email"},
			{"object":"facebook_account","id":"idn_f1","external_account_id":"eac_f1","provider":"oauth_facebook","provider_user_id":"","verification":{"status":"failed"}},
			{"object":"external_account","id":"eac_x1","provider":"oauth_github","provider_user_id":"77","identification_id":"idn_x1"}
		]}}`
	ev, err := clerksync.ParseEvent("m", []byte(body))
	if err != nil {
		t.Fatal(err)
	}
	u := ev.User
	if string(u.PublicMetadata) != "{}" || string(u.PrivateMetadata) != "{}" || string(u.UnsafeMetadata) != `{"a":1}` {
		t.Errorf("metadata: %s %s %s", u.PublicMetadata, u.PrivateMetadata, u.UnsafeMetadata)
	}
	if u.PrimaryPhoneNumberID != "" {
		t.Errorf("empty primary id kept: %q", u.PrimaryPhoneNumberID)
	}
	if len(u.EmailAddresses) != 1 || u.EmailAddresses[0].EmailAddress != "a2@example.com" || !u.EmailAddresses[0].IsPrimary ||
		string(u.EmailAddresses[0].LinkedTo) != "[]" || u.EmailAddresses[0].Status != nil {
		t.Errorf("emails (a repeated id keeps the last): %+v", u.EmailAddresses)
	}
	if p := u.PrimaryEmailAddress; p == nil || *p != "a2@example.com" {
		t.Errorf("primary email %v", p)
	}
	if len(u.ExternalAccounts) != 3 {
		t.Fatalf("accounts: %+v", u.ExternalAccounts)
	}
	legacy, fb, gh := u.ExternalAccounts[0], u.ExternalAccounts[1], u.ExternalAccounts[2]
	if legacy.ID != "idn_g1" || legacy.Provider != "oauth_google" || *legacy.ProviderUserID != "1234" ||
		*legacy.FirstName != "Ada" || *legacy.LastName != "L" || *legacy.ImageURL != "https://pic" || legacy.IdentificationID != nil {
		t.Errorf("legacy google: %+v", legacy)
	}
	if fb.ID != "eac_f1" || fb.Provider != "oauth_facebook" || fb.ProviderUserID != nil || *fb.IdentificationID != "idn_f1" || *fb.VerificationStatus != "failed" {
		t.Errorf("facebook_account: %+v", fb)
	}
	if gh.ID != "eac_x1" || *gh.ProviderUserID != "77" || *gh.IdentificationID != "idn_x1" {
		t.Errorf("external_account: %+v", gh)
	}
	if string(u.Raw) == "" || !ev.User.UpdatedAt.Equal(time.UnixMilli(1700000000000)) {
		t.Errorf("raw or version")
	}
}

func TestParseEventRefusesWhatCanNeverApply(t *testing.T) {
	for name, body := range map[string]string{
		"ContactWithoutID": `{"type":"user.created","timestamp":1,"data":{"id":"user_1","email_addresses":[{"email_address":"x@example.com"}]}}`,
		"AccountWithoutID": `{"type":"user.created","timestamp":1,"data":{"id":"user_1","external_accounts":[{"provider":"oauth_google"}]}}`,
		"WrongFieldType":   `{"type":"user.created","timestamp":1,"data":{"id":"user_1","updated_at":"yesterday"}}`,
		"NoVersionAtAll":   `{"type":"user.created","data":{"id":"user_1"}}`,
		"ContactsNotAList": `{"type":"user.created","timestamp":1,"data":{"id":"user_1","email_addresses":"nope"}}`,
	} {
		if _, err := clerksync.ParseEvent("m", []byte(body)); !errors.Is(err, clerksync.ErrInvalidEvent) {
			t.Errorf("%s: err %v, want ErrInvalidEvent", name, err)
		}
	}
	// A snapshot without updated_at is ordered by its envelope time.
	ev, err := clerksync.ParseEvent("m", []byte(`{"type":"user.created","timestamp":1716883200,"data":{"id":"user_1"}}`))
	if err != nil || !ev.User.UpdatedAt.Equal(time.Unix(1716883200, 0)) {
		t.Errorf("fallback to envelope time: %v %v", ev.User, err)
	}
}

// Everything the worker would refuse is refused by ParseEvent itself, which
// the receiver runs before answering 2xx.
func TestParseEventRefusesWhatTheWorkerWould(t *testing.T) {
	created := func(data string) string {
		return `{"type":"user.created","timestamp":1752566400180,"data":{"id":"user_1","updated_at":1752566400000` + data + `}}`
	}
	for name, body := range map[string]string{
		"InvalidUTF8InAName":        created(`,"first_name":"Ad` + "\xff" + `a"`),
		"InvalidUTF8InMetadata":     created(`,"public_metadata":{"k":"` + "\xc3\x28" + `"}`),
		"InvalidUTF8InAnUnknownKey": created(`,"whatever":"` + "\xed\xa0\x80" + `"`),
		"NumberWhereAStringBelongs": created(`,"first_name":5`),
		"StringWhereANumberBelongs": created(`,"last_sign_in_at":"1752566400000"`),
		"ObjectWhereABoolBelongs":   created(`,"banned":{}`),
		"HugeExponent":              created(`,"public_metadata":{"n":1e1000000}`),
		"BeyondNumericsWeight":      created(`,"public_metadata":{"n":1e200000}`),
		"BeyondNumericsScale":       created(`,"public_metadata":{"n":-1E-20000}`),
		"TimestampPastYear9999":     `{"type":"user.updated","timestamp":253402300800000,"data":{"id":"user_1","updated_at":1}}`,
		"TimestampOverflowsInt64":   `{"type":"user.updated","timestamp":99999999999999999999,"data":{"id":"user_1","updated_at":1}}`,
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := clerksync.ParseEvent("m", []byte(body)); !errors.Is(err, clerksync.ErrInvalidEvent) {
				t.Errorf("err %v, want ErrInvalidEvent", err)
			}
		})
	}
}

func TestParseEventAcceptsWhatPostgresStores(t *testing.T) {
	created := func(data string) string {
		return `{"type":"user.created","timestamp":1752566400180,"data":{"id":"user_1","updated_at":1752566400000` + data + `}}`
	}
	for name, body := range map[string]string{
		"SurrogatePair":             created(`,"first_name":"\ud83d\ude00"`),
		"EscapedBackslashBeforeU":   created(`,"first_name":"\\ud800"`),
		"EscapedQuoteThenSurrogate": created(`,"first_name":"\"\\\ud83d\ude00"`),
		"ExponentAtTheBound":        created(`,"public_metadata":{"n":1e1000,"m":-2.5E-1000}`),
		"ThousandDigits":            created(`,"public_metadata":{"n":` + strings.Repeat("9", 1000) + `}`),
		"ThousandAndOneDigits":      created(`,"public_metadata":{"n":` + strings.Repeat("9", 1001) + `}`),
		"SmallNegativeExponent":     created(`,"public_metadata":{"n":-1E-1001}`),
		// Repaired to U+FFFD (see storable), not refused.
		"LoneHighSurrogate":       created(`,"first_name":"\ud800"`),
		"LoneLowSurrogate":        created(`,"unsafe_metadata":{"k":"a\udc00b"}`),
		"HighSurrogateThenNotLow": created(`,"first_name":"\ud800\u0041"`),
		"SurrogateInAKey":         created(`,"private_metadata":{"\udfff":1}`),
		"NumbersInStringsIgnored": created(`,"first_name":"1e99999999 ` + strings.Repeat("7", 2000) + `"`),
		"TimestampAtYear9999":     `{"type":"user.updated","timestamp":253402300799999,"data":{"id":"user_1","updated_at":1}}`,
		// Tolerated as encoding/json tolerates it: the value is unambiguous.
		"TimestampAQuotedNumber": `{"type":"user.updated","timestamp":"1752566400180","data":{"id":"user_1","updated_at":1}}`,
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := clerksync.ParseEvent("m", []byte(body)); err != nil {
				t.Errorf("err %v, want none", err)
			}
		})
	}
	ev, _ := clerksync.ParseEvent("m", []byte(`{"type":"user.updated","timestamp":253402300799999,"data":{"id":"user_1","updated_at":1}}`))
	if !ev.Timestamp.Equal(clerksync.MaxTimestamp) || ev.Timestamp.Year() != 9999 {
		t.Errorf("timestamp %v, want %v", ev.Timestamp, clerksync.MaxTimestamp)
	}
}

// The storability check agrees with Postgres itself: what ParseEvent accepts
// of these JSON values, jsonb stores (as repaired: the raw snapshot the
// store writes), and what it refuses, jsonb refuses.
func TestStorableAgreesWithPostgres(t *testing.T) {
	conn, err := sql.Open("postgres", testenv.Postgres(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	for _, v := range []string{
		`"\ud83d\ude00"`, `"\\ud800"`, `"\"\\\ud83d\ude00"`, `1e1000`, `-2.5E-1000`, strings.Repeat("9", 1000),
		`"\ud800"`, `"a\udc00b"`, `"\ud800\u0041"`, `{"\udfff":1}`, `1e1000000`, `1e-1000000`, strings.Repeat("9", 200000),
	} {
		body := `{"type":"user.created","timestamp":1752566400180,"data":{"id":"user_1","updated_at":1,"public_metadata":{"v":` + v + `}}}`
		ev, parseErr := clerksync.ParseEvent("m", []byte(body))
		stored := body
		if parseErr == nil {
			stored = string(ev.User.Raw)
		}
		var out string
		pgErr := conn.QueryRow(`SELECT CAST($1 AS jsonb)::text`, stored).Scan(&out)
		if parseErr == nil && pgErr != nil {
			t.Errorf("ParseEvent accepts %.40s but Postgres refuses it: %v", v, pgErr)
		}
		if parseErr != nil && pgErr == nil && !strings.HasPrefix(v, "9") {
			t.Errorf("ParseEvent refuses %.40s (%v) but Postgres stores it", v, parseErr)
		}
	}
}

func TestParseEventNotUserEvent(t *testing.T) {
	_, err := clerksync.ParseEvent("m", []byte(`{"type":"session.created","data":{"id":"sess_1"}}`))
	if !errors.Is(err, clerksync.ErrNotUserEvent) || !errors.Is(err, clerksync.ErrInvalidEvent) {
		t.Errorf("err %v, want ErrNotUserEvent wrapping ErrInvalidEvent", err)
	}
}

// A deletion without an envelope timestamp is ordered by the time Svix
// signed it: the receiver adds it, the worker's ParseEvent reads it.
func TestDeletionWithoutTimestampTakesTheOneGiven(t *testing.T) {
	signed := time.Unix(1752566401, 0)
	for name, body := range map[string]string{
		"NoKey":       `{"data":{"deleted":true,"id":"user_1","object":"user"},"object":"event","type":"user.deleted"}`,
		"NullKey":     `{"data":{"deleted":true,"id":"user_1"},"timestamp":null,"type":"user.deleted"}`,
		"TrailingEOL": "{\"data\":{\"id\":\"user_1\"},\"type\":\"user.deleted\"}\n",
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := clerksync.ParseEvent("m", []byte(body)); !errors.Is(err, clerksync.ErrNoTimestamp) {
				t.Fatalf("err %v, want ErrNoTimestamp", err)
			}
			with := clerksync.WithTimestamp([]byte(body), signed)
			ev, err := clerksync.ParseEvent("m", with)
			if err != nil || !ev.Timestamp.Equal(signed) || ev.UserID != "user_1" {
				t.Fatalf("ParseEvent(%s) = %+v, %v; want user_1 at %v", with, ev, err, signed)
			}
			if env, err := clerksync.ParseEnvelope(with); err != nil || !env.Timestamp.Equal(signed) {
				t.Errorf("ParseEnvelope = %+v, %v", env, err)
			}
		})
	}
}

// Decoder errors name the fault, never the values around it.
func TestParseEventErrorsQuoteNoData(t *testing.T) {
	for _, body := range []string{
		`{"type":"user.created","data":{"id":"user_1","email_addresses":[{"id":"idn_1","email_address":"ada@example.com"]}}`,
		`{"type":"user.created","data":{"id":"user_1","first_name":"Ada Lovelace","last_name":["ada@example.com"]}}`,
		`{"type":"user.created","data":{"id":"user_1","first_name":"Ada Lovelace ada@example.com` + "\x01" + `"}}`,
	} {
		_, err := clerksync.ParseEvent("m", []byte(body))
		if err == nil {
			t.Fatalf("%s accepted", body)
		}
		if strings.Contains(err.Error(), "ada@") || strings.Contains(err.Error(), "Lovelace") {
			t.Errorf("error quotes the body: %v", err)
		}
	}
}
