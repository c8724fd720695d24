package worker

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"sync"
	"time"

	"github.com/clerksync/clerksync"
)

// batcher applies the events of concurrently running tasks in shared
// transactions (group commit): each executor takes the first waiting event
// and every other one already waiting, up to maxBatch, and applies them in
// one transaction. Under light load a batch is a single event and nothing
// waits for a timer; under heavy load batches grow and commits are shared.
//
// Each user's events go to one executor, chosen by a hash of the user id,
// so that two batches of one process never hold the same user: otherwise a
// backlog with several events per user has each executor wait, at its first
// statement, on the other's user locks until that whole transaction commits
// (make bench saw two executors spend most of a batch waiting so). A
// retried event, applied in a transaction of its own (see run), goes to its
// user's executor too.
type batcher struct {
	mirror   clerksync.Mirror
	lanes    []lane // one per executor
	seed     maphash.Seed
	maxBatch int
	timeout  time.Duration
	hooks    batchHooks
	wg       sync.WaitGroup
	stop     chan struct{}
	stopOnce sync.Once
	// ctx is every batch's parent: cancelled when the worker stops waiting
	// for the batches under way, so that Postgres rolls them back.
	ctx    context.Context
	cancel context.CancelFunc
}

// batchHooks are what the server does around a batch.
type batchHooks struct {
	// observe sees each transaction's size.
	observe func(batchSize int)
	// before runs before a batch is applied; an error fails the batch.
	before func(ctx context.Context, events []clerksync.Event) error
	// after sees the outcomes of a batch that committed.
	after func(events []clerksync.Event, outcomes []clerksync.Outcome)
	// unavailable is told that a transaction failed with ErrUnavailable,
	// and returns once it knows whether Postgres is down.
	unavailable func(cause error)
}

// lane is one executor's way in: events to batch, and events to apply alone.
type lane struct {
	requests, solo chan *request
}

type request struct {
	event clerksync.Event
	done  chan result // buffered: an executor never blocks on a gone caller
}

type result struct {
	outcome clerksync.Outcome
	err     error
}

func newBatcher(m clerksync.Mirror, executors, maxBatch int, hooks batchHooks) *batcher {
	ctx, cancel := context.WithCancel(context.Background())
	lanes := make([]lane, executors)
	for i := range lanes {
		lanes[i] = lane{requests: make(chan *request), solo: make(chan *request)}
	}
	return &batcher{
		mirror: m, lanes: lanes, seed: maphash.MakeSeed(), maxBatch: maxBatch,
		timeout: 30 * time.Second, hooks: hooks, stop: make(chan struct{}),
		ctx: ctx, cancel: cancel,
	}
}

// start runs the executors until close.
func (b *batcher) start() {
	for _, l := range b.lanes {
		b.wg.Add(1)
		go b.execute(l)
	}
}

// close stops the executors: it cancels the batches under way (their tasks
// have finished or been handed back by then) and waits for them until ctx
// ends. Against a frozen Postgres a batch may never return; it is then left
// behind rather than holding up the shutdown.
func (b *batcher) close(ctx context.Context) {
	b.stopOnce.Do(func() { close(b.stop) })
	b.cancel()
	done := make(chan struct{})
	go func() {
		b.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
	}
}

// apply submits one event and waits for its outcome. A solo event is applied
// in a transaction of its own: a task that failed before may fail again, and
// should not take a batch of others with it (see run). If ctx ends first
// the event may still be applied: applying is idempotent, and the task will
// be retried.
func (b *batcher) apply(ctx context.Context, e clerksync.Event, solo bool) (clerksync.Outcome, error) {
	r := &request{event: e, done: make(chan result, 1)}
	l := b.lanes[maphash.String(b.seed, e.UserID)%uint64(len(b.lanes))]
	queue := l.requests
	if solo {
		queue = l.solo
	}
	select {
	case queue <- r:
	case <-ctx.Done():
		return "", ctx.Err()
	case <-b.stop:
		return "", errStopping
	}
	select {
	case res := <-r.done:
		return res.outcome, res.err
	case <-ctx.Done():
		return "", ctx.Err()
	}
}

func (b *batcher) execute(l lane) {
	defer b.wg.Done()
	batch := make([]*request, 0, b.maxBatch)
	for {
		select {
		case r := <-l.solo:
			b.run(append(batch[:0], r))
			continue
		case r := <-l.requests:
			batch = append(batch[:0], r)
		case <-b.stop:
			return
		}
	collect:
		for len(batch) < b.maxBatch {
			select {
			case r := <-l.requests:
				batch = append(batch, r)
			default:
				break collect
			}
		}
		b.run(batch)
	}
}

// run applies a batch. If the shared transaction fails for a reason other
// than an unavailable Postgres, one event may be the cause (a value a
// narrowed column refuses, a trigger of the application's): each event is
// then applied alone, so that only the events that fail alone fail, and the
// others are applied.
//
// The split happens once per fresh event, not over and over: an event that
// failed alone fails its task, which Asynq retries with backoff, and a
// retried task is submitted solo (see Server.handle), so that a mirror-side
// problem that fails every event costs one transaction per event per retry,
// not a failed batch and its split each time.
func (b *batcher) run(batch []*request) {
	ctx, cancel := context.WithTimeout(b.ctx, b.timeout)
	defer cancel()
	events := make([]clerksync.Event, len(batch))
	for i, r := range batch {
		events[i] = r.event
	}
	if err := b.hooks.before(ctx, events); err != nil {
		for _, r := range batch {
			r.done <- result{err: err}
		}
		return
	}
	b.hooks.observe(len(events))
	outcomes, err := b.applyWithin(ctx, events)
	if err == nil {
		b.hooks.after(events, outcomes)
		for i, r := range batch {
			r.done <- result{outcome: outcomes[i]}
		}
		return
	}
	if errors.Is(err, clerksync.ErrUnavailable) {
		b.hooks.unavailable(err)
	}
	if len(batch) == 1 || errors.Is(err, clerksync.ErrUnavailable) {
		for _, r := range batch {
			r.done <- result{err: err}
		}
		return
	}
	for i, r := range batch {
		b.hooks.observe(1)
		out, err := b.applyWithin(ctx, events[i:i+1])
		if err != nil {
			if errors.Is(err, clerksync.ErrUnavailable) {
				// Postgres went away during the split: the rest would
				// fail the same way.
				b.hooks.unavailable(err)
				for _, rest := range batch[i:] {
					rest.done <- result{err: err}
				}
				return
			}
			r.done <- result{err: err}
			continue
		}
		b.hooks.after(events[i:i+1], out)
		r.done <- result{outcome: out[0]}
	}
}

// applyWithin applies events, giving up when ctx ends even if the driver
// does not (a frozen Postgres): the transaction is then left to fail or
// commit on its own, which is harmless, as applying is idempotent.
func (b *batcher) applyWithin(ctx context.Context, events []clerksync.Event) ([]clerksync.Outcome, error) {
	var outcomes []clerksync.Outcome
	err := callWithin(ctx, func(ctx context.Context) error {
		var err error
		outcomes, err = b.mirror.ApplyEvents(ctx, events)
		return err
	})
	if err != nil && ctx.Err() != nil && !errors.Is(err, clerksync.ErrUnavailable) {
		// The batch's deadline passed (a Postgres that does not answer), or
		// the worker cancelled it on its way out.
		return nil, fmt.Errorf("apply: %w: %v", clerksync.ErrUnavailable, ctx.Err())
	}
	return outcomes, err
}
