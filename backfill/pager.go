package backfill

import (
	"context"
	"encoding/json"
	"time"

	"github.com/clerksync/clerksync"
)

// pager walks Clerk's user list by offset (order_by=+created_at) without
// skipping users when others are deleted meanwhile.
//
// Offsets shift: deleting d users before the current position moves every
// later user d places back, so that the next offset would skip d of them.
// New users are no danger: their created_at is now, so they join the end of
// the list. The pager therefore requests each page `overlap` places before
// the end of the last one and checks that the page starts among the users it
// already has (or before them): if it does, the page continues the walk
// without a gap; if it does not, users were deleted, and it backs up (one
// page, then two, four, ... until it finds its place again or reaches the
// start). Users seen twice are passed on once per page only; applying one
// again would be harmless anyway (an equal snapshot changes nothing).
// A checkpoint is the same state: the offset of the next page and the ids of
// the last one, so that resuming is checked the same way.
//
// Up to `prefetch` pages are requested at once (at the offsets the walk
// will reach if nothing shifts), so that the API's latency per page does not
// bound the walk; the rate limiter still paces the requests. Pages are
// checked in order as above; after a shift, the pages fetched ahead are
// dropped and the walk goes on from where it found its place.
type pager struct {
	dir     clerksync.UserDirectory
	limit   int
	overlap int
	offset  int

	// The pages requested ahead, in order from window[0] at offset.
	window    []*pending
	hint      int // the user count at the start: no page is requested ahead beyond it
	launchAt  int
	launchCtx context.Context
	cancel    context.CancelFunc

	// The last page: its ids and its last user's created_at.
	prev        map[string]bool
	prevIDs     []string
	lastCreated time.Time
	lastID      string
	started     bool
	done        bool

	requests, backups int
}

// page is one step of the walk.
type page struct {
	// users are the users of the page not yet passed on, in the API's order.
	users []apiUser
	// fetched is when the API answered.
	fetched time.Time
	// The walk's state after this page: what a checkpoint records.
	next        int
	ids         []string
	lastCreated time.Time
	lastID      string
}

// apiUser is one user of a page: decoded, or the error that prevented it
// (with the id and created_at read anyway where possible).
type apiUser struct {
	id        string
	createdAt time.Time
	user      *clerksync.User
	err       error
}

// prefetch is how many pages are requested at once: at a few hundred ms per
// page of 500, four keep the walk ahead of the write path without holding
// much memory.
const prefetch = 4

// pending is a page request under way.
type pending struct {
	offset  int
	done    chan struct{}
	raws    []json.RawMessage
	fetched time.Time
	err     error
}

// newPager starts a walk, at the checkpoint if there is one; total is the
// user count the API gave, which bounds the pages requested ahead (users
// created since are still read, one page at a time at the end).
func newPager(dir clerksync.UserDirectory, limit, total int, cp *clerksync.BackfillCheckpoint) *pager {
	p := &pager{dir: dir, limit: limit, overlap: max(1, min(10, limit/10)), hint: total}
	if cp != nil && cp.Offset > 0 {
		p.offset = cp.Offset
		p.started = true
		p.setPrev(cp.PageIDs, cp.LastCreatedAt, cp.LastID)
	}
	return p
}

func (p *pager) setPrev(ids []string, lastCreated time.Time, lastID string) {
	p.prevIDs = ids
	p.prev = make(map[string]bool, len(ids))
	for _, id := range ids {
		p.prev[id] = true
	}
	p.lastCreated, p.lastID = lastCreated, lastID
}

// next returns the next page; ok is false once the walk is over.
func (p *pager) next(ctx context.Context) (pg page, ok bool, err error) {
	if p.done {
		return page{}, false, nil
	}
	step := p.limit
	var users []apiUser
	for {
		raws, fetched, err := p.fetch(ctx)
		if err != nil {
			p.drop()
			return page{}, false, err
		}
		pg.fetched = fetched
		users = decodeAll(raws)
		if p.continues(users) {
			break
		}
		// Users before this position were deleted: back up and find it
		// again. The pages fetched ahead were asked for at shifted offsets.
		p.drop()
		p.backups++
		p.offset = max(0, p.offset-step)
		step *= 2
	}
	skip := p.seen(users)
	pg.users = dedupe(users[skip:])
	if len(users) < p.limit {
		p.done = true
	}
	if len(users) > 0 {
		ids := make([]string, len(users))
		for i, u := range users {
			ids[i] = u.id
		}
		last := users[len(users)-1]
		p.setPrev(ids, last.createdAt, last.id)
	}
	if !p.done {
		p.offset += len(users) - p.overlap
	}
	p.started = true
	if p.done {
		p.drop()
	}
	// After the last page, next is that page's own offset: resuming there
	// finds nothing new and ends.
	pg.next, pg.ids, pg.lastCreated, pg.lastID = p.offset, p.prevIDs, p.lastCreated, p.lastID
	return pg, true, nil
}

// fetch returns the page at the current offset, keeping up to prefetch
// requests under way at the offsets that follow it.
func (p *pager) fetch(ctx context.Context) ([]json.RawMessage, time.Time, error) {
	if len(p.window) > 0 && p.window[0].offset != p.offset {
		p.drop()
	}
	if len(p.window) == 0 {
		var wctx context.Context
		wctx, p.cancel = context.WithCancel(ctx)
		p.launchAt = p.offset
		p.window = append(p.window, p.launch(wctx, p.launchAt))
		p.launchCtx = wctx
	}
	for len(p.window) < prefetch && p.launchAt+p.limit-p.overlap < p.hint {
		p.launchAt += p.limit - p.overlap
		p.window = append(p.window, p.launch(p.launchCtx, p.launchAt))
	}
	f := p.window[0]
	p.window = p.window[1:]
	select {
	case <-f.done:
	case <-ctx.Done():
		return nil, time.Time{}, ctx.Err()
	}
	return f.raws, f.fetched, f.err
}

func (p *pager) launch(ctx context.Context, offset int) *pending {
	f := &pending{offset: offset, done: make(chan struct{})}
	p.requests++
	go func() {
		defer close(f.done)
		f.raws, f.err = p.dir.ListUsers(ctx, offset, p.limit)
		f.fetched = time.Now()
	}()
	return f
}

// drop abandons the pages requested ahead.
func (p *pager) drop() {
	if p.cancel != nil {
		p.cancel()
		p.cancel = nil
	}
	p.window = nil
}

// continues reports whether a page fetched at the current offset leaves no
// gap after the last page: it starts among that page's users, or before its
// last one.
func (p *pager) continues(users []apiUser) bool {
	if !p.started || p.offset == 0 {
		return true
	}
	if len(users) == 0 {
		// The last page was full and this one is asked for `overlap` places
		// before its end: with nothing deleted, at least those come back.
		return false
	}
	return p.before(users[0])
}

// before reports whether u comes at or before the last user of the last page.
func (p *pager) before(u apiUser) bool {
	return p.prev[u.id] || (!u.createdAt.IsZero() && u.createdAt.Before(p.lastCreated))
}

// seen returns how many users at the start of the page were covered by the
// pages before it.
func (p *pager) seen(users []apiUser) int {
	if !p.started {
		return 0
	}
	n := 0
	for i, u := range users {
		if p.before(u) {
			n = i + 1
		}
	}
	return n
}

func decodeAll(raws []json.RawMessage) []apiUser {
	users := make([]apiUser, len(raws))
	for i, raw := range raws {
		u, err := clerksync.DecodeUser(raw)
		if err == nil {
			users[i] = apiUser{id: u.ID, createdAt: u.CreatedAt.Time, user: u}
			continue
		}
		// Keep its place in the walk: its id and created_at, if it has them.
		var head struct {
			ID        string `json:"id"`
			CreatedAt int64  `json:"created_at"`
		}
		json.Unmarshal(raw, &head)
		users[i] = apiUser{id: head.ID, err: err}
		if head.CreatedAt > 0 {
			users[i].createdAt = time.UnixMilli(head.CreatedAt).UTC()
		}
	}
	return users
}

// dedupe keeps the first of users sharing an id within a page.
func dedupe(users []apiUser) []apiUser {
	seen := make(map[string]bool, len(users))
	out := users[:0:0]
	for _, u := range users {
		if u.id != "" && seen[u.id] {
			continue
		}
		seen[u.id] = true
		out = append(out, u)
	}
	return out
}
