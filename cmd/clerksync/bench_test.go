package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	svix "github.com/svix/svix-webhooks/go"

	"github.com/clerksync/clerksync"
	"github.com/clerksync/clerksync/db"
	"github.com/clerksync/clerksync/internal/clerkgen"
	"github.com/clerksync/clerksync/worker"
)

// benchClients is the number of concurrent senders the issue asks figures for.
const benchClients = 32

type signedRequest struct {
	id, ts, sig string
	body        []byte
}

// signAll signs the deliveries before the clock starts: the senders then
// only send.
func signAll(b *testing.B, ds []clerkgen.Delivery) []signedRequest {
	wh, _ := svix.NewWebhook(testSecret)
	now := time.Now()
	reqs := make([]signedRequest, len(ds))
	for i, d := range ds {
		sig, err := wh.Sign(d.ID, now, d.Body)
		if err != nil {
			b.Fatal(err)
		}
		reqs[i] = signedRequest{id: d.ID, ts: strconv.FormatInt(now.Unix(), 10), sig: sig, body: d.Body}
	}
	return reqs
}

// load sends every request from benchClients goroutines and reports
// events/s and latency percentiles.
func load(b *testing.B, url string, reqs []signedRequest) {
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: benchClients}}
	lat := make([]time.Duration, len(reqs))
	b.ResetTimer()
	cpu0 := selfCPU()
	start := time.Now()
	fanOut(b, len(reqs), benchClients, func(k int) error {
		r := reqs[k]
		req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(r.body))
		req.Header.Set("svix-id", r.id)
		req.Header.Set("svix-timestamp", r.ts)
		req.Header.Set("svix-signature", r.sig)
		t0 := time.Now()
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		lat[k] = time.Since(t0)
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("status %d", resp.StatusCode)
		}
		return nil
	})
	elapsed := time.Since(start)
	cpu := selfCPU() - cpu0
	b.StopTimer()
	sort.Slice(lat, func(a, c int) bool { return lat[a] < lat[c] })
	// CPU per request of this process (the 32 clients included, the same in
	// every sub-benchmark): steadier than events/s on a busy machine.
	b.ReportMetric(float64(cpu.Microseconds())/float64(len(reqs)), "cpu-us/req")
	b.ReportMetric(float64(len(reqs))/elapsed.Seconds(), "events/s")
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
	// CPU per event (this process: server and clients; Redis not included)
	// is steadier than events/s on a shared machine.
	b.ReportMetric(float64(cpu.Microseconds())/float64(len(reqs)), "cpu-us/event")
	b.ReportMetric(0, "ns/op") // per-request time is the inverse of events/s
}

// selfCPU is this process's CPU time so far.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkReceiver measures POST /webhooks/clerk at 32 concurrent clients
// with the backlog (about 3 KB bodies, each delivery its own; 9.5 KB
// fixture 20 with BENCH_BODY=9k). "verify-only" is the same HTTP server and
// body read and the same Svix verification, no parse and no Redis. "floor"
// is the least a receiver can do: verify with svix and enqueue the body
// with asynq.Client under its svix-id. "enqueue" is the real receiver
// (verify, parse, compress, enqueue). Run with a fixed count, e.g.
// -benchtime=20000x.
func BenchmarkReceiver(b *testing.B) {
	b.Run("verify-only", func(b *testing.B) {
		wh, _ := svix.NewWebhook(testSecret)
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			payload, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<20))
			if err != nil || wh.Verify(payload, r.Header) != nil {
				w.WriteHeader(http.StatusUnauthorized)
				return
			}
			io.WriteString(w, `{"status":"verified"}`)
		})}
		go srv.Serve(ln)
		defer srv.Close()
		reqs := signAll(b, receiverBodies(b, b.N))
		load(b, "http://"+ln.Addr().String()+"/webhooks/clerk", reqs)
	})
	b.Run("floor", func(b *testing.B) {
		cfg := testConfig(b)
		opt, _ := worker.RedisConnOpt(cfg.RedisURL.Reveal())
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		srv := &http.Server{Handler: floorHandler(b, opt, cfg.TaskRetention)}
		go srv.Serve(ln)
		defer srv.Close()
		reqs := signAll(b, receiverBodies(b, b.N))
		load(b, "http://"+ln.Addr().String()+"/webhooks/clerk", reqs)
	})
	b.Run("enqueue", func(b *testing.B) {
		h := startApp(b, Roles{Migrate: true, Serve: true})
		reqs := signAll(b, receiverBodies(b, b.N))
		load(b, h.url+"/webhooks/clerk", reqs)
	})
}

// benchEvents makes n user.updated bodies for users distinct users, from
// the multi-contact fixture (3 emails, 2 phones, a wallet, 2 OAuth accounts).
func benchEvents(b *testing.B, n, users int) [][]byte {
	base := string(readFixture(b, "21-user.updated.composed-multi-contact.json"))
	out := make([][]byte, n)
	for i := range out {
		u := fmt.Sprintf("user_bench%07d", i%users)
		s := strings.ReplaceAll(base, "user_2zK9mQv7Xc3LrT8pWn4Yb6Hd1Fs", u)
		// Contact ids are global in Clerk: make them the user's own.
		s = strings.ReplaceAll(s, `idn_`, `idn_`+u[5:]+`_`)
		s = strings.ReplaceAll(s, `eac_`, `eac_`+u[5:]+`_`)
		s = strings.Replace(s, `"updated_at": 1752825600243`, fmt.Sprintf(`"updated_at": %d`, 1752825600243+int64(i)), 1)
		out[i] = []byte(s)
	}
	return out
}

// BenchmarkWorker measures draining a queue of user.updated events into
// Postgres. "single-event-tx" is the baseline: the same SQL, one event per
// transaction, from 16 goroutines straight to Postgres, no queue. "drain" is
// the real worker taking the events from Redis, grouped into shared
// transactions. Run with a fixed count, e.g. -benchtime=20000x.
func BenchmarkWorker(b *testing.B) {
	b.Run("single-event-tx", func(b *testing.B) {
		h := startApp(b, Roles{Migrate: true})
		store := db.NewStore(h.conn)
		h.conn.SetMaxOpenConns(16)
		h.conn.SetMaxIdleConns(16)
		events := parseAll(b, benchEvents(b, b.N, b.N/4+1))
		b.ResetTimer()
		start := time.Now()
		fanOut(b, len(events), 16, func(k int) error {
			_, err := store.ApplyEvents(context.Background(), events[k:k+1])
			return err
		})
		b.StopTimer()
		b.ReportMetric(float64(len(events))/time.Since(start).Seconds(), "events/s")
		b.ReportMetric(0, "ns/op")
	})
	b.Run("drain", func(b *testing.B) {
		h := startApp(b, Roles{Migrate: true})
		q := worker.NewEnqueuer(h.redis, 0)
		defer q.Close()
		for i, body := range benchEvents(b, b.N, b.N/4+1) {
			d := clerksync.Delivery{ID: fmt.Sprintf("msg_drain_%d", i), Type: clerksync.UserUpdated, Body: body}
			if _, err := q.Enqueue(context.Background(), d); err != nil {
				b.Fatal(err)
			}
		}
		cfg := h.cfg
		cfg.WorkerConcurrency = envInt("WORKER_CONCURRENCY", cfg.WorkerConcurrency)
		w, err := NewApp(context.Background(), cfg, Roles{Work: true}, discardLogger())
		if err != nil {
			b.Fatal(err)
		}
		b.ResetTimer()
		start := time.Now()
		if err := w.Start(); err != nil {
			b.Fatal(err)
		}
		h.drainedQuick(b)
		elapsed := time.Since(start)
		b.StopTimer()
		w.Shutdown()
		if got := h.count(b, `SELECT count(*) FROM users`); got != b.N/4+1 && got != b.N {
			b.Fatalf("%d users in the mirror", got)
		}
		b.ReportMetric(float64(b.N)/elapsed.Seconds(), "events/s")
		b.ReportMetric(meanBatch(b, w), "events/tx")
		b.ReportMetric(0, "ns/op")
	})
}

// meanBatch is the mean number of events per transaction the worker committed.
func meanBatch(b *testing.B, a *App) float64 {
	mfs, err := a.registry.Gather()
	if err != nil {
		b.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "clerksync_worker_batch_size" {
			h := mf.GetMetric()[0].GetHistogram()
			return h.GetSampleSum() / float64(h.GetSampleCount())
		}
	}
	return 0
}

// fanOut calls do(0..n-1) from the given number of goroutines and returns
// when all are done; a goroutine stops at its first error.
func fanOut(b testing.TB, n, goroutines int, do func(k int) error) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := int(next.Add(1) - 1); k < n; k = int(next.Add(1) - 1) {
				if err := do(k); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
}

func parseAll(b *testing.B, bodies [][]byte) []clerksync.Event {
	evs := make([]clerksync.Event, len(bodies))
	for i, body := range bodies {
		ev, err := clerksync.ParseEvent("m", body)
		if err != nil {
			b.Fatal(err)
		}
		evs[i] = ev
	}
	return evs
}
