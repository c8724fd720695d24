package dashboard

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/clerksync/clerksync"
	"github.com/clerksync/clerksync/worker/payload"
)

// shown is everything of a task's payload the dashboard may show: which
// event about which user, and when. The delivery id is the task's own id,
// which the dashboard shows beside the payload with the task's queue times.
type shown struct {
	EventType string `json:"event_type"`
	UserID    string `json:"user_id"`
	// Timestamp is the envelope time: when Clerk emitted the event.
	Timestamp string `json:"timestamp,omitempty"`
	// UpdatedAt is the snapshot's Clerk updated_at, which decides whether an
	// event is stale.
	UpdatedAt string `json:"updated_at,omitempty"`
}

// FormatPayload shows a task's payload (a Clerk event as received,
// compressed or not: package payload) as its event type, user id and times,
// never the emails, names, phone numbers or metadata it carries. A payload
// that does not decompress or parse is shown as its stored length only.
func FormatPayload(_ string, stored []byte) string {
	body, err := payload.Decode(stored)
	if err != nil {
		return unparsable(stored)
	}
	return format(body, stored)
}

func format(body, stored []byte) string {
	env, err := clerksync.ParseEnvelope(body)
	if err != nil {
		return unparsable(stored)
	}
	s := shown{EventType: env.Type, UserID: env.ObjectID, Timestamp: rfc3339(env.Timestamp)}
	var snap struct {
		Data struct {
			UpdatedAt *int64 `json:"updated_at"`
		} `json:"data"`
	}
	// A snapshot whose updated_at is not a number still shows its ids.
	if json.Unmarshal(body, &snap) == nil && snap.Data.UpdatedAt != nil {
		s.UpdatedAt = rfc3339(time.UnixMilli(*snap.Data.UpdatedAt))
	}
	out, err := json.Marshal(s)
	if err != nil {
		return unparsable(stored)
	}
	return string(out)
}

// FormatResult hides whatever a task stored as its result; clerksync's
// tasks store none.
func FormatResult(_ string, result []byte) string {
	if len(result) == 0 {
		return ""
	}
	return fmt.Sprintf("[result hidden, %d bytes]", len(result))
}

func unparsable(payload []byte) string {
	return fmt.Sprintf("[unparsable payload, %d bytes]", len(payload))
}

func rfc3339(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}
