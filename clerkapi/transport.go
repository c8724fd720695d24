package clerkapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"golang.org/x/time/rate"
)

// Limit is a Backend API rate limit as Clerk states it: Requests per Per.
type Limit struct {
	Requests int
	Per      time.Duration
}

// Clerk's Backend API limits per instance: 1000 requests per 10 s in
// production, 100 per 10 s in development (sk_test_ keys).
var (
	ProductionLimit  = Limit{Requests: 1000, Per: 10 * time.Second}
	DevelopmentLimit = Limit{Requests: 100, Per: 10 * time.Second}
)

// LimitForKey returns the limit of the instance a key belongs to: sk_live_
// keys are production instances, every other key is treated as development.
func LimitForKey(key string) Limit {
	if strings.HasPrefix(key, "sk_live_") {
		return ProductionLimit
	}
	return DevelopmentLimit
}

// Rate is the client-side rate that stays under the limit: 90% of it, so
// that another client of the instance (your application) keeps some room.
func (l Limit) Rate() float64 { return 0.9 * float64(l.Requests) / l.Per.Seconds() }

// ErrKeyRejected means the API answered 401 or 403: the key is wrong, revoked
// or of another instance. Retrying cannot help.
var ErrKeyRejected = errors.New("the Backend API rejected CLERK_SECRET_KEY: set it to this instance's secret key (sk_live_... or sk_test_...) from the Clerk Dashboard's API keys page")

// StatusError is an answer the client does not retry: a 4xx other than 401,
// 403 and 429.
type StatusError struct {
	Status int
	// Code is Clerk's error code from the body (e.g. "resource_not_found"), if any.
	Code string
}

func (e *StatusError) Error() string {
	if e.Code != "" {
		return fmt.Sprintf("answered %d %s (%s)", e.Status, http.StatusText(e.Status), e.Code)
	}
	return fmt.Sprintf("answered %d %s", e.Status, http.StatusText(e.Status))
}

// GaveUpError says that a request kept failing with what usually passes (429,
// 5xx, network errors) for longer than the client retries.
type GaveUpError struct {
	After    time.Duration
	Attempts int
	Last     string // the last answer or error, without the URL
}

func (e *GaveUpError) Error() string {
	return fmt.Sprintf("gave up after %d attempts in %s: %s", e.Attempts, e.After.Round(time.Millisecond), e.Last)
}

// transport is the round tripper under the SDK: it waits for the rate
// limiter before every attempt, retries 429 (after Retry-After), 5xx and
// network errors with capped exponential backoff for a bounded time, reads
// each answer in full within the attempt's timeout (so that a body cut off
// midway is retried too), and turns every answer but a 2xx into an error.
type transport struct {
	base                   http.RoundTripper
	limiter                *rate.Limiter
	retryFor               time.Duration
	minBackoff, maxBackoff time.Duration
	attemptTimeout         time.Duration
	log                    *slog.Logger
}

func newTransport(o Options, limiter *rate.Limiter) *transport {
	t := &transport{
		base: o.Transport, limiter: limiter, retryFor: o.RetryFor,
		minBackoff: o.MinBackoff, maxBackoff: o.MaxBackoff, attemptTimeout: o.AttemptTimeout, log: o.Logger,
	}
	if t.base == nil {
		t.base = &http.Transport{
			Proxy:                 http.ProxyFromEnvironment,
			DialContext:           (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			TLSHandshakeTimeout:   10 * time.Second,
			ResponseHeaderTimeout: 30 * time.Second,
			IdleConnTimeout:       90 * time.Second,
			MaxIdleConnsPerHost:   4,
			ForceAttemptHTTP2:     true,
		}
	}
	if t.retryFor <= 0 {
		t.retryFor = 2 * time.Minute
	}
	if t.minBackoff <= 0 {
		t.minBackoff = 500 * time.Millisecond
	}
	if t.maxBackoff <= 0 {
		t.maxBackoff = 30 * time.Second
	}
	if t.attemptTimeout <= 0 {
		t.attemptTimeout = time.Minute
	}
	if t.log == nil {
		t.log = slog.New(slog.DiscardHandler)
	}
	return t
}

func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	start := time.Now()
	op := req.Method + " " + req.URL.Path
	for attempt := 1; ; attempt++ {
		if err := t.limiter.Wait(ctx); err != nil {
			return nil, ctxErr(ctx, err)
		}
		resp, body, err := t.attempt(req)
		var wait time.Duration
		var last string
		switch {
		case ctx.Err() != nil:
			return nil, ctx.Err()
		case err != nil:
			last = "network error: " + err.Error()
			wait = t.backoff(attempt)
		case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
			return nil, fmt.Errorf("%d %s: %w", resp.StatusCode, http.StatusText(resp.StatusCode), ErrKeyRejected)
		case resp.StatusCode == http.StatusTooManyRequests:
			last = "429 Too Many Requests"
			wait = retryAfter(resp.Header, time.Now())
			if wait < 0 {
				wait = t.backoff(attempt)
			}
		case resp.StatusCode >= 500:
			last = fmt.Sprintf("%d %s", resp.StatusCode, http.StatusText(resp.StatusCode))
			wait = max(retryAfter(resp.Header, time.Now()), t.backoff(attempt))
		case resp.StatusCode >= 300:
			return nil, &StatusError{Status: resp.StatusCode, Code: errorCode(body)}
		default:
			resp.Body = io.NopCloser(bytes.NewReader(body))
			resp.ContentLength = int64(len(body))
			return resp, nil
		}
		elapsed := time.Since(start)
		if elapsed+wait > t.retryFor {
			return nil, &GaveUpError{After: elapsed, Attempts: attempt, Last: last}
		}
		t.log.Warn("clerk api: retrying", "request", op, "attempt", attempt, "answer", last, "wait", wait.Round(time.Millisecond).String())
		if err := sleep(ctx, wait); err != nil {
			return nil, err
		}
	}
}

// attempt sends the request once and reads the whole answer within the
// attempt timeout.
func (t *transport) attempt(req *http.Request) (*http.Response, []byte, error) {
	ctx, cancel := context.WithTimeout(req.Context(), t.attemptTimeout)
	defer cancel()
	resp, err := t.base.RoundTrip(req.Clone(ctx))
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	// Clerk's largest answer is a page of 500 users, a few MB; 64 MB bounds
	// a runaway body.
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, nil, fmt.Errorf("reading the answer: %w", err)
	}
	return resp, body, nil
}

// backoff is min(max, min x 2^(attempt-1)), with up to 20% jitter so that
// several clients do not retry in step.
func (t *transport) backoff(attempt int) time.Duration {
	d := t.maxBackoff
	if attempt < 32 {
		d = min(t.maxBackoff, t.minBackoff<<(attempt-1))
	}
	return d - time.Duration(rand.Int64N(int64(d)/5+1))
}

// retryAfter reads a Retry-After header (seconds or an HTTP date); -1 when
// there is none or it does not parse.
func retryAfter(h http.Header, now time.Time) time.Duration {
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return -1
	}
	if s, err := strconv.ParseFloat(v, 64); err == nil && s >= 0 {
		return time.Duration(s * float64(time.Second))
	}
	if at, err := http.ParseTime(v); err == nil {
		return max(0, at.Sub(now))
	}
	return -1
}

// errorCode is the code of Clerk's first error in an error body.
func errorCode(body []byte) string {
	var e struct {
		Errors []struct {
			Code string `json:"code"`
		} `json:"errors"`
	}
	if json.Unmarshal(body, &e) != nil || len(e.Errors) == 0 {
		return ""
	}
	return e.Errors[0].Code
}

func ctxErr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}

func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-timer.C:
		return nil
	}
}
