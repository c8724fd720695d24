package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/lib/pq"

	"github.com/clerksync/clerksync"
)

var _ clerksync.SyncState = (*Store)(nil)

// MirrorStates returns the mirror's state of each id (see clerksync.SyncState).
func (s *Store) MirrorStates(ctx context.Context, ids []string) (map[string]clerksync.MirrorState, error) {
	out := make(map[string]clerksync.MirrorState, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	rows, err := s.db.QueryContext(ctx, mirrorStatesSQL, pq.Array(ids))
	if err != nil {
		return nil, fmt.Errorf("read mirror states: %w", classify(err))
	}
	defer rows.Close()
	for rows.Next() {
		var (
			id      string
			st      clerksync.MirrorState
			updated sql.NullTime
		)
		if err := rows.Scan(&id, &st.Live, &updated, &st.Source, &st.Deleted); err != nil {
			return nil, fmt.Errorf("read mirror states: %w", classify(err))
		}
		if updated.Valid {
			st.UpdatedAt = updated.Time.UTC()
		}
		out[id] = st
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read mirror states: %w", classify(err))
	}
	return out, nil
}

// LocalUserIDs returns live users' ids after the given one, in byte order.
func (s *Store) LocalUserIDs(ctx context.Context, after string, limit int) ([]string, error) {
	var ids []string
	if err := s.db.SelectContext(ctx, &ids, localUserIDsSQL, after, limit); err != nil {
		return nil, fmt.Errorf("list local users: %w", classify(err))
	}
	return ids, nil
}

// LoadCheckpoint returns the backfill's checkpoint, or nil.
func (s *Store) LoadCheckpoint(ctx context.Context) (*clerksync.BackfillCheckpoint, error) {
	var (
		c       clerksync.BackfillCheckpoint
		ids     pq.StringArray
		created sql.NullTime
	)
	err := s.db.QueryRowContext(ctx, loadCheckpointSQL).Scan(&c.Offset, &ids, &created, &c.LastID, &c.Applied, &c.StartedAt, &c.UpdatedAt)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read backfill checkpoint: %w", unmigrated(classify(err)))
	}
	c.PageIDs = ids
	if created.Valid {
		c.LastCreatedAt = created.Time.UTC()
	}
	return &c, nil
}

// SaveCheckpoint records the backfill's checkpoint.
func (s *Store) SaveCheckpoint(ctx context.Context, c clerksync.BackfillCheckpoint) error {
	var created *time.Time
	if !c.LastCreatedAt.IsZero() {
		created = &c.LastCreatedAt
	}
	ids := c.PageIDs
	if ids == nil {
		ids = []string{}
	}
	if _, err := s.db.ExecContext(ctx, saveCheckpointSQL, c.Offset, pq.Array(ids), created, c.LastID,
		c.Applied, c.StartedAt); err != nil {
		return fmt.Errorf("save backfill checkpoint: %w", classify(err))
	}
	return nil
}

// ClearCheckpoint removes the backfill's checkpoint.
func (s *Store) ClearCheckpoint(ctx context.Context) error {
	if _, err := s.db.ExecContext(ctx, clearCheckpointSQL); err != nil {
		return fmt.Errorf("clear backfill checkpoint: %w", classify(err))
	}
	return nil
}

// ReconcileStarted records the start of a reconcile.
func (s *Store) ReconcileStarted(ctx context.Context, t time.Time) error {
	if _, err := s.db.ExecContext(ctx, reconcileStartedSQL, t); err != nil {
		return fmt.Errorf("record reconcile start: %w", unmigrated(classify(err)))
	}
	return nil
}

// ReconcileSucceeded records what a completed reconcile found.
func (s *Store) ReconcileSucceeded(ctx context.Context, r clerksync.ReconcileStatus) error {
	if _, err := s.db.ExecContext(ctx, reconcileSucceededSQL, r.StartedAt, r.SucceededAt,
		r.Missing, r.Outdated, r.Extra, r.Applied, r.Unrepaired); err != nil {
		return fmt.Errorf("record reconcile: %w", classify(err))
	}
	return nil
}

// LastReconcile returns the record of the last reconcile.
func (s *Store) LastReconcile(ctx context.Context) (clerksync.ReconcileStatus, error) {
	var (
		r                         clerksync.ReconcileStatus
		started, succeeded, apply sql.NullTime
	)
	err := s.db.QueryRowContext(ctx, lastReconcileSQL).Scan(&started, &succeeded, &apply,
		&r.Missing, &r.Outdated, &r.Extra, &r.Applied, &r.Unrepaired)
	if errors.Is(err, sql.ErrNoRows) {
		return r, nil
	}
	if err != nil {
		return r, fmt.Errorf("read reconcile status: %w", classify(err))
	}
	if started.Valid {
		r.StartedAt = started.Time.UTC()
	}
	if succeeded.Valid {
		r.SucceededAt = succeeded.Time.UTC()
	}
	if apply.Valid {
		r.ApplySucceededAt = apply.Time.UTC()
	}
	return r, nil
}

// ReconcileLock is the session advisory lock of a scheduled reconcile, held
// on a connection of its own for as long as the reconcile runs.
type ReconcileLock struct {
	conn *sql.Conn
}

// TryReconcileLock takes the reconcile lock if no other session holds it;
// ok is false when another process does. A session lock, unlike a task
// lease, ends with its connection: a worker that dies mid-reconcile frees it
// at once, and no timeout has to outlast the longest reconcile.
func (s *Store) TryReconcileLock(ctx context.Context) (lock *ReconcileLock, ok bool, err error) {
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return nil, false, fmt.Errorf("reconcile lock: %w", classify(err))
	}
	if err := conn.QueryRowContext(ctx, `SELECT pg_try_advisory_lock($1)`, int64(reconcileLockID)).Scan(&ok); err != nil {
		conn.Close()
		return nil, false, fmt.Errorf("reconcile lock: %w", classify(err))
	}
	if !ok {
		conn.Close()
		return nil, false, nil
	}
	return &ReconcileLock{conn: conn}, true, nil
}

// Alive reports whether the lock's session still answers (and so still
// holds the lock); the error wraps ErrUnavailable when it does not.
func (l *ReconcileLock) Alive(ctx context.Context) error {
	if err := l.conn.PingContext(ctx); err != nil {
		return fmt.Errorf("reconcile lock: %w", classify(err))
	}
	return nil
}

// Release frees the lock and its connection.
func (l *ReconcileLock) Release() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	l.conn.ExecContext(ctx, `SELECT pg_advisory_unlock($1)`, int64(reconcileLockID))
	l.conn.Close()
}
