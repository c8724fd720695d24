package config_test

import (
	"bytes"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/clerksync/clerksync/config"
)

func lookup(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func TestDefaultsAndRotation(t *testing.T) {
	c, err := config.Load(lookup(map[string]string{
		"CLERK_WEBHOOK_SIGNING_SECRET": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw, whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if c.ListenAddr != ":8080" || c.RedisURL.Reveal() != "redis://127.0.0.1:6379/0" ||
		c.DatabaseURL.Reveal() != "postgres://postgres:postgres@127.0.0.1:5432/clerksync?sslmode=disable" ||
		c.DatabaseSchema != "clerk" {
		t.Errorf("defaults: %#v", c)
	}
	if got := c.SigningSecrets.Reveal(); len(got) != 2 || got[1] != "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD" {
		t.Errorf("secrets: %v", got)
	}
	if err := c.RequireSigningSecrets(); err != nil {
		t.Error(err)
	}
}

func TestSecretsNeverPrint(t *testing.T) {
	c, err := config.Load(lookup(map[string]string{
		"CLERK_WEBHOOK_SIGNING_SECRET": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
		"DATABASE_URL":                 "postgres://app:hunter2pg@db:5432/x",
		"REDIS_URL":                    "redis://:hunter2redis@cache:6379/0",
		"ADMIN_USER":                   "ops", "ADMIN_PASSWORD": "hunter2admin",
	}))
	if err != nil {
		t.Fatal(err)
	}
	var logged bytes.Buffer
	slog.New(slog.NewJSONHandler(&logged, nil)).Info("config", "config", c, "secret", c.AdminPassword, "secrets", c.SigningSecrets)
	for _, out := range []string{fmt.Sprint(c), fmt.Sprintf("%+v", c), fmt.Sprintf("%#v", c), c.String(), logged.String(),
		fmt.Sprint(c.AdminPassword), fmt.Sprintf("%v %+v", c.SigningSecrets, c.DatabaseURL)} {
		for _, secret := range []string{"hunter2", "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"} {
			if strings.Contains(out, secret) {
				t.Errorf("%q leaks %q", out, secret)
			}
		}
	}
}

func TestInvalid(t *testing.T) {
	cases := map[string]map[string]string{
		"BadSecret":       {"CLERK_WEBHOOK_SIGNING_SECRET": "whsec_not base64!!"},
		"HalfAdmin":       {"ADMIN_USER": "ops"},
		"BadLogFormat":    {"LOG_FORMAT": "xml"},
		"BadConcurrency":  {"WORKER_CONCURRENCY": "0"},
		"NotPostgres":     {"DATABASE_URL": "mysql://x"},
		"UnparsableCount": {"WORKER_CONCURRENCY": "many"},
	}
	for name, envs := range cases {
		t.Run(name, func(t *testing.T) {
			if _, err := config.Load(lookup(envs)); err == nil {
				t.Error("no error")
			} else if strings.Contains(err.Error(), "not base64!!") {
				t.Errorf("error quotes the secret: %v", err)
			}
		})
	}
	c, _ := config.Load(lookup(nil))
	if c.RequireSigningSecrets() == nil {
		t.Error("no signing secret accepted for serve")
	}
}

// TestParseErrorsNameTheVariable: an unparsable value is reported under the
// environment variable the operator set, not the Go field, and without the
// value (which, for another variable, could be a secret).
func TestParseErrorsNameTheVariable(t *testing.T) {
	for _, tc := range []struct{ name, value, want string }{
		{"TASK_RETENTION", "abc", "TASK_RETENTION: want a duration"},
		{"SHUTDOWN_TIMEOUT", "soon", "SHUTDOWN_TIMEOUT: want a duration"},
		{"WORKER_CONCURRENCY", "many", "WORKER_CONCURRENCY: want a whole number"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := config.Load(lookup(map[string]string{tc.name: tc.value}))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want %q", err, tc.want)
			}
			for _, bad := range []string{"TaskRetention", "ShutdownTimeout", "WorkerConcurrency", tc.value} {
				if strings.Contains(err.Error(), bad) {
					t.Errorf("error %q shows %q", err, bad)
				}
			}
		})
	}
}

// Credentials in query parameters are hidden as well as the userinfo
// password, in every printed form of a URL and of the Config; the rest of
// the URL prints as written.
func TestURLQueryCredentialsNeverPrint(t *testing.T) {
	tests := []struct {
		url  string
		want string // the printed form
	}{
		{"postgres://app@db:5432/x?sslmode=require&password=hunter2q",
			"postgres://app@db:5432/x?sslmode=require&password=xxxxx"},
		{"postgres://app:hunter2u@db/x?sslpassword=hunter2s&sslinline=true&sslkey=-----BEGIN%20hunter2k&sslcert=c.pem",
			"postgres://app:xxxxx@db/x?sslpassword=xxxxx&sslinline=true&sslkey=xxxxx&sslcert=c.pem"},
		{"redis-sentinel://:hunter2m@h1:26379,h2:26379/0?master=mymaster&sentinel_password=hunter2sp",
			"redis-sentinel://:xxxxx@h1:26379,h2:26379/0?master=mymaster&sentinel_password=xxxxx"},
		{"redis://cache:6379/0?Password=hunter2c;api_TOKEN=hunter2t&client_secret=hunter2cs&pass%77ord=hunter2e&db=3",
			"redis://cache:6379/0?Password=xxxxx;api_TOKEN=xxxxx&client_secret=xxxxx&pass%77ord=xxxxx&db=3"},
		{"postgres://db/x?pwd=hunter2p&authToken=hunter2a&aws_credentials=hunter2w&%zz=hunter2z&passfile=/run/hunter2f",
			"postgres://db/x?pwd=xxxxx&authToken=xxxxx&aws_credentials=xxxxx&%zz=xxxxx&passfile=xxxxx"},
		{"postgres://db/x#hunter2frag", "postgres://db/x#xxxxx"},
		{"postgres://us%zzer:hunter2bad@db/x", "[redacted]"},
	}
	for _, tt := range tests {
		u := config.URL(tt.url)
		if got := u.String(); got != tt.want {
			t.Errorf("String(%s)\n  = %s\nwant %s", tt.url, got, tt.want)
		}
		var logged bytes.Buffer
		slog.New(slog.NewTextHandler(&logged, nil)).Info("url", "url", u)
		for _, out := range []string{fmt.Sprint(u), fmt.Sprintf("%v %+v %s", u, u, u), fmt.Sprintf("%#v", u), logged.String()} {
			if strings.Contains(out, "hunter2") {
				t.Errorf("%q leaks a credential", out)
			}
		}
	}
	c, err := config.Load(lookup(map[string]string{
		"DATABASE_URL": "postgres://app@db:5432/x?sslmode=require&password=hunter2db&sslpassword=hunter2ssl",
		"REDIS_URL":    "redis-sentinel://h1:26379,h2:26379/0?master=m&sentinel_password=hunter2sentinel",
	}))
	if err != nil {
		t.Fatal(err)
	}
	var logged bytes.Buffer
	slog.New(slog.NewJSONHandler(&logged, nil)).Info("config", "config", c)
	for _, out := range []string{fmt.Sprint(c), fmt.Sprintf("%+v", c), fmt.Sprintf("%#v", c), c.String(), logged.String()} {
		if strings.Contains(out, "hunter2") {
			t.Errorf("%q leaks a credential", out)
		}
		if !strings.Contains(out, "sslmode=require") || !strings.Contains(out, "master=m") {
			t.Errorf("%q lost the harmless parameters", out)
		}
	}
}
