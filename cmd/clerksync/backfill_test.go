package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/clerksync/clerksync/config"
	"github.com/clerksync/clerksync/internal/clerkfake"
	"github.com/clerksync/clerksync/internal/testenv"
)

// clerkRun runs `clerksync args...` in-process against a mirror and a fake
// Backend API, with env overriding or adding variables.
func clerkRun(t *testing.T, dbURL string, fake *clerkfake.Server, env map[string]string, args ...string) cliResult {
	t.Helper()
	vars := map[string]string{
		"DATABASE_URL": dbURL, "CLERK_SECRET_KEY": clerkfake.Key, "CLERK_API_URL": fake.URL,
		"CLERK_API_RATE": "unlimited", "LOG_FORMAT": "text",
	}
	for k, v := range env {
		vars[k] = v
	}
	return runCLI(t, vars, args...)
}

func fakeWithFixtures(t *testing.T, generated int) *clerkfake.Server {
	t.Helper()
	fake := clerkfake.New(t)
	for _, name := range []string{"02-user.created.real-2025-email-code.json", "21-user.updated.composed-multi-contact.json", "11-user.updated.openapi-example.json"} {
		var ev struct {
			Data json.RawMessage `json:"data"`
		}
		b, err := os.ReadFile(filepath.Join("..", "..", "testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(b, &ev); err != nil {
			t.Fatal(err)
		}
		fake.Put(ev.Data)
	}
	fake.Generate(generated)
	return fake
}

func TestBackfillCommand(t *testing.T) {
	dbURL, conn := testenv.Mirror(t, 2)
	fake := fakeWithFixtures(t, 1200)
	r := clerkRun(t, dbURL, fake, nil, "backfill")
	if r.code != 0 {
		t.Fatalf("exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	for _, want := range []string{"backfill    1203 users in 3 pages", "inserted    1203", "updated     0", "skipped     0 stale"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("summary lacks %q:\n%s", want, r.stdout)
		}
	}
	var n int
	if err := conn.Get(&n, `SELECT count(*) FROM users WHERE source = 'backfill'`); err != nil || n != 1203 {
		t.Errorf("%d users (%v)", n, err)
	}
	// No personal data or key in the output.
	for _, s := range []string{clerkfake.Key, "@example.com", "Lovelace"} {
		if strings.Contains(r.stdout+r.stderr, s) {
			t.Errorf("output contains %q", s)
		}
	}
	r = clerkRun(t, dbURL, fake, nil, "backfill", "--page-size", "100")
	if r.code != 0 || !strings.Contains(r.stdout, "unchanged   1203") {
		t.Errorf("second run: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}

// TestBackfillCommandResumes: an interrupted run says so, and the next
// resumes where it stopped.
func TestBackfillCommandResumes(t *testing.T) {
	dbURL, conn := testenv.Mirror(t, 2)
	fake := fakeWithFixtures(t, 700)
	// Ctrl-C once a page or two is in: the list request that sees the
	// first checkpoint cancels the run.
	ctx, cancel := context.WithCancel(context.Background())
	fake.BeforeList(func(offset, n int) {
		var saved int
		conn.Get(&saved, `SELECT count(*) FROM backfill_checkpoint`)
		if saved > 0 {
			cancel()
		}
	})
	var out, errOut bytes.Buffer
	vars := map[string]string{"DATABASE_URL": dbURL, "CLERK_SECRET_KEY": clerkfake.Key, "CLERK_API_URL": fake.URL, "CLERK_API_RATE": "unlimited"}
	e := &Env{Stdout: &out, Stderr: &errOut, Lookup: func(k string) (string, bool) { v, ok := vars[k]; return v, ok }}
	if code := Main(ctx, e, []string{"backfill", "--page-size", "100"}); code != 1 || !strings.Contains(errOut.String(), "run clerksync backfill again to resume") {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	fake.BeforeList(nil)
	r := clerkRun(t, dbURL, fake, nil, "backfill", "--page-size", "100")
	if r.code != 0 || !strings.Contains(r.stdout, "resumed     at offset") {
		t.Fatalf("exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}

func TestBackfillCommandKey(t *testing.T) {
	dbURL, _ := testenv.Mirror(t, 2)
	fake := fakeWithFixtures(t, 5)
	fake.SetKey("sk_test_another")
	r := clerkRun(t, dbURL, fake, nil, "backfill")
	if r.code != 1 || !strings.Contains(r.stderr, "CLERK_SECRET_KEY") || strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 {
		t.Errorf("wrong key: exit %d, stderr %q", r.code, r.stderr)
	}
	if strings.Contains(r.stdout+r.stderr, clerkfake.Key) {
		t.Error("the key is printed")
	}
	if n := fake.Stats().Requests; n != 1 {
		t.Errorf("%d requests with a rejected key", n)
	}
	r = clerkRun(t, dbURL, fake, map[string]string{"CLERK_SECRET_KEY": ""}, "reconcile")
	if r.code != 1 || !strings.Contains(r.stderr, "CLERK_SECRET_KEY is not set") {
		t.Errorf("no key: exit %d, stderr %q", r.code, r.stderr)
	}
}

func TestBackfillAndReconcileHelp(t *testing.T) {
	fake := clerkfake.New(t)
	for cmd, wants := range map[string][]string{
		"backfill":  {"--restart", "--rate", "--page-size", "Exit status: 0", "resume", "CLERK_SECRET_KEY"},
		"reconcile": {"--apply", "--grace", "--max-delete", "3 when drift was found", "4 when --apply left drift", "404"},
	} {
		r := clerkRun(t, "postgres://x@127.0.0.1:1/x", fake, map[string]string{"CLERK_SECRET_KEY": "sk_live_supersecret"}, cmd, "-h")
		if r.code != 0 {
			t.Errorf("%s -h: exit %d", cmd, r.code)
		}
		for _, w := range wants {
			if !strings.Contains(r.stderr, w) {
				t.Errorf("%s -h lacks %q", cmd, w)
			}
		}
		if strings.Contains(r.stderr, "supersecret") {
			t.Errorf("%s -h shows the key", cmd)
		}
	}
	r := clerkRun(t, "", fake, nil, "-h")
	for _, w := range []string{"backfill", "reconcile", "CLERK_SECRET_KEY", "CLERK_API_URL", "RECONCILE_EVERY"} {
		if !strings.Contains(r.stderr, w) {
			t.Errorf("clerksync -h lacks %q", w)
		}
	}
}

// TestReconcileCommandExitStatus: 0 in sync, 3 drift reported, 0 once
// --apply repaired it, 4 when --apply had to hold deletions back.
func TestReconcileCommandExitStatus(t *testing.T) {
	dbURL, conn := testenv.Mirror(t, 2)
	fake := fakeWithFixtures(t, 300)
	if r := clerkRun(t, dbURL, fake, nil, "backfill"); r.code != 0 {
		t.Fatalf("backfill: %d %s", r.code, r.stderr)
	}
	if r := clerkRun(t, dbURL, fake, nil, "reconcile"); r.code != 0 || !strings.Contains(r.stdout, "in sync") {
		t.Fatalf("in sync: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if _, err := conn.Exec(`DELETE FROM users WHERE id = $1`, clerkfake.GenID(17)); err != nil {
		t.Fatal(err)
	}
	fake.Delete(clerkfake.GenID(18))
	r := clerkRun(t, dbURL, fake, nil, "reconcile")
	if r.code != exitDriftFound || !strings.Contains(r.stdout, "missing     1  "+clerkfake.GenID(17)) ||
		!strings.Contains(r.stdout, "extra       1  "+clerkfake.GenID(18)) || !strings.Contains(r.stderr, "1 missing, 0 outdated, 1 extra") {
		t.Fatalf("drift: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if strings.Contains(r.stdout+r.stderr, "@example.com") {
		t.Error("the report shows emails")
	}
	r = clerkRun(t, dbURL, fake, nil, "reconcile", "--apply")
	if r.code != 0 || !strings.Contains(r.stdout, "repaired    1 snapshots applied, 1 users removed") {
		t.Fatalf("apply: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	for i := 100; i < 300; i++ {
		fake.Delete(clerkfake.GenID(i))
	}
	r = clerkRun(t, dbURL, fake, nil, "reconcile", "--apply", "--max-delete", "50")
	if r.code != exitDriftUnrepaired || !strings.Contains(r.stdout, "held        200") {
		t.Fatalf("held: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if r := clerkRun(t, dbURL, fake, nil, "reconcile", "--bogus"); r.code != 2 {
		t.Errorf("bad flag: exit %d", r.code)
	}
	if r := clerkRun(t, dbURL, fake, nil, "reconcile", "--rate", "fast"); r.code != 2 {
		t.Errorf("bad rate: exit %d (%s)", r.code, r.stderr)
	}
}

// TestScheduledReconcileOneAtATime: two workers with RECONCILE_EVERY set
// take turns: never two reconciles at once (each makes one request at a
// time here: its users fit one page, so there is nothing to fetch ahead, and
// two reconciles at once would show as two requests in flight), and both
// export the last run's figures.
func TestScheduledReconcileOneAtATime(t *testing.T) {
	fake := fakeWithFixtures(t, 40)
	// Each run (a count and a page) outlasts the interval, so that without
	// the lock a second worker would find a run due while one is under way.
	fake.SetLatency(150 * time.Millisecond)
	scheduled := func(c *config.Config) {
		c.ClerkSecretKey, c.ClerkAPIURL, c.ClerkAPIRate = clerkfake.Key, config.URL(fake.URL), "unlimited"
		c.ReconcileEvery = 200 * time.Millisecond
	}
	h := startApp(t, Roles{Migrate: true, Work: true}, scheduled)
	_, other := startWorker(t, h, scheduled)
	waitFor(t, 60*time.Second, "five scheduled reconciles", func() bool { return fake.Stats().Counts >= 5 })
	if st := fake.Stats(); st.MaxInflight != 1 {
		t.Errorf("%d requests in flight at once: two reconciles ran together", st.MaxInflight)
	}
	// The first run found every user missing and repaired it.
	if n := h.count(t, `SELECT count(*) FROM users`); n != 43 {
		t.Errorf("%d users in the mirror, want 43", n)
	}
	for _, base := range []string{h.url, other} {
		fams := scrape(t, base)
		if ts := metric(fams, "clerksync_reconcile_last_success_timestamp_seconds"); ts < float64(time.Now().Add(-time.Minute).Unix()) {
			t.Errorf("%s: last success %v", base, ts)
		}
		if fams["clerksync_reconcile_drift_users"] == nil || len(fams["clerksync_reconcile_drift_users"].GetMetric()) != 3 {
			t.Errorf("%s: no drift gauges", base)
		}
	}
}

// TestBackfillCommandUnmigrated: a schema without the backfill's tables
// says what to run, and prints no empty summary.
func TestBackfillCommandUnmigrated(t *testing.T) {
	fake := fakeWithFixtures(t, 1)
	for _, cmd := range []string{"backfill", "reconcile"} {
		r := clerkRun(t, testenv.Postgres(t), fake, nil, cmd)
		if r.code != 1 || !strings.Contains(r.stderr, "run clerksync migrate first") || r.stdout != "" {
			t.Errorf("%s: exit %d\n%s%s", cmd, r.code, r.stdout, r.stderr)
		}
	}
}
