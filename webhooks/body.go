package webhooks

import (
	"errors"
	"fmt"
	"io"
	"net/http"
)

// maxSizeHint bounds the buffer allocated from a client's Content-Length
// before any byte arrives, so an unauthenticated claim cannot reserve a
// full MiB per connection.
const maxSizeHint = 64 << 10

// readBody reads the whole body once, refusing more than maxBodyBytes: a
// declared oversize body is refused without reading it, an undeclared one as
// soon as it passes the limit.
func readBody(w http.ResponseWriter, r *http.Request) ([]byte, result, bool) {
	if r.ContentLength > maxBodyBytes {
		return nil, rejected(http.StatusRequestEntityTooLarge, reasonTooLarge, "", nil), false
	}
	body, err := readAll(http.MaxBytesReader(w, r.Body, maxBodyBytes), r.ContentLength)
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		return nil, rejected(http.StatusRequestEntityTooLarge, reasonTooLarge, "", nil), false
	case err != nil:
		return nil, rejected(http.StatusBadRequest, reasonReadFailed, "", fmt.Errorf("read body: %w", err)), false
	}
	return body, result{}, true
}

// readAll is io.ReadAll with a first buffer sized from the Content-Length,
// so that a typical delivery is read into one allocation.
func readAll(r io.Reader, sizeHint int64) ([]byte, error) {
	if sizeHint < 0 || sizeHint > maxSizeHint {
		sizeHint = 512
	}
	// One spare byte lets the final Read report EOF without a grow.
	buf := make([]byte, 0, sizeHint+1)
	for {
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return nil, err
		}
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
	}
}
