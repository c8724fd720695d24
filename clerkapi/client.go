// Package clerkapi reads users from Clerk's Backend API for backfill and
// reconcile: one request per page, each user kept exactly as the API
// returned it, within a client-side rate limit, retrying what passes.
//
// Requests go through the official SDK's Backend (github.com/clerk/clerk-sdk-go/v2),
// which builds them as Clerk expects (the Bearer key, the pinned
// Clerk-API-Version, the base URL) and decodes the answers. Counting uses the
// SDK's user.Client.Count as it is. Listing and getting use the same Backend
// with readers of this package instead of the SDK's user.List and user.Get:
// user.List sends a second request (the count) for every page, which would
// halve the pages per second under Clerk's rate limit, and it keeps no raw
// JSON; and the mirror stores each user exactly as returned and normalises it
// itself (clerksync.DecodeUser), so decoding it into the SDK's typed User too
// would only add a way to fail. Retries, the rate limit and status handling
// live in an http.RoundTripper under the SDK (transport.go).
package clerkapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/clerk/clerk-sdk-go/v2"
	"github.com/clerk/clerk-sdk-go/v2/user"
	"golang.org/x/time/rate"

	"github.com/clerksync/clerksync"
)

// DefaultURL is the Backend API's base URL.
const DefaultURL = clerk.APIURL

// MaxPageSize is the most users GET /v1/users returns in one page.
const MaxPageSize = 500

// Options configure a Client.
type Options struct {
	// SecretKey is the instance's sk_live_ or sk_test_ key. It is sent only
	// in the Authorization header and never appears in an error or a log.
	SecretKey string
	// URL is the Backend API's base URL; DefaultURL when empty.
	URL string
	// Rate is requests per second: 0 chooses from the key (see LimitForKey),
	// +Inf is no limit.
	Rate float64
	// RetryFor bounds how long one request keeps retrying 429s, 5xx answers
	// and network errors before giving up. Defaults to 2 minutes.
	RetryFor time.Duration
	// MinBackoff and MaxBackoff bound the exponential backoff between
	// retries (defaults 500ms and 30s); a Retry-After header wins over them.
	MinBackoff, MaxBackoff time.Duration
	// AttemptTimeout bounds one attempt, answer body included. Defaults to 60s.
	AttemptTimeout time.Duration
	// Transport is the underlying transport; a tuned http.Transport when nil.
	Transport http.RoundTripper
	// Logger receives one line per retry (ids, statuses and waits only).
	Logger *slog.Logger
}

// Client is Clerk's Backend API as a clerksync.UserDirectory. It is safe for
// concurrent use; its requests share one rate limit.
type Client struct {
	backend clerk.Backend
	users   *user.Client
	rate    float64
}

var _ clerksync.UserDirectory = (*Client)(nil)

// New returns a Client. It fails when the key is missing or the URL is not
// an http(s) URL.
func New(o Options) (*Client, error) {
	if o.SecretKey == "" {
		return nil, errors.New("CLERK_SECRET_KEY is not set")
	}
	if o.URL == "" {
		o.URL = DefaultURL
	}
	if u, err := url.Parse(o.URL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, errors.New("CLERK_API_URL: want an https:// URL")
	}
	if o.Rate == 0 {
		o.Rate = LimitForKey(o.SecretKey).Rate()
	}
	limiter := rate.NewLimiter(rate.Inf, 1)
	if !math.IsInf(o.Rate, 1) {
		// A burst of one: at most 1 + rate x window requests in any window,
		// which is how Clerk counts (1000 per 10 s).
		limiter = rate.NewLimiter(rate.Limit(o.Rate), 1)
	}
	t := newTransport(o, limiter)
	cfg := clerk.BackendConfig{
		HTTPClient: &http.Client{Transport: t}, // each attempt has its own timeout
		URL:        clerk.String(strings.TrimRight(o.URL, "/")),
		Key:        clerk.String(o.SecretKey),
	}
	return &Client{
		backend: clerk.NewBackend(&cfg),
		users:   user.NewClient(&clerk.ClientConfig{BackendConfig: cfg}),
		rate:    o.Rate,
	}, nil
}

// Rate is the client's request rate in requests per second (+Inf: none).
func (c *Client) Rate() float64 { return c.rate }

// ListUsers returns a page of users ordered by created_at ascending, each
// exactly as returned (see clerksync.UserDirectory).
func (c *Client) ListUsers(ctx context.Context, offset, limit int) ([]json.RawMessage, error) {
	req := clerk.NewAPIRequest(http.MethodGet, "/users")
	req.SetParams(&user.ListParams{
		ListParams: clerk.ListParams{Limit: clerk.Int64(int64(limit)), Offset: clerk.Int64(int64(offset))},
		OrderBy:    clerk.String("+created_at"),
	})
	var page rawUsers
	if err := c.backend.Call(ctx, req, &page); err != nil {
		return nil, opError(fmt.Sprintf("list users (offset %d)", offset), err)
	}
	return page.users, nil
}

// CountUsers returns the number of users of the instance.
func (c *Client) CountUsers(ctx context.Context) (int, error) {
	n, err := c.users.Count(ctx, &user.ListParams{})
	if err != nil {
		return 0, opError("count users", err)
	}
	return int(n.TotalCount), nil
}

// GetUser returns one user exactly as returned, or an error wrapping
// clerksync.ErrUserNotFound on 404.
func (c *Client) GetUser(ctx context.Context, id string) (json.RawMessage, error) {
	if !clerksync.ValidUserID(id) {
		return nil, fmt.Errorf("get user: %q is not a Clerk user id", id)
	}
	var u rawUser
	if err := c.backend.Call(ctx, clerk.NewAPIRequest(http.MethodGet, "/users/"+id), &u); err != nil {
		err = opError("get user "+id, err)
		if se := (*StatusError)(nil); errors.As(err, &se) && se.Status == http.StatusNotFound {
			return nil, fmt.Errorf("get user %s: %w", id, clerksync.ErrUserNotFound)
		}
		return nil, err
	}
	return u.raw, nil
}

// opError names the operation and drops the *url.Error around the
// transport's error, which repeats the URL.
func opError(op string, err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return fmt.Errorf("clerk api: %s: %w", op, err)
}

// rawUsers reads GET /v1/users: a JSON array of users (or, should the API
// wrap it, an object with the array in "data"), each element kept as sent.
type rawUsers struct{ users []json.RawMessage }

func (*rawUsers) Read(*clerk.APIResponse) {}

// UnmarshalJSON splits the array into its elements. The SDK has validated
// the whole answer by the time it calls this (json.Unmarshal checks before
// it decodes), so the elements are found by tracking strings and nesting
// alone rather than by decoding the answer a second time: a page is a few
// MB, and each user is decoded once more anyway by clerksync.DecodeUser.
func (r *rawUsers) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '{' {
		var wrapped struct {
			Data json.RawMessage `json:"data"`
		}
		if err := json.Unmarshal(b, &wrapped); err != nil {
			return err
		}
		b = bytes.TrimSpace(wrapped.Data)
	}
	if len(b) < 2 || b[0] != '[' || b[len(b)-1] != ']' {
		return errors.New("the user list is not a JSON array")
	}
	// One copy of the page, which the elements share: the caller's buffer is
	// not ours to keep.
	b = bytes.Clone(b)
	r.users = splitArray(b[1 : len(b)-1])
	return nil
}

// splitArray returns the elements of a valid JSON array's inside, as
// subslices of it.
func splitArray(b []byte) []json.RawMessage {
	var out []json.RawMessage
	depth, start, inString := 0, -1, false
	for i := 0; i < len(b); i++ {
		c := b[i]
		if inString {
			switch c {
			case '\\':
				i++
			case '"':
				inString = false
			}
			continue
		}
		switch c {
		case ' ', '\t', '\n', '\r':
			continue
		case '"':
			inString = true
		case '{', '[':
			depth++
		case '}', ']':
			depth--
		case ',':
			if depth == 0 {
				out = append(out, bytes.TrimSpace(b[start:i]))
				start = -1
				continue
			}
		}
		if start < 0 {
			start = i
		}
	}
	if start >= 0 {
		out = append(out, bytes.TrimSpace(b[start:]))
	}
	return out
}

// rawUser reads GET /v1/users/{id}, kept as sent.
type rawUser struct{ raw json.RawMessage }

func (*rawUser) Read(*clerk.APIResponse) {}

func (r *rawUser) UnmarshalJSON(b []byte) error {
	r.raw = append(json.RawMessage(nil), b...)
	return nil
}
