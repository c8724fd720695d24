package db_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/clerksync/clerksync"
)

// TestCancelledApplySaysCancelled: an apply whose context ends part-way
// fails with the context's error (the backfill stops on it as an
// interruption), never with database/sql's "transaction has already been
// committed or rolled back", which it gives once it has rolled the
// transaction back for the context.
func TestCancelledApplySaysCancelled(t *testing.T) {
	store, _ := newStore(t)
	base := fixture(t, "20-user.created.composed-multi-contact.json")
	for i := range 300 {
		ev := base
		u := *base.User
		u.ID = fmt.Sprintf("user_cancel%04d", i)
		ev.User, ev.UserID = &u, u.ID
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(time.Duration(rand.IntN(1500))*time.Microsecond, cancel)
		_, err := store.ApplyEvents(ctx, []clerksync.Event{ev})
		cancel()
		if err != nil && !errors.Is(err, context.Canceled) {
			t.Fatalf("apply %d: %v", i, err)
		}
	}
}
