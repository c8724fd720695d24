package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// cliResult is what one clerksync invocation printed and returned.
type cliResult struct {
	code           int
	stdout, stderr string
}

// runCLI runs clerksync with args in an environment of exactly env.
func runCLI(t *testing.T, env map[string]string, args ...string) cliResult {
	t.Helper()
	var out, errOut bytes.Buffer
	e := &Env{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errOut,
		Lookup: func(k string) (string, bool) { v, ok := env[k]; return v, ok }}
	code := Main(context.Background(), e, args)
	return cliResult{code, out.String(), errOut.String()}
}

// oneLineOn says whether s is exactly one line containing want.
func oneLineOn(s, want string) bool {
	return strings.Contains(s, want) && strings.Count(strings.TrimSuffix(s, "\n"), "\n") == 0 && strings.HasSuffix(s, "\n")
}

// TestHelpForms: every way of asking for help prints the command list (or
// the command's usage) and exits 0; no command at all is a usage error.
func TestHelpForms(t *testing.T) {
	for _, args := range [][]string{{"-h"}, {"-help"}, {"--help"}, {"help"}} {
		r := runCLI(t, nil, args...)
		if r.code != 0 || !strings.Contains(r.stderr, "Commands:") || !strings.Contains(r.stderr, "healthcheck") {
			t.Errorf("%v: exit %d\n%s", args, r.code, r.stderr)
		}
	}
	if r := runCLI(t, nil); r.code != 2 || !strings.Contains(r.stderr, "Commands:") {
		t.Errorf("no command: exit %d", r.code)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"help", "serve"}, "Usage: clerksync serve"},
		{[]string{"help", "work"}, "-concurrency"},
		{[]string{"help", "tasks"}, "run --all-archived"},
		{[]string{"help", "tasks", "ls"}, "Usage: clerksync tasks ls"},
		{[]string{"help", "healthcheck"}, "HEALTHCHECK"},
		{[]string{"help", "version"}, "Usage: clerksync version"},
		{[]string{"tasks", "-h"}, "Subcommands:"},
		{[]string{"tasks", "run", "-h"}, "--all-archived"},
	} {
		r := runCLI(t, nil, tc.args...)
		if r.code != 0 || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("%v: exit %d, want %q in\n%s", tc.args, r.code, tc.want, r.stderr)
		}
	}
	if r := runCLI(t, nil, "help", "nosuch"); r.code != 2 || !oneLineOn(r.stderr, `unknown command "nosuch"`) {
		t.Errorf("help nosuch: exit %d %q", r.code, r.stderr)
	}
}

// TestServeHelpSaysWhatHappensWhenServicesAreDown: the start-up behaviour
// chosen for a missing Postgres is in -h.
func TestServeHelpSaysWhatHappensWhenServicesAreDown(t *testing.T) {
	for cmd, want := range map[string]string{"serve": "keeps retrying", "work": "keeps retrying", "run": "exits 1"} {
		if r := runCLI(t, nil, cmd, "-h"); r.code != 0 || !strings.Contains(r.stderr, want) {
			t.Errorf("%s -h lacks %q:\n%s", cmd, want, r.stderr)
		}
	}
}

// TestUsageErrorsAreOneLine: a bad flag, a bad value or a stray argument is
// one line pointing at -h, exit 2, and never the whole usage.
func TestUsageErrorsAreOneLine(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"UnknownFlag", []string{"serve", "--bogus"}, "flag provided but not defined: -bogus (clerksync serve -h lists the flags)"},
		{"BadValue", []string{"work", "--concurrency", "lots"}, `invalid value "lots" for flag -concurrency`},
		{"ConcurrencyZero", []string{"work", "--concurrency", "0"}, "--concurrency 0: want at least 1"},
		{"ConcurrencyNegative", []string{"run", "--concurrency=-3"}, "--concurrency -3: want at least 1"},
		{"ServeHasNoConcurrency", []string{"serve", "--concurrency", "4"}, "flag provided but not defined: -concurrency"},
		{"StrayArgument", []string{"work", "now"}, `unexpected argument "now"`},
		{"MigrateUnknownFlag", []string{"migrate", "-x"}, "clerksync migrate -h"},
		{"VersionArgument", []string{"version", "extra"}, `unexpected argument "extra"`},
		{"TasksNoSubcommand", []string{"tasks", "frobnicate"}, `unknown subcommand "frobnicate"`},
		{"TasksBadState", []string{"tasks", "ls", "--state", "done"}, `--state "done": want one of pending, active`},
		{"TasksBadLimit", []string{"tasks", "ls", "--limit", "0"}, "--limit 0: want at least 1"},
		{"TasksRunNothing", []string{"tasks", "run"}, "name one task ID or --all-archived"},
		{"TasksRunBoth", []string{"tasks", "run", "msg_1", "--all-archived"}, "name one task ID or --all-archived"},
		{"TasksDeleteTwo", []string{"tasks", "delete", "msg_1", "msg_2"}, "want one task ID"},
		{"TasksUnknownFlag", []string{"tasks", "ls", "--format", "x"}, "(clerksync tasks ls -h lists the flags)"},
		{"HealthcheckBadTimeout", []string{"healthcheck", "--timeout", "0s"}, "--timeout: want a positive duration"},
		{"MigrateArgument", []string{"migrate", "now"}, `unexpected argument "now" (clerksync migrate -h)`},
		{"TasksNothing", []string{"tasks"}, "want a subcommand: ls, show, run, delete or stats"},
		{"BackfillArgument", []string{"backfill", "all"}, `unexpected argument "all" (clerksync backfill -h)`},
		{"BackfillPageSize", []string{"backfill", "--page-size", "501"}, "--page-size must be 1 to 500"},
		{"ReconcileArgument", []string{"reconcile", "now"}, `unexpected argument "now" (clerksync reconcile -h)`},
		{"ReconcileGrace", []string{"reconcile", "--grace", "-1s"}, "--grace and --max-delete not negative"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := runCLI(t, map[string]string{"CLERK_WEBHOOK_SIGNING_SECRET": testSecret}, tc.args...)
			if r.code != 2 || !oneLineOn(r.stderr, tc.want) {
				t.Errorf("exit %d, stderr %q; want 2 and one line with %q", r.code, r.stderr, tc.want)
			}
			if strings.Contains(r.stderr, "Usage:") {
				t.Error("the whole usage was printed")
			}
		})
	}
}

// TestEnvironmentErrorsNameTheVariable: an unparsable variable is named as
// the operator set it.
func TestEnvironmentErrorsNameTheVariable(t *testing.T) {
	r := runCLI(t, map[string]string{"TASK_RETENTION": "abc"}, "work")
	if r.code != 1 || !oneLineOn(r.stderr, "TASK_RETENTION: want a duration") || strings.Contains(r.stderr, "TaskRetention") {
		t.Errorf("exit %d, stderr %q", r.code, r.stderr)
	}
	r = runCLI(t, map[string]string{"WORKER_CONCURRENCY": "0"}, "work")
	if r.code != 1 || !oneLineOn(r.stderr, "WORKER_CONCURRENCY: want at least 1") {
		t.Errorf("exit %d, stderr %q", r.code, r.stderr)
	}
}

func TestVersion(t *testing.T) {
	want := readBuildInfo()
	if want.Version == "" || want.GoVersion == "" || want.Commit == "" {
		t.Fatalf("build info %+v", want)
	}
	for _, args := range [][]string{{"version"}, {"-version"}, {"--version"}} {
		r := runCLI(t, nil, args...)
		if r.code != 0 || !oneLineOn(r.stdout, "clerksync "+want.Version+" (commit "+want.Commit) ||
			!strings.Contains(r.stdout, want.GoVersion) {
			t.Errorf("%v: exit %d, %q", args, r.code, r.stdout)
		}
	}
	r := runCLI(t, nil, "version", "--json")
	var got buildInfo
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil || r.code != 0 || got != want {
		t.Errorf("--json: exit %d, %q (%v), want %+v", r.code, r.stdout, err, want)
	}
}

// TestVersionFallsBackToLinkerValues: a build without VCS data (the Docker
// image's) shows what -ldflags -X set.
func TestVersionFallsBackToLinkerValues(t *testing.T) {
	defer func(v, c, m string) { version, commit, modified = v, c, m }(version, commit, modified)
	version, commit, modified = "", "", ""
	stamped := readBuildInfo()
	version, commit, modified = "v9.9.9", "abc123", "true"
	b := readBuildInfo()
	if stamped.Commit == "unknown" && (b.Commit != "abc123" || !b.Modified) {
		t.Errorf("commit fallback ignored: %+v", b)
	}
	if stamped.Version == "(devel)" && b.Version != "v9.9.9" {
		t.Errorf("version fallback ignored: %+v", b)
	}
	if stamped.Commit != "unknown" && b.Commit != stamped.Commit {
		t.Errorf("the fallback overrode the VCS stamp: %+v", b)
	}
}

func TestBuildInfoGauge(t *testing.T) {
	b := buildInfo{Version: "v1.2.3", Commit: "abc", Modified: true, GoVersion: "go1.26.8"}
	reg := prometheus.NewRegistry()
	reg.MustRegister(buildInfoGauge(b))
	want := `
# HELP clerksync_build_info Always 1; the labels say which build of clerksync this process runs.
# TYPE clerksync_build_info gauge
clerksync_build_info{commit="abc",go_version="go1.26.8",modified="true",version="v1.2.3"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "clerksync_build_info"); err != nil {
		t.Error(err)
	}
}

func TestHealthcheck(t *testing.T) {
	answer := func(code int, body string) string {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path != "/readyz" {
				http.NotFound(w, r)
				return
			}
			w.WriteHeader(code)
			io.WriteString(w, body)
		}))
		t.Cleanup(srv.Close)
		return srv.URL
	}
	t.Run("ReadyExits0", func(t *testing.T) {
		url := answer(200, "ready\n")
		r := runCLI(t, nil, "healthcheck", "--url", url+"/readyz")
		if r.code != 0 || !oneLineOn(r.stdout, "ready") || r.stderr != "" {
			t.Errorf("exit %d, %q %q", r.code, r.stdout, r.stderr)
		}
	})
	t.Run("DefaultURLFromListenAddr", func(t *testing.T) {
		_, port, _ := net.SplitHostPort(strings.TrimPrefix(answer(200, "ready\n"), "http://"))
		r := runCLI(t, map[string]string{"LISTEN_ADDR": ":" + port}, "healthcheck")
		if r.code != 0 || !strings.Contains(r.stdout, "http://127.0.0.1:"+port+"/readyz") {
			t.Errorf("exit %d, %q %q", r.code, r.stdout, r.stderr)
		}
	})
	t.Run("NotReadyExits1", func(t *testing.T) {
		url := answer(503, "unavailable: [postgres]\n")
		r := runCLI(t, nil, "healthcheck", "--url", url+"/readyz")
		if r.code != 1 || !oneLineOn(r.stderr, "answered 503 Service Unavailable: unavailable: [postgres]") {
			t.Errorf("exit %d, %q", r.code, r.stderr)
		}
	})
	t.Run("NothingListeningExits1", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		r := runCLI(t, map[string]string{"LISTEN_ADDR": addr}, "healthcheck", "--timeout", "2s")
		if r.code != 1 || !oneLineOn(r.stderr, "connection refused") {
			t.Errorf("exit %d, %q", r.code, r.stderr)
		}
	})
	t.Run("NoAnswerTimesOut", func(t *testing.T) {
		// A listener that accepts and never answers.
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ln.Close() })
		r := runCLI(t, nil, "healthcheck", "--url", "http://"+ln.Addr().String()+"/readyz", "--timeout", "200ms")
		if r.code != 1 || !oneLineOn(r.stderr, "no answer within 200ms") {
			t.Errorf("exit %d, %q", r.code, r.stderr)
		}
	})
	t.Run("RealProcess", func(t *testing.T) {
		h := startApp(t, Roles{Migrate: true, Serve: true})
		r := runCLI(t, map[string]string{"LISTEN_ADDR": h.app.Addr()}, "healthcheck")
		if r.code != 0 || !strings.Contains(r.stdout, "ready") {
			t.Errorf("exit %d, %q %q", r.code, r.stdout, r.stderr)
		}
	})
}

func TestReadyzURL(t *testing.T) {
	for addr, want := range map[string]string{
		":8080":          "http://127.0.0.1:8080/readyz",
		"0.0.0.0:9000":   "http://127.0.0.1:9000/readyz",
		"[::]:9000":      "http://127.0.0.1:9000/readyz",
		"10.1.2.3:8080":  "http://10.1.2.3:8080/readyz",
		"[::1]:8080":     "http://[::1]:8080/readyz",
		"localhost:8080": "http://localhost:8080/readyz",
	} {
		if got, err := readyzURL(addr); err != nil || got != want {
			t.Errorf("%s: %s %v, want %s", addr, got, err, want)
		}
	}
	if _, err := readyzURL("8080"); err == nil || !strings.Contains(err.Error(), "LISTEN_ADDR") {
		t.Errorf("bad LISTEN_ADDR: %v", err)
	}
}
