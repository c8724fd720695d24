package db

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"sync"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/clerksync/clerksync"
)

// Store is the mirror in Postgres. It is safe for concurrent use.
type Store struct {
	db *sqlx.DB

	// apply calls clerksync_apply, prepared on first use (not in NewStore,
	// so that a process can start while Postgres is down); database/sql
	// prepares it once on each connection.
	mu    sync.Mutex
	apply *sql.Stmt
}

// NewStore returns a Store over an open, migrated database.
func NewStore(db *sqlx.DB) *Store { return &Store{db: db} }

// prepared returns the prepared call of clerksync_apply.
func (s *Store) prepared(ctx context.Context) (*sql.Stmt, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.apply != nil {
		return s.apply, nil
	}
	st, err := s.db.PrepareContext(ctx, applySQL)
	if err != nil {
		return nil, fmt.Errorf("prepare: %w", unmigrated(classify(err)))
	}
	s.apply = st
	return st, nil
}

var _ clerksync.Mirror = (*Store)(nil)

// Ping reports whether Postgres answers; the error wraps ErrUnavailable.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.db.PingContext(ctx); err != nil {
		return fmt.Errorf("ping postgres: %w", clerksync.ErrUnavailable)
	}
	return nil
}

// ApplyEvents applies events in one transaction (see clerksync.Mirror).
//
// Within a batch, the events for one user collapse to the one that decides
// the final state, exactly as applying them one by one would: a deletion
// wins over every snapshot, otherwise the snapshot that orders last (by
// updated_at, then envelope timestamp, then delivery id; see snapshotOrder).
// The SQL then orders the winner against what is stored.
func (s *Store) ApplyEvents(ctx context.Context, events []clerksync.Event) ([]clerksync.Outcome, error) {
	if len(events) == 0 {
		return nil, nil
	}
	winners := decide(events)
	outcomes := make([]clerksync.Outcome, len(events))
	var ids []string
	var snaps []snapshotRow
	var dels []deletionRow
	for _, w := range sortedWinners(events, winners) {
		e := events[w]
		ids = append(ids, e.UserID)
		if e.Type == clerksync.UserDeleted {
			dels = append(dels, newDeletionRow(e))
		} else {
			snaps = append(snaps, newSnapshotRow(e))
		}
	}
	written, err := s.write(ctx, ids, snaps, dels)
	if err != nil {
		return nil, err
	}
	for i, e := range events {
		switch {
		case e.Type == clerksync.UserDeleted:
			outcomes[i] = clerksync.Deleted
		case winners[e.UserID] == i && written[e.UserID]:
			outcomes[i] = clerksync.Applied
		default:
			outcomes[i] = clerksync.Stale
		}
	}
	return outcomes, nil
}

// write calls clerksync_apply with the batch, in the call's own transaction
// (see sql/apply.sql), and returns the ids of the users it wrote.
func (s *Store) write(ctx context.Context, ids []string, snaps []snapshotRow, dels []deletionRow) (map[string]bool, error) {
	st, err := s.prepared(ctx)
	if err != nil {
		return nil, ctxFirst(ctx, err)
	}
	p, err := encodeSnapshots(snaps)
	if err != nil {
		return nil, err
	}
	d, err := json.Marshal(dels)
	if err != nil {
		return nil, err
	}
	if dels == nil {
		d = []byte("[]")
	}
	rows, err := st.QueryContext(ctx, pq.Array(ids), p[0], p[1], p[2], p[3], p[4], d)
	if err != nil {
		return nil, ctxFirst(ctx, unmigrated(classify(fmt.Errorf("apply: %w", err))))
	}
	defer rows.Close()
	written := make(map[string]bool, len(snaps))
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, ctxFirst(ctx, classify(err))
		}
		written[id] = true
	}
	// lib/pq ends the rows only at ReadyForQuery, after the call's commit,
	// so a failed commit (or a connection lost at it) shows here: a nil
	// error means the batch is durable.
	if err := rows.Err(); err != nil {
		return nil, ctxFirst(ctx, classify(fmt.Errorf("apply: %w", err)))
	}
	return written, nil
}

// ctxFirst names ctx's end as the cause of a failure that came after it.
// Once ctx ends, lib/pq cancels the call under way (57014) or the dial, and
// database/sql answers what follows with its own errors; callers need to
// see context.Canceled (a backfill stops on it as an interruption) or the
// deadline. The call may have committed just before: applying is
// idempotent, so a retry is harmless.
func ctxFirst(ctx context.Context, err error) error {
	if err != nil && ctx.Err() != nil && !errors.Is(err, ctx.Err()) {
		return fmt.Errorf("%w: %w", ctx.Err(), err)
	}
	return err
}

// decide returns, for each user in events, the index of the event that
// decides its final state: its earliest deletion if it has one, else its
// snapshot that orders last (of equal ones, the later in events).
func decide(events []clerksync.Event) map[string]int {
	win := make(map[string]int, len(events))
	for i, e := range events {
		j, seen := win[e.UserID]
		if !seen {
			win[e.UserID] = i
			continue
		}
		w := events[j]
		switch {
		case e.Type == clerksync.UserDeleted && w.Type != clerksync.UserDeleted:
			win[e.UserID] = i
		case e.Type == clerksync.UserDeleted:
			if e.Timestamp.Before(w.Timestamp) {
				win[e.UserID] = i
			}
		case w.Type != clerksync.UserDeleted && !orderOf(e).before(orderOf(w)):
			win[e.UserID] = i
		}
	}
	return win
}

// sortedWinners returns the deciding event indexes ordered by user id, the
// order in which rows are written, so that concurrent writers meet row locks
// in the same order.
func sortedWinners(events []clerksync.Event, win map[string]int) []int {
	idx := make([]int, 0, len(win))
	for _, i := range win {
		idx = append(idx, i)
	}
	sort.Slice(idx, func(a, b int) bool { return events[idx[a]].UserID < events[idx[b]].UserID })
	return idx
}
