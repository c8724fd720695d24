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

// maxDeliveryIDLen bounds the svix-id, which becomes the Redis task id.
// Svix's ids are "msg_" and 27 characters.
const maxDeliveryIDLen = 255

var (
	errNoMatchingSignature = errors.New("no signature matches any configured secret")
	errBadDeliveryID       = fmt.Errorf("svix-id is not 1 to %d of A-Z, a-z, 0-9, _ and -", maxDeliveryIDLen)
)

// delivery is what the signed headers say about a delivery.
type delivery struct {
	id       string    // svix-id: the task id
	signedAt time.Time // svix-timestamp
}

// verify authenticates the raw body and returns the delivery's signed
// headers. The window is checked here against h.now rather than by the
// library, whose check reads the wall clock and so cannot be tested with
// fixed vectors.
//
// The svix-id's shape is checked only once the signature holds, so that an
// unsigned request learns nothing but 401, whatever its id; a signed one
// with an id that cannot be a task id is 400. Until then the id is only
// signed over (its length bounded by the server's header limit, like the
// body's by maxBodyBytes) and logged clipped.
func (h *Handler) verify(hdr http.Header, body []byte) (delivery, result, bool) {
	id, ts, ok := deliveryHeaders(hdr)
	if !ok {
		return delivery{}, rejected(http.StatusUnauthorized, reasonHeaders, "", nil), false
	}
	signedAt, err := h.checkTimestamp(ts)
	if err != nil {
		return delivery{}, rejected(http.StatusUnauthorized, reasonTimestamp, id, err), false
	}
	for _, v := range h.verifiers {
		if v.VerifyIgnoringTimestamp(body, hdr) == nil {
			if !validDeliveryID(id) {
				return delivery{}, rejected(http.StatusBadRequest, reasonDeliveryID, id, errBadDeliveryID), false
			}
			return delivery{id: id, signedAt: signedAt}, result{}, true
		}
	}
	return delivery{}, rejected(http.StatusUnauthorized, reasonSignature, id, errNoMatchingSignature), false
}

// validDeliveryID reports whether id may become a Redis task id: 1 to 255
// bytes of ASCII letters, digits, '_' and '-' (Svix's msg_... ids are).
func validDeliveryID(id string) bool {
	if id == "" || len(id) > maxDeliveryIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
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

// checkTimestamp reads the svix-timestamp, refusing one that is not Unix
// seconds or lies outside the tolerance either side of now.
func (h *Handler) checkTimestamp(ts string) (time.Time, error) {
	secs, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return time.Time{}, errors.New("timestamp is not Unix seconds")
	}
	t := time.Unix(secs, 0)
	age := h.now().Sub(t)
	switch {
	case age > tolerance:
		return time.Time{}, fmt.Errorf("timestamp is %s old, outside the %s window", age.Round(time.Second), tolerance)
	case age < -tolerance:
		return time.Time{}, fmt.Errorf("timestamp is %s ahead, outside the %s window", (-age).Round(time.Second), tolerance)
	}
	return t, nil
}
