package config_test

import (
	"bytes"
	"fmt"
	"log/slog"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/clerksync/clerksync/config"
)

func TestClerkAPIDefaults(t *testing.T) {
	c, err := config.Load(lookup(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.ClerkAPIURL.Reveal() != "https://api.clerk.com/v1" || c.ClerkAPIRate != "auto" || c.ReconcileEvery != 0 || c.ClerkSecretKey != "" {
		t.Errorf("defaults: %v", c)
	}
	if err := c.RequireClerkSecretKey(); err == nil || !strings.Contains(err.Error(), "CLERK_SECRET_KEY") {
		t.Errorf("no key: %v", err)
	}
	c, err = config.Load(lookup(map[string]string{
		"CLERK_SECRET_KEY": "sk_live_hunter2clerk", "CLERK_API_URL": "http://127.0.0.1:9/v1",
		"CLERK_API_RATE": "25", "RECONCILE_EVERY": "24h",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if c.ReconcileEvery != 24*time.Hour || c.ClerkSecretKey.Reveal() != "sk_live_hunter2clerk" || c.RequireClerkSecretKey() != nil {
		t.Errorf("%v", c)
	}
	// The key never prints.
	var logged bytes.Buffer
	slog.New(slog.NewJSONHandler(&logged, nil)).Info("config", "config", c)
	for _, out := range []string{c.String(), fmt.Sprintf("%+v", c), fmt.Sprintf("%#v", c), logged.String()} {
		if strings.Contains(out, "hunter2clerk") {
			t.Errorf("%q leaks the key", out)
		}
		if !strings.Contains(out, "RECONCILE_EVERY=24h0m0s") || !strings.Contains(out, "CLERK_API_URL=http://127.0.0.1:9/v1") {
			t.Errorf("%q lacks the settings", out)
		}
	}
}

func TestClerkAPIInvalid(t *testing.T) {
	for name, envs := range map[string]map[string]string{
		"NotASecretKey":   {"CLERK_SECRET_KEY": "pk_live_hunter2"},
		"BadURL":          {"CLERK_API_URL": "api.clerk.com"},
		"BadRate":         {"CLERK_API_RATE": "fast"},
		"NegativeRate":    {"CLERK_API_RATE": "-3"},
		"NegativeEvery":   {"RECONCILE_EVERY": "-1h", "CLERK_SECRET_KEY": "sk_test_x"},
		"EveryWithoutKey": {"RECONCILE_EVERY": "1h"},
		"UnparsableEvery": {"RECONCILE_EVERY": "daily"},
		"OtherKeyShape":   {"CLERK_SECRET_KEY": "hunter2_not_a_key"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := config.Load(lookup(envs))
			if err == nil {
				t.Fatal("no error")
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("error quotes the key: %v", err)
			}
		})
	}
}

func TestParseRate(t *testing.T) {
	for in, want := range map[string]float64{"": 0, "auto": 0, "unlimited": math.Inf(1), "12.5": 12.5} {
		if got, err := config.ParseRate(in); err != nil || got != want {
			t.Errorf("%q: %v %v", in, got, err)
		}
	}
	for _, in := range []string{"0", "-1", "NaN", "1e400", "x"} {
		if _, err := config.ParseRate(in); err == nil {
			t.Errorf("%q accepted", in)
		}
	}
}
