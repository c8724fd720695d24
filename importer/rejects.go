package importer

import (
	"encoding/csv"
	"fmt"
	"os"
	"strconv"
)

// rejectsFile writes rejected rows as CSV (line, reason, id), creating the
// file at the first reject so that a clean import leaves nothing behind. It
// never writes a row's content: a rejected row may carry credentials.
type rejectsFile struct {
	path  string
	f     *os.File
	w     *csv.Writer
	count int
}

func (r *rejectsFile) write(rej Reject) error {
	if r.f == nil {
		f, err := os.OpenFile(r.path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
		if err != nil {
			return fmt.Errorf("rejects file: %w", err)
		}
		r.f, r.w = f, csv.NewWriter(f)
		r.w.Write([]string{"line", "reason", "id"})
	}
	r.count++
	return r.w.Write([]string{strconv.Itoa(rej.Line), rej.Reason, rej.ID})
}

// close flushes the file; it is a no-op when nothing was rejected.
func (r *rejectsFile) close() error {
	if r.f == nil {
		return nil
	}
	r.w.Flush()
	err := r.w.Error()
	if cerr := r.f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("rejects file: %w", err)
	}
	return nil
}
