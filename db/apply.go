package db

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/clerksync/clerksync"
)

// Store is the mirror in Postgres. It is safe for concurrent use.
type Store struct {
	db *sqlx.DB

	// The write path's statements, prepared once and again as the mirror
	// grows (see replan): parsing and planning the snapshot statement costs
	// as much as running it for one event.
	mu         sync.RWMutex
	stmts      *statements // nil until first use
	applied    atomic.Int64
	replanning atomic.Bool
}

// statements are the write path's prepared statements.
type statements struct {
	lock, snapshots, deletions *sql.Stmt
	// at is Store.applied (users written) when they were prepared.
	at int64
}

// replanFrom is the number of users written after which the write path's
// statements are first prepared again; then again each time that number
// doubles. Postgres plans a prepared statement once per connection
// (a generic plan, after five custom ones) for the tables' size at that
// time, and keeps the plan until the tables are analysed. Prepared on a new,
// empty mirror, the contact and tombstone steps scan their whole tables,
// each event, however large the first sync makes them (make bench: 2.1 ms
// an event at 4,000 users against 0.64 ms with a plan made for that size);
// autovacuum's analyse ends that, but only a minute or more into the sync.
// Preparing again at 1,000, 2,000, 4,000, ... users written keeps the plans made
// for tables at least half their size, for a few prepares in all.
const replanFrom = 1000

// NewStore returns a Store over an open, migrated database.
func NewStore(db *sqlx.DB) *Store { return &Store{db: db} }

// prepare prepares the write path's statements.
func (s *Store) prepare(ctx context.Context) (*statements, error) {
	var stmts [3]*sql.Stmt
	for i, q := range []string{lockUsersSQL, applySnapshotsSQL, applyDeletionsSQL} {
		var err error
		if stmts[i], err = s.db.PrepareContext(ctx, q); err != nil {
			for _, st := range stmts[:i] {
				st.Close()
			}
			return nil, fmt.Errorf("prepare: %w", err)
		}
	}
	return &statements{lock: stmts[0], snapshots: stmts[1], deletions: stmts[2], at: s.applied.Load()}, nil
}

// ready prepares the statements on first use (not in NewStore, so that a
// process can start while Postgres is down). It runs before a transaction
// begins: preparing takes a connection of the pool's own.
func (s *Store) ready(ctx context.Context) error {
	s.mu.RLock()
	ok := s.stmts != nil
	s.mu.RUnlock()
	if ok {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stmts != nil {
		return nil
	}
	st, err := s.prepare(ctx)
	if err != nil {
		return err
	}
	s.stmts = st
	return nil
}

// bind returns the current statements and their forms for tx (see ready).
func (s *Store) bind(ctx context.Context, tx *sqlx.Tx) (st *statements, lock, snapshots, deletions *sql.Stmt) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	st = s.stmts
	return st, tx.StmtContext(ctx, st.lock), tx.StmtContext(ctx, st.snapshots), tx.StmtContext(ctx, st.deletions)
}

// replan counts n users written with st (a batch's events for one user
// count once) and, when they have doubled since st was prepared (see replanFrom), prepares the statements
// again, for the next transactions. The ones still using st finish with it:
// database/sql closes a statement on a connection only once the connection
// is released.
func (s *Store) replan(ctx context.Context, st *statements, n int) {
	if s.applied.Add(int64(n)) < max(2*st.at, replanFrom) || !s.replanning.CompareAndSwap(false, true) {
		return
	}
	defer s.replanning.Store(false)
	s.mu.RLock()
	current := s.stmts == st
	s.mu.RUnlock()
	if !current {
		return // prepared again already
	}
	next, err := s.prepare(ctx)
	if err != nil {
		return // the old ones still work; the next transaction tries again
	}
	s.mu.Lock()
	s.stmts = next
	s.mu.Unlock()
	st.lock.Close()
	st.snapshots.Close()
	st.deletions.Close()
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
	if err := s.ready(ctx); err != nil {
		return nil, ctxFirst(ctx, classify(err))
	}
	var st *statements
	err := s.inTx(ctx, func(tx *sqlx.Tx) error {
		var lock, snapshots, deletions *sql.Stmt
		st, lock, snapshots, deletions = s.bind(ctx, tx)
		if _, err := lock.ExecContext(ctx, pq.Array(ids)); err != nil {
			return fmt.Errorf("lock users: %w", err)
		}
		if len(snaps) > 0 {
			p, err := encodeSnapshots(snaps)
			if err != nil {
				return err
			}
			rows, err := snapshots.QueryContext(ctx, p[0], p[1], p[2], p[3], p[4])
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
			if _, err := deletions.ExecContext(ctx, doc); err != nil {
				return fmt.Errorf("apply deletions: %w", err)
			}
		}
		return nil
	})
	if err != nil {
		return nil, ctxFirst(ctx, err)
	}
	s.replan(ctx, st, len(ids))
	return written, nil
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

// ctxFirst names ctx's end as the cause of a failure that came after it.
// Once ctx ends, database/sql rolls the transaction back and answers
// sql.ErrTxDone to what follows, and lib/pq cancels the statement under way
// (57014) or the dial; callers need to see context.Canceled (a backfill
// stops on it as an interruption) or the deadline.
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
