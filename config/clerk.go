package config

import (
	"errors"
	"fmt"
	"math"
	"net/url"
	"strconv"
	"strings"
)

// validateClerkAPI checks the Backend API settings of backfill, reconcile
// and the scheduled reconcile. The key's value never appears in an error.
func (c Config) validateClerkAPI() []error {
	var errs []error
	if k := c.ClerkSecretKey.Reveal(); k != "" && !strings.HasPrefix(k, "sk_live_") && !strings.HasPrefix(k, "sk_test_") {
		errs = append(errs, errors.New("CLERK_SECRET_KEY: want the instance's secret key, which starts with sk_live_ or sk_test_"))
	}
	if u, err := url.Parse(c.ClerkAPIURL.Reveal()); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		errs = append(errs, errors.New("CLERK_API_URL: want an https:// URL, such as https://api.clerk.com/v1"))
	}
	if _, err := ParseRate(c.ClerkAPIRate); err != nil {
		errs = append(errs, fmt.Errorf("CLERK_API_RATE: %w", err))
	}
	if c.ReconcileEvery < 0 {
		errs = append(errs, errors.New("RECONCILE_EVERY: want 0 (off) or a positive duration such as 24h"))
	}
	if c.ReconcileEvery > 0 && c.ClerkSecretKey == "" {
		errs = append(errs, errors.New("RECONCILE_EVERY is set but CLERK_SECRET_KEY is not: the scheduled reconcile needs the Backend API key"))
	}
	return errs
}

// RequireClerkSecretKey is the extra check of the commands that read
// Clerk's Backend API.
func (c Config) RequireClerkSecretKey() error {
	if c.ClerkSecretKey == "" {
		return errors.New("CLERK_SECRET_KEY is not set: copy the secret key (sk_live_... or sk_test_...) from the Clerk Dashboard's API keys page")
	}
	return nil
}

// ParseRate reads a Backend API request rate: "auto" (or "") is 0, meaning
// "choose from the key"; "unlimited" is +Inf; otherwise a positive number of
// requests per second.
func ParseRate(s string) (float64, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", "auto":
		return 0, nil
	case "unlimited", "inf", "none":
		return math.Inf(1), nil
	}
	r, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil || r <= 0 || math.IsNaN(r) || math.IsInf(r, 0) {
		return 0, errors.New(`want "auto", "unlimited" or a positive number of requests per second`)
	}
	return r, nil
}
