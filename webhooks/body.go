package webhooks

import (
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/semaphore"
)

// maxSizeHint bounds the buffer allocated from a client's Content-Length
// before any byte arrives, so an unauthenticated claim cannot reserve a
// full MiB per connection.
const maxSizeHint = 64 << 10

// errBusy means the bodies in flight already hold the whole budget.
var errBusy = errors.New("too many request bodies in flight")

// budget bounds the bytes of request bodies held at once. Bytes are taken as
// the buffer grows, so a slow or stalled sender holds only what it has sent,
// and given back when the request is answered. It never waits: past the
// bound a request is refused at once (503), before reading any more.
type budget struct {
	sem   *semaphore.Weighted
	inUse prometheus.Gauge
}

func newBudget(limit int64, inUse prometheus.Gauge) *budget {
	return &budget{sem: semaphore.NewWeighted(limit), inUse: inUse}
}

func (b *budget) take(n int64) bool {
	if !b.sem.TryAcquire(n) {
		return false
	}
	b.inUse.Add(float64(n))
	return true
}

func (b *budget) release(n int64) {
	if n > 0 {
		b.sem.Release(n)
		b.inUse.Sub(float64(n))
	}
}

// readBody reads the whole body once, refusing more than maxBodyBytes: a
// declared oversize body is refused without reading it, an undeclared one as
// soon as it passes the limit. It returns the bytes it holds of the budget,
// which the caller gives back once the request is answered.
func (h *Handler) readBody(w http.ResponseWriter, r *http.Request) ([]byte, int64, result, bool) {
	if r.ContentLength > maxBodyBytes {
		return nil, 0, rejected(http.StatusRequestEntityTooLarge, reasonTooLarge, "", nil), false
	}
	body, held, err := h.readAll(http.MaxBytesReader(w, r.Body, maxBodyBytes), r.ContentLength)
	var tooLarge *http.MaxBytesError
	switch {
	case errors.Is(err, errBusy):
		return nil, 0, rejected(http.StatusServiceUnavailable, reasonBusy, "", err), false
	case errors.As(err, &tooLarge):
		return nil, 0, rejected(http.StatusRequestEntityTooLarge, reasonTooLarge, "", nil), false
	case err != nil:
		return nil, 0, rejected(http.StatusBadRequest, reasonReadFailed, "", fmt.Errorf("read body: %w", err)), false
	}
	return body, held, result{}, true
}

// readAll is io.ReadAll with a first buffer sized from the Content-Length,
// so that a typical delivery is read into one allocation, and with every
// allocation taken from the budget first. On error it holds nothing.
func (h *Handler) readAll(r io.Reader, sizeHint int64) ([]byte, int64, error) {
	if sizeHint < 0 || sizeHint > maxSizeHint {
		sizeHint = 512
	}
	// One spare byte lets the final Read report EOF without a grow.
	held := sizeHint + 1
	if !h.bodies.take(held) {
		return nil, 0, errBusy
	}
	buf := make([]byte, 0, held)
	for {
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return buf, held, nil
		}
		if err != nil {
			h.bodies.release(held)
			return nil, 0, err
		}
		if len(buf) == cap(buf) {
			// Double, up to the limit plus the spare byte.
			grown := min(2*int64(cap(buf)), maxBodyBytes+1)
			if !h.bodies.take(grown - held) {
				h.bodies.release(held)
				return nil, 0, errBusy
			}
			held = grown
			next := make([]byte, len(buf), grown)
			copy(next, buf)
			buf = next
		}
	}
}
