package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/jmoiron/sqlx"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/redis/go-redis/v9"

	"github.com/clerksync/clerksync"
	"github.com/clerksync/clerksync/config"
	"github.com/clerksync/clerksync/internal/testenv"
	"github.com/clerksync/clerksync/worker"
)

// The operations tests: metrics, readiness, the Redis eviction check and
// graceful shutdown with tasks in flight. Helpers shared with
// dashboard_test.go and send_test.go live here too.

const (
	adminUser     = "operator"
	adminPassword = "correct-horse-battery"
)

func withAdmin(c *config.Config) {
	c.AdminUser, c.AdminPassword = adminUser, config.Secret(adminPassword)
}

func withDatabase(u string) func(*config.Config) {
	return func(c *config.Config) { c.DatabaseURL = config.URL(u) }
}

func withShutdownTimeout(d time.Duration) func(*config.Config) {
	return func(c *config.Config) { c.ShutdownTimeout = d }
}

// startWorker starts a worker-only App over h's Redis (and, unless tweaked,
// its Postgres) and returns it with the base URL of its health and metrics
// listener.
func startWorker(t *testing.T, h *harness, tweak ...func(*config.Config)) (*App, string) {
	t.Helper()
	cfg := h.cfg
	for _, f := range tweak {
		f(&cfg)
	}
	w, err := NewApp(context.Background(), cfg, Roles{Work: true}, discardLogger())
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Shutdown() })
	return w, "http://" + w.Addr()
}

// waitFor polls cond until it holds, failing the test after within.
func waitFor(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", within, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// queueInfo is the state of clerksync's queue (zero before its first task).
func (h *harness) queueInfo(t *testing.T) asynq.QueueInfo {
	t.Helper()
	insp := asynq.NewInspector(h.redis)
	defer insp.Close()
	info, err := insp.GetQueueInfo(worker.Queue)
	if errors.Is(err, asynq.ErrQueueNotFound) {
		return asynq.QueueInfo{}
	}
	if err != nil {
		t.Fatal(err)
	}
	return *info
}

// lockUsers holds an exclusive lock on the users table, so that every
// apply blocks and its task stays active until release is called.
func lockUsers(t *testing.T, conn *sqlx.DB) (release func()) {
	t.Helper()
	tx, err := conn.Beginx()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(`LOCK TABLE users IN ACCESS EXCLUSIVE MODE`); err != nil {
		tx.Rollback()
		t.Fatal(err)
	}
	var once sync.Once
	release = func() { once.Do(func() { tx.Rollback() }) }
	t.Cleanup(release)
	return release
}

// scrape reads a /metrics page.
func scrape(t *testing.T, base string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s/metrics: %d", base, resp.StatusCode)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return fams
}

// metric is the value of the series of family name whose labels include
// labels: a counter's or gauge's value, a histogram's count. Absent is 0.
func metric(fams map[string]*dto.MetricFamily, name string, labels ...string) float64 {
	fam := fams[name]
	if fam == nil {
		return 0
	}
	var sum float64
	for _, m := range fam.GetMetric() {
		if !hasLabels(m, labels) {
			continue
		}
		switch {
		case m.Counter != nil:
			sum += m.Counter.GetValue()
		case m.Gauge != nil:
			sum += m.Gauge.GetValue()
		case m.Histogram != nil:
			sum += float64(m.Histogram.GetSampleCount())
		}
	}
	return sum
}

func hasLabels(m *dto.Metric, kv []string) bool {
	for i := 0; i+1 < len(kv); i += 2 {
		found := false
		for _, lp := range m.GetLabel() {
			if lp.GetName() == kv[i] && lp.GetValue() == kv[i+1] {
				found = true
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// metricAt scrapes base until name{labels} reaches want.
func metricAt(t *testing.T, base string, want float64, name string, labels ...string) {
	t.Helper()
	var got float64
	waitFor(t, 20*time.Second, name+strings.Join(labels, ",")+" = "+strconv.FormatFloat(want, 'f', -1, 64), func() bool {
		got = metric(scrape(t, base), name, labels...)
		return got == want
	})
}

// postRaw posts body with the given headers to the receiver.
func (h *harness) postRaw(t *testing.T, body []byte, header http.Header) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, h.url+"/webhooks/clerk", bytes.NewReader(body))
	req.Header = header
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// TestMetricsMove drives every event the metrics count and checks that each
// family moves: the receiver's deliveries and enqueue latency, the queue
// gauges (scraped from the receiver), and the worker's applies, latency
// and lag (scraped from a worker-only process's own listener).
func TestMetricsMove(t *testing.T) {
	h := startApp(t, Roles{Migrate: true, Serve: true})
	client := &http.Client{Timeout: 10 * time.Second}
	const deliveries = "clerksync_webhook_deliveries_total"
	const enqueued = "asynq_tasks_enqueued_total"
	const applies = "clerksync_worker_applies_total"
	created := readFixture(t, "20-user.created.composed-multi-contact.json")

	before := scrape(t, h.url)
	if n := metric(before, deliveries); n != 0 {
		t.Fatalf("deliveries before any: %v", n)
	}

	// Deliveries by outcome.
	if code := h.post(t, client, "msg_metrics_created", created); code != 200 {
		t.Fatalf("created: %d", code)
	}
	if code := h.post(t, client, "msg_metrics_created", created); code != 200 {
		t.Fatalf("duplicate: %d", code)
	}
	if code := h.post(t, client, "msg_metrics_session", []byte(`{"type":"session.created","object":"event","data":{"id":"sess_1"}}`)); code != 200 {
		t.Fatalf("ignored: %d", code)
	}
	if code := h.post(t, client, "msg_metrics_bad", []byte(`{"type":"user.created","data":{}}`)); code != 400 {
		t.Fatalf("invalid event: %d", code)
	}
	if code := h.postRaw(t, created, http.Header{"Svix-Id": {"msg_x"}, "Svix-Timestamp": {strconv.FormatInt(time.Now().Unix(), 10)}, "Svix-Signature": {"v1,AAAA"}}); code != 401 {
		t.Fatalf("bad signature: %d", code)
	}
	m := scrape(t, h.url)
	for _, c := range []struct {
		labels []string
		want   float64
	}{
		{[]string{"event_type", "user.created", "outcome", "accepted"}, 1},
		{[]string{"event_type", "user.created", "outcome", "duplicate"}, 1},
		{[]string{"event_type", "session.created", "outcome", "ignored"}, 1},
		{[]string{"outcome", "rejected", "reason", "invalid_event"}, 1},
		{[]string{"outcome", "rejected", "reason", "signature"}, 1},
	} {
		if got := metric(m, deliveries, c.labels...); got != c.want {
			t.Errorf("%s%v = %v, want %v", deliveries, c.labels, got, c.want)
		}
	}
	if got := metric(m, "clerksync_webhook_enqueue_duration_seconds"); got != 2 {
		t.Errorf("enqueue latency observations %v, want 2 (accepted and duplicate)", got)
	}
	if got := metric(m, enqueued, "queue", worker.Queue, "state", "pending"); got != 1 {
		t.Errorf("pending gauge %v, want 1", got)
	}

	// Active: the worker takes the task but cannot write while the users
	// table is locked.
	release := lockUsers(t, h.conn)
	healthy, wURL := startWorker(t, h)
	metricAt(t, h.url, 1, enqueued, "queue", worker.Queue, "state", "active")
	release()
	metricAt(t, h.url, 1, enqueued, "queue", worker.Queue, "state", "completed")
	metricAt(t, wURL, 1, applies, "event_type", "user.created", "outcome", "applied")
	w := scrape(t, wURL)
	if got := metric(w, "clerksync_worker_apply_duration_seconds"); got != 1 {
		t.Errorf("apply latency observations %v, want 1", got)
	}
	if got := metric(w, "clerksync_worker_event_lag_seconds"); got != 1 {
		t.Errorf("lag observations %v, want 1", got)
	}

	// Stale: the update lands, then the older snapshot arrives late.
	if code := h.post(t, client, "msg_metrics_updated", readFixture(t, "21-user.updated.composed-multi-contact.json")); code != 200 {
		t.Fatalf("updated: %d", code)
	}
	metricAt(t, wURL, 1, applies, "event_type", "user.updated", "outcome", "applied")
	if code := h.post(t, client, "msg_metrics_late", created); code != 200 {
		t.Fatalf("late created: %d", code)
	}
	metricAt(t, wURL, 1, applies, "event_type", "user.created", "outcome", "stale")
	// Deleted.
	if code := h.post(t, client, "msg_metrics_deleted", readFixture(t, "22-user.deleted.composed.json")); code != 200 {
		t.Fatalf("deleted: %d", code)
	}
	metricAt(t, wURL, 1, applies, "event_type", "user.deleted", "outcome", "deleted")

	// Failed and archived: a deletion without a timestamp cannot be ordered.
	// The receiver now dates such a deletion itself (and refuses with 400
	// whatever the worker would archive), so the task is queued as an
	// older receiver queued it.
	q := worker.NewEnqueuer(h.redis, 0)
	defer q.Close()
	if _, err := q.Enqueue(context.Background(), clerksync.Delivery{ID: "msg_metrics_unordered", Type: clerksync.UserDeleted,
		Body: []byte(`{"type":"user.deleted","object":"event","data":{"id":"user_unordered","deleted":true}}`)}); err != nil {
		t.Fatalf("unordered deletion: %v", err)
	}
	metricAt(t, wURL, 1, applies, "event_type", "user.deleted", "outcome", "failed")
	metricAt(t, h.url, 1, enqueued, "queue", worker.Queue, "state", "archived")

	// Retry: a sync that fails on the mirror's side (a trigger of the
	// application's refusing the value) waits to be retried, with backoff.
	if _, err := h.conn.Exec(`CREATE FUNCTION refuse_john() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN IF NEW.first_name = 'John' THEN RAISE EXCEPTION 'no Johns' USING ERRCODE = '22023'; END IF; RETURN NEW; END $$;
		CREATE TRIGGER refuse_john BEFORE INSERT OR UPDATE ON users FOR EACH ROW EXECUTE FUNCTION refuse_john()`); err != nil {
		t.Fatal(err)
	}
	if code := h.post(t, client, "msg_metrics_retry", readFixture(t, "10-user.created.openapi-example.json")); code != 200 {
		t.Fatalf("retry: %d", code)
	}
	metricAt(t, wURL, 1, applies, "event_type", "user.created", "outcome", "failed")
	metricAt(t, h.url, 1, enqueued, "queue", worker.Queue, "state", "retry")

	// Outage: a worker whose Postgres is down does not fail its task: it
	// holds it (active) and says once that Postgres is unavailable.
	if err := healthy.Shutdown(); err != nil {
		t.Fatal(err)
	}
	_, brokenURL := startWorker(t, h, withDatabase("postgres://postgres@127.0.0.1:1/nowhere?sslmode=disable&connect_timeout=2"))
	if got := metric(scrape(t, brokenURL), "clerksync_worker_postgres_available"); got != 1 {
		t.Errorf("postgres available %v before any failure, want 1", got)
	}
	if code := h.post(t, client, "msg_metrics_wait", readFixture(t, "02-user.created.real-2025-email-code.json")); code != 200 {
		t.Fatalf("wait: %d", code)
	}
	metricAt(t, brokenURL, 0, "clerksync_worker_postgres_available")
	metricAt(t, brokenURL, 1, "clerksync_worker_postgres_outages_total")
	metricAt(t, brokenURL, 1, "clerksync_worker_tasks_waiting_for_postgres")
	metricAt(t, h.url, 1, enqueued, "queue", worker.Queue, "state", "active")
	if got := metric(scrape(t, brokenURL), applies, "outcome", "failed"); got != 0 {
		t.Errorf("%v failures counted during the outage, want 0", got)
	}
}

// tcpProxy forwards a local port to a real service, so that a test can take
// "the service" down and up again without touching the shared server.
type tcpProxy struct {
	t      *testing.T
	target string
	addr   string
	mu     sync.Mutex
	ln     net.Listener
	conns  map[net.Conn]struct{}
}

func newTCPProxy(t *testing.T, target string) *tcpProxy {
	t.Helper()
	p := &tcpProxy{t: t, target: target, addr: "127.0.0.1:0", conns: map[net.Conn]struct{}{}}
	p.up()
	t.Cleanup(p.down)
	return p
}

// up listens (again, on the same port) and forwards every connection.
func (p *tcpProxy) up() {
	p.t.Helper()
	ln, err := net.Listen("tcp", p.addr)
	if err != nil {
		p.t.Fatal(err)
	}
	p.mu.Lock()
	p.ln, p.addr = ln, ln.Addr().String()
	p.mu.Unlock()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go p.forward(c)
		}
	}()
}

func (p *tcpProxy) forward(c net.Conn) {
	s, err := net.Dial("tcp", p.target)
	if err != nil {
		c.Close()
		return
	}
	p.mu.Lock()
	p.conns[c], p.conns[s] = struct{}{}, struct{}{}
	p.mu.Unlock()
	go func() { io.Copy(s, c); s.Close() }()
	io.Copy(c, s)
	c.Close()
}

// down stops listening and cuts every open connection, as a crashed
// service would.
func (p *tcpProxy) down() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for c := range p.conns {
		c.Close()
		delete(p.conns, c)
	}
}

// through rewrites a service URL to go through the proxy.
func (p *tcpProxy) through(t *testing.T, serviceURL string) string {
	u, err := url.Parse(serviceURL)
	if err != nil {
		t.Fatal(err)
	}
	u.Host = p.addr
	return u.String()
}

// TestReadiness: /readyz is 503 while Postgres or Redis is down and 200
// again once it is back; /healthz stays 200 throughout. The services are
// "taken down" by cutting a proxy in front of them.
func TestReadiness(t *testing.T) {
	pgURL, redisURL := testenv.Postgres(t), testenv.Redis(t)
	pg := newTCPProxy(t, mustHost(t, pgURL))
	rd := newTCPProxy(t, mustHost(t, redisURL))
	for _, roles := range []Roles{{Serve: true}, {Work: true}} {
		name := "Serve"
		if roles.Work {
			name = "Work"
		}
		t.Run(name, func(t *testing.T) {
			h := startApp(t, roles, func(c *config.Config) {
				c.DatabaseURL = config.URL(pg.through(t, pgURL))
				c.RedisURL = config.URL(rd.through(t, redisURL))
			})
			ready := func(want int, wantBody string) {
				t.Helper()
				waitFor(t, 10*time.Second, "readyz "+strconv.Itoa(want)+" "+wantBody, func() bool {
					code, body := h.get(t, "/readyz")
					return code == want && strings.Contains(body, wantBody)
				})
				if code, _ := h.get(t, "/healthz"); code != 200 {
					t.Errorf("healthz %d", code)
				}
			}
			ready(200, "ready")
			pg.down()
			ready(503, "postgres")
			pg.up()
			ready(200, "ready")
			rd.down()
			ready(503, "redis")
			rd.up()
			ready(200, "ready")
		})
	}
}

// TestReadinessWithServicesUnreachable: a receiver whose Redis or Postgres
// was never reachable starts (so that it can say so) and is not ready.
func TestReadinessWithServicesUnreachable(t *testing.T) {
	const closed = "127.0.0.1:1"
	for _, tc := range []struct {
		name  string
		tweak func(*config.Config)
		want  string
	}{
		{"RedisDown", func(c *config.Config) { c.RedisURL = "redis://" + closed + "/0" }, "redis"},
		{"PostgresDown", withDatabase("postgres://postgres@" + closed + "/x?sslmode=disable"), "postgres"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			base := bareApp(t, Roles{Serve: true}, tc.tweak)
			get := func(path string) (int, string) {
				resp, err := http.Get(base + path)
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				b, _ := io.ReadAll(resp.Body)
				return resp.StatusCode, string(b)
			}
			code, body := get("/readyz")
			if code != 503 || !strings.Contains(body, tc.want) {
				t.Errorf("readyz %d %q, want 503 naming %s", code, body, tc.want)
			}
			if code, _ := get("/healthz"); code != 200 {
				t.Errorf("healthz %d", code)
			}
		})
	}
}

// bareApp starts an App like startApp does, but without connecting to its
// database first, for services that are meant to be down; it returns the
// App's base URL.
func bareApp(t *testing.T, roles Roles, tweak ...func(*config.Config)) string {
	t.Helper()
	cfg := testConfig(t, tweak...)
	app, err := NewApp(context.Background(), cfg, roles, discardLogger())
	if err != nil {
		t.Fatal(err)
	}
	if err := app.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { app.Shutdown() })
	return "http://" + app.Addr()
}

func mustHost(t *testing.T, serviceURL string) string {
	t.Helper()
	u, err := url.Parse(serviceURL)
	if err != nil {
		t.Fatal(err)
	}
	return u.Host
}

// TestEvictionCheck: the start-up check warns unless Redis is set not to
// evict, and says at info level when it could not look.
func TestEvictionCheck(t *testing.T) {
	for _, tc := range []struct {
		name      string
		policy    string
		err       error
		wantLevel string
		wantText  string
	}{
		{"NoevictionIsQuiet", "noeviction", nil, "", ""},
		{"LRUWarns", "allkeys-lru", nil, "WARN", `maxmemory_policy=allkeys-lru`},
		{"VolatileTTLWarns", "volatile-ttl", nil, "WARN", "not noeviction"},
		{"ConfigRefusedIsInfo", "", errors.New("ERR unknown command 'CONFIG'"), "INFO", "could not check"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo}))
			got := checkEviction(context.Background(), log, func(context.Context) (string, error) { return tc.policy, tc.err })
			if got != tc.policy {
				t.Errorf("returned %q, want %q", got, tc.policy)
			}
			out := buf.String()
			if tc.wantLevel == "" {
				if out != "" {
					t.Errorf("logged %q", out)
				}
				return
			}
			if !strings.Contains(out, "level="+tc.wantLevel) || !strings.Contains(out, tc.wantText) {
				t.Errorf("logged %q, want level %s and %q", out, tc.wantLevel, tc.wantText)
			}
		})
	}
	// The real call against the test Redis must work.
	opt, err := worker.RedisConnOpt(testenv.Redis(t))
	if err != nil {
		t.Fatal(err)
	}
	rdb := opt.MakeRedisClient().(redis.UniversalClient)
	defer rdb.Close()
	policy, err := maxmemoryPolicy(context.Background(), rdb)
	if err != nil || policy == "" {
		t.Fatalf("maxmemoryPolicy: %q, %v", policy, err)
	}
}

// TestShutdownWithTasksInFlight: SIGTERM (the context ending) while tasks
// are running. Tasks that finish within SHUTDOWN_TIMEOUT complete; tasks
// still running after it go back to the queue for another worker. Run
// returns nil (exit 0) either way, and no event is lost.
func TestShutdownWithTasksInFlight(t *testing.T) {
	const n = 20
	post := func(t *testing.T, h *harness) {
		client := &http.Client{Timeout: 10 * time.Second}
		for i := range n {
			body := userEvent(t, userSnapshot{id: propUserID(i), updatedAt: 1752566400000, first: "First",
				emails: []contact{{id: "idn_e" + propUserID(i), value: "u@example.com"}}, primaryEmail: 0, primaryPhone: -1, prim: -1})
			if code := h.post(t, client, "msg_inflight_"+propUserID(i), body); code != 200 {
				t.Fatalf("status %d", code)
			}
		}
	}
	// runWorker runs a worker until ctx ends, reporting Run's result.
	runWorker := func(t *testing.T, h *harness, ctx context.Context, tweak ...func(*config.Config)) (*App, <-chan error) {
		cfg := h.cfg
		for _, f := range tweak {
			f(&cfg)
		}
		w, err := NewApp(context.Background(), cfg, Roles{Work: true}, discardLogger())
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- w.Run(ctx) }()
		return w, done
	}
	stopped := func(t *testing.T, done <-chan error) {
		t.Helper()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("Run: %v (the process would not exit 0)", err)
			}
		case <-time.After(30 * time.Second):
			t.Fatal("worker did not stop")
		}
	}

	t.Run("RunningTasksFinish", func(t *testing.T) {
		h := startApp(t, Roles{Migrate: true, Serve: true})
		post(t, h)
		release := lockUsers(t, h.conn)
		ctx, sigterm := context.WithCancel(context.Background())
		w, done := runWorker(t, h, ctx)
		waitFor(t, 10*time.Second, "all tasks active", func() bool { return h.queueInfo(t).Active == n })
		sigterm()
		// The worker stops taking tasks at once but waits for those it holds.
		waitFor(t, 5*time.Second, "worker listener closed", func() bool {
			_, err := http.Get("http://" + w.Addr() + "/healthz")
			return err != nil
		})
		if info := h.queueInfo(t); info.Active != n {
			t.Fatalf("%d active after SIGTERM, want %d", info.Active, n)
		}
		release()
		stopped(t, done)
		info := h.queueInfo(t)
		if info.Completed != n || info.Pending+info.Active+info.Retry+info.Archived != 0 {
			t.Fatalf("after shutdown: %+v, want %d completed", info, n)
		}
		if got := h.count(t, `SELECT count(*) FROM users`); got != n {
			t.Fatalf("%d users, want %d", got, n)
		}
	})

	t.Run("UnfinishedTasksRequeued", func(t *testing.T) {
		h := startApp(t, Roles{Migrate: true, Serve: true})
		post(t, h)
		release := lockUsers(t, h.conn)
		ctx, sigterm := context.WithCancel(context.Background())
		_, done := runWorker(t, h, ctx, withShutdownTimeout(500*time.Millisecond))
		waitFor(t, 10*time.Second, "all tasks active", func() bool { return h.queueInfo(t).Active == n })
		sigterm()
		// Past the timeout the worker gives its tasks back to the queue.
		waitFor(t, 10*time.Second, "tasks requeued", func() bool {
			info := h.queueInfo(t)
			return info.Pending == n && info.Active == 0
		})
		// The transaction it had started commits once Postgres lets it.
		release()
		stopped(t, done)
		// Another worker applies the requeued tasks (again, harmlessly).
		startWorker(t, h)
		h.drained(t, 20*time.Second)
		if got := h.count(t, `SELECT count(*) FROM users`); got != n {
			t.Fatalf("%d users, want %d", got, n)
		}
		if info := h.queueInfo(t); info.Completed != n {
			t.Fatalf("%d completed, want %d", info.Completed, n)
		}
	})
}
