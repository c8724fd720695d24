package clerkapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/clerksync/clerksync"
	"github.com/clerksync/clerksync/internal/clerkfake"
)

func testClient(t *testing.T, url string, tweak ...func(*Options)) *Client {
	t.Helper()
	o := Options{SecretKey: clerkfake.Key, URL: url, Rate: math.Inf(1),
		MinBackoff: 5 * time.Millisecond, MaxBackoff: 50 * time.Millisecond, RetryFor: 10 * time.Second}
	for _, f := range tweak {
		f(&o)
	}
	c, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestListGetCount(t *testing.T) {
	fake := clerkfake.New(t)
	fake.Generate(12)
	c := testClient(t, fake.URL)
	ctx := context.Background()
	page, err := c.ListUsers(ctx, 5, 4)
	if err != nil {
		t.Fatal(err)
	}
	if len(page) != 4 {
		t.Fatalf("%d users", len(page))
	}
	for i, raw := range page {
		if want := fake.User(clerkfake.GenID(5 + i)); !bytes.Equal(raw, want) {
			t.Errorf("user %d not as returned", 5+i)
		}
	}
	if n, err := c.CountUsers(ctx); err != nil || n != 12 {
		t.Errorf("count %d, %v", n, err)
	}
	raw, err := c.GetUser(ctx, clerkfake.GenID(3))
	if err != nil || !bytes.Equal(raw, fake.User(clerkfake.GenID(3))) {
		t.Errorf("get: %v", err)
	}
	_, err = c.GetUser(ctx, "user_2nosuchuser")
	if !errors.Is(err, clerksync.ErrUserNotFound) {
		t.Errorf("get of a missing user: %v", err)
	}
	if _, err := c.GetUser(ctx, "../users/count"); err == nil {
		t.Error("a path as an id was accepted")
	}
}

// TestListWrapped: an answer of {"data": [...], "total_count": N} reads too.
func TestListWrapped(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `{"data":[{"id":"user_a","x":"],\"["},{"id":"user_b"}],"total_count":2}`)
	}))
	defer srv.Close()
	page, err := testClient(t, srv.URL).ListUsers(context.Background(), 0, 10)
	if err != nil || len(page) != 2 || string(page[0]) != `{"id":"user_a","x":"],\"["}` {
		t.Fatalf("%q %v", page, err)
	}
}

func TestSplitArray(t *testing.T) {
	for _, in := range []string{
		`[]`, `[ ]`, `[1]`, `[{"a":[1,2,{"b":"}]"}]}, "x\"y", null, [[]], {}]`,
		"[\n {\"s\": \"a,b\\\\\"},\t{\"t\":[\"[\",\"]\"]} \n]", `[true,false,-1.5e3,"\u00e9"]`,
	} {
		var want []json.RawMessage
		if err := json.Unmarshal([]byte(in), &want); err != nil {
			t.Fatal(err)
		}
		var got rawUsers
		if err := got.UnmarshalJSON([]byte(in)); err != nil {
			t.Fatal(err)
		}
		if len(got.users) != len(want) {
			t.Fatalf("%s: %d elements, want %d", in, len(got.users), len(want))
		}
		for i := range want {
			if !bytes.Equal(got.users[i], want[i]) {
				t.Errorf("%s: element %d %q, want %q", in, i, got.users[i], want[i])
			}
		}
	}
}

// TestRetries: 429 honours Retry-After, 5xx and dropped connections are
// retried with backoff, until an answer.
func TestRetries(t *testing.T) {
	fake := clerkfake.New(t)
	fake.Generate(3)
	fake.Faults(func(r *http.Request, n int) *clerkfake.Fault {
		switch n {
		case 1:
			return &clerkfake.Fault{Status: 429, RetryAfter: "0.2"}
		case 2:
			return &clerkfake.Fault{Status: 502}
		case 3:
			return &clerkfake.Fault{Status: 503, RetryAfter: "0"}
		}
		return nil
	})
	c := testClient(t, fake.URL)
	start := time.Now()
	page, err := c.ListUsers(context.Background(), 0, 10)
	if err != nil || len(page) != 3 {
		t.Fatalf("%d users, %v", len(page), err)
	}
	if fake.Stats().Requests != 4 {
		t.Errorf("%d requests, want 4", fake.Stats().Requests)
	}
	if time.Since(start) < 200*time.Millisecond {
		t.Errorf("Retry-After: 0.2 not waited for")
	}
}

func TestNetworkErrorsRetried(t *testing.T) {
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1) <= 2 {
			// Cut the connection mid-answer.
			w.Header().Set("Content-Length", "1000")
			w.Write([]byte(`[{"id":`))
			hj, _ := w.(http.Hijacker)
			conn, _, _ := hj.Hijack()
			conn.Close()
			return
		}
		fmt.Fprint(w, `[{"id":"user_a"}]`)
	}))
	defer srv.Close()
	page, err := testClient(t, srv.URL).ListUsers(context.Background(), 0, 10)
	if err != nil || len(page) != 1 || n.Load() != 3 {
		t.Fatalf("%d users after %d requests: %v", len(page), n.Load(), err)
	}
}

// TestGivesUp: what keeps failing ends in one line after RetryFor.
func TestGivesUp(t *testing.T) {
	fake := clerkfake.New(t)
	fake.Faults(func(*http.Request, int) *clerkfake.Fault { return &clerkfake.Fault{Status: 500} })
	c := testClient(t, fake.URL, func(o *Options) { o.RetryFor = 200 * time.Millisecond })
	_, err := c.CountUsers(context.Background())
	var gave *GaveUpError
	if !errors.As(err, &gave) || gave.Attempts < 2 || strings.Contains(err.Error(), "\n") || strings.Contains(err.Error(), "<html>") {
		t.Fatalf("err = %v", err)
	}
	t.Log(err)
}

// TestKeyRejected: 401 and 403 stop at once and name CLERK_SECRET_KEY,
// never the key; 422 is not retried either.
func TestKeyRejected(t *testing.T) {
	for _, status := range []int{401, 403, 422} {
		fake := clerkfake.New(t)
		fake.Faults(func(*http.Request, int) *clerkfake.Fault { return &clerkfake.Fault{Status: status} })
		_, err := testClient(t, fake.URL).ListUsers(context.Background(), 0, 10)
		if fake.Stats().Requests != 1 {
			t.Errorf("%d: %d requests", status, fake.Stats().Requests)
		}
		if strings.Contains(err.Error(), clerkfake.Key) {
			t.Errorf("%d: the error quotes the key: %v", status, err)
		}
		if status == 422 {
			var se *StatusError
			if !errors.As(err, &se) || se.Code != "fault" {
				t.Errorf("422: %v", err)
			}
			continue
		}
		if !errors.Is(err, ErrKeyRejected) || !strings.Contains(err.Error(), "CLERK_SECRET_KEY") {
			t.Errorf("%d: %v", status, err)
		}
	}
}

// TestLimiterKeepsUnderTheLimit: a client limited to a fake's limit never
// gets a 429 from it, however fast it could go.
func TestLimiterKeepsUnderTheLimit(t *testing.T) {
	limit := Limit{Requests: 10, Per: 500 * time.Millisecond}
	fake := clerkfake.New(t)
	fake.Generate(5)
	fake.SetRateLimit(limit.Requests, limit.Per)
	c := testClient(t, fake.URL, func(o *Options) { o.Rate = limit.Rate() })
	for range 40 {
		if _, err := c.ListUsers(context.Background(), 0, 5); err != nil {
			t.Fatal(err)
		}
	}
	st := fake.Stats()
	if st.Limited != 0 || st.MaxInWindow > limit.Requests {
		t.Errorf("the fake answered %d 429s; up to %d requests in a window of %s (limit %d)",
			st.Limited, st.MaxInWindow, limit.Per, limit.Requests)
	}
}

func TestLimitForKey(t *testing.T) {
	if r := LimitForKey("sk_live_abc").Rate(); r != 90 {
		t.Errorf("production %v/s, want 90 (900 per 10 s)", r)
	}
	if r := LimitForKey("sk_test_abc").Rate(); r != 9 {
		t.Errorf("development %v/s, want 9 (90 per 10 s)", r)
	}
	c, err := New(Options{SecretKey: "sk_live_x"})
	if err != nil || c.Rate() != 90 {
		t.Errorf("client rate %v (%v)", c.Rate(), err)
	}
}

func TestRetryAfter(t *testing.T) {
	now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	for v, want := range map[string]time.Duration{
		"": -1, "3": 3 * time.Second, "0.5": 500 * time.Millisecond, "junk": -1,
		now.Add(4 * time.Second).Format(http.TimeFormat): 4 * time.Second,
	} {
		h := http.Header{}
		if v != "" {
			h.Set("Retry-After", v)
		}
		if got := retryAfter(h, now); got != want {
			t.Errorf("Retry-After %q: %v, want %v", v, got, want)
		}
	}
}
