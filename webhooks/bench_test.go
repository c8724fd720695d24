package webhooks_test

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/clerksync/clerksync"
	"github.com/clerksync/clerksync/webhooks"
)

// countingEnqueuer accepts everything at no cost, so the benchmark measures
// the receiver alone.
type countingEnqueuer struct{ n atomic.Int64 }

func (c *countingEnqueuer) Enqueue(context.Context, clerksync.Delivery) (clerksync.EnqueueResult, error) {
	c.n.Add(1)
	return clerksync.Queued, nil
}

// BenchmarkServeHTTPParallel runs fixture 20 through the handler from about
// 32 concurrent clients, with two secrets configured as during a rotation
// (the worst case: the matching one is the second).
func BenchmarkServeHTTPParallel(b *testing.B) {
	h, err := webhooks.NewHandler(webhooks.Options{
		Secrets:    []string{otherSecret, testSecret},
		Enqueuer:   &countingEnqueuer{},
		Logger:     discardLogger(),
		Registerer: prometheus.NewRegistry(),
		Now:        func() time.Time { return testNow },
	})
	if err != nil {
		b.Fatal(err)
	}
	body := fixture(b, "20-user.created.composed-multi-contact.json")
	sig := sign(b, testSecret, testID, testNow, body)
	b.SetParallelism(max(1, 32/runtime.GOMAXPROCS(0)))
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			r := httptest.NewRequest(http.MethodPost, "/webhooks/clerk", bytes.NewReader(body))
			r.Header.Set("svix-id", testID)
			r.Header.Set("svix-timestamp", unix(testNow))
			r.Header.Set("svix-signature", sig)
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, r)
			if rec.Code != http.StatusOK {
				b.Fatalf("status = %d", rec.Code)
			}
		}
	})
}
