package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime/pprof"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/clerksync/clerksync/worker"
)

// BenchmarkDrainBreakdown drains the backlog like BenchmarkDrain and
// says where the CPU went, per event: this Go process (the worker, or
// Asynq's no-op servers for "ceiling"), redis-server (its own INFO cpu), and,
// when BENCH_PG_DATA names the data directory of a Postgres cluster used by
// nothing else, every process of that cluster. It logs Redis's command
// counts per event (INFO commandstats) and, when the cluster preloads
// pg_stat_statements and its template1 has the extension in schema pgss
// (CREATE SCHEMA pgss; CREATE EXTENSION pg_stat_statements SCHEMA pgss),
// the statements by total time. BENCH_CPUPROFILE=FILE writes a CPU profile
// of the drain alone (FILE.ceiling, FILE.worker). Not part of make bench:
// run it by hand against services of your own, e.g.
//
//	TEST_REDIS_ADDR=127.0.0.1:6389 TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5499/postgres?sslmode=disable \
//	BENCH_PG_DATA=/tmp/pg/data go test -run '^$' -bench DrainBreakdown -benchtime 1x ./cmd/clerksync
func BenchmarkDrainBreakdown(b *testing.B) {
	ds, _ := backlog(b, backlogSize())
	for _, mode := range []string{"ceiling", "worker"} {
		b.Run(mode, func(b *testing.B) {
			for b.Loop() {
				h := startApp(b, Roles{Migrate: true})
				enqueueAll(b, h.redis, h.cfg.TaskRetention, ds)
				rdb := redisClient(b, h.redis)
				ctx := context.Background()
				if err := rdb.ConfigResetStat(ctx).Err(); err != nil {
					b.Fatal(err)
				}
				h.conn.Exec(`SELECT pgss.pg_stat_statements_reset()`) // absent unless preloaded
				if path := os.Getenv("BENCH_CPUPROFILE"); path != "" {
					f, err := os.Create(path + "." + mode)
					if err != nil {
						b.Fatal(err)
					}
					pprof.StartCPUProfile(f)
					defer f.Close()
				}
				before := sample(b, rdb)
				var stop func()
				switch mode {
				case "ceiling":
					stop = startNoop(b, h.redis)
				default:
					w, err := NewApp(ctx, h.cfg, Roles{Work: true}, discardLogger())
					if err != nil {
						b.Fatal(err)
					}
					if err := w.Start(); err != nil {
						b.Fatal(err)
					}
					stop = func() { w.Shutdown() }
				}
				waitEmpty(b, rdb, 10*time.Minute)
				after := sample(b, rdb)
				pprof.StopCPUProfile()
				stop()
				n := float64(len(ds))
				per := func(d time.Duration) float64 { return float64(d.Microseconds()) / n }
				b.ReportMetric(n/after.wall.Sub(before.wall).Seconds(), "events/s")
				b.ReportMetric(per(after.self-before.self), "go-cpu-us/event")
				b.ReportMetric(per(after.redis-before.redis), "redis-cpu-us/event")
				if after.pg > 0 {
					b.ReportMetric(per(after.pg-before.pg), "pg-cpu-us/event")
				}
				b.ReportMetric(0, "ns/op")
				logCommandStats(b, rdb, n)
				if mode == "worker" {
					logStatements(b, h, n)
				}
			}
		})
	}
}

func startNoop(b testing.TB, opt asynq.RedisConnOpt) func() {
	var done atomic.Int64
	mux := asynq.NewServeMux()
	mux.HandleFunc("clerk:", func(context.Context, *asynq.Task) error { done.Add(1); return nil })
	servers := make([]*asynq.Server, 4)
	for i := range servers {
		servers[i] = asynq.NewServer(opt, asynq.Config{Concurrency: 64, Queues: map[string]int{worker.Queue: 1}, Logger: asynqQuiet{}})
		if err := servers[i].Start(mux); err != nil {
			b.Fatal(err)
		}
	}
	return func() {
		for _, s := range servers {
			s.Shutdown()
		}
	}
}

type cpuSample struct {
	wall            time.Time
	self, redis, pg time.Duration
}

func sample(b testing.TB, rdb redis.UniversalClient) cpuSample {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	s := cpuSample{wall: time.Now(), self: time.Duration(ru.Utime.Nano() + ru.Stime.Nano())}
	info, err := rdb.Info(context.Background(), "cpu").Result()
	if err != nil {
		b.Fatal(err)
	}
	for _, line := range strings.Split(info, "\r\n") {
		k, v, _ := strings.Cut(line, ":")
		if k == "used_cpu_sys" || k == "used_cpu_user" {
			f, _ := strconv.ParseFloat(v, 64)
			s.redis += time.Duration(f * float64(time.Second))
		}
	}
	if dir := os.Getenv("BENCH_PG_DATA"); dir != "" {
		s.pg = clusterCPU(b, dir)
	}
	return s
}

// clusterCPU is the CPU time of a Postgres cluster's postmaster and every
// process it started (those that ended included, in its children's times).
func clusterCPU(b testing.TB, dataDir string) time.Duration {
	pidFile, err := os.ReadFile(filepath.Join(dataDir, "postmaster.pid"))
	if err != nil {
		b.Fatal(err)
	}
	master, _ := strconv.Atoi(strings.SplitN(string(pidFile), "\n", 2)[0])
	tick := 100 // USER_HZ on Linux
	var total int
	procs, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, p := range procs {
		raw, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		// Fields after the command name, which is in parentheses.
		f := strings.Fields(string(raw[strings.LastIndexByte(string(raw), ')')+2:]))
		pid, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(filepath.Dir(p), "/proc/"), ""))
		ppid, _ := strconv.Atoi(f[1])
		if pid != master && ppid != master {
			continue
		}
		for _, i := range []int{11, 12} { // utime, stime
			v, _ := strconv.Atoi(f[i])
			total += v
		}
		if pid == master {
			for _, i := range []int{13, 14} { // cutime, cstime
				v, _ := strconv.Atoi(f[i])
				total += v
			}
		}
	}
	return time.Duration(total) * time.Second / time.Duration(tick)
}

func logCommandStats(b testing.TB, rdb redis.UniversalClient, n float64) {
	info, err := rdb.Info(context.Background(), "commandstats").Result()
	if err != nil {
		b.Fatal(err)
	}
	var lines []string
	total := 0.0
	for _, line := range strings.Split(info, "\r\n") {
		name, rest, ok := strings.Cut(line, ":")
		if !ok || !strings.HasPrefix(name, "cmdstat_") {
			continue
		}
		var calls, usec float64
		for _, kv := range strings.Split(rest, ",") {
			k, v, _ := strings.Cut(kv, "=")
			f, _ := strconv.ParseFloat(v, 64)
			switch k {
			case "calls":
				calls = f
			case "usec":
				usec = f
			}
		}
		total += calls
		lines = append(lines, fmt.Sprintf("%-28s %7.2f calls/event %8.1f us/event %7.1f us/call",
			strings.TrimPrefix(name, "cmdstat_"), calls/n, usec/n, usec/max(calls, 1)))
	}
	sort.Strings(lines)
	fmt.Printf("redis commands (%.2f calls/event in all):\n%s\n", total/n, strings.Join(lines, "\n"))
}

func logStatements(b testing.TB, h *harness, n float64) {
	rows, err := h.conn.Query(`SELECT calls, total_exec_time, rows, left(regexp_replace(query, '\s+', ' ', 'g'), 90)
		FROM pgss.pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
		ORDER BY total_exec_time DESC LIMIT 15`)
	if err != nil {
		return // pg_stat_statements is not preloaded
	}
	defer rows.Close()
	var lines []string
	for rows.Next() {
		var calls, nrows int64
		var total float64
		var q string
		if err := rows.Scan(&calls, &total, &nrows, &q); err != nil {
			b.Fatal(err)
		}
		lines = append(lines, fmt.Sprintf("%8.1f us/event %7.3f calls/event %8.1f us/call  %s", total*1000/n, float64(calls)/n, total*1000/float64(max(calls, 1)), q))
	}
	fmt.Printf("statements by execution time:\n%s\n", strings.Join(lines, "\n"))
}
