package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/clerksync/clerksync/internal/testenv"
)

// process is a clerksync command running in the test, as `clerksync CMD`
// would, logging JSON to its stderr.
type process struct {
	logs *syncBuffer
	done chan int
	stop context.CancelFunc
}

func startProcess(t *testing.T, env map[string]string, args ...string) *process {
	t.Helper()
	env["LISTEN_ADDR"] = "127.0.0.1:0"
	env["SHUTDOWN_TIMEOUT"] = "5s"
	logs := &syncBuffer{}
	e := &Env{Stdin: strings.NewReader(""), Stdout: logs, Stderr: logs,
		Lookup: func(k string) (string, bool) { v, ok := env[k]; return v, ok }}
	ctx, cancel := context.WithCancel(context.Background())
	p := &process{logs: logs, done: make(chan int, 1), stop: cancel}
	go func() { p.done <- Main(ctx, e, args) }()
	t.Cleanup(func() { p.exit(t) })
	return p
}

// exit stops the process as SIGTERM would and returns its exit status.
func (p *process) exit(t *testing.T) int {
	t.Helper()
	p.stop()
	select {
	case code := <-p.done:
		p.done <- code
		return code
	case <-time.After(30 * time.Second):
		t.Fatal("the process did not stop")
		return -1
	}
}

// lines are the process's log lines whose msg starts with prefix.
func (p *process) lines(t *testing.T, prefix string) []map[string]any {
	t.Helper()
	var out []map[string]any
	s := bufio.NewScanner(strings.NewReader(p.logs.String()))
	for s.Scan() {
		var m map[string]any
		if json.Unmarshal(s.Bytes(), &m) != nil {
			continue // the command's own error line
		}
		if msg, _ := m["msg"].(string); strings.HasPrefix(msg, prefix) {
			out = append(out, m)
		}
	}
	return out
}

func (p *process) await(t *testing.T, prefix string) map[string]any {
	t.Helper()
	var got []map[string]any
	waitFor(t, 30*time.Second, "log line "+prefix, func() bool {
		got = p.lines(t, prefix)
		return len(got) > 0
	})
	return got[0]
}

// url is the process's HTTP base URL, from its "listening" line.
func (p *process) url(t *testing.T) string {
	t.Helper()
	line := p.await(t, "health and metrics listening")
	return "http://" + line["addr"].(string)
}

// levels counts the process's log lines at each level.
func (p *process) levels(t *testing.T) map[string]int {
	t.Helper()
	n := map[string]int{}
	for _, l := range p.lines(t, "") {
		n[l["level"].(string)]++
	}
	return n
}

// TestWorkWaitsForPostgres: a worker whose Postgres is down at start says so
// in one error line naming the host and database (not the password), is not
// ready, keeps trying, and says when Postgres answers. Its /metrics carries
// the build info and the queue gauges meanwhile.
func TestWorkWaitsForPostgres(t *testing.T) {
	pgURL := testenv.Postgres(t)
	pg := newTCPProxy(t, mustHost(t, pgURL))
	pg.down()
	dbURL := strings.Replace(pg.through(t, pgURL), "postgres@", "postgres:hunter2pg@", 1)
	p := startProcess(t, map[string]string{"DATABASE_URL": dbURL, "REDIS_URL": testenv.Redis(t)}, "work")

	line := p.await(t, "postgres unreachable at start")
	if line["level"] != "ERROR" || !strings.HasPrefix(line["postgres"].(string), pg.addr+"/clerksync_test_") || line["error"] == "" {
		t.Errorf("start line %v", line)
	}
	base := p.url(t)
	resp, err := http.Get(base + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 503 {
		t.Errorf("readyz %d while Postgres is down", resp.StatusCode)
	}
	m := scrape(t, base)
	if metric(m, "clerksync_build_info", "version", readBuildInfo().Version) != 1 {
		t.Error("no clerksync_build_info{version} = 1")
	}
	for _, name := range []string{"clerksync_worker_queue_latency_seconds", "clerksync_worker_queue_pending_tasks",
		"clerksync_worker_last_applied_timestamp_seconds"} {
		if m[name] == nil {
			t.Errorf("no %s", name)
		}
	}

	pg.up()
	back := p.await(t, "postgres reachable")
	if back["level"] != "INFO" {
		t.Errorf("recovery line %v", back)
	}
	if n := len(p.lines(t, "postgres unreachable")); n != 1 {
		t.Errorf("%d unreachable lines, want 1", n)
	}
	if code := p.exit(t); code != 0 {
		t.Errorf("exit %d", code)
	}
	if strings.Contains(p.logs.String(), "hunter2pg") {
		t.Error("the logs show the database password")
	}
}

// TestServeWithPostgresUpSaysNothing: no start-up line when Postgres answers.
func TestServeWithPostgresUpSaysNothing(t *testing.T) {
	p := startProcess(t, map[string]string{"DATABASE_URL": testenv.Postgres(t), "REDIS_URL": testenv.Redis(t),
		"CLERK_WEBHOOK_SIGNING_SECRET": testSecret}, "serve")
	p.await(t, "receiver listening")
	m := scrape(t, "http://"+p.await(t, "receiver listening")["addr"].(string))
	if metric(m, "clerksync_build_info") != 1 {
		t.Error("serve: no clerksync_build_info")
	}
	if m["clerksync_worker_queue_latency_seconds"] != nil {
		t.Error("serve exports the worker's queue gauges")
	}
	if code := p.exit(t); code != 0 || len(p.lines(t, "postgres")) != 0 || p.levels(t)["ERROR"] != 0 {
		t.Errorf("exit %d, logs:\n%s", code, p.logs)
	}
}

// TestRunWithPostgresDownExits1: run migrates first, so it cannot start
// without Postgres: exit 1, one line.
func TestRunWithPostgresDownExits1(t *testing.T) {
	p := startProcess(t, map[string]string{"DATABASE_URL": "postgres://postgres:hunter2pg@127.0.0.1:1/x?sslmode=disable&connect_timeout=2",
		"REDIS_URL": testenv.Redis(t), "CLERK_WEBHOOK_SIGNING_SECRET": testSecret}, "run")
	var code int
	select {
	case code = <-p.done:
		p.done <- code
	case <-time.After(30 * time.Second):
		t.Fatal("run did not exit")
	}
	out := strings.TrimSpace(p.logs.String())
	last := out[strings.LastIndex(out, "\n")+1:]
	if code != 1 || !strings.HasPrefix(last, "clerksync run: ") || !strings.Contains(last, "127.0.0.1:1") {
		t.Errorf("exit %d, last line %q", code, last)
	}
	if strings.Contains(out, "hunter2pg") {
		t.Error("the output shows the database password")
	}
}

// TestRedisOutageIsOneLine: a worker whose Redis is down logs one error line
// naming REDIS_URL's host (not its password) instead of a flood of go-redis
// and Asynq messages, and one line when Redis is back.
func TestRedisOutageIsOneLine(t *testing.T) {
	redisURL := testenv.Redis(t)
	rd := newTCPProxy(t, mustHost(t, redisURL))
	rd.down()
	p := startProcess(t, map[string]string{"DATABASE_URL": testenv.Postgres(t), "REDIS_URL": rd.through(t, redisURL)}, "work")
	line := p.await(t, "redis unreachable")
	if line["level"] != "ERROR" || line["redis"] != rd.addr || !strings.Contains(line["error"].(string), "connection refused") {
		t.Errorf("outage line %v", line)
	}
	// Let go-redis and every Asynq loop fail for a while (each retries
	// several times a second; each scrape reads the queue), then count.
	base := p.url(t)
	for range 3 {
		scrape(t, base)
		time.Sleep(time.Second)
	}
	if lv := p.levels(t); lv["ERROR"] != 1 || lv["WARN"] != 0 {
		t.Errorf("levels %v, want one error line; logs:\n%s", lv, p.logs)
	}
	rd.up()
	back := p.await(t, "redis reachable again")
	if back["level"] != "INFO" || back["redis"] != rd.addr {
		t.Errorf("recovery line %v", back)
	}
	if code := p.exit(t); code != 0 {
		t.Errorf("exit %d", code)
	}
	if lv := p.levels(t); lv["ERROR"] != 1 {
		t.Errorf("levels %v after recovery; logs:\n%s", lv, p.logs)
	}
}

// TestRedisPasswordNeverLogged: the outage line names the host only.
func TestRedisPasswordNeverLogged(t *testing.T) {
	p := startProcess(t, map[string]string{"DATABASE_URL": testenv.Postgres(t),
		"REDIS_URL": "redis://:hunter2redis@127.0.0.1:1/0", "CLERK_WEBHOOK_SIGNING_SECRET": testSecret}, "serve")
	line := p.await(t, "redis unreachable")
	if line["redis"] != "127.0.0.1:1" {
		t.Errorf("outage line %v", line)
	}
	p.exit(t)
	if strings.Contains(p.logs.String(), "hunter2redis") {
		t.Errorf("the logs show the Redis password:\n%s", p.logs)
	}
}

// quietLogs is a quieter over a JSON handler, with a ping the test controls.
func quietLogs(t *testing.T) (*slog.Logger, *syncBuffer, *redisQuieter, *atomic.Bool) {
	buf := &syncBuffer{}
	up := &atomic.Bool{}
	q := newRedisQuieter(slog.NewJSONHandler(buf, nil), "redis://:pw@cache.internal:6379/0", func(context.Context) error {
		if up.Load() {
			return nil
		}
		return errors.New("down")
	})
	t.Cleanup(q.Close)
	return slog.New(q), buf, q, up
}

func TestRedisQuieter(t *testing.T) {
	log, buf, q, up := quietLogs(t)
	rl := redisLogger{log}
	for range 30 {
		rl.Printf(context.Background(), "redis: connection pool: failed to dial after %d attempts: %s", 5, "dial tcp 10.0.0.9:6379: connect: connection refused")
		log.Error("Dequeue error: UNKNOWN: redis eval error: dial tcp 10.0.0.9:6379: i/o timeout", "component", "asynq")
		log.Info("Failed to collect metrics data: failed to get queue names: dial tcp 10.0.0.9:6379: connect: connection refused")
	}
	// clerksync's own lines pass, even when their error attribute names a
	// network failure.
	log.Warn("sync failed", "delivery_id", "msg_1", "error", "dial tcp 10.0.0.5:5432: connect: connection refused")
	log.Info("clerk webhook", "delivery_id", "msg_2")
	out := buf.String()
	if n := strings.Count(out, "\n"); n != 3 {
		t.Fatalf("%d lines, want 3:\n%s", n, out)
	}
	for _, want := range []string{`"level":"ERROR","msg":"redis unreachable`, `"redis":"cache.internal:6379"`, `"sync failed"`, `"clerk webhook"`} {
		if !strings.Contains(out, want) {
			t.Errorf("no %s in\n%s", want, out)
		}
	}
	if strings.Contains(out, "pw@") || strings.Contains(out, ":pw") {
		t.Error("the password shows")
	}
	// A summary once the interval has passed, with the count.
	q.state.mu.Lock()
	q.state.every = 0
	q.state.mu.Unlock()
	rl.Printf(context.Background(), "redis: connection pool: failed to dial: dial tcp 10.0.0.9:6379: connect: connection refused")
	if !strings.Contains(buf.String(), `"msg":"redis still unreachable"`) || !strings.Contains(buf.String(), `"errors":90`) {
		t.Errorf("no summary with 90 errors:\n%s", buf)
	}
	up.Store(true)
	waitFor(t, 10*time.Second, "the recovery line", func() bool { return strings.Contains(buf.String(), "redis reachable again") })
	// Failures of calls made before the recovery are not a new outage.
	rl.Printf(context.Background(), "redis: connection pool: failed to dial: dial tcp 10.0.0.9:6379: connect: connection refused")
	if n := strings.Count(buf.String(), "redis unreachable"); n != 1 {
		t.Errorf("%d outage lines after the recovery", n)
	}
}

func TestRedisHosts(t *testing.T) {
	for u, want := range map[string]string{
		"redis://:secret@cache:6379/0":                          "cache:6379",
		"rediss://user:secret@cache.example.com:6380/1":         "cache.example.com:6380",
		"redis-sentinel://:secret@s1:26379,s2:26379/0?master=m": "s1:26379,s2:26379",
		"redis-cluster://:secret@n1:7000,n2:7001":               "n1:7000,n2:7001",
		"redis-socket://:secret@/var/run/redis.sock?db=2":       "/var/run/redis.sock",
		"redis://:sec/ret@cache:6379/0":                         "(REDIS_URL does not parse)",
	} {
		if got := redisHosts(u); got != want {
			t.Errorf("%s: %q, want %q", u, got, want)
		}
	}
}
