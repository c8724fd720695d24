package clerksync

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
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
// returns an error wrapping ErrInvalidEvent when the body is not JSON, has no
// type or no data.id, or when a user event names an id that is not a Clerk
// user id.
func ParseEnvelope(body []byte) (Envelope, error) {
	// One pass: data is decoded straight into its id, the rest skipped.
	var raw struct {
		Type      string      `json:"type"`
		Timestamp json.Number `json:"timestamp"`
		Data      *struct {
			ID string `json:"id"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &raw); err != nil {
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

// envelopeTime reads the envelope timestamp: Unix milliseconds in real events,
// seconds in Clerk's OpenAPI examples. Values below 1e11 cannot be
// milliseconds of any time after 1973, so they are taken as seconds.
func envelopeTime(n json.Number) (time.Time, error) {
	if n == "" {
		return time.Time{}, nil
	}
	v, err := n.Int64()
	if err != nil || v < 0 {
		return time.Time{}, fmt.Errorf("%w: timestamp %q is not a Unix time", ErrInvalidEvent, n.String())
	}
	if v < 1e11 {
		return time.Unix(v, 0).UTC(), nil
	}
	return time.UnixMilli(v).UTC(), nil
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

// ParseEvent decodes a Clerk user event. It is tolerant of unknown keys, null
// metadata, second or millisecond envelope times and every known external
// account shape; it returns an error wrapping ErrInvalidEvent when the body
// is not a user.created, user.updated or user.deleted event it can apply.
func ParseEvent(deliveryID string, body []byte) (Event, error) {
	var raw rawEnvelope
	if err := json.Unmarshal(body, &raw); err != nil {
		return Event{}, fmt.Errorf("%w: body is not a Clerk event: %v", ErrInvalidEvent, err)
	}
	if strings.TrimSpace(raw.Type) == "" {
		return Event{}, fmt.Errorf("%w: no type", ErrInvalidEvent)
	}
	if !IsUserEvent(raw.Type) {
		return Event{}, fmt.Errorf("%w: type %q is not a user event", ErrInvalidEvent, raw.Type)
	}
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
func parseDeletion(deliveryID string, raw rawEnvelope) (Event, error) {
	var del struct {
		ID         string  `json:"id"`
		ExternalID *string `json:"external_id"`
	}
	if len(raw.Data) > 0 && json.Unmarshal(raw.Data, &del) != nil {
		return Event{}, fmt.Errorf("%w: data is not an object", ErrInvalidEvent)
	}
	env, err := newEnvelope(raw.Type, raw.Timestamp, del.ID)
	if err != nil {
		return Event{}, err
	}
	if env.Timestamp.IsZero() {
		return Event{}, fmt.Errorf("%w: user.deleted without a timestamp cannot be ordered", ErrInvalidEvent)
	}
	return Event{DeliveryID: deliveryID, Type: env.Type, Timestamp: env.Timestamp, UserID: del.ID,
		ExternalID: nonEmpty(del.ExternalID)}, nil
}
