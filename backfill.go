package clerksync

import (
	"context"
	"encoding/json"
	"errors"
	"time"
)

// ErrUserNotFound means Clerk's Backend API answered 404 for a user id: the
// user does not exist there (any more).
var ErrUserNotFound = errors.New("user not found in Clerk")

// UserDirectory is Clerk's Backend API as backfill and reconcile read it.
// Every method retries what passes (429, 5xx, network errors) within a
// bounded time and fails at once on a rejected key.
type UserDirectory interface {
	// ListUsers returns up to limit users from offset, ordered by created_at
	// ascending, each exactly as the API returned it.
	ListUsers(ctx context.Context, offset, limit int) ([]json.RawMessage, error)
	// CountUsers returns how many users the instance has.
	CountUsers(ctx context.Context) (int, error)
	// GetUser returns one user as the API returned it, or an error wrapping
	// ErrUserNotFound when the API answered 404.
	GetUser(ctx context.Context, id string) (json.RawMessage, error)
}

// MirrorState is what the mirror holds for one user id, read before a
// snapshot is applied so that a summary can say what applying it did.
type MirrorState struct {
	// Live is true when the users table has a row for the id.
	Live bool
	// UpdatedAt is the stored row's Clerk updated_at; zero when the row has
	// none (an import) or there is no row.
	UpdatedAt time.Time
	// Source is the stored row's source (webhook, import, backfill).
	Source string
	// Deleted is true when the id has a tombstone.
	Deleted bool
}

// BackfillCheckpoint is where an interrupted backfill resumes: the position
// after the last page it applied, and that page's ids, against which the
// next page is checked for a shift of offsets.
type BackfillCheckpoint struct {
	// Offset is the offset of the next page to request.
	Offset int
	// PageIDs are the ids of the last page applied.
	PageIDs []string
	// LastCreatedAt is the created_at of the last user of that page.
	LastCreatedAt time.Time
	// LastID is the id of the last user of that page.
	LastID string
	// Applied counts the users applied since the backfill started.
	Applied int
	// StartedAt is when the backfill that wrote the checkpoint started.
	StartedAt time.Time
	// UpdatedAt is when the checkpoint was last written.
	UpdatedAt time.Time
}

// ReconcileStatus is the record of the last reconcile, shared by every
// process through the mirror so that any of them can export it.
type ReconcileStatus struct {
	// StartedAt is when the last reconcile (successful or not) started.
	StartedAt time.Time
	// SucceededAt is when the last reconcile completed; zero if none has.
	SucceededAt time.Time
	// ApplySucceededAt is when the last reconcile that repaired completed.
	ApplySucceededAt time.Time
	// Missing, Outdated and Extra are the drift the last completed run found.
	Missing, Outdated, Extra int
	// Applied says whether that run repaired (--apply); Unrepaired is the
	// drift it left.
	Applied    bool
	Unrepaired int
}

// SyncState is the mirror's side of backfill and reconcile: what it holds
// for given users, its own ids, the backfill's checkpoint and the record of
// the last reconcile.
type SyncState interface {
	// MirrorStates returns, in one query, the state of each id; ids the
	// mirror has never seen are absent from the map.
	MirrorStates(ctx context.Context, ids []string) (map[string]MirrorState, error)
	// LocalUserIDs returns up to limit ids of live users greater than after,
	// in byte order.
	LocalUserIDs(ctx context.Context, after string, limit int) ([]string, error)
	// LoadCheckpoint returns the backfill's checkpoint, or nil when there is none.
	LoadCheckpoint(ctx context.Context) (*BackfillCheckpoint, error)
	// SaveCheckpoint records the checkpoint, replacing any earlier one.
	SaveCheckpoint(ctx context.Context, c BackfillCheckpoint) error
	// ClearCheckpoint removes the checkpoint: the next backfill starts over.
	ClearCheckpoint(ctx context.Context) error
	// ReconcileStarted records that a reconcile started at t.
	ReconcileStarted(ctx context.Context, t time.Time) error
	// ReconcileSucceeded records the drift a completed reconcile found.
	ReconcileSucceeded(ctx context.Context, s ReconcileStatus) error
	// LastReconcile returns the record of the last reconcile; zero times
	// when none has run.
	LastReconcile(ctx context.Context) (ReconcileStatus, error)
}
