// Package deploy_test checks the deployment files beside it: the example
// Prometheus alerts (deploy/prometheus) and the local compose file. The
// structural checks need nothing but Go; promtool and docker compose, when
// installed, check the files too.
package deploy_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/common/model"
	"go.yaml.in/yaml/v3"
)

type ruleFile struct {
	Groups []struct {
		Name  string `yaml:"name"`
		Rules []rule `yaml:"rules"`
	} `yaml:"groups"`
}

type rule struct {
	Alert       string            `yaml:"alert"`
	Expr        string            `yaml:"expr"`
	For         string            `yaml:"for"`
	Labels      map[string]string `yaml:"labels"`
	Annotations map[string]string `yaml:"annotations"`
}

func readYAML(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

func rules(t *testing.T) []rule {
	t.Helper()
	var f ruleFile
	readYAML(t, "prometheus/alerts.yml", &f)
	var out []rule
	for _, g := range f.Groups {
		out = append(out, g.Rules...)
	}
	return out
}

// TestAlertRules: every rule is complete, and names only series this
// codebase (or Asynq's queue collector) exports.
func TestAlertRules(t *testing.T) {
	known := exportedMetrics(t)
	seen := map[string]bool{}
	rs := rules(t)
	if len(rs) < 9 {
		t.Fatalf("%d rules", len(rs))
	}
	for _, r := range rs {
		if !strings.HasPrefix(r.Alert, "Clerksync") || seen[r.Alert] {
			t.Errorf("alert name %q: want a unique Clerksync... name", r.Alert)
		}
		seen[r.Alert] = true
		if strings.TrimSpace(r.Expr) == "" {
			t.Errorf("%s: no expr", r.Alert)
		}
		if _, err := model.ParseDuration(r.For); err != nil {
			t.Errorf("%s: for %q: %v", r.Alert, r.For, err)
		}
		if !slices.Contains([]string{"critical", "warning", "info"}, r.Labels["severity"]) {
			t.Errorf("%s: severity %q", r.Alert, r.Labels["severity"])
		}
		if r.Annotations["summary"] == "" || r.Annotations["description"] == "" {
			t.Errorf("%s: want a summary and a description", r.Alert)
		}
		for _, name := range metricNames(r.Expr) {
			if !known[name] {
				t.Errorf("%s: %s is not a metric clerksync or Asynq exports", r.Alert, name)
			}
		}
	}
}

// TestAlertRulesHaveUnitTests: every alert fires in alerts_test.yml, and
// promtool, where installed, checks the rules and runs the tests.
func TestAlertRulesHaveUnitTests(t *testing.T) {
	var f struct {
		RuleFiles          []string `yaml:"rule_files"`
		EvaluationInterval string   `yaml:"evaluation_interval"`
		Tests              []struct {
			Interval    string `yaml:"interval"`
			InputSeries []struct {
				Series string `yaml:"series"`
				Values string `yaml:"values"`
			} `yaml:"input_series"`
			AlertRuleTest []struct {
				EvalTime  string           `yaml:"eval_time"`
				Alertname string           `yaml:"alertname"`
				ExpAlerts []map[string]any `yaml:"exp_alerts"`
			} `yaml:"alert_rule_test"`
		} `yaml:"tests"`
	}
	readYAML(t, "prometheus/alerts_test.yml", &f)
	fires := map[string]bool{}
	for _, tc := range f.Tests {
		for _, a := range tc.AlertRuleTest {
			if len(a.ExpAlerts) > 0 {
				fires[a.Alertname] = true
			}
		}
	}
	for _, r := range rules(t) {
		if !fires[r.Alert] {
			t.Errorf("%s: no unit test expects it to fire", r.Alert)
		}
	}
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Log("promtool is not installed (Debian: apt-get install prometheus): checked the structure only")
		return
	}
	for _, args := range [][]string{{"check", "rules", "alerts.yml"}, {"test", "rules", "alerts_test.yml"}} {
		cmd := exec.Command(promtool, args...)
		cmd.Dir = "prometheus"
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}

var metricName = regexp.MustCompile(`\b(?:clerksync|asynq)_[a-z0-9_]+\b`)

// metricNames are the clerksync and Asynq series an expression reads.
func metricNames(expr string) []string {
	return metricName.FindAllString(expr, -1)
}

// exportedMetrics are the metric names the module's source registers (the
// Name of a collector's options, a NewDesc's first argument) and the names
// Asynq's queue collector builds.
func exportedMetrics(t *testing.T) map[string]bool {
	t.Helper()
	known := map[string]bool{}
	literal := regexp.MustCompile(`"((?:clerksync)_[a-z0-9_]+)"`)
	err := filepath.WalkDir("..", func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == ".git" || d.Name() == "testdata") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, m := range literal.FindAllSubmatch(b, -1) {
			known[string(m[1])] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/hibiken/asynq/x").Output()
	if err != nil {
		t.Fatalf("locate asynq's x module: %v", err)
	}
	src, err := os.ReadFile(filepath.Join(strings.TrimSpace(string(out)), "metrics", "metrics.go"))
	if err != nil {
		t.Fatal(err)
	}
	fq := regexp.MustCompile(`BuildFQName\(namespace, "", "([a-z_]+)"\)`)
	for _, m := range fq.FindAllSubmatch(src, -1) {
		known["asynq_"+string(m[1])] = true
	}
	for _, must := range []string{"clerksync_webhook_deliveries_total", "clerksync_worker_last_applied_timestamp_seconds",
		"clerksync_build_info", "asynq_tasks_enqueued_total", "asynq_queue_latency_seconds"} {
		if !known[must] {
			t.Fatalf("the source scan missed %s: found %v", must, known)
		}
	}
	return known
}

type composeFile struct {
	Services map[string]struct {
		Image       string         `yaml:"image"`
		Build       map[string]any `yaml:"build"`
		Command     []string       `yaml:"command"`
		Environment map[string]any `yaml:"environment"`
		Ports       []string       `yaml:"ports"`
		Volumes     []string       `yaml:"volumes"`
		DependsOn   map[string]struct {
			Condition string `yaml:"condition"`
		} `yaml:"depends_on"`
		Healthcheck struct {
			Test        []string `yaml:"test"`
			Interval    string   `yaml:"interval"`
			Timeout     string   `yaml:"timeout"`
			StartPeriod string   `yaml:"start_period"`
			Retries     int      `yaml:"retries"`
		} `yaml:"healthcheck"`
		Restart string `yaml:"restart"`
	} `yaml:"services"`
	Volumes map[string]any `yaml:"volumes"`
}

// TestComposeFile: Postgres, Redis set up as a queue's database, and
// clerksync built from the checkout with its own health check, whose binary
// path is the image's. docker compose (or docker-compose), where installed,
// validates the file too.
func TestComposeFile(t *testing.T) {
	var c composeFile
	readYAML(t, "compose.yaml", &c)
	pg, rd, cs := c.Services["postgres"], c.Services["redis"], c.Services["clerksync"]
	if !strings.HasPrefix(pg.Image, "postgres:") || len(pg.Healthcheck.Test) == 0 {
		t.Errorf("postgres: %+v", pg)
	}
	cmd := strings.Join(rd.Command, " ")
	if !strings.HasPrefix(rd.Image, "redis:") || !strings.Contains(cmd, "--appendonly yes") ||
		!strings.Contains(cmd, "--maxmemory-policy noeviction") {
		t.Errorf("redis: %q %q", rd.Image, cmd)
	}
	if ctx, _ := cs.Build["context"].(string); ctx == "" {
		t.Error("clerksync: not built from the checkout")
	} else if _, err := os.Stat(filepath.Join(ctx, "Dockerfile")); err != nil {
		t.Errorf("clerksync: build context %s: %v", ctx, err)
	}
	for _, dep := range []string{"postgres", "redis"} {
		if cs.DependsOn[dep].Condition != "service_healthy" {
			t.Errorf("clerksync does not wait for a healthy %s", dep)
		}
	}
	bin := dockerfileBinary(t)
	if want := []string{"CMD", bin, "healthcheck"}; !slices.Equal(cs.Healthcheck.Test, want) {
		t.Errorf("clerksync healthcheck %v, want %v", cs.Healthcheck.Test, want)
	}
	for _, k := range []string{"DATABASE_URL", "REDIS_URL", "CLERK_WEBHOOK_SIGNING_SECRET"} {
		if cs.Environment[k] == nil {
			t.Errorf("clerksync: no %s", k)
		}
	}
	for _, args := range [][]string{{"docker", "compose"}, {"docker-compose"}} {
		path, err := exec.LookPath(args[0])
		if err != nil {
			continue
		}
		probe := exec.Command(path, append(args[1:], "version")...)
		if probe.Run() != nil {
			continue // e.g. a docker client without the compose plugin
		}
		check := exec.Command(path, append(args[1:], "-f", "compose.yaml", "config", "-q")...)
		if out, err := check.CombinedOutput(); err != nil {
			t.Errorf("%s config: %v\n%s", strings.Join(args, " "), err, out)
		}
		return
	}
	t.Log("neither docker compose nor docker-compose works here: checked the structure only")
}

// dockerfileBinary is where the image keeps clerksync; its ENTRYPOINT and
// HEALTHCHECK must both use it.
func dockerfileBinary(t *testing.T) string {
	t.Helper()
	raw, err := os.ReadFile("../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	b := bytes.ReplaceAll(raw, []byte("\\\n"), []byte(" ")) // continuation lines
	entry := regexp.MustCompile(`(?m)^ENTRYPOINT \["([^"]+)"\]`).FindSubmatch(b)
	health := regexp.MustCompile(`(?m)^HEALTHCHECK .*CMD \["([^"]+)", "healthcheck"\]`).FindSubmatch(b)
	if entry == nil || health == nil || string(entry[1]) != string(health[1]) {
		t.Fatalf("Dockerfile: ENTRYPOINT %q and HEALTHCHECK %q must name the same binary", entry, health)
	}
	return string(entry[1])
}
