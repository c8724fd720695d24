package worker

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/clerksync/clerksync"
)

// batcher applies the events of concurrently running tasks in shared
// transactions (group commit): each executor takes the first waiting event
// and every other one already waiting, up to maxBatch, and applies them in
// one transaction. Under light load a batch is a single event and nothing
// waits for a timer; under heavy load batches grow and commits are shared.
type batcher struct {
	mirror    clerksync.Mirror
	requests  chan *request
	maxBatch  int
	executors int
	timeout   time.Duration
	observe   func(batchSize int)
	done      func([]clerksync.Event, []clerksync.Outcome) // each committed batch (observe.go)
	wg        sync.WaitGroup
	stop      chan struct{}
}

type request struct {
	event clerksync.Event
	done  chan result // buffered: an executor never blocks on a gone caller
}

type result struct {
	outcome clerksync.Outcome
	err     error
}

func newBatcher(m clerksync.Mirror, executors, maxBatch int, observe func(int)) *batcher {
	return &batcher{
		mirror: m, requests: make(chan *request), maxBatch: maxBatch, observe: observe,
		executors: executors, timeout: 30 * time.Second, stop: make(chan struct{}),
	}
}

// start runs the executors until close.
func (b *batcher) start() {
	for range b.executors {
		b.wg.Add(1)
		go b.execute()
	}
}

// close stops the executors once the batches under way are applied; call it
// after no task can submit any more.
func (b *batcher) close() {
	close(b.stop)
	b.wg.Wait()
}

// apply submits one event and waits for its outcome. If ctx ends first the
// event may still be applied: applying is idempotent, and the task will be
// retried.
func (b *batcher) apply(ctx context.Context, e clerksync.Event) (clerksync.Outcome, error) {
	r := &request{event: e, done: make(chan result, 1)}
	select {
	case b.requests <- r:
	case <-ctx.Done():
		return "", ctx.Err()
	case <-b.stop:
		return "", errors.New("worker is stopping")
	}
	select {
	case res := <-r.done:
		return res.outcome, res.err
	case <-ctx.Done():
		return "", ctx.Err()
	}
}

func (b *batcher) execute() {
	defer b.wg.Done()
	batch := make([]*request, 0, b.maxBatch)
	for {
		select {
		case r := <-b.requests:
			batch = append(batch[:0], r)
		case <-b.stop:
			return
		}
	collect:
		for len(batch) < b.maxBatch {
			select {
			case r := <-b.requests:
				batch = append(batch, r)
			default:
				break collect
			}
		}
		b.run(batch)
	}
}

// run applies a batch. If the shared transaction fails for a reason other
// than an unavailable Postgres, one bad event may be the cause: each event is
// then applied alone, so that only the bad one fails.
func (b *batcher) run(batch []*request) {
	ctx, cancel := context.WithTimeout(context.Background(), b.timeout)
	defer cancel()
	events := make([]clerksync.Event, len(batch))
	for i, r := range batch {
		events[i] = r.event
	}
	b.observe(len(events))
	outcomes, err := b.mirror.ApplyEvents(ctx, events)
	if err == nil {
		b.report(events, outcomes)
		for i, r := range batch {
			r.done <- result{outcome: outcomes[i]}
		}
		return
	}
	if len(batch) == 1 || errors.Is(err, clerksync.ErrUnavailable) {
		for _, r := range batch {
			r.done <- result{err: err}
		}
		return
	}
	for _, r := range batch {
		out, err := b.mirror.ApplyEvents(ctx, []clerksync.Event{r.event})
		if err != nil {
			r.done <- result{err: err}
			continue
		}
		b.report([]clerksync.Event{r.event}, out)
		r.done <- result{outcome: out[0]}
	}
}
