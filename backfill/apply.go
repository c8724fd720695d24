package backfill

import (
	"context"
	"errors"
	"fmt"

	"github.com/clerksync/clerksync"
)

// kind is what applying one API snapshot did, as the summary counts it.
type kind int

const (
	inserted  kind = iota // the mirror had no row
	updated               // the mirror's row was older (or from an import)
	unchanged             // the mirror's row had the same updated_at
	stale                 // the mirror's row was newer: left alone
	deleted               // the user has a tombstone: not brought back
	invalid               // the snapshot could not be applied
)

// predict is what applying u will do, judged from the mirror's state read
// just before; settle corrects it with the write's actual outcome.
func predict(st clerksync.MirrorState, known bool, u *clerksync.User) kind {
	switch {
	case !known:
		return inserted
	case st.Deleted:
		return deleted
	case !st.Live:
		return inserted
	case st.Source == "import" || st.UpdatedAt.IsZero():
		return updated
	case st.UpdatedAt.After(u.UpdatedAt.Time):
		return stale
	case st.UpdatedAt.Equal(u.UpdatedAt.Time):
		return unchanged
	}
	return updated
}

// settle reconciles a prediction with the outcome: a webhook may have
// written the user between the read and the write, and the SQL guard, not
// the prediction, decides.
func settle(pred kind, o clerksync.Outcome) kind {
	switch o {
	case clerksync.Applied:
		if pred == stale || pred == deleted {
			return updated
		}
		return pred
	case clerksync.Stale:
		if pred == deleted || pred == unchanged {
			return pred
		}
		return stale
	}
	return pred
}

// snapshot is the event that applies an API user through the guarded write
// path, as a backfill snapshot.
func snapshot(u *clerksync.User) clerksync.Event {
	return clerksync.Event{Type: clerksync.UserUpdated, Source: clerksync.SourceBackfill, UserID: u.ID, User: u}
}

// checkUser refuses what the write path cannot order: every real Clerk user
// has an updated_at.
func checkUser(u apiUser) error {
	switch {
	case u.err != nil:
		return u.err
	case u.user.UpdatedAt.IsZero():
		return fmt.Errorf("%w: user %s has no updated_at", clerksync.ErrInvalidEvent, u.id)
	}
	return nil
}

// applyAll applies events in one ApplyEvents call. When Postgres refuses the
// batch as invalid, it splits it in halves until the events it refuses are
// alone, so that one bad user never blocks the others; their outcome is ""
// and their error is in errs.
func applyAll(ctx context.Context, m clerksync.Mirror, events []clerksync.Event) (outcomes []clerksync.Outcome, errs []error, err error) {
	outcomes = make([]clerksync.Outcome, len(events))
	errs = make([]error, len(events))
	var apply func(lo, hi int) error
	apply = func(lo, hi int) error {
		if lo == hi {
			return nil
		}
		out, err := m.ApplyEvents(ctx, events[lo:hi])
		switch {
		case err == nil:
			copy(outcomes[lo:hi], out)
			return nil
		case !errors.Is(err, clerksync.ErrInvalidEvent):
			return err
		case hi-lo == 1:
			errs[lo] = err
			return nil
		}
		mid := (lo + hi) / 2
		if err := apply(lo, mid); err != nil {
			return err
		}
		return apply(mid, hi)
	}
	return outcomes, errs, apply(0, len(events))
}
