package backfill

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/clerksync/clerksync"
)

// Lease is a lock that at most one process holds: the scheduled reconcile
// runs only while holding it.
type Lease interface {
	// Alive returns an error once the lease may have been lost.
	Alive(ctx context.Context) error
	Release()
}

// Schedule runs a repairing reconcile every Every inside each worker
// process, one at a time across all of them.
//
// Every process looks every Check whether a run is due, from the record of
// the last reconcile in the mirror (so the interval holds across processes
// and restarts); when one is, it tries the lock, looks again under it (the
// holder before may just have finished), and runs. A failed run is tried
// again after min(Every, 10m) rather than a whole interval later.
type Schedule struct {
	Every time.Duration
	// Check is how often a process looks; min(Every, 1m) when zero.
	Check time.Duration
	// TryLock takes the lease, ok false when another process holds it.
	TryLock func(ctx context.Context) (lease Lease, ok bool, err error)
	State   clerksync.SyncState
	// Reconcile runs one reconcile (with Apply).
	Reconcile func(ctx context.Context) (Report, error)
	Log       *slog.Logger
}

// Run runs the schedule until ctx ends; a run under way is cancelled then.
func (s *Schedule) Run(ctx context.Context) {
	check := s.Check
	if check <= 0 {
		check = min(s.Every, time.Minute)
	}
	// Processes started together look at different moments.
	timer := time.NewTimer(time.Duration(rand.Int64N(int64(check)) + 1))
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		s.tick(ctx)
		timer.Reset(check)
	}
}

func (s *Schedule) tick(ctx context.Context) {
	if !s.due(ctx) {
		return
	}
	lease, ok, err := s.TryLock(ctx)
	if err != nil {
		s.Log.Warn("scheduled reconcile: cannot take the lock", "error", err.Error())
		return
	}
	if !ok {
		s.Log.Debug("scheduled reconcile: another worker is running it")
		return
	}
	defer lease.Release()
	if !s.due(ctx) {
		return
	}
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	go watch(runCtx, lease, cancel, s.Log)
	s.Log.Info("scheduled reconcile starting", "every", s.Every.String())
	r, err := s.Reconcile(runCtx)
	switch {
	case err != nil && ctx.Err() != nil:
		s.Log.Info("scheduled reconcile stopped by shutdown")
	case err != nil:
		s.Log.Error("scheduled reconcile failed", "error", err.Error(), "retry_in", min(s.Every, retryFailed).String())
	default:
		s.Log.Info("scheduled reconcile done", "missing", r.Missing.Count, "outdated", r.Outdated.Count,
			"extra", r.Extra.Count, "applied", r.Applied, "removed", r.Removed, "held", r.Held,
			"invalid", r.Invalid.Count, "scanned", r.Scanned, "duration", r.Elapsed.Round(time.Millisecond).String())
	}
}

// retryFailed is how soon a failed scheduled reconcile is tried again.
const retryFailed = 10 * time.Minute

// due reports whether the last repairing reconcile is an interval old and
// no attempt was made too recently.
func (s *Schedule) due(ctx context.Context) bool {
	st, err := s.State.LastReconcile(ctx)
	if err != nil {
		s.Log.Warn("scheduled reconcile: cannot read the last run", "error", err.Error())
		return false
	}
	now := time.Now()
	if !st.ApplySucceededAt.IsZero() && now.Sub(st.ApplySucceededAt) < s.Every {
		return false
	}
	return st.StartedAt.IsZero() || now.Sub(st.StartedAt) >= min(s.Every, retryFailed)
}

// watch cancels the run as soon as the lease may be lost (its Postgres
// session ended), so that two reconciles never run at once for long.
func watch(ctx context.Context, lease Lease, cancel func(), log *slog.Logger) {
	t := time.NewTicker(5 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := lease.Alive(ctx); err != nil && ctx.Err() == nil {
				log.Warn("scheduled reconcile: lost its lock; stopping", "error", err.Error())
				cancel()
				return
			}
		}
	}
}
