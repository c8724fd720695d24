package webhooks

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// tolerance is Svix's replay window: a delivery signed longer ago (or further
// ahead) than this is refused even with a valid signature.
const tolerance = 5 * time.Minute

var errNoMatchingSignature = errors.New("no signature matches any configured secret")

// verify authenticates the raw body and returns the delivery's svix-id. The
// window is checked here against h.now rather than by the library, whose
// check reads the wall clock and so cannot be tested with fixed vectors.
func (h *Handler) verify(hdr http.Header, body []byte) (string, result, bool) {
	id, ts, ok := deliveryHeaders(hdr)
	if !ok {
		return "", rejected(http.StatusUnauthorized, reasonHeaders, "", nil), false
	}
	if err := h.checkTimestamp(ts); err != nil {
		return "", rejected(http.StatusUnauthorized, reasonTimestamp, id, err), false
	}
	for _, v := range h.verifiers {
		if v.VerifyIgnoringTimestamp(body, hdr) == nil {
			return id, result{}, true
		}
	}
	return "", rejected(http.StatusUnauthorized, reasonSignature, id, errNoMatchingSignature), false
}

// deliveryHeaders picks the header set the same way the svix library does
// (all three svix-* headers, else all three webhook-* headers), so that the
// id we queue and the timestamp we check are the ones that were signed.
func deliveryHeaders(hdr http.Header) (id, timestamp string, ok bool) {
	for _, prefix := range [...]string{"Svix-", "Webhook-"} {
		id, timestamp = hdr.Get(prefix+"Id"), hdr.Get(prefix+"Timestamp")
		if id != "" && timestamp != "" && hdr.Get(prefix+"Signature") != "" {
			return id, timestamp, true
		}
	}
	return "", "", false
}

// checkTimestamp refuses a timestamp that is not Unix seconds or lies outside
// the tolerance either side of now.
func (h *Handler) checkTimestamp(ts string) error {
	secs, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return errors.New("timestamp is not Unix seconds")
	}
	age := h.now().Sub(time.Unix(secs, 0))
	switch {
	case age > tolerance:
		return fmt.Errorf("timestamp is %s old, outside the %s window", age.Round(time.Second), tolerance)
	case age < -tolerance:
		return fmt.Errorf("timestamp is %s ahead, outside the %s window", (-age).Round(time.Second), tolerance)
	}
	return nil
}
