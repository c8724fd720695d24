package clerksync

import (
	"context"
	"time"
)

// Outcome says what applying one event did to the mirror.
type Outcome string

// The outcomes of applying an event.
const (
	// Applied: the snapshot was written (or was equal to the stored one).
	Applied Outcome = "applied"
	// Stale: the mirror already held a newer snapshot, or the user is
	// deleted; nothing was written. A stale event is a success.
	Stale Outcome = "stale"
	// Deleted: the user and every contact row were removed and a tombstone left.
	Deleted Outcome = "deleted"
)

// Mirror is the Postgres mirror of Clerk users.
type Mirror interface {
	// ApplyEvents applies events in one transaction, serialised per user id,
	// and returns one Outcome per event in the same order. It converges
	// whatever the order or repetition of events. On error nothing was
	// applied; the error wraps ErrInvalidEvent when an event can never be
	// applied and ErrUnavailable when Postgres did not answer.
	ApplyEvents(ctx context.Context, events []Event) ([]Outcome, error)
}

// Delivery is one verified webhook delivery, ready to be queued.
type Delivery struct {
	// ID is the svix-id: the same on every retry and replay of a delivery.
	ID        string
	Type      string
	UserID    string
	Timestamp time.Time // the envelope time, zero when absent
	Body      []byte    // the raw, verified request body
}

// EnqueueResult says what queueing a delivery did.
type EnqueueResult string

// The results of queueing a delivery.
const (
	// Queued: a new task was queued.
	Queued EnqueueResult = "queued"
	// Duplicate: a task for this delivery id is already queued, running or
	// waiting to retry; nothing new was queued.
	Duplicate EnqueueResult = "duplicate"
	// Requeued: the delivery's task had been archived after failing, and the
	// replay moved it back to the queue.
	Requeued EnqueueResult = "requeued"
)

// Enqueuer queues deliveries durably for the worker.
type Enqueuer interface {
	// Enqueue queues one task for the delivery, keyed by its id, and returns
	// only once the task is stored. The error wraps ErrUnavailable when the
	// queue could not be reached.
	Enqueue(ctx context.Context, d Delivery) (EnqueueResult, error)
}
