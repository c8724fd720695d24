package webhooks_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/clerksync/clerksync"
)

// Every body the worker would refuse is refused at the door (400), through
// the real handler, and nothing is queued for it; the contract's table:
// bad JSON, invalid UTF-8, no type, no data.id, a wrong type for a field;
// and an svix-id that cannot be a task id.
func TestRefusedAtTheDoor(t *testing.T) {
	created := func(data string) string {
		return `{"data":{"id":"user_1","object":"user","updated_at":1752566400000` + data + `},"object":"event","type":"user.created","timestamp":1752566400180}`
	}
	const invalid = `{"status":"rejected","reason":"invalid_event"}`
	const badID = `{"status":"rejected","reason":"delivery_id"}`
	tests := []struct {
		name, id, body, want string
	}{
		{"BadJSON", testID, `{"type":"user.created","data":{"id":"user_1"}`, invalid},
		{"TrailingGarbage", testID, created(``) + `x`, invalid},
		{"InvalidUTF8InAName", testID, created(`,"first_name":"Ad` + "\xff" + `a"`), invalid},
		{"InvalidUTF8InMetadata", testID, created(`,"private_metadata":{"note":"` + "\xc3\x28" + `"}`), invalid},
		{"InvalidUTF8InAnIgnoredType", testID, `{"data":{"id":"sess_1","note":"` + "\xff" + `"},"type":"session.created"}`, invalid},
		{"NoType", testID, `{"data":{"id":"user_1"},"object":"event"}`, invalid},
		{"EmptyType", testID, `{"data":{"id":"user_1"},"type":" "}`, invalid},
		{"NoDataID", testID, `{"data":{"object":"user"},"type":"user.updated","timestamp":1752566400180}`, invalid},
		{"NoDataIDInAnIgnoredType", testID, `{"data":{"object":"session"},"type":"session.created"}`, invalid},
		{"DeletionWithoutDataID", testID, `{"data":{"deleted":true},"type":"user.deleted","timestamp":1752566400180}`, invalid},
		{"NumberWhereAStringBelongs", testID, created(`,"first_name":5`), invalid},
		{"StringWhereANumberBelongs", testID, created(`,"last_active_at":"yesterday"`), invalid},
		{"ContactsNotAList", testID, created(`,"email_addresses":{"id":"idn_1"}`), invalid},
		{"IDNotAString", testID, `{"data":{"id":42},"type":"user.created","timestamp":1752566400180}`, invalid},
		{"TypeNotAString", testID, `{"data":{"id":"user_1"},"type":["user.created"]}`, invalid},
		{"ContactWithoutID", testID, created(`,"phone_numbers":[{"phone_number":"+15555550100"}]`), invalid},
		{"NumberJsonbRefuses", testID, created(`,"public_metadata":{"n":1e200000}`), invalid},
		{"DeletionTimestampInYear10000", testID, `{"data":{"id":"user_1"},"type":"user.deleted","timestamp":253402300800000}`, invalid},
		{"TimestampNegative", testID, `{"data":{"id":"user_1"},"type":"user.deleted","timestamp":-1}`, invalid},
		{"DeliveryIDOf256Bytes", "msg_" + strings.Repeat("a", 252), created(``), badID},
		{"DeliveryIDWithAColon", "msg_1:other", created(``), badID},
		{"DeliveryIDWithASpace", "msg_1 2", created(``), badID},
		{"DeliveryIDWithADot", "msg_1.2", created(``), badID},
		{"DeliveryIDWithNonASCII", "msg_é", created(``), badID},
		{"DeliveryIDWithASlash", "msg/../1", created(``), badID},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newSetup(t)
			rec := s.serve(signedRequest(t, testSecret, tt.id, testNow, []byte(tt.body)))
			if rec.Code != http.StatusBadRequest || rec.Body.String() != tt.want {
				t.Errorf("answer %d %s, want 400 %s", rec.Code, rec.Body, tt.want)
			}
			if calls, _ := s.enq.snapshot(); calls != 0 {
				t.Errorf("Enqueue called %d times, want none", calls)
			}
		})
	}
}

// What the door lets in: the longest svix-id, every character it allows,
// and the quirks the worker tolerates.
func TestLetInAtTheDoor(t *testing.T) {
	tests := []struct{ name, id, body string }{
		{"DeliveryIDOf255Bytes", "msg_" + strings.Repeat("a", 251), string(userEvent(clerksync.UserCreated, "user_1"))},
		{"DeliveryIDOfEveryAllowedCharacter", "msg_azAZ09_-", string(userEvent(clerksync.UserCreated, "user_1"))},
		{"UnicodeEscapesAndSurrogatePairs", testID, `{"data":{"id":"user_1","first_name":"\u00c5da \ud83d\ude00","updated_at":1},"type":"user.updated"}`},
		{"TimestampInYear9999", testID, `{"data":{"id":"user_1"},"type":"user.deleted","timestamp":253402300799999}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newSetup(t)
			if rec := s.serve(signedRequest(t, testSecret, tt.id, testNow, []byte(tt.body))); rec.Code != http.StatusOK {
				t.Fatalf("answer %d %s, want 200", rec.Code, rec.Body)
			}
			_, got := s.enq.snapshot()
			if len(got) != 1 || got[0].ID != tt.id {
				t.Fatalf("queued %+v, want one delivery %s", got, tt.id)
			}
			// The worker can apply what was queued.
			if _, err := clerksync.ParseEvent(got[0].ID, got[0].Body); err != nil {
				t.Errorf("the worker's parse of the queued body: %v", err)
			}
		})
	}
}

// An unsigned request learns nothing from its svix-id: whatever it is, the
// answer is 401, the same as for a well-formed id.
func TestDeliveryIDCheckedOnlyOnceSigned(t *testing.T) {
	body := userEvent(clerksync.UserCreated, "user_1")
	for _, id := range []string{testID, "msg_" + strings.Repeat("a", 300), "msg_1:other", "msg_\x01"} {
		s := newSetup(t)
		r := signedRequest(t, otherSecret, "msg_x", testNow, body)
		r.Header.Set("svix-id", id)
		rec := s.serve(r)
		if rec.Code != http.StatusUnauthorized || rec.Body.String() != `{"status":"rejected","reason":"signature"}` {
			t.Errorf("id %.20q: answer %d %s, want 401 signature", id, rec.Code, rec.Body)
		}
	}
}

// A user.deleted without an envelope timestamp (older Clerk events) is
// queued with the signed svix-timestamp as its last key, and the worker's
// ParseEvent of the queued body orders it by that time.
func TestDeletionWithoutTimestampQueuedWithTheSignedTime(t *testing.T) {
	signedAt := testNow.Add(-90 * time.Second)
	for name, body := range map[string]string{
		"NoTimestamp":   `{"data":{"deleted":true,"id":"user_1","object":"user","external_id":"ext_9"},"object":"event","type":"user.deleted"}`,
		"NullTimestamp": `{"data":{"deleted":true,"id":"user_1","object":"user"},"object":"event","timestamp":null,"type":"user.deleted"}` + "\n",
	} {
		t.Run(name, func(t *testing.T) {
			s := newSetup(t)
			rec := s.serve(signedRequest(t, testSecret, testID, signedAt, []byte(body)))
			if rec.Code != http.StatusOK || rec.Body.String() != `{"status":"queued"}` {
				t.Fatalf("answer %d %s, want 200 queued", rec.Code, rec.Body)
			}
			_, got := s.enq.snapshot()
			if len(got) != 1 {
				t.Fatalf("queued %d deliveries, want 1", len(got))
			}
			d := got[0]
			if !d.Timestamp.Equal(signedAt) || d.UserID != "user_1" || d.Type != clerksync.UserDeleted {
				t.Errorf("delivery %+v, want user_1 deleted at %v", d, signedAt)
			}
			ev, err := clerksync.ParseEvent(d.ID, d.Body)
			if err != nil || !ev.Timestamp.Equal(signedAt) || ev.UserID != "user_1" {
				t.Fatalf("worker's ParseEvent(%s) = %+v, %v; want user_1 at %v", d.Body, ev, err, signedAt)
			}
			if name == "NoTimestamp" && (ev.ExternalID == nil || *ev.ExternalID != "ext_9") {
				t.Errorf("external_id lost: %v", ev.ExternalID)
			}
		})
	}
}

// A deletion that has its own timestamp is queued byte for byte.
func TestDeletionWithTimestampQueuedAsReceived(t *testing.T) {
	s := newSetup(t)
	body := fixture(t, "23-user.deleted.minimal-pre-2025-11.json")
	if rec := s.serve(signedRequest(t, testSecret, testID, testNow, body)); rec.Code != http.StatusOK {
		t.Fatalf("answer %d", rec.Code)
	}
	if _, got := s.enq.snapshot(); len(got) != 1 || string(got[0].Body) != string(body) ||
		!got[0].Timestamp.Equal(time.UnixMilli(1753689600243)) {
		t.Errorf("queued %+v", got)
	}
}
