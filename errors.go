// Package clerksync is the domain of the Clerk user mirror: Clerk's user
// objects and webhook events, their parsing and normalisation, and the small
// interfaces that the adapters (webhooks, worker, importer, db) meet.
package clerksync

import "errors"

// The sentinel errors every adapter translates once at its edge: an HTTP
// status in webhooks/, a retry decision in worker/, an exit status in cmd/.
var (
	// ErrInvalidEvent means a payload is not a usable Clerk event; retrying
	// it can never succeed.
	ErrInvalidEvent = errors.New("invalid clerk event")
	// ErrUnavailable means a backing service (Postgres, Redis) did not answer;
	// the same request may succeed later.
	ErrUnavailable = errors.New("service unavailable")
)
