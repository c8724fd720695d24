package clerksync

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// The Clerk event types the mirror applies; every other type is ignored.
const (
	UserCreated = "user.created"
	UserUpdated = "user.updated"
	UserDeleted = "user.deleted"
)

// IsUserEvent reports whether typ is one of the event types the mirror applies.
func IsUserEvent(typ string) bool {
	return typ == UserCreated || typ == UserUpdated || typ == UserDeleted
}

// Envelope is the part of a Clerk event the receiver needs to route it: its
// type, its envelope time and the id of the object it is about.
type Envelope struct {
	Type      string
	Timestamp time.Time // zero when the envelope carries none
	ObjectID  string
}

type rawEnvelope struct {
	Type      string          `json:"type"`
	Timestamp json.Number     `json:"timestamp"`
	Data      json.RawMessage `json:"data"`
}

// ParseEnvelope reads the type, timestamp and data.id of a Clerk event. It
// returns an error wrapping ErrInvalidEvent when the body is not JSON (RFC
// 8259, so valid UTF-8), has no type or no data.id, when a user event names
// an id that is not a Clerk user id, or when the timestamp is not a Unix time
// within the years 1970 to 9999.
func ParseEnvelope(body []byte) (Envelope, error) {
	if !utf8.Valid(body) {
		return Envelope{}, fmt.Errorf("%w: %v", ErrInvalidEvent, errInvalidUTF8)
	}
	// One pass: data is decoded straight into its id, the rest skipped.
	var raw struct {
		Type      string      `json:"type"`
		Timestamp json.Number `json:"timestamp"`
		Data      *struct {
			ID string `json:"id"`
		} `json:"data"`
	}
	if err := unmarshal(body, &raw); err != nil {
		return Envelope{}, fmt.Errorf("%w: body is not a Clerk event: %v", ErrInvalidEvent, err)
	}
	id := ""
	if raw.Data != nil {
		id = raw.Data.ID
	}
	return newEnvelope(raw.Type, raw.Timestamp, id)
}

func newEnvelope(typ string, timestamp json.Number, id string) (Envelope, error) {
	if strings.TrimSpace(typ) == "" {
		return Envelope{}, fmt.Errorf("%w: no type", ErrInvalidEvent)
	}
	if id == "" {
		return Envelope{}, fmt.Errorf("%w: no data.id", ErrInvalidEvent)
	}
	if IsUserEvent(typ) && !ValidUserID(id) {
		return Envelope{}, fmt.Errorf("%w: data.id is not a Clerk user id", ErrInvalidEvent)
	}
	ts, err := envelopeTime(timestamp)
	if err != nil {
		return Envelope{}, err
	}
	return Envelope{Type: typ, Timestamp: ts, ObjectID: id}, nil
}

// MaxTimestamp is the latest envelope time ParseEvent accepts: the last
// millisecond of the year 9999, the last that RFC 3339 and Go's JSON
// encoding of times (the mirror's write path) can express. Beyond it an
// event could never be stored, and it is refused instead of being retried.
var MaxTimestamp = time.UnixMilli(maxTimestampMillis).UTC()

const maxTimestampMillis = 253402300799999 // 9999-12-31T23:59:59.999Z

// envelopeTime reads the envelope timestamp: Unix milliseconds in real events,
// seconds in Clerk's OpenAPI examples. Values below 1e11 cannot be
// milliseconds of any time after 1973, so they are taken as seconds. Times
// before 1970 or after MaxTimestamp are refused.
func envelopeTime(n json.Number) (time.Time, error) {
	if n == "" {
		return time.Time{}, nil
	}
	v, err := n.Int64()
	if err != nil || v < 0 || v > maxTimestampMillis {
		return time.Time{}, fmt.Errorf("%w: timestamp %s is not a Unix time between 1970 and 9999", ErrInvalidEvent, clipNumber(n))
	}
	if v < 1e11 {
		return time.Unix(v, 0).UTC(), nil
	}
	return time.UnixMilli(v).UTC(), nil
}

// clipNumber bounds a number quoted in an error: it comes from the body.
func clipNumber(n json.Number) string {
	const limit = 24
	if s := n.String(); len(s) > limit {
		return strconv.Quote(s[:limit] + "...")
	}
	return strconv.Quote(n.String())
}

// ValidUserID reports whether id has the shape of a Clerk user id:
// "user_" followed by 1 to 59 ASCII letters, digits or underscores.
func ValidUserID(id string) bool {
	rest, ok := strings.CutPrefix(id, "user_")
	if !ok || rest == "" || len(id) > 64 {
		return false
	}
	for i := 0; i < len(rest); i++ {
		c := rest[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

// Event is one Clerk user event, parsed and normalised, ready to apply.
type Event struct {
	// DeliveryID is the Svix message id (svix-id): the delivery's identity,
	// the same on every retry and replay.
	DeliveryID string
	Type       string
	// Timestamp is the envelope time; it orders deletions, which carry no
	// updated_at of their own.
	Timestamp time.Time
	UserID    string
	// User is the snapshot carried by user.created and user.updated; nil for
	// user.deleted.
	User *User
	// ExternalID is the external_id a user.deleted event carries, if any.
	ExternalID *string
	// Source says where a snapshot came from, as stored in users.source:
	// SourceWebhook (also what the zero value means) or SourceBackfill.
	Source string
}

// The sources of snapshots that go through the guarded write path. (Imports
// have their own bulk path and store "import".)
const (
	SourceWebhook  = "webhook"
	SourceBackfill = "backfill"
)

// The errors of ParseEvent that its callers tell apart; both wrap
// ErrInvalidEvent, since neither event can be applied as it stands.
var (
	// ErrNotUserEvent means the body is a Clerk event of a type the mirror
	// does not apply (session.created, ...).
	ErrNotUserEvent = fmt.Errorf("%w: not a user event", ErrInvalidEvent)
	// ErrNoTimestamp means a user.deleted carries no envelope timestamp,
	// without which it cannot be ordered; WithTimestamp supplies one.
	ErrNoTimestamp = fmt.Errorf("%w: user.deleted without a timestamp cannot be ordered", ErrInvalidEvent)
)

// ParseEvent decodes a Clerk user event. It is tolerant of unknown keys, null
// metadata, second or millisecond envelope times and every known external
// account shape; it returns an error wrapping ErrInvalidEvent when the body
// is not a user.created, user.updated or user.deleted event it can apply:
// not JSON (invalid UTF-8 included), no type, no data.id, a value of the
// wrong type, a number in data that Postgres's jsonb refuses, an envelope
// time outside 1970 to 9999 (see MaxTimestamp). A NUL or a lone surrogate
// escape in data is stored as U+FFFD (see storable).
// The error wraps ErrNotUserEvent for another event type whose envelope
// holds (the Event then carries its type and time), and ErrNoTimestamp for
// a deletion without a timestamp.
//
// The receiver runs it on every user event before answering 2xx and the
// worker runs it again on the queued body: one function, so that what the
// receiver accepts the worker can apply.
func ParseEvent(deliveryID string, body []byte) (Event, error) {
	if !utf8.Valid(body) {
		return Event{}, fmt.Errorf("%w: %v", ErrInvalidEvent, errInvalidUTF8)
	}
	var raw rawEnvelope
	if err := unmarshal(body, &raw); err != nil {
		return Event{}, fmt.Errorf("%w: body is not a Clerk event: %v", ErrInvalidEvent, err)
	}
	if strings.TrimSpace(raw.Type) == "" {
		return Event{}, fmt.Errorf("%w: no type", ErrInvalidEvent)
	}
	if !IsUserEvent(raw.Type) {
		return notUserEvent(deliveryID, raw)
	}
	// What Postgres would refuse in the stored values (data: the raw
	// snapshot, a deletion's external_id) is repaired or refused by
	// storable, in DecodeUser and parseDeletion, before anyone answers 2xx.
	// The id comes from decoding data itself: one pass over it, not two.
	if raw.Type == UserDeleted {
		return parseDeletion(deliveryID, raw)
	}
	u, err := DecodeUser(raw.Data)
	if err != nil {
		return Event{}, err
	}
	env, err := newEnvelope(raw.Type, raw.Timestamp, u.ID)
	if err != nil {
		return Event{}, err
	}
	if u.UpdatedAt.IsZero() {
		// Every real snapshot has updated_at; an example without one is ordered
		// by its envelope time instead, and refused if it has neither.
		if env.Timestamp.IsZero() {
			return Event{}, fmt.Errorf("%w: snapshot has neither updated_at nor timestamp", ErrInvalidEvent)
		}
		u.UpdatedAt = Millis{env.Timestamp}
	}
	return Event{DeliveryID: deliveryID, Type: env.Type, Timestamp: env.Timestamp, UserID: u.ID, User: u}, nil
}

// parseDeletion reads a user.deleted event, which carries only the id and
// perhaps the external_id, and is ordered by its envelope time.
// notUserEvent checks the envelope of an event of another type as
// ParseEnvelope would, without decoding the body again: it returns the
// event's type and time with ErrNotUserEvent, or the envelope's error.
func notUserEvent(deliveryID string, raw rawEnvelope) (Event, error) {
	var data struct {
		ID string `json:"id"`
	}
	if len(raw.Data) > 0 && unmarshal(raw.Data, &data) != nil {
		return Event{}, fmt.Errorf("%w: data is not an object", ErrInvalidEvent)
	}
	env, err := newEnvelope(raw.Type, raw.Timestamp, data.ID)
	if err != nil {
		return Event{}, err
	}
	return Event{DeliveryID: deliveryID, Type: env.Type, Timestamp: env.Timestamp}, ErrNotUserEvent
}

func parseDeletion(deliveryID string, raw rawEnvelope) (Event, error) {
	var del struct {
		ID         string  `json:"id"`
		ExternalID *string `json:"external_id"`
	}
	data, err := storable(raw.Data)
	if err != nil {
		return Event{}, err
	}
	if len(data) > 0 && unmarshal(data, &del) != nil {
		return Event{}, fmt.Errorf("%w: data is not an object", ErrInvalidEvent)
	}
	env, err := newEnvelope(raw.Type, raw.Timestamp, del.ID)
	if err != nil {
		return Event{}, err
	}
	if env.Timestamp.IsZero() {
		return Event{}, ErrNoTimestamp
	}
	return Event{DeliveryID: deliveryID, Type: env.Type, Timestamp: env.Timestamp, UserID: del.ID,
		ExternalID: nonEmpty(del.ExternalID)}, nil
}

// WithTimestamp returns a copy of body, a JSON object, with "timestamp" set
// to t in Unix milliseconds as its last key. The receiver gives it the
// signed svix-timestamp of a user.deleted that ParseEvent refused with
// ErrNoTimestamp, so that the worker, parsing the queued body, orders the
// deletion by the time Svix signed it. Decoders take the last of repeated
// keys, so a "timestamp": null before it no longer counts. A body that is
// not an object is returned unchanged.
func WithTimestamp(body []byte, t time.Time) []byte {
	end := bytes.LastIndexByte(body, '}')
	if end < 0 {
		return body
	}
	out := make([]byte, 0, len(body)+32)
	out = append(out, body[:end]...)
	out = append(out, `,"timestamp":`...)
	out = strconv.AppendInt(out, t.UnixMilli(), 10)
	return append(out, body[end:]...)
}
