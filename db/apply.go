package db

import (
	"context"
	"database/sql"
	"encoding/json"
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

	// The write path's statements, prepared once: parsing and planning the
	// snapshot statement costs as much as running it for one event.
	mu        sync.Mutex
	lock      *sql.Stmt
	snapshots *sql.Stmt
	deletions *sql.Stmt
}

// NewStore returns a Store over an open, migrated database.
func NewStore(db *sqlx.DB) *Store { return &Store{db: db} }

// prepared returns the write path's statements, preparing them on first use
// (not in NewStore, so that a process can start while Postgres is down).
func (s *Store) prepared(ctx context.Context) (lock, snapshots, deletions *sql.Stmt, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.lock != nil {
		return s.lock, s.snapshots, s.deletions, nil
	}
	var stmts [3]*sql.Stmt
	for i, q := range []string{lockUsersSQL, applySnapshotsSQL, applyDeletionsSQL} {
		if stmts[i], err = s.db.PrepareContext(ctx, q); err != nil {
			for _, st := range stmts[:i] {
				st.Close()
			}
			return nil, nil, nil, fmt.Errorf("prepare: %w", err)
		}
	}
	s.lock, s.snapshots, s.deletions = stmts[0], stmts[1], stmts[2]
	return s.lock, s.snapshots, s.deletions, nil
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
	written, err := s.apply(ctx, ids, snaps, dels)
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

func (s *Store) apply(ctx context.Context, ids []string, snaps []snapshotRow, dels []deletionRow) (map[string]bool, error) {
	written := make(map[string]bool, len(snaps))
	lock, snapshots, deletions, err := s.prepared(ctx)
	if err != nil {
		return nil, classify(err)
	}
	err = s.inTx(ctx, func(tx *sqlx.Tx) error {
		if _, err := tx.StmtContext(ctx, lock).ExecContext(ctx, pq.Array(ids)); err != nil {
			return fmt.Errorf("lock users: %w", err)
		}
		if len(snaps) > 0 {
			p, err := encodeSnapshots(snaps)
			if err != nil {
				return err
			}
			rows, err := tx.StmtContext(ctx, snapshots).QueryContext(ctx, p[0], p[1], p[2], p[3], p[4])
			if err != nil {
				return fmt.Errorf("apply snapshots: %w", err)
			}
			defer rows.Close()
			for rows.Next() {
				var id string
				if err := rows.Scan(&id); err != nil {
					return err
				}
				written[id] = true
			}
			if err := rows.Err(); err != nil {
				return fmt.Errorf("apply snapshots: %w", err)
			}
		}
		if len(dels) > 0 {
			doc, err := json.Marshal(dels)
			if err != nil {
				return err
			}
			if _, err := tx.StmtContext(ctx, deletions).ExecContext(ctx, doc); err != nil {
				return fmt.Errorf("apply deletions: %w", err)
			}
		}
		return nil
	})
	return written, err
}

// inTx runs fn in a READ COMMITTED transaction: each statement after the
// advisory locks sees everything committed before the locks were granted.
func (s *Store) inTx(ctx context.Context, fn func(*sqlx.Tx) error) error {
	tx, err := s.db.BeginTxx(ctx, &sql.TxOptions{Isolation: sql.LevelReadCommitted})
	if err != nil {
		return classify(err)
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return classify(err)
	}
	return classify(tx.Commit())
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
