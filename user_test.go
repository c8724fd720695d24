package clerksync_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/clerksync/clerksync"
)

// nulUser is a user with a NUL in names, a metadata key and value, an email
// address, a phone number, an OAuth account's name and unknown keys, and an
// escaped backslash followed by "u0000", which is text and must stay.
const nulUser = `{"id":"user_nul","first_name":"A\u0000da","last_name":"\u0000",
	"username":"back\\u0000slash","external_id":"ext\u0000",
	"public_metadata":{"k\u0000ey":"v\u0000al","n":[1,"\u0000"]},"private_metadata":null,"unsafe_metadata":{"x":"\\\u0000"},
	"primary_email_address_id":"idn_e","updated_at":1700000000000,
	"email_addresses":[{"id":"idn_e","email_address":"a\u0000@example.com","verification":{"status":"verified\u0000"},"linked_to":[{"id":"\u0000"}]}],
	"phone_numbers":[{"id":"idn_p","phone_number":"+1\u0000"}],
	"external_accounts":[{"id":"eac_1","provider":"oauth_github","first_name":"\u0000x","public_metadata":{"\u0000":1}}],
	"unknown":"\u0000"}`

func TestDecodeUserStoresNULAsReplacementCharacter(t *testing.T) {
	u, err := clerksync.DecodeUser([]byte(nulUser))
	if err != nil {
		t.Fatal(err)
	}
	const r = "\uFFFD"
	checks := map[string][2]string{
		"first_name":       {*u.FirstName, "A" + r + "da"},
		"last_name":        {*u.LastName, r},
		"username":         {*u.Username, `back\u0000slash`},
		"external_id":      {u.ExternalID, "ext" + r},
		"public_metadata":  {string(u.PublicMetadata), `{"k\ufffdey":"v\ufffdal","n":[1,"\ufffd"]}`},
		"unsafe_metadata":  {string(u.UnsafeMetadata), `{"x":"\\\ufffd"}`},
		"email_address":    {u.EmailAddresses[0].EmailAddress, "a" + r + "@example.com"},
		"primary email":    {*u.PrimaryEmailAddress, "a" + r + "@example.com"},
		"status":           {*u.EmailAddresses[0].Status, "verified" + r},
		"linked_to":        {string(u.EmailAddresses[0].LinkedTo), `[{"id":"\ufffd"}]`},
		"phone_number":     {u.PhoneNumbers[0].PhoneNumber, "+1" + r},
		"account name":     {*u.ExternalAccounts[0].FirstName, r + "x"},
		"account metadata": {string(u.ExternalAccounts[0].PublicMetadata), `{"\ufffd":1}`},
	}
	for name, c := range checks {
		if c[0] != c[1] {
			t.Errorf("%s: %q, want %q", name, c[0], c[1])
		}
	}
	// 14 escapes repaired; the one "\\u0000" that is text stays.
	if bytes.Count(u.Raw, []byte(`\ufffd`)) != 14 || bytes.Count(u.Raw, []byte(`\u0000`)) != 1 ||
		!bytes.Contains(u.Raw, []byte(`back\\u0000slash`)) {
		t.Errorf("raw keeps a NUL escape or lost text: %s", u.Raw)
	}
	if !json.Valid(u.Raw) {
		t.Errorf("raw is not JSON: %s", u.Raw)
	}
}

func TestDecodeUserRepairsUnpairedSurrogates(t *testing.T) {
	body := `{"id":"user_s","first_name":"\ud800","last_name":"\udc00x","username":"\ud83d\ude00","unsafe_metadata":{"a":"\uD800\uD800\uDC00"}}`
	u, err := clerksync.DecodeUser([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	want := `{"id":"user_s","first_name":"\ufffd","last_name":"\ufffdx","username":"\ud83d\ude00","unsafe_metadata":{"a":"\ufffd\uD800\uDC00"}}`
	if string(u.Raw) != want {
		t.Errorf("raw\n got %s\nwant %s", u.Raw, want)
	}
	if *u.FirstName != "\uFFFD" || *u.Username != "😀" {
		t.Errorf("names %q %q", *u.FirstName, *u.Username)
	}
}

func TestDecodeUserLeavesCleanPayloadsAlone(t *testing.T) {
	body, err := os.ReadFile("testdata/21-user.updated.composed-multi-contact.json")
	if err != nil {
		t.Fatal(err)
	}
	var env struct{ Data json.RawMessage }
	if err := json.Unmarshal(body, &env); err != nil {
		t.Fatal(err)
	}
	u, err := clerksync.DecodeUser(env.Data)
	if err != nil {
		t.Fatal(err)
	}
	if &u.Raw[0] != &env.Data[0] {
		t.Error("a payload with nothing to repair was copied")
	}
}

func TestDecodeUserRefusesWhatCanNeverBeStored(t *testing.T) {
	for name, body := range map[string]string{
		"UpdatedAtYear10000":      `{"id":"user_1","updated_at":253402300800000}`,
		"LastSignInAtYear10000":   `{"id":"user_1","updated_at":1,"last_sign_in_at":253402300800000}`,
		"ContactTimeYear10000":    `{"id":"user_1","updated_at":1,"email_addresses":[{"id":"idn_1","created_at":999999999999999}]}`,
		"AccountTimeBeyondInt64":  `{"id":"user_1","updated_at":1,"external_accounts":[{"id":"eac_1","updated_at":99999999999999999999}]}`,
		"FractionalTime":          `{"id":"user_1","updated_at":1700000000000.5}`,
		"NotUTF8":                 "{\"id\":\"user_1\",\"first_name\":\"\xff\"}",
		"NumberWeightOverflow":    `{"id":"user_1","public_metadata":{"n":1e131072}}`,
		"NumberScaleOverflow":     `{"id":"user_1","unsafe_metadata":{"n":1e-16384}}`,
		"ZeroScaleOverflow":       `{"id":"user_1","unsafe_metadata":[0e-16384]}`,
		"LongFractionOverflow":    `{"id":"user_1","unsafe_metadata":[0.` + strings.Repeat("0", 16383) + `1]}`,
		"LongIntegerOverflow":     `{"id":"user_1","unsafe_metadata":[-1` + strings.Repeat("0", 131072) + `]}`,
		"ExponentOverflow":        `{"id":"user_1","unsafe_metadata":[0E+1073741823]}`,
		"NumberInAnUnknownKey":    `{"id":"user_1","future":{"deep":[9.9e999999]}}`,
		"NumberInAContactUnknown": `{"id":"user_1","phone_numbers":[{"id":"idn_p","x":1e200000}]}`,
	} {
		if _, err := clerksync.DecodeUser([]byte(body)); !errors.Is(err, clerksync.ErrInvalidEvent) {
			t.Errorf("%s: err %v, want ErrInvalidEvent", name, err)
		}
	}
}

func TestDecodeUserTimesAtTheEdgesOfTheRange(t *testing.T) {
	u, err := clerksync.DecodeUser([]byte(`{"id":"user_1","updated_at":253402300799999,"created_at":1,"last_sign_in_at":0,"last_active_at":-5}`))
	if err != nil {
		t.Fatal(err)
	}
	if want := time.Date(9999, 12, 31, 23, 59, 59, 999e6, time.UTC); !u.UpdatedAt.Equal(want) {
		t.Errorf("updated_at %v, want %v", u.UpdatedAt, want)
	}
	if !u.CreatedAt.Equal(time.UnixMilli(1)) || !u.LastSignInAt.IsZero() || !u.LastActiveAt.IsZero() {
		t.Errorf("created %v, last sign-in %v, last active %v", u.CreatedAt, u.LastSignInAt, u.LastActiveAt)
	}
	if _, err := json.Marshal(u); err != nil {
		t.Errorf("the latest time does not encode: %v", err)
	}
}

func TestDecodeUserKeepsNumbersPostgresCanHold(t *testing.T) {
	for _, n := range []string{"1e131071", "-9.9999e131071", "0.5e131072", "0.0001e131075", "1e-16383", "1.0e-16382",
		"0e-16383", "0e1073741822", "0.00000e131072", "1" + strings.Repeat("0", 131071), "0." + strings.Repeat("1", 16383),
		"12345678901234567890123", "-0", "1E+5"} {
		if _, err := clerksync.DecodeUser([]byte(`{"id":"user_1","public_metadata":[` + n + `]}`)); err != nil {
			t.Errorf("%.30s: %v", n, err)
		}
	}
}

// BenchmarkDecodeUser decodes the multi-contact update: the cost of
// DecodeUser on every event, its storable pass included.
func BenchmarkDecodeUser(b *testing.B) {
	body, err := os.ReadFile("testdata/21-user.updated.composed-multi-contact.json")
	if err != nil {
		b.Fatal(err)
	}
	var env struct{ Data json.RawMessage }
	if err := json.Unmarshal(body, &env); err != nil {
		b.Fatal(err)
	}
	var compact bytes.Buffer
	json.Compact(&compact, env.Data)
	b.SetBytes(int64(compact.Len()))
	for b.Loop() {
		if _, err := clerksync.DecodeUser(compact.Bytes()); err != nil {
			b.Fatal(err)
		}
	}
}
