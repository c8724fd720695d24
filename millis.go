package clerksync

import (
	"fmt"
	"strconv"
	"time"
)

// Millis is a time Clerk sends as Unix milliseconds. It decodes from a JSON
// integer (null, 0 and negative values are the zero time: Clerk's "never")
// and encodes, through the embedded time.Time, as RFC 3339 text, which is
// what a timestamptz column reads; the zero time is left out by the
// omitzero tags on User's fields and so stored as NULL.
//
// Only times from 1970-01-01T00:00:00.001Z through 9999-12-31T23:59:59.999Z
// decode: later ones can be neither encoded as RFC 3339 (four-digit years)
// nor, from Clerk, meant. The error for them wraps ErrInvalidEvent.
type Millis struct{ time.Time }

// maxMillis is 9999-12-31T23:59:59.999Z, the last millisecond RFC 3339 (and
// so encoding/json's time.Time) can write.
const maxMillis = 253402300799999

// UnmarshalJSON reads Unix milliseconds (see Millis).
func (m *Millis) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return nil
	}
	// The value is not quoted back: it may be any JSON, a user's text too.
	ms, err := strconv.ParseInt(string(b), 10, 64)
	if err != nil {
		return fmt.Errorf("a time is not an integer of Unix milliseconds")
	}
	switch {
	case ms <= 0:
		*m = Millis{}
	case ms > maxMillis:
		return fmt.Errorf("%w: time %d ms is after 9999-12-31", ErrInvalidEvent, ms)
	default:
		m.Time = time.UnixMilli(ms).UTC()
	}
	return nil
}
