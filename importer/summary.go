package importer

import (
	"fmt"
	"io"
	"time"
)

// Write prints the summary for a person: what was read, loaded, skipped and
// rejected, the credentials dropped, and the speed.
func (s Summary) Write(w io.Writer) {
	rate := float64(s.Read) / max(s.Elapsed.Seconds(), 1e-3)
	fmt.Fprintf(w, "read        %d rows (%d lines) in %s (%.0f rows/s)\n", s.Read, s.Lines, s.Elapsed.Round(10*time.Millisecond), rate)
	if s.DryRun {
		fmt.Fprintf(w, "valid       %d (dry run: nothing written)\n", s.Valid)
	} else {
		l := s.Loaded
		fmt.Fprintf(w, "imported    %d (new %d, updated %d, unchanged %d)\n",
			l.Imported(), l.Inserted, l.Updated, l.Unchanged)
		fmt.Fprintf(w, "skipped     %d already mirrored from webhooks or a backfill, %d deleted in Clerk\n",
			l.Mirrored, l.Deleted)
	}
	switch {
	case s.RejectsPartial:
		fmt.Fprintf(w, "rejected    %d before the import stopped (see %s; the rejects file of the last complete run is left as it was)\n",
			s.Rejected, s.RejectsPath)
	case s.Rejected > 0:
		fmt.Fprintf(w, "rejected    %d (see %s)\n", s.Rejected, s.RejectsPath)
	default:
		fmt.Fprintf(w, "rejected    0\n")
	}
	c := s.Credentials
	fmt.Fprintf(w, "credentials %d rows carried some (%d password digests, %d TOTP secrets): dropped, never stored\n",
		c.Rows, c.PasswordDigests, c.TOTPSecrets)
}

// Line is the summary in one line, for stderr when rows were rejected.
func (s Summary) Line() string {
	if s.DryRun {
		return fmt.Sprintf("%d of %d rows rejected (see %s); %d valid (dry run: nothing written)",
			s.Rejected, s.Read, s.RejectsPath, s.Valid)
	}
	return fmt.Sprintf("%d of %d rows rejected (see %s); %d imported, %d skipped",
		s.Rejected, s.Read, s.RejectsPath, s.Loaded.Imported(), s.Loaded.Skipped())
}
