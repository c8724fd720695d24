package backfill

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/clerksync/clerksync"
)

// DefaultGrace is how recent a change in Clerk may be and still be left to
// the webhooks rather than counted as drift: its event is most likely queued
// or being applied.
const DefaultGrace = 2 * time.Minute

// ReconcileOptions configure a reconcile.
type ReconcileOptions struct {
	Directory clerksync.UserDirectory
	Mirror    clerksync.Mirror
	State     clerksync.SyncState
	PageSize  int
	Parallel  int
	// Apply repairs the drift found; without it the reconcile only reports.
	Apply bool
	// Grace: a user Clerk changed less than this long before the scan read
	// it is not judged (its webhook is probably on its way). 0 judges all.
	Grace time.Duration
	// MaxDelete bounds the local users a run may remove; above it nothing is
	// removed (a key of another instance would otherwise empty the mirror).
	// 0 means 10% of the mirror's users, at least 100.
	MaxDelete int
	Progress  *Progress
	Log       *slog.Logger
}

// Drift is one kind of difference: how many users, and the first ids.
type Drift struct {
	Count int
	IDs   []string
}

func (d *Drift) add(id string) {
	d.Count++
	if len(d.IDs) < sampleIDs {
		d.IDs = append(d.IDs, id)
	}
}

// Report is what a reconcile found and did.
type Report struct {
	Apply bool
	// Scanned is the Clerk users read; Local the mirror's live users compared.
	Scanned, Local           int
	Pages, Requests, Backups int
	// Missing: in Clerk, not in the mirror (nor deleted there). Outdated: the
	// mirror's updated_at is older than Clerk's (or unknown: an import).
	// Extra: in the mirror, and Clerk answered 404 for it.
	Missing, Outdated, Extra Drift
	// Recent is the users Clerk changed within Grace: not judged.
	Recent int
	// Rechecked is the local users the scan did not list that a direct GET
	// found alive (paging skipped them, or they are newer than the scan).
	Rechecked int
	// Invalid is the Clerk users the mirror cannot hold (refused snapshots).
	Invalid Drift
	// Applied is the snapshots written; Removed the extra users deleted;
	// Held the extra users left in place because there were more than
	// MaxDelete of them.
	Applied, Removed, Held int
	MaxDelete              int
	StartedAt              time.Time
	Elapsed                time.Duration
}

// Drift is the number of users that differ.
func (r Report) Drift() int { return r.Missing.Count + r.Outdated.Count + r.Extra.Count }

// Unrepaired is the drift the run left: all of it without Apply; with Apply,
// the extra users held back and the users the mirror refused.
func (r Report) Unrepaired() int {
	if !r.Apply {
		return r.Drift() + r.Invalid.Count
	}
	return r.Held + r.Invalid.Count
}

// Reconcile scans every Clerk user, compares each page with the mirror, and
// then looks for local users the scan did not list. A local user counts as
// extra, and is removed (with Apply), only once the whole scan has completed
// and a direct GET of that id answered 404: offset paging can skip a user
// when others are deleted during the scan, so that a user merely missing
// from the list is never deleted; if the GET returns it, it is applied as a
// snapshot instead. A removal is a deletion like user.deleted: the user and
// its contacts go, a tombstone stays. The result is recorded in the mirror
// (see clerksync.SyncState) whether or not it repaired.
func Reconcile(ctx context.Context, o ReconcileOptions) (Report, error) {
	if o.PageSize <= 0 || o.PageSize > 500 {
		o.PageSize = 500
	}
	if o.Parallel <= 0 {
		o.Parallel = DefaultParallel
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	start := time.Now()
	r := Report{Apply: o.Apply, StartedAt: start.UTC()}
	if err := o.State.ReconcileStarted(ctx, r.StartedAt); err != nil {
		return r, err
	}
	total, err := o.Directory.CountUsers(ctx)
	if err != nil {
		return r, err
	}
	o.Progress.start(total, 0)
	seen, err := scan(ctx, o, &r, start, total)
	o.Progress.finish()
	if err != nil {
		r.Elapsed = time.Since(start)
		return r, err
	}
	err = findExtra(ctx, o, &r, seen)
	r.Elapsed = time.Since(start)
	if err != nil {
		return r, err
	}
	status := clerksync.ReconcileStatus{
		StartedAt: r.StartedAt, SucceededAt: time.Now().UTC(), Missing: r.Missing.Count,
		Outdated: r.Outdated.Count, Extra: r.Extra.Count, Applied: o.Apply, Unrepaired: r.Unrepaired(),
	}
	return r, o.State.ReconcileSucceeded(ctx, status)
}

// scan walks Clerk's list, judging (and with Apply repairing) each page,
// and returns the ids it saw, sorted.
func scan(ctx context.Context, o ReconcileOptions, r *Report, start time.Time, total int) ([]string, error) {
	p := newPager(o.Directory, o.PageSize, total, nil)
	defer func() { p.drop(); r.Requests, r.Backups = p.requests, p.backups }()
	var seen []string
	for {
		pg, ok, err := p.next(ctx)
		if err != nil {
			return nil, err
		}
		if !ok {
			break
		}
		for _, u := range pg.users {
			if u.id != "" {
				seen = append(seen, u.id)
			}
		}
		if err := judge(ctx, o, r, pg.users, pg.fetched); err != nil {
			return nil, err
		}
		r.Scanned += len(pg.users)
		r.Pages++
		o.Progress.update(r.Scanned, r.Pages, time.Since(start))
	}
	slices.Sort(seen)
	return slices.Compact(seen), nil
}

// judge compares users read at fetched with the mirror, counts the drift,
// and with Apply writes the snapshots of the missing and outdated ones.
func judge(ctx context.Context, o ReconcileOptions, r *Report, users []apiUser, fetched time.Time) error {
	var ids []string
	for _, u := range users {
		if u.err == nil {
			ids = append(ids, u.id)
		}
	}
	states, err := o.State.MirrorStates(ctx, ids)
	if err != nil {
		return err
	}
	var repair []clerksync.Event
	for _, u := range users {
		if err := checkUser(u); err != nil {
			o.Log.Warn("reconcile: user cannot be mirrored", "user_id", u.id, "error", err.Error())
			r.Invalid.add(u.id)
			continue
		}
		st, known := states[u.id]
		d := differs(st, known, u.user)
		if d == inSync {
			continue
		}
		if o.Grace > 0 && u.user.UpdatedAt.After(fetched.Add(-o.Grace)) {
			r.Recent++
			continue
		}
		if d == missing {
			r.Missing.add(u.id)
		} else {
			r.Outdated.add(u.id)
		}
		repair = append(repair, snapshot(u.user))
	}
	if !o.Apply || len(repair) == 0 {
		return nil
	}
	return applyRepairs(ctx, o, r, repair)
}

type difference int

const (
	inSync   difference = iota
	missing             // Clerk has the user, the mirror has no row
	outdated            // the mirror's row is older than Clerk's
)

// differs compares the mirror's state of a user with Clerk's snapshot. A
// tombstoned user is in sync: Clerk's list was read before the deletion that
// the mirror has already applied, and no snapshot brings the user back.
// A mirror newer than the list is in sync too: a webhook got there first.
func differs(st clerksync.MirrorState, known bool, u *clerksync.User) difference {
	switch {
	case known && st.Deleted:
		return inSync
	case !known || !st.Live:
		return missing
	case st.Source == "import" || st.UpdatedAt.IsZero() || st.UpdatedAt.Before(u.UpdatedAt.Time):
		return outdated
	}
	return inSync
}

// applyRepairs writes snapshots through the guarded write path and counts
// those written; the ones the mirror refuses are counted as invalid.
func applyRepairs(ctx context.Context, o ReconcileOptions, r *Report, events []clerksync.Event) error {
	outcomes, errs, err := applyParallel(ctx, o.Mirror, events, o.Parallel)
	if err != nil {
		return fmt.Errorf("repair: %w", err)
	}
	for i, ev := range events {
		switch {
		case errs[i] != nil:
			o.Log.Warn("reconcile: user refused by the mirror", "user_id", ev.UserID, "error", errs[i].Error())
			r.Invalid.add(ev.UserID)
		case outcomes[i] == clerksync.Applied:
			r.Applied++
		}
	}
	return nil
}

// findExtra compares the mirror's users with the ids the completed scan saw.
// Each local user the scan did not list is looked up directly: a 404 makes
// it extra (removed with Apply, within MaxDelete), an answer is applied as a
// snapshot like any other.
func findExtra(ctx context.Context, o ReconcileOptions, r *Report, seen []string) error {
	var candidates []string
	after := ""
	for {
		ids, err := o.State.LocalUserIDs(ctx, after, 10000)
		if err != nil {
			return err
		}
		if len(ids) == 0 {
			break
		}
		r.Local += len(ids)
		for _, id := range ids {
			if _, found := slices.BinarySearch(seen, id); !found {
				candidates = append(candidates, id)
			}
		}
		after = ids[len(ids)-1]
	}
	r.MaxDelete = o.MaxDelete
	if r.MaxDelete <= 0 {
		r.MaxDelete = max(100, r.Local/10)
	}
	if len(candidates) > r.MaxDelete {
		// Far more than deletions during a scan explain: most likely a key of
		// another instance. Nothing is looked up, nothing removed.
		o.Log.Warn("reconcile: too many local users missing from Clerk's list; none checked or removed",
			"candidates", len(candidates), "max_delete", r.MaxDelete)
		for _, id := range candidates {
			r.Extra.add(id)
		}
		r.Held = len(candidates)
		return nil
	}
	var gone []string
	for _, id := range candidates {
		raw, err := o.Directory.GetUser(ctx, id)
		if errors.Is(err, clerksync.ErrUserNotFound) {
			r.Extra.add(id)
			gone = append(gone, id)
			continue
		}
		if err != nil {
			return err
		}
		if err := recheck(ctx, o, r, raw); err != nil {
			return err
		}
	}
	if !o.Apply || len(gone) == 0 {
		return nil
	}
	return remove(ctx, o, r, gone)
}

// recheck judges a user the scan missed but a direct GET returned.
func recheck(ctx context.Context, o ReconcileOptions, r *Report, raw json.RawMessage) error {
	r.Rechecked++
	users := decodeAll([]json.RawMessage{raw})
	return judge(ctx, o, r, users, time.Now())
}

// remove deletes users Clerk no longer has, as user.deleted would: the rows
// and contacts go, a tombstone stays.
func remove(ctx context.Context, o ReconcileOptions, r *Report, ids []string) error {
	now := time.Now().UTC()
	for lo := 0; lo < len(ids); lo += 500 {
		var events []clerksync.Event
		for _, id := range ids[lo:min(lo+500, len(ids))] {
			events = append(events, clerksync.Event{Type: clerksync.UserDeleted, UserID: id, Timestamp: now})
		}
		if _, err := o.Mirror.ApplyEvents(ctx, events); err != nil {
			return fmt.Errorf("remove users Clerk no longer has: %w", err)
		}
		r.Removed += len(events)
		for _, ev := range events {
			o.Log.Info("reconcile: removed a user Clerk no longer has", "user_id", ev.UserID)
		}
	}
	return nil
}
