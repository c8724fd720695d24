package backfill

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// Write prints the backfill's summary: counts and ids only.
func (s Summary) Write(w io.Writer) {
	fmt.Fprintf(w, "backfill    %d users in %d pages (%d requests) in %s, %.0f users/s; Clerk counted %d\n",
		s.Read, s.Pages, s.Requests, s.Elapsed.Round(time.Millisecond), s.UsersPerSecond(), s.Total)
	if s.Resumed {
		fmt.Fprintf(w, "resumed     at offset %d, after %d users applied by the interrupted run\n", s.ResumedAt, s.AppliedBefore)
	}
	if s.Backups > 0 {
		fmt.Fprintf(w, "backed up   %d times: users were deleted during the backfill and the offsets shifted\n", s.Backups)
	}
	fmt.Fprintf(w, "inserted    %d\n", s.Inserted)
	fmt.Fprintf(w, "updated     %d\n", s.Updated)
	fmt.Fprintf(w, "unchanged   %d\n", s.Unchanged)
	fmt.Fprintf(w, "skipped     %d stale (the mirror holds a newer snapshot), %d deleted (tombstoned: not brought back)\n", s.Stale, s.Deleted)
	fmt.Fprintf(w, "invalid     %d%s\n", s.Invalid, idList(s.InvalidIDs, s.Invalid))
}

// Write prints the reconcile's report: counts and the first ids of each
// kind, never emails or names.
func (r Report) Write(w io.Writer) {
	fmt.Fprintf(w, "reconcile   %d Clerk users in %d pages, %d users in the mirror, in %s\n",
		r.Scanned, r.Pages, r.Local, r.Elapsed.Round(time.Millisecond))
	fmt.Fprintf(w, "missing     %d%s\n", r.Missing.Count, idList(r.Missing.IDs, r.Missing.Count))
	fmt.Fprintf(w, "outdated    %d%s\n", r.Outdated.Count, idList(r.Outdated.IDs, r.Outdated.Count))
	fmt.Fprintf(w, "extra       %d%s\n", r.Extra.Count, idList(r.Extra.IDs, r.Extra.Count))
	if r.Recent > 0 {
		fmt.Fprintf(w, "recent      %d changed in Clerk within the grace period: left to the webhooks, not judged\n", r.Recent)
	}
	if r.Rechecked > 0 {
		fmt.Fprintf(w, "rechecked   %d local users the list did not return were found by a direct lookup: not removed\n", r.Rechecked)
	}
	if r.Invalid.Count > 0 {
		fmt.Fprintf(w, "invalid     %d the mirror cannot hold%s\n", r.Invalid.Count, idList(r.Invalid.IDs, r.Invalid.Count))
	}
	switch {
	case r.Held > 0:
		fmt.Fprintf(w, "held        %d local users are not in Clerk's list, more than --max-delete (%d): none was checked or removed; is CLERK_SECRET_KEY this mirror's instance?\n", r.Held, r.MaxDelete)
	case r.Drift() == 0:
		fmt.Fprintln(w, "in sync")
	case !r.Apply:
		fmt.Fprintln(w, "not repaired: run with --apply to repair")
	}
	if r.Apply && (r.Applied > 0 || r.Removed > 0) {
		fmt.Fprintf(w, "repaired    %d snapshots applied, %d users removed\n", r.Applied, r.Removed)
	}
}

// Line is the report in one line, for logs and exit messages.
func (r Report) Line() string {
	line := fmt.Sprintf("drift: %d missing, %d outdated, %d extra", r.Missing.Count, r.Outdated.Count, r.Extra.Count)
	if r.Invalid.Count > 0 {
		line += fmt.Sprintf(", %d the mirror cannot hold", r.Invalid.Count)
	}
	return line
}

func idList(ids []string, n int) string {
	if len(ids) == 0 {
		return ""
	}
	more := ""
	if n > len(ids) {
		more = fmt.Sprintf(" (and %d more)", n-len(ids))
	}
	return "  " + strings.Join(ids, " ") + more
}
