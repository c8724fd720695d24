package clerksync_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/clerksync/clerksync"
)

// The fuzz targets run for a while each under `make fuzz`; plain `go test`
// runs their seeds and every input saved under testdata/fuzz/, so that a
// crasher, once found, stays a regular test.

// addFixtures seeds f with the Clerk event fixtures and a few bodies at the
// edges of what ParseEvent accepts.
func addFixtures(f *testing.F) {
	f.Helper()
	names, err := filepath.Glob(filepath.Join("testdata", "*.json"))
	if err != nil || len(names) == 0 {
		f.Fatalf("no fixtures: %v", err)
	}
	for _, name := range names {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, s := range []string{
		`{"type":"user.deleted","data":{"id":"user_1"}}`,
		`{"type":"user.deleted","timestamp":null,"data":{"id":"user_1","external_id":""}}`,
		`{"type":"user.updated","timestamp":253402300799999,"data":{"id":"user_1","first_name":"\ud83d\ude00\u0000"}}`,
		`{"type":"user.created","timestamp":1,"data":{"id":"user_1","public_metadata":{"n":1e1000},"email_addresses":[{"id":"idn_1","email_address":"\\ud800"}]}}`,
		`{"type":"session.created","data":{"id":"sess_1"}}`,
		`{"type":"user.created","data":{"id":"user_1","updated_at":"1"}}`,
	} {
		f.Add([]byte(s))
	}
}

func FuzzParseEnvelope(f *testing.F) {
	addFixtures(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		env, err := clerksync.ParseEnvelope(body)
		if err != nil {
			if !errors.Is(err, clerksync.ErrInvalidEvent) {
				t.Fatalf("error %v does not wrap ErrInvalidEvent", err)
			}
			return
		}
		if strings.TrimSpace(env.Type) == "" || env.ObjectID == "" || !utf8.Valid(body) {
			t.Fatalf("accepted %+v", env)
		}
		if clerksync.IsUserEvent(env.Type) && !clerksync.ValidUserID(env.ObjectID) {
			t.Fatalf("user event with id %q", env.ObjectID)
		}
		checkTime(t, "timestamp", env.Timestamp)
	})
}

func FuzzParseEvent(f *testing.F) {
	addFixtures(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		ev, err := clerksync.ParseEvent("msg_fuzz", body)
		if errors.Is(err, clerksync.ErrNoTimestamp) {
			// What the receiver does: the deletion then parses, at that time.
			at := time.UnixMilli(1752566401000)
			ev, err = clerksync.ParseEvent("msg_fuzz", clerksync.WithTimestamp(body, at))
			if err != nil || !ev.Timestamp.Equal(at) {
				t.Fatalf("with a timestamp added: %+v, %v", ev, err)
			}
			body = clerksync.WithTimestamp(body, at)
		}
		if err != nil {
			if !errors.Is(err, clerksync.ErrInvalidEvent) {
				t.Fatalf("error %v does not wrap ErrInvalidEvent", err)
			}
			return
		}
		// Accepting means: strict JSON (encoding/json agrees), valid UTF-8,
		// a user event with a user id and times in range.
		if !json.Valid(body) || !utf8.Valid(body) {
			t.Fatalf("accepted a body encoding/json refuses")
		}
		if !clerksync.IsUserEvent(ev.Type) || !clerksync.ValidUserID(ev.UserID) || ev.DeliveryID != "msg_fuzz" {
			t.Fatalf("accepted %+v", ev)
		}
		checkTime(t, "timestamp", ev.Timestamp)
		env, err := clerksync.ParseEnvelope(body)
		if err != nil || env.Type != ev.Type || env.ObjectID != ev.UserID || !env.Timestamp.Equal(ev.Timestamp) {
			t.Fatalf("ParseEnvelope disagrees: %+v, %v; event %+v", env, err, ev)
		}
		if ev.Type == clerksync.UserDeleted {
			if ev.User != nil || ev.Timestamp.IsZero() {
				t.Fatalf("deletion %+v", ev)
			}
			return
		}
		if ev.User == nil || ev.User.ID != ev.UserID || ev.User.UpdatedAt.IsZero() {
			t.Fatalf("snapshot %+v", ev.User)
		}
		checkUser(t, ev.User)
	})
}

func FuzzDecodeUser(f *testing.F) {
	addFixtures(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		// The fixtures are events: fuzz their data, and raw input as it is.
		data := body
		var env struct{ Data json.RawMessage }
		if json.Unmarshal(body, &env) == nil && len(env.Data) > 0 {
			data = env.Data
		}
		u, err := clerksync.DecodeUser(data)
		if err != nil {
			if !errors.Is(err, clerksync.ErrInvalidEvent) {
				t.Fatalf("error %v does not wrap ErrInvalidEvent", err)
			}
			return
		}
		if !clerksync.ValidUserID(u.ID) {
			t.Fatalf("user id %q", u.ID)
		}
		if utf8.Valid(data) {
			checkUser(t, u)
		}
		// Idempotent: the normalised snapshot, decoded again, is the same.
		again, err := clerksync.DecodeUser(u.Raw)
		if err != nil {
			t.Fatalf("the snapshot's own raw does not decode: %v", err)
		}
		if !reflect.DeepEqual(u, again) {
			t.Fatalf("decoding the raw snapshot again changed it:\n%+v\n%+v", u, again)
		}
	})
}

// checkUser asserts what a decoded user promises the write path.
func checkUser(t *testing.T, u *clerksync.User) {
	t.Helper()
	for _, m := range []json.RawMessage{u.PublicMetadata, u.PrivateMetadata, u.UnsafeMetadata} {
		if !json.Valid(m) || bytes.Equal(bytes.TrimSpace(m), []byte("null")) {
			t.Fatalf("metadata %q", m)
		}
	}
	for _, s := range []*string{&u.ExternalID, u.Username, u.FirstName, u.LastName, &u.ImageURL, u.Locale} {
		if s != nil && !utf8.ValidString(*s) {
			t.Fatalf("invalid UTF-8 in %q", *s)
		}
	}
	primaries := 0
	for _, e := range u.EmailAddresses {
		if e.ID == "" || !utf8.ValidString(e.EmailAddress) || !json.Valid(e.LinkedTo) {
			t.Fatalf("email %+v", e)
		}
		if e.IsPrimary {
			primaries++
		}
		checkTime(t, "email created_at", e.CreatedAt.Time)
	}
	if primaries > 1 {
		t.Fatalf("%d primary emails", primaries)
	}
	for _, a := range u.ExternalAccounts {
		if a.ID == "" || a.Provider == "" || !json.Valid(a.PublicMetadata) {
			t.Fatalf("external account %+v", a)
		}
	}
	for _, at := range []time.Time{u.CreatedAt.Time, u.UpdatedAt.Time, u.LastSignInAt.Time, u.LastActiveAt.Time} {
		checkTime(t, "user time", at)
	}
}

// checkTime asserts a time is absent or between 1970 and the end of 9999.
func checkTime(t *testing.T, what string, at time.Time) {
	t.Helper()
	if !at.IsZero() && (at.Before(time.Unix(0, 0)) || at.After(clerksync.MaxTimestamp)) {
		t.Fatalf("%s %v out of range", what, at)
	}
}
