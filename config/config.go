// Package config reads clerksync's configuration from the environment into a
// validated Config whose every printed form hides secrets.
package config

import (
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"reflect"
	"strings"
	"time"

	"github.com/caarlos0/env/v11"
)

// Config is the whole configuration; see CONTRACT.md and the README's table.
type Config struct {
	DatabaseURL    URL     `env:"DATABASE_URL" envDefault:"postgres://postgres:postgres@127.0.0.1:5432/clerksync?sslmode=disable"`
	DatabaseSchema string  `env:"DATABASE_SCHEMA" envDefault:"clerk"`
	RedisURL       URL     `env:"REDIS_URL" envDefault:"redis://127.0.0.1:6379/0"`
	SigningSecrets Secrets `env:"CLERK_WEBHOOK_SIGNING_SECRET"`
	ListenAddr     string  `env:"LISTEN_ADDR" envDefault:":8080"`
	AdminUser      string  `env:"ADMIN_USER"`
	AdminPassword  Secret  `env:"ADMIN_PASSWORD"`
	LogFormat      string  `env:"LOG_FORMAT" envDefault:"json"`
	LogLevel       string  `env:"LOG_LEVEL" envDefault:"info"`
	// WorkerConcurrency is how many tasks a worker holds at once; the
	// events among them are applied to Postgres in shared transactions.
	WorkerConcurrency int `env:"WORKER_CONCURRENCY" envDefault:"256"`
	// TaskRetention is how long a completed task stays in Redis, visible in
	// the dashboard and answering replays as duplicates. Its payload holds the
	// user's data, so keep it short; 0 removes completed tasks at once.
	TaskRetention time.Duration `env:"TASK_RETENTION" envDefault:"1h"`
	// ShutdownTimeout bounds the whole graceful shutdown: in-flight requests
	// and tasks, and handing back the tasks not done.
	ShutdownTimeout time.Duration `env:"SHUTDOWN_TIMEOUT" envDefault:"25s"`
	// ClerkSecretKey is the Backend API key of backfill and reconcile.
	ClerkSecretKey Secret `env:"CLERK_SECRET_KEY"`
	// ClerkAPIURL is the Backend API's base URL; tests point it at a fake.
	ClerkAPIURL URL `env:"CLERK_API_URL" envDefault:"https://api.clerk.com/v1"`
	// ClerkAPIRate overrides the client-side request rate chosen from the
	// key: requests per second, or "unlimited"; "auto" chooses from the key.
	ClerkAPIRate string `env:"CLERK_API_RATE" envDefault:"auto"`
	// ReconcileEvery runs a repairing reconcile this often inside work; 0 is off.
	ReconcileEvery time.Duration `env:"RECONCILE_EVERY" envDefault:"0"`
}

// Load reads the environment (lookup is os.LookupEnv in production) and
// validates what every command needs.
func Load(lookup func(string) (string, bool)) (Config, error) {
	environ := map[string]string{}
	for _, k := range []string{"DATABASE_URL", "DATABASE_SCHEMA", "REDIS_URL", "CLERK_WEBHOOK_SIGNING_SECRET",
		"LISTEN_ADDR", "ADMIN_USER", "ADMIN_PASSWORD", "LOG_FORMAT", "LOG_LEVEL", "WORKER_CONCURRENCY", "TASK_RETENTION", "SHUTDOWN_TIMEOUT",
		"CLERK_SECRET_KEY", "CLERK_API_URL", "CLERK_API_RATE", "RECONCILE_EVERY"} {
		if v, ok := lookup(k); ok {
			environ[k] = v
		}
	}
	var c Config
	if err := env.ParseWithOptions(&c, env.Options{Environment: environ}); err != nil {
		return Config{}, fmt.Errorf("config: %w", scrub(err))
	}
	return c, c.Validate()
}

// Validate checks the values every command relies on.
func (c Config) Validate() error {
	var errs []error
	if u, err := url.Parse(c.DatabaseURL.Reveal()); err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		errs = append(errs, errors.New("DATABASE_URL: want a postgres:// URL"))
	}
	if u, err := url.Parse(c.RedisURL.Reveal()); err != nil || u.Scheme == "" {
		errs = append(errs, errors.New("REDIS_URL: want a redis:// URL"))
	}
	if (c.AdminUser == "") != (c.AdminPassword == "") {
		errs = append(errs, errors.New("ADMIN_USER and ADMIN_PASSWORD: set both or neither"))
	}
	switch c.LogFormat {
	case "json", "text":
	default:
		errs = append(errs, fmt.Errorf("LOG_FORMAT %q: want json or text", c.LogFormat))
	}
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(c.LogLevel)); err != nil {
		errs = append(errs, fmt.Errorf("LOG_LEVEL %q: want debug, info, warn or error", c.LogLevel))
	}
	if c.WorkerConcurrency < 1 {
		errs = append(errs, errors.New("WORKER_CONCURRENCY: want at least 1"))
	}
	if c.TaskRetention < 0 {
		errs = append(errs, errors.New("TASK_RETENTION: want 0 or a positive duration"))
	}
	if c.ShutdownTimeout <= 0 {
		errs = append(errs, errors.New("SHUTDOWN_TIMEOUT: want a positive duration"))
	}
	errs = append(errs, c.validateClerkAPI()...)
	for i, s := range c.SigningSecrets {
		if err := checkSecret(s.Reveal()); err != nil {
			errs = append(errs, fmt.Errorf("CLERK_WEBHOOK_SIGNING_SECRET (secret %d): %w", i+1, err))
		}
	}
	return errors.Join(errs...)
}

// RequireSigningSecrets is the extra check of the commands that receive
// webhooks or sign test events.
func (c Config) RequireSigningSecrets() error {
	if len(c.SigningSecrets) == 0 {
		return errors.New("CLERK_WEBHOOK_SIGNING_SECRET is not set: copy the signing secret (whsec_...) from the Clerk Dashboard's webhook endpoint")
	}
	return nil
}

// DashboardEnabled reports whether the queue dashboard may be mounted: only
// with credentials.
func (c Config) DashboardEnabled() bool { return c.AdminUser != "" && c.AdminPassword != "" }

// LogLevelValue is the parsed LOG_LEVEL.
func (c Config) LogLevelValue() slog.Level {
	var lvl slog.Level
	_ = lvl.UnmarshalText([]byte(c.LogLevel))
	return lvl
}

// String shows the configuration with every secret hidden.
func (c Config) String() string {
	return fmt.Sprintf("DATABASE_URL=%s DATABASE_SCHEMA=%s REDIS_URL=%s CLERK_WEBHOOK_SIGNING_SECRET=%s LISTEN_ADDR=%s ADMIN_USER=%s ADMIN_PASSWORD=%s LOG_FORMAT=%s LOG_LEVEL=%s WORKER_CONCURRENCY=%d TASK_RETENTION=%s SHUTDOWN_TIMEOUT=%s CLERK_SECRET_KEY=%s CLERK_API_URL=%s CLERK_API_RATE=%s RECONCILE_EVERY=%s",
		c.DatabaseURL, c.DatabaseSchema, c.RedisURL, c.SigningSecrets, c.ListenAddr, c.AdminUser,
		c.AdminPassword, c.LogFormat, c.LogLevel, c.WorkerConcurrency, c.TaskRetention, c.ShutdownTimeout,
		c.ClerkSecretKey, c.ClerkAPIURL, c.ClerkAPIRate, c.ReconcileEvery)
}

// GoString hides secrets from %#v too.
func (c Config) GoString() string { return "config.Config{" + c.String() + "}" }

// LogValue hides secrets from slog.
func (c Config) LogValue() slog.Value { return slog.StringValue(c.String()) }

func checkSecret(s string) error {
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(s, "whsec_"))
	if err != nil || len(key) == 0 {
		return errors.New("want whsec_ followed by base64, as the Clerk Dashboard shows it")
	}
	return nil
}

// scrub drops the values from env's parse errors, which may quote a secret.
func scrub(err error) error {
	var agg env.AggregateError
	if !errors.As(err, &agg) {
		return errors.New("invalid environment")
	}
	var out []error
	for _, e := range agg.Errors {
		var pe env.ParseError
		if errors.As(e, &pe) {
			out = append(out, fmt.Errorf("%s: %s", envName(pe.Name), want(pe.Type)))
			continue
		}
		out = append(out, e)
	}
	return errors.Join(out...)
}

// envName is the environment variable of a Config field, which is what an
// operator set, not the Go name env's errors carry.
func envName(field string) string {
	f, ok := reflect.TypeFor[Config]().FieldByName(field)
	if !ok {
		return field
	}
	name, _, _ := strings.Cut(f.Tag.Get("env"), ",")
	return name
}

// want says what a variable of type t takes.
func want(t reflect.Type) string {
	switch t {
	case reflect.TypeFor[time.Duration]():
		return "want a duration such as 90s, 30m or 1h"
	case reflect.TypeFor[int]():
		return "want a whole number"
	case reflect.TypeFor[bool]():
		return "want true or false"
	}
	return "cannot parse as " + t.String()
}
