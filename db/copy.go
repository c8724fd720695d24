package db

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"

	"github.com/jmoiron/sqlx"
)

// copyFlushSize is how much COPY text is handed to the driver at once.
const copyFlushSize = 256 << 10

// copyLines runs one COPY ... FROM STDIN on conn (inside the transaction
// open on it), writing the rows fill produces as COPY text lines straight to
// lib/pq's CopyData. database/sql's Exec per row and the driver's encoding
// of each value were 40% of a large import's CPU in the importer; here a
// row is encoded once into a shared buffer. Values may be string, nil (SQL
// NULL) or bool.
func copyLines(ctx context.Context, conn *sqlx.Conn, query string, fill func(*copyWriter) error) error {
	return conn.Raw(func(dc any) error {
		prep, ok := dc.(driver.ConnPrepareContext)
		if !ok {
			return errors.New("copy: the driver cannot prepare statements with a context")
		}
		stmt, err := prep.PrepareContext(ctx, query)
		if err != nil {
			return err
		}
		defer stmt.Close()
		data, ok := stmt.(interface {
			CopyData(context.Context, string) (driver.Result, error)
			Exec([]driver.Value) (driver.Result, error)
		})
		if !ok {
			return errors.New("copy: the driver has no CopyData (lib/pq is required)")
		}
		w := &copyWriter{send: func(s string) error { _, err := data.CopyData(ctx, s); return err }}
		if err := fill(w); err != nil {
			return err
		}
		if err := w.flush(); err != nil {
			return err
		}
		_, err = data.Exec(nil) // ends the COPY and reports its errors
		return err
	})
}

// copyWriter encodes rows in COPY's text format.
type copyWriter struct {
	buf  []byte
	send func(string) error
}

// row appends one row; the driver adds the newline after each flush, so
// rows are joined, not terminated, by newlines.
func (w *copyWriter) row(values ...any) error {
	if len(w.buf) > 0 {
		w.buf = append(w.buf, '\n')
	}
	for i, v := range values {
		if i > 0 {
			w.buf = append(w.buf, '\t')
		}
		switch v := v.(type) {
		case nil:
			w.buf = append(w.buf, `\N`...)
		case string:
			w.buf = appendCopyText(w.buf, v)
		case bool:
			if v {
				w.buf = append(w.buf, 't')
			} else {
				w.buf = append(w.buf, 'f')
			}
		default:
			return fmt.Errorf("copy: cannot encode a %T", v)
		}
	}
	if len(w.buf) >= copyFlushSize {
		return w.flush()
	}
	return nil
}

func (w *copyWriter) flush() error {
	if len(w.buf) == 0 {
		return nil
	}
	err := w.send(string(w.buf))
	w.buf = w.buf[:0]
	return err
}

// appendCopyText escapes the characters COPY's text format gives a meaning:
// backslash, newline, carriage return and tab. A run without any is
// appended whole.
func appendCopyText(b []byte, s string) []byte {
	from := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !copySpecial[c] {
			continue
		}
		b = append(b, s[from:i]...)
		from = i + 1
		switch c {
		case '\\':
			b = append(b, '\\', '\\')
		case '\n':
			b = append(b, '\\', 'n')
		case '\r':
			b = append(b, '\\', 'r')
		case '\t':
			b = append(b, '\\', 't')
		}
	}
	return append(b, s[from:]...)
}

var copySpecial = [256]bool{'\\': true, '\n': true, '\r': true, '\t': true}
