package backfill_test

import (
	"context"
	"math"
	"os"
	"strconv"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/clerksync/clerksync"
	"github.com/clerksync/clerksync/backfill"
	"github.com/clerksync/clerksync/clerkapi"
	"github.com/clerksync/clerksync/internal/clerkfake"
)

// BenchmarkBackfill loads BENCH_BACKFILL_USERS generated users (20,000 by
// default, about 2 KB each, pages of 500) into an empty mirror.
//
//   - backfill: from the fake Backend API with no rate limit, the whole
//     command's path (HTTP, the SDK, decoding, the pre-read, the writes, the
//     checkpoints). It reports users/s, and what a 100,000-user instance
//     would take under Clerk's real limits: the API side is the limiter's
//     pages/s x 500 users (less the pager's overlap), the write side the
//     rate measured here; the next page is fetched while one is applied,
//     so the slower side decides.
//   - write-path: the same users, decoded beforehand, applied with
//     ApplyEvents in the same pages and parts: the write path alone, the
//     baseline the backfill should come close to.
func BenchmarkBackfill(b *testing.B) {
	n := 20000
	if v, err := strconv.Atoi(os.Getenv("BENCH_BACKFILL_USERS")); err == nil && v > 0 {
		n = v
	}
	e := newEnv(b)
	e.fake.Generate(n)
	reset := func() {
		b.StopTimer()
		if _, err := e.conn.Exec(`TRUNCATE users, deleted_users, backfill_checkpoint CASCADE`); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}

	b.Run("backfill", func(b *testing.B) {
		var elapsed time.Duration
		var requests int
		for b.Loop() {
			reset()
			start := time.Now()
			sum, err := e.backfill(b, context.Background(), clerkapi.MaxPageSize)
			elapsed += time.Since(start)
			if err != nil {
				b.Fatal(err)
			}
			if sum.Inserted != n {
				b.Fatalf("inserted %d of %d", sum.Inserted, n)
			}
			requests = sum.Requests
		}
		rate := float64(n*b.N) / elapsed.Seconds()
		b.ReportMetric(rate, "users/s")
		b.ReportMetric(0, "ns/op")
		const big = 100000
		perRequest := float64(n) / float64(max(requests, 1)) // the overlap re-reads a few
		for _, l := range []struct {
			unit  string
			limit clerkapi.Limit
		}{{"s/100k-prod", clerkapi.ProductionLimit}, {"s/100k-dev", clerkapi.DevelopmentLimit}} {
			api := (math.Ceil(big/perRequest) + 1) / l.limit.Rate() // the pages and the count
			b.ReportMetric(max(api, big/rate), l.unit)
			b.ReportMetric(api, l.unit+"-api-only")
		}
	})

	b.Run("write-path", func(b *testing.B) {
		var events []clerksync.Event
		for i := range n {
			u, err := clerksync.DecodeUser(clerkfake.GenUser(i, time.Time{}))
			if err != nil {
				b.Fatal(err)
			}
			events = append(events, clerksync.Event{Type: clerksync.UserUpdated, Source: clerksync.SourceBackfill, UserID: u.ID, User: u})
		}
		var elapsed time.Duration
		for b.Loop() {
			reset()
			start := time.Now()
			for lo := 0; lo < n; lo += clerkapi.MaxPageSize {
				page := events[lo:min(lo+clerkapi.MaxPageSize, n)]
				var g errgroup.Group
				size := (len(page) + backfill.DefaultParallel - 1) / backfill.DefaultParallel
				for p := 0; p < len(page); p += size {
					g.Go(func() error {
						_, err := e.store.ApplyEvents(context.Background(), page[p:min(p+size, len(page))])
						return err
					})
				}
				if err := g.Wait(); err != nil {
					b.Fatal(err)
				}
			}
			elapsed += time.Since(start)
		}
		b.ReportMetric(float64(n*b.N)/elapsed.Seconds(), "users/s")
		b.ReportMetric(0, "ns/op")
	})
}
