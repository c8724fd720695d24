// Package backfill brings the mirror to Clerk's truth from the Backend API:
// Run loads every user as a snapshot through the guarded write path,
// resumably, and Reconcile finds (and repairs) the drift between Clerk and
// the mirror. Both read Clerk through a clerksync.UserDirectory and write
// through the clerksync.Mirror the webhooks use, so the same ordering guard
// and tombstones apply: an older API snapshot never overwrites a newer
// webhook row, and no deleted user comes back.
package backfill

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/clerksync/clerksync"
)

// DefaultParallel is how many transactions apply one page at once. A page's
// users are distinct, so its parts never wait for each other's locks; two
// kept a 2-core Postgres busy (make bench).
const DefaultParallel = 2

// Options configure a backfill.
type Options struct {
	Directory clerksync.UserDirectory
	Mirror    clerksync.Mirror
	State     clerksync.SyncState
	// PageSize is the users per request (at most 500, the API's maximum).
	PageSize int
	// Parallel is how many transactions apply a page at once (DefaultParallel).
	Parallel int
	// Restart ignores a checkpoint and starts from the first user.
	Restart  bool
	Progress *Progress
	Log      *slog.Logger
}

func (o *Options) defaults() {
	if o.PageSize <= 0 || o.PageSize > 500 {
		o.PageSize = 500
	}
	if o.Parallel <= 0 {
		o.Parallel = DefaultParallel
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
}

// Summary counts what a backfill did.
type Summary struct {
	// Total is the number of users the API counted at the start.
	Total int
	// Resumed says whether the run continued an interrupted one, at
	// ResumedAt, after AppliedBefore users.
	Resumed       bool
	ResumedAt     int
	AppliedBefore int
	// Read is the number of users this run read and applied.
	Read int
	// Pages is the pages applied; Requests the list requests made (more
	// when it backed up after deletions shifted the offsets); Backups how
	// often it backed up.
	Pages, Requests, Backups int
	// What applying the users did.
	Inserted, Updated, Unchanged, Stale, Deleted, Invalid int
	// InvalidIDs are the first ids of users that could not be applied.
	InvalidIDs []string
	Elapsed    time.Duration
}

// UsersPerSecond is the run's rate.
func (s Summary) UsersPerSecond() float64 { return float64(s.Read) / max(s.Elapsed.Seconds(), 1e-3) }

func (s *Summary) add(k kind, id string) {
	switch k {
	case inserted:
		s.Inserted++
	case updated:
		s.Updated++
	case unchanged:
		s.Unchanged++
	case stale:
		s.Stale++
	case deleted:
		s.Deleted++
	case invalid:
		s.Invalid++
		if len(s.InvalidIDs) < sampleIDs && id != "" {
			s.InvalidIDs = append(s.InvalidIDs, id)
		}
	}
}

// sampleIDs is how many ids of each kind a report lists.
const sampleIDs = 10

// Run loads every user of the Clerk instance into the mirror, page by page
// (order_by=+created_at), each page's users applied as snapshots in a few
// ApplyEvents calls. After each page it saves a checkpoint in the mirror; a
// run that finds one resumes there (unless Restart) and removes it when it
// completes. On error the summary holds what was done; running again
// resumes.
func Run(ctx context.Context, o Options) (Summary, error) {
	o.defaults()
	start := time.Now()
	var sum Summary
	if o.Restart {
		if err := o.State.ClearCheckpoint(ctx); err != nil {
			return sum, err
		}
	}
	cp, err := o.State.LoadCheckpoint(ctx)
	if err != nil {
		return sum, err
	}
	startedAt := start.UTC()
	if cp != nil {
		sum.Resumed, sum.ResumedAt, sum.AppliedBefore, startedAt = true, cp.Offset, cp.Applied, cp.StartedAt
		o.Log.Info("backfill resuming", "offset", cp.Offset, "last_id", cp.LastID, "applied_before", cp.Applied)
	}
	if sum.Total, err = o.Directory.CountUsers(ctx); err != nil {
		return sum, err
	}
	o.Progress.start(sum.Total, sum.AppliedBefore)
	defer o.Progress.finish()

	p := newPager(o.Directory, o.PageSize, sum.Total, cp)
	pages := make(chan page, 1) // fetch the next page while this one is applied
	// A failed fetch ends the walk but not the pages already fetched: they
	// are applied and checkpointed first, so that a resume starts after
	// them. A failed apply stops the fetching.
	fctx, stopFetching := context.WithCancel(ctx)
	defer stopFetching()
	fetchErr := make(chan error, 1)
	go func() {
		defer close(pages)
		defer p.drop()
		for {
			pg, ok, err := p.next(fctx)
			if err != nil || !ok {
				fetchErr <- err
				return
			}
			select {
			case pages <- pg:
			case <-fctx.Done():
				fetchErr <- fctx.Err()
				return
			}
		}
	}()
	apply := func() error {
		for pg := range pages {
			if err := applyPage(ctx, o, pg, &sum); err != nil {
				return err
			}
			sum.Pages++
			cp := clerksync.BackfillCheckpoint{
				Offset: pg.next, PageIDs: pg.ids, LastCreatedAt: pg.lastCreated, LastID: pg.lastID,
				Applied: sum.AppliedBefore + sum.Read, StartedAt: startedAt,
			}
			// The page is applied: its checkpoint is saved even if ctx ended
			// meanwhile (Ctrl-C), so that it agrees with what was applied and
			// a resumed run starts after it.
			saveCtx, cancelSave := context.WithTimeout(context.WithoutCancel(ctx), checkpointTimeout)
			err := o.State.SaveCheckpoint(saveCtx, cp)
			cancelSave()
			if err != nil {
				return err
			}
			o.Progress.update(sum.AppliedBefore+sum.Read, sum.Pages, time.Since(start))
		}
		return nil
	}
	err = apply()
	stopFetching()
	for range pages {
		// drain what was fetched after a failed apply
	}
	if ferr := <-fetchErr; err == nil {
		err = ferr
	}
	sum.Requests, sum.Backups = p.requests, p.backups
	sum.Elapsed = time.Since(start)
	if err != nil {
		if errors.Is(err, context.Canceled) && ctx.Err() != nil {
			err = ctx.Err()
		}
		return sum, err
	}
	if err := o.State.ClearCheckpoint(ctx); err != nil {
		return sum, err
	}
	return sum, nil
}

// checkpointTimeout bounds saving the checkpoint of a page applied after
// the run was interrupted.
const checkpointTimeout = 5 * time.Second

// applyPage applies a page's users: the mirror's state of all of them is
// read in one query first, for the summary; the write itself is guarded in
// SQL, whatever that read said. The counts are added to sum only once the
// page is applied, so that they agree with the checkpoint.
func applyPage(ctx context.Context, o Options, pg page, sum *Summary) error {
	var (
		ids    []string
		events []clerksync.Event
		kinds  []kind
		kindOf []string // the id each kind is about
	)
	for _, u := range pg.users {
		if err := checkUser(u); err != nil {
			o.Log.Warn("backfill: user skipped", "user_id", u.id, "error", err.Error())
			kinds, kindOf = append(kinds, invalid), append(kindOf, u.id)
			continue
		}
		ids = append(ids, u.id)
		events = append(events, snapshot(u.user))
	}
	if len(events) > 0 {
		states, err := o.State.MirrorStates(ctx, ids)
		if err != nil {
			return err
		}
		outcomes, errs, err := applyParallel(ctx, o.Mirror, events, o.Parallel)
		if err != nil {
			return fmt.Errorf("apply page before offset %d: %w", pg.next, err)
		}
		for i, ev := range events {
			k := invalid
			if errs[i] != nil {
				o.Log.Warn("backfill: user refused by the mirror", "user_id", ev.UserID, "error", errs[i].Error())
			} else {
				st, known := states[ev.UserID]
				k = settle(predict(st, known, ev.User), outcomes[i])
			}
			kinds, kindOf = append(kinds, k), append(kindOf, ev.UserID)
		}
	}
	for i, k := range kinds {
		sum.add(k, kindOf[i])
	}
	sum.Read += len(pg.users)
	return nil
}

// applyParallel applies events in n parts at once, each one ApplyEvents
// call (see applyAll).
func applyParallel(ctx context.Context, m clerksync.Mirror, events []clerksync.Event, n int) ([]clerksync.Outcome, []error, error) {
	outcomes := make([]clerksync.Outcome, len(events))
	errs := make([]error, len(events))
	size := (len(events) + n - 1) / n
	g, gctx := errgroup.WithContext(ctx)
	for lo := 0; lo < len(events); lo += size {
		hi := min(lo+size, len(events))
		g.Go(func() error {
			out, es, err := applyAll(gctx, m, events[lo:hi])
			if err != nil {
				return err
			}
			copy(outcomes[lo:hi], out)
			copy(errs[lo:hi], es)
			return nil
		})
	}
	return outcomes, errs, g.Wait()
}
