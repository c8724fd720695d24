package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	svix "github.com/svix/svix-webhooks/go"

	"github.com/clerksync/clerksync"
	"github.com/clerksync/clerksync/internal/clerkgen"
	"github.com/clerksync/clerksync/worker"
	"github.com/clerksync/clerksync/worker/payload"
)

// The backlog: BENCH_BACKLOG events (20,000) for a fifth as many
// users, several updates each, 10% of users deleted at the end, delivered
// roughly in order; about 3 KB bodies.
func backlogSize() int { return envInt("BENCH_BACKLOG", 20000) }

// backlog makes a backlog of n events for n/5 users, and each user's final
// state; the same n gives the same history.
func backlog(b testing.TB, n int) ([]clerkgen.Delivery, map[string]clerkgen.Final) {
	b.Helper()
	g, err := clerkgen.New(readFixture(b, "20-user.created.composed-multi-contact.json"))
	if err != nil {
		b.Fatal(err)
	}
	ds, finals := g.History(clerkgen.Options{Events: n, Users: max(1, n/5), Delete: 0.1, Seed: uint64(n)})
	return ds, finals
}

func meanBody(ds []clerkgen.Delivery) float64 {
	n := 0
	for _, d := range ds {
		n += len(d.Body)
	}
	return float64(n) / float64(len(ds))
}

// enqueueAll queues every delivery through the real Enqueuer from 32
// goroutines.
func enqueueAll(b testing.TB, opt asynq.RedisConnOpt, retention time.Duration, ds []clerkgen.Delivery) {
	b.Helper()
	q := worker.NewEnqueuer(opt, retention)
	defer q.Close()
	fanOut(b, len(ds), benchClients, func(k int) error {
		d := ds[k]
		res, err := q.Enqueue(context.Background(), clerksync.Delivery{ID: d.ID, Type: d.Type, UserID: d.UserID, Body: d.Body})
		if err == nil && res != clerksync.Queued {
			err = fmt.Errorf("%s: %s", d.ID, res)
		}
		return err
	})
}

// queueKeys are the Redis keys a task waits in before it is done.
var queueKeys = []string{"pending", "active", "scheduled", "retry", "lease"}

// waitEmpty returns once nothing of the queue is left to run; it polls with
// LLEN and ZCARD, which cost Redis next to nothing (asynq's GetQueueInfo
// scans memory usage and would slow what it measures). It fails on an
// archived task.
func waitEmpty(b testing.TB, rdb redis.UniversalClient, within time.Duration) {
	b.Helper()
	ctx := context.Background()
	deadline := time.Now().Add(within)
	prefix := "asynq:{" + worker.Queue + "}:"
	for {
		left := int64(0)
		for _, k := range queueKeys {
			var n int64
			var err error
			if k == "pending" || k == "active" {
				n, err = rdb.LLen(ctx, prefix+k).Result()
			} else {
				n, err = rdb.ZCard(ctx, prefix+k).Result()
			}
			if err != nil {
				b.Fatal(err)
			}
			left += n
		}
		if archived, _ := rdb.ZCard(ctx, prefix+"archived").Result(); archived > 0 {
			b.Fatalf("%d tasks archived", archived)
		}
		if left == 0 {
			return
		}
		if time.Now().After(deadline) {
			b.Fatalf("%d tasks left after %s", left, within)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func redisClient(b testing.TB, opt asynq.RedisConnOpt) redis.UniversalClient {
	b.Helper()
	rdb := opt.MakeRedisClient().(redis.UniversalClient)
	b.Cleanup(func() { rdb.Close() })
	return rdb
}

// checkConverged fails unless the mirror holds exactly the live users, each
// at its newest snapshot, and a tombstone for each deleted one.
func (h *harness) checkConverged(b testing.TB, finals map[string]clerkgen.Final) {
	b.Helper()
	rows, err := h.conn.Query(`SELECT id, (extract(epoch FROM updated_at) * 1000)::bigint FROM users`)
	if err != nil {
		b.Fatal(err)
	}
	defer rows.Close()
	live := 0
	for rows.Next() {
		var id string
		var at int64
		if err := rows.Scan(&id, &at); err != nil {
			b.Fatal(err)
		}
		if f, ok := finals[id]; !ok || f.Deleted || f.UpdatedAt != at {
			b.Fatalf("user %s at %d, want %+v", id, at, f)
		}
		live++
	}
	deleted := 0
	for _, f := range finals {
		if f.Deleted {
			deleted++
		}
	}
	if live != len(finals)-deleted || h.count(b, `SELECT count(*) FROM deleted_users`) != deleted {
		b.Fatalf("%d live users and %d tombstones, want %d and %d", live, h.count(b, `SELECT count(*) FROM deleted_users`),
			len(finals)-deleted, deleted)
	}
}

// BenchmarkDrain measures draining the backlog (BENCH_BACKLOG
// events queued by the real Enqueuer, completed tasks retained for
// TASK_RETENTION). "ceiling" is Asynq alone: 4 servers x 64 concurrency with
// handlers that do nothing, over the same tasks. "worker" is clerksync's
// worker applying them to Postgres, checked to converge. Run with
// -benchtime=1x; -count for medians.
func BenchmarkDrain(b *testing.B) {
	ds, finals := backlog(b, backlogSize())
	b.Run("ceiling", func(b *testing.B) {
		for b.Loop() {
			h := startApp(b, Roles{})
			enqueueAll(b, h.redis, h.cfg.TaskRetention, ds)
			rdb := redisClient(b, h.redis)
			var done atomic.Int64
			mux := asynq.NewServeMux()
			mux.HandleFunc("clerk:", func(context.Context, *asynq.Task) error { done.Add(1); return nil })
			before := sample(b, rdb)
			start := time.Now()
			servers := make([]*asynq.Server, 4)
			for i := range servers {
				servers[i] = asynq.NewServer(h.redis, asynq.Config{Concurrency: 64, Queues: map[string]int{worker.Queue: 1},
					LogLevel: asynq.ErrorLevel, Logger: asynqQuiet{}})
				if err := servers[i].Start(mux); err != nil {
					b.Fatal(err)
				}
			}
			waitEmpty(b, rdb, 10*time.Minute)
			elapsed := time.Since(start)
			reportCPU(b, before, sample(b, rdb), len(ds))
			for _, s := range servers {
				s.Shutdown()
			}
			if int(done.Load()) < len(ds) {
				b.Fatalf("%d of %d tasks handled", done.Load(), len(ds))
			}
			b.ReportMetric(float64(len(ds))/elapsed.Seconds(), "events/s")
		}
		b.ReportMetric(meanBody(ds), "body-B")
		b.ReportMetric(0, "ns/op")
	})
	b.Run("worker", func(b *testing.B) {
		for b.Loop() {
			h := startApp(b, Roles{Migrate: true})
			enqueueAll(b, h.redis, h.cfg.TaskRetention, ds)
			rdb := redisClient(b, h.redis)
			cfg := h.cfg
			cfg.WorkerConcurrency = envInt("WORKER_CONCURRENCY", cfg.WorkerConcurrency)
			w, err := NewApp(context.Background(), cfg, Roles{Work: true}, discardLogger())
			if err != nil {
				b.Fatal(err)
			}
			before := sample(b, rdb)
			start := time.Now()
			if err := w.Start(); err != nil {
				b.Fatal(err)
			}
			waitEmpty(b, rdb, 10*time.Minute)
			elapsed := time.Since(start)
			reportCPU(b, before, sample(b, rdb), len(ds))
			w.Shutdown()
			h.checkConverged(b, finals)
			b.ReportMetric(float64(len(ds))/elapsed.Seconds(), "events/s")
			b.ReportMetric(meanBatch(b, w), "events/tx")
		}
		b.ReportMetric(0, "ns/op")
	})
}

// reportCPU reports the CPU per event of this process and of redis-server
// (and of the Postgres cluster in BENCH_PG_DATA) between two samples: on a
// busy machine, steadier than events/s.
func reportCPU(b *testing.B, before, after cpuSample, n int) {
	per := func(d time.Duration) float64 { return float64(d.Microseconds()) / float64(n) }
	b.ReportMetric(per(after.self-before.self), "go-cpu-us/event")
	b.ReportMetric(per(after.redis-before.redis), "redis-cpu-us/event")
	if after.pg > 0 {
		b.ReportMetric(per(after.pg-before.pg), "pg-cpu-us/event")
	}
}

type asynqQuiet struct{}

func (asynqQuiet) Debug(...any) {}
func (asynqQuiet) Info(...any)  {}
func (asynqQuiet) Warn(...any)  {}
func (asynqQuiet) Error(...any) {}
func (asynqQuiet) Fatal(...any) {}

// BenchmarkBacklogScale drains backlogs of the same shape at each size in
// BENCH_SCALES (10000,50000,200000) with `clerksync work` run as its own
// process, so that its peak RSS (VmHWM) is the worker's alone, and reports
// the worker's and redis-server's CPU per event (and the Postgres
// cluster's, with BENCH_PG_DATA: see BenchmarkDrainBreakdown), which tell a
// backlog that costs more per event from a machine that got busier. Run with
// -benchtime=1x.
func BenchmarkBacklogScale(b *testing.B) {
	bin := buildBinary(b)
	for _, s := range strings.Split(os.Getenv("BENCH_SCALES"), ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if s == "" {
			continue
		}
		if err != nil || n < 5 {
			b.Fatalf("BENCH_SCALES: %q", s)
		}
		ds, finals := backlog(b, n)
		b.Run(strconv.Itoa(n), func(b *testing.B) {
			for b.Loop() {
				h := startApp(b, Roles{Migrate: true})
				enqueueAll(b, h.redis, h.cfg.TaskRetention, ds)
				rdb := redisClient(b, h.redis)
				cmd := exec.Command(bin, "work")
				cmd.Env = append(os.Environ(), "DATABASE_URL="+h.cfg.DatabaseURL.Reveal(), "REDIS_URL="+h.cfg.RedisURL.Reveal(),
					"LISTEN_ADDR=127.0.0.1:0", "LOG_LEVEL=warn", "DATABASE_SCHEMA="+h.cfg.DatabaseSchema)
				var stderr bytes.Buffer
				cmd.Stderr = &stderr
				if err := cmd.Start(); err != nil {
					b.Fatal(err)
				}
				// The clock starts with the first task taken, not with the
				// process: its start-up is not the drain.
				start := waitTaken(b, rdb, n)
				cpu0, redis0 := processCPU(b, cmd.Process.Pid), sample(b, rdb)
				waitEmpty(b, rdb, 30*time.Minute)
				elapsed := time.Since(start)
				hwm := vmHWM(b, cmd.Process.Pid)
				cpu1, redis1 := processCPU(b, cmd.Process.Pid), sample(b, rdb)
				cmd.Process.Signal(syscall.SIGTERM)
				if err := cmd.Wait(); err != nil {
					b.Fatalf("clerksync work: %v\n%s", err, stderr.String())
				}
				h.checkConverged(b, finals)
				b.ReportMetric(float64(n)/elapsed.Seconds(), "events/s")
				b.ReportMetric(float64(hwm)/(1<<20), "rss-MB")
				// CPU per event tells a slower drain of a larger backlog from
				// a busier machine.
				b.ReportMetric(float64((cpu1-cpu0).Microseconds())/float64(n), "worker-cpu-us/event")
				b.ReportMetric(float64((redis1.redis-redis0.redis).Microseconds())/float64(n), "redis-cpu-us/event")
				if redis1.pg > 0 {
					b.ReportMetric(float64((redis1.pg-redis0.pg).Microseconds())/float64(n), "pg-cpu-us/event")
				}
			}
			b.ReportMetric(0, "ns/op")
		})
	}
}

// waitTaken returns when the first of n pending tasks has been taken.
func waitTaken(b testing.TB, rdb redis.UniversalClient, n int) time.Time {
	b.Helper()
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(time.Millisecond) {
		left, err := rdb.LLen(context.Background(), "asynq:{"+worker.Queue+"}:pending").Result()
		if err != nil {
			b.Fatal(err)
		}
		if left < int64(n) {
			return time.Now()
		}
		if time.Now().After(deadline) {
			b.Fatal("the worker took no task within a minute")
		}
	}
}

var binary struct {
	once sync.Once
	path string
	err  error
}

// buildBinary builds clerksync once per test process.
func buildBinary(b testing.TB) string {
	binary.once.Do(func() {
		dir, err := os.MkdirTemp("", "clerksync-bench-")
		if err != nil {
			binary.err = err
			return
		}
		binary.path = filepath.Join(dir, "clerksync")
		out, err := exec.Command("go", "build", "-o", binary.path, ".").CombinedOutput()
		if err != nil {
			binary.err = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if binary.err != nil {
		b.Fatal(binary.err)
	}
	return binary.path
}

// processCPU is a process's CPU time so far (user and system).
func processCPU(b testing.TB, pid int) time.Duration {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		b.Fatal(err)
	}
	f := strings.Fields(string(raw[strings.LastIndexByte(string(raw), ')')+2:]))
	utime, _ := strconv.Atoi(f[11])
	stime, _ := strconv.Atoi(f[12])
	return time.Duration(utime+stime) * time.Second / 100 // USER_HZ
}

// vmHWM is a process's peak resident set size in bytes.
func vmHWM(b testing.TB, pid int) int64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if v, ok := strings.CutPrefix(s.Text(), "VmHWM:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10
		}
	}
	b.Fatal("no VmHWM")
	return 0
}

// BenchmarkRedisBytes measures what a queued event costs Redis: the
// used_memory delta over BENCH_BACKLOG events of the backlog,
// divided by their number, in a Redis server of its own (so that nothing
// else moves the figure). "compressed" queues through the real Enqueuer,
// "raw" the same tasks with the body as received (the format before
// compression). After the queue is drained (no-op handlers), the figure for
// a completed, retained task.
func BenchmarkRedisBytes(b *testing.B) {
	ds, _ := backlog(b, backlogSize())
	for _, form := range []string{"raw", "compressed"} {
		b.Run(form, func(b *testing.B) {
			for b.Loop() {
				addr := startRedis(b)
				opt := asynq.RedisClientOpt{Addr: addr}
				rdb := redisClient(b, opt)
				// The queue's own keys exist once it holds a task.
				asynqEnqueue(b, opt, form, ds[:1], time.Hour)
				before := usedMemory(b, rdb)
				asynqEnqueue(b, opt, form, ds[1:], time.Hour)
				queued := usedMemory(b, rdb) - before
				n := float64(len(ds) - 1)
				b.ReportMetric(float64(queued)/n, "queued-B/event")
				// MEMORY USAGE of a sample of task hashes (key included),
				// beside their payloads' size.
				var hashes, payloads int64
				sample := ds[1 : 1+min(200, len(ds)-1)]
				for _, d := range sample {
					hashes += memoryUsage(b, rdb, "asynq:{"+worker.Queue+"}:t:"+d.ID)
					p := int64(len(d.Body))
					if form == "compressed" {
						p = int64(len(payload.Encode(d.Body)))
					}
					payloads += p
				}
				b.ReportMetric(float64(hashes)/float64(len(sample)), "task-hash-B")
				b.ReportMetric(float64(payloads)/float64(len(sample)), "payload-B")
				b.ReportMetric(float64(memoryUsage(b, rdb, "asynq:{"+worker.Queue+"}:pending"))/float64(len(ds)), "pending-list-B/event")
				drainNoop(b, opt, rdb)
				done := usedMemory(b, rdb) - before
				b.ReportMetric(float64(done)/n, "completed-B/event")
				b.ReportMetric(float64(memoryUsage(b, rdb, "asynq:{"+worker.Queue+"}:completed"))/float64(len(ds)), "completed-zset-B/event")
			}
			b.ReportMetric(meanBody(ds), "body-B")
			b.ReportMetric(0, "ns/op")
		})
	}
}

// asynqEnqueue queues deliveries as the real Enqueuer does ("compressed")
// or with the body as received ("raw").
func asynqEnqueue(b testing.TB, opt asynq.RedisConnOpt, form string, ds []clerkgen.Delivery, retention time.Duration) {
	b.Helper()
	if form == "compressed" {
		enqueueAll(b, opt, retention, ds)
		return
	}
	c := asynq.NewClient(opt)
	defer c.Close()
	fanOut(b, len(ds), benchClients, func(k int) error {
		d := ds[k]
		_, err := c.Enqueue(asynq.NewTask(worker.TaskType(d.Type), d.Body), asynq.TaskID(d.ID), asynq.Queue(worker.Queue),
			asynq.MaxRetry(25), asynq.Retention(retention))
		return err
	})
}

func drainNoop(b testing.TB, opt asynq.RedisConnOpt, rdb redis.UniversalClient) {
	srv := asynq.NewServer(opt, asynq.Config{Concurrency: 64, Queues: map[string]int{worker.Queue: 1}, Logger: asynqQuiet{}})
	mux := asynq.NewServeMux()
	mux.HandleFunc("clerk:", func(context.Context, *asynq.Task) error { return nil })
	if err := srv.Start(mux); err != nil {
		b.Fatal(err)
	}
	waitEmpty(b, rdb, 10*time.Minute)
	srv.Shutdown()
}

func usedMemory(b testing.TB, rdb redis.UniversalClient) int64 {
	b.Helper()
	info, err := rdb.Info(context.Background(), "memory").Result()
	if err != nil {
		b.Fatal(err)
	}
	for _, line := range strings.Split(info, "\r\n") {
		if v, ok := strings.CutPrefix(line, "used_memory:"); ok {
			n, _ := strconv.ParseInt(v, 10, 64)
			return n
		}
	}
	b.Fatal("no used_memory")
	return 0
}

func memoryUsage(b testing.TB, rdb redis.UniversalClient, key string) int64 {
	b.Helper()
	n, err := rdb.MemoryUsage(context.Background(), key, 0).Result()
	if err != nil {
		b.Fatalf("memory usage %s: %v", key, err)
	}
	return n
}

// startRedis runs a Redis server of the benchmark's own on a free loopback
// port, without persistence, stopped when the benchmark ends.
func startRedis(b testing.TB) string {
	b.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	ln.Close()
	cmd := exec.Command("redis-server", "--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
		"--dir", b.TempDir())
	if err := cmd.Start(); err != nil {
		b.Fatalf("redis-server: %v", err)
	}
	b.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	addr := "127.0.0.1:" + port
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	defer rdb.Close()
	for deadline := time.Now().Add(10 * time.Second); rdb.Ping(context.Background()).Err() != nil; {
		if time.Now().After(deadline) {
			b.Fatal("redis-server did not start")
		}
		time.Sleep(20 * time.Millisecond)
	}
	return addr
}

// receiverBodies are the bodies BenchmarkReceiver sends: the issue's
// backlog (about 3 KB each), or fixture 20 (9.5 KB) with BENCH_BODY=9k.
func receiverBodies(b testing.TB, n int) []clerkgen.Delivery {
	if os.Getenv("BENCH_BODY") == "9k" {
		body := readFixture(b, "20-user.created.composed-multi-contact.json")
		ds := make([]clerkgen.Delivery, n)
		for i := range ds {
			ds[i] = clerkgen.Delivery{ID: fmt.Sprintf("msg_bench9k_%d_%d", time.Now().UnixNano(), i), Type: clerksync.UserCreated, Body: body}
		}
		return ds
	}
	ds, _ := backlog(b, n)
	return ds
}

// floorHandler is the least a receiver can do: read the body, verify it
// with svix and enqueue it with Asynq under its svix-id.
func floorHandler(b testing.TB, opt asynq.RedisConnOpt, retention time.Duration) http.Handler {
	wh, _ := svix.NewWebhook(testSecret)
	c := asynq.NewClient(opt)
	b.Cleanup(func() { c.Close() })
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<20))
		if err != nil || wh.Verify(body, r.Header) != nil {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		_, err = c.EnqueueContext(r.Context(), asynq.NewTask("clerk:user.updated", body), asynq.TaskID(r.Header.Get("svix-id")),
			asynq.Queue(worker.Queue), asynq.MaxRetry(25), asynq.Retention(retention))
		if err != nil {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		io.WriteString(w, `{"status":"queued"}`)
	})
}
