package worker

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/clerksync/clerksync"
)

// fakeMirror fails every transaction that holds a bad event (as a narrowed
// column would) and counts transactions.
type fakeMirror struct {
	mu      sync.Mutex
	bad     map[string]bool
	calls   int
	largest int
}

func (f *fakeMirror) ApplyEvents(_ context.Context, events []clerksync.Event) ([]clerksync.Outcome, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	f.largest = max(f.largest, len(events))
	out := make([]clerksync.Outcome, len(events))
	for i, e := range events {
		if f.bad[e.UserID] {
			return nil, errors.New("pq: value too long for type character varying(3) (22001)")
		}
		out[i] = clerksync.Applied
	}
	return out, nil
}

func testBatcher(m clerksync.Mirror) *batcher { return testBatcherOf(m, 1, 64) }

func testBatcherOf(m clerksync.Mirror, executors, maxBatch int) *batcher {
	b := newBatcher(m, executors, maxBatch, batchHooks{
		observe:     func(int) {},
		before:      func(context.Context, []clerksync.Event) error { return nil },
		after:       func([]clerksync.Event, []clerksync.Outcome) {},
		unavailable: func(error) {},
	})
	b.start()
	return b
}

// applyAll submits every event at once and returns each one's error.
func applyAll(b *batcher, events []clerksync.Event, solo bool) []error {
	errs := make([]error, len(events))
	var wg sync.WaitGroup
	for i, e := range events {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = b.apply(context.Background(), e, solo)
		}()
	}
	wg.Wait()
	return errs
}

func events(n int) []clerksync.Event {
	var es []clerksync.Event
	for i := range n {
		es = append(es, clerksync.Event{Type: clerksync.UserCreated, UserID: fmt.Sprintf("user_%d", i), User: &clerksync.User{}})
	}
	return es
}

// TestOneBadEventLetsTheOthersApply: the shared transaction fails, the
// batch is split, and only the bad event fails.
func TestOneBadEventLetsTheOthersApply(t *testing.T) {
	m := &fakeMirror{bad: map[string]bool{"user_7": true}}
	b := testBatcher(m)
	defer b.close(context.Background())
	es := events(40)
	for i, err := range applyAll(b, es, false) {
		if (err != nil) != (es[i].UserID == "user_7") {
			t.Errorf("%s: %v", es[i].UserID, err)
		}
	}
}

// TestRetriedEventsDoNotSplitBatchesAgain: events submitted solo (retried
// tasks) each get a transaction of their own, so a failing one never
// fails, and splits, a batch of others.
func TestRetriedEventsDoNotSplitBatchesAgain(t *testing.T) {
	bad := map[string]bool{}
	es := events(30)
	for _, e := range es {
		bad[e.UserID] = true // a trigger that refuses everything
	}
	m := &fakeMirror{bad: bad}
	b := testBatcher(m)
	defer b.close(context.Background())
	for _, err := range applyAll(b, es, true) {
		if err == nil {
			t.Fatal("a bad event applied")
		}
	}
	if m.calls != len(es) || m.largest != 1 {
		t.Errorf("%d transactions, largest %d; want one each, alone", m.calls, m.largest)
	}
}

// overlapMirror records whether two transactions ever held one user at once.
type overlapMirror struct {
	mu       sync.Mutex
	inFlight map[string]int
	overlaps int
	calls    int
}

func (f *overlapMirror) ApplyEvents(_ context.Context, events []clerksync.Event) ([]clerksync.Outcome, error) {
	f.mu.Lock()
	f.calls++
	for _, e := range events {
		if f.inFlight[e.UserID] > 0 {
			f.overlaps++
		}
	}
	for _, e := range events {
		f.inFlight[e.UserID]++
	}
	f.mu.Unlock()
	time.Sleep(time.Millisecond) // a transaction's time, for the other executor to meet it
	f.mu.Lock()
	for _, e := range events {
		f.inFlight[e.UserID]--
	}
	f.mu.Unlock()
	out := make([]clerksync.Outcome, len(events))
	for i := range out {
		out[i] = clerksync.Applied
	}
	return out, nil
}

// TestExecutorsNeverShareAUser: with several events per user arriving all
// the time, retried ones among them, each user's events go to one
// executor, so that two transactions never wait on each other's user locks.
func TestExecutorsNeverShareAUser(t *testing.T) {
	m := &overlapMirror{inFlight: map[string]int{}}
	b := testBatcherOf(m, 4, 4)
	defer b.close(context.Background())
	var es []clerksync.Event
	for range 50 {
		es = append(es, events(8)...)
	}
	var wg sync.WaitGroup
	for _, solo := range []bool{false, true} { // retried events too, alongside the batches
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i, err := range applyAll(b, es, solo) {
				if err != nil {
					t.Errorf("event %d (solo %v): %v", i, solo, err)
				}
			}
		}()
	}
	wg.Wait()
	if m.overlaps > 0 {
		t.Errorf("%d times a batch held a user another batch held (of %d batches)", m.overlaps, m.calls)
	}
}
