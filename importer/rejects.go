package importer

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
)

// rejectsFile writes rejected rows as CSV (line, reason, id). It never
// writes a row's content: a rejected row may carry credentials.
//
// The rows go to a temporary file next to the rejects file, created at the
// first reject, which replaces the rejects file (rename, atomic) only when
// the run completes: an interrupted run (Ctrl-C, a failed load) leaves the
// rejects file of the last complete run as it was, and its own partial
// list under the temporary name. A complete run without rejects removes
// the rejects file of an earlier run, which no longer describes the data.
type rejectsFile struct {
	path  string
	f     *os.File
	w     *csv.Writer
	count int
}

func (r *rejectsFile) write(rej Reject) error {
	if r.f == nil {
		f, err := os.CreateTemp(filepath.Dir(r.path), filepath.Base(r.path)+".partial-*")
		if err != nil {
			return fmt.Errorf("rejects file: %w", err)
		}
		f.Chmod(0o644) // as os.Create would make it; CreateTemp makes 0600
		r.f, r.w = f, csv.NewWriter(f)
		r.w.Write([]string{"line", "reason", "id"})
	}
	r.count++
	return r.w.Write([]string{strconv.Itoa(rej.Line), rej.Reason, rej.ID})
}

// finish closes the file and, when the run completed, puts it in place. It
// returns where the rejects are: the rejects file, the partial file of an
// incomplete run, or "" when there were none.
func (r *rejectsFile) finish(complete bool) (string, error) {
	if r.f == nil {
		if complete {
			if err := os.Remove(r.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return "", fmt.Errorf("rejects file: remove the last run's: %w", err)
			}
		}
		return "", nil
	}
	r.w.Flush()
	err := r.w.Error()
	if cerr := r.f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return r.f.Name(), fmt.Errorf("rejects file: %w", err)
	}
	if !complete {
		return r.f.Name(), nil
	}
	if err := os.Rename(r.f.Name(), r.path); err != nil {
		return r.f.Name(), fmt.Errorf("rejects file: %w", err)
	}
	return r.path, nil
}
