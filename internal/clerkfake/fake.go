// Package clerkfake is a local stand-in for the parts of Clerk's Backend API
// that backfill and reconcile read: GET /v1/users (offset paging, ordered by
// created_at), /v1/users/count and /v1/users/{id}, behind a Bearer key, with
// the faults tests need (429 with Retry-After, 5xx blips, its own rate limit,
// users changed or deleted between two pages).
package clerkfake

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Key is the secret key the fake accepts unless told otherwise.
const Key = "sk_test_clerkfake"

// Fault is an answer the fake gives instead of the real one.
type Fault struct {
	Status     int
	RetryAfter string // the Retry-After header, if any
}

// Server is the fake. Its methods are safe for concurrent use.
type Server struct {
	URL string // the base URL, ending in /v1

	mu    sync.Mutex
	key   string
	users []user // ordered by created_at, then insertion
	ids   map[string]bool
	seq   int

	// Hooks, called with the lock released.
	beforeList func(offset int, n int) // n: list requests so far, this one included
	fault      func(r *http.Request, n int) *Fault
	latency    time.Duration
	hidden     map[string]bool // left out of the list, as a skipped row

	// Its own rate limit, as Clerk enforces one: a sliding window.
	limitN   int
	limitPer time.Duration
	times    []time.Time

	requests, lists, gets, counts, limited, faults int
	inflight, maxInflight                          int
	maxInWindow                                    int
}

type user struct {
	id      string
	created int64
	seq     int
	raw     json.RawMessage
}

// New starts a fake on a loopback port, stopped when the test ends.
func New(tb testing.TB) *Server {
	s := &Server{key: Key, ids: map[string]bool{}}
	ts := httptest.NewServer(s)
	tb.Cleanup(ts.Close)
	s.URL = ts.URL + "/v1"
	return s
}

// SetKey changes the key the fake accepts.
func (s *Server) SetKey(k string) { s.mu.Lock(); s.key = k; s.mu.Unlock() }

// SetLatency makes every answer wait d first.
func (s *Server) SetLatency(d time.Duration) { s.mu.Lock(); s.latency = d; s.mu.Unlock() }

// SetRateLimit makes the fake answer 429 (Retry-After: 1) to any request
// beyond n in a sliding window of per, as Clerk does.
func (s *Server) SetRateLimit(n int, per time.Duration) {
	s.mu.Lock()
	s.limitN, s.limitPer = n, per
	s.mu.Unlock()
}

// BeforeList runs f before each list request is answered; f may change the
// users (Put, Delete), as Clerk's users change between two pages.
func (s *Server) BeforeList(f func(offset, n int)) { s.mu.Lock(); s.beforeList = f; s.mu.Unlock() }

// Faults makes f choose, for the n-th request (from 1), a fault to answer
// instead, or nil.
func (s *Server) Faults(f func(r *http.Request, n int) *Fault) {
	s.mu.Lock()
	s.fault = f
	s.mu.Unlock()
}

// HideFromList leaves the users out of GET /v1/users while GET
// /v1/users/{id} and the count still have them: what a list that skipped
// them (offsets shifted under it) looks like.
func (s *Server) HideFromList(ids ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.hidden = map[string]bool{}
	for _, id := range ids {
		s.hidden[id] = true
	}
}

// Put adds a user, or replaces the one with its id in place. raw is a user
// object as the API returns it; its id and created_at order it.
func (s *Server) Put(raw []byte) {
	var head struct {
		ID        string `json:"id"`
		CreatedAt int64  `json:"created_at"`
	}
	if err := json.Unmarshal(raw, &head); err != nil || head.ID == "" {
		panic(fmt.Sprintf("clerkfake: not a user object: %v", err))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	raw = append(json.RawMessage(nil), raw...)
	if s.ids[head.ID] {
		for i := range s.users {
			if s.users[i].id == head.ID {
				s.users[i].raw = raw
				return
			}
		}
	}
	s.ids[head.ID] = true
	s.seq++
	u := user{id: head.ID, created: head.CreatedAt, seq: s.seq, raw: raw}
	i := sort.Search(len(s.users), func(i int) bool {
		return s.users[i].created > u.created
	})
	s.users = append(s.users, user{})
	copy(s.users[i+1:], s.users[i:])
	s.users[i] = u
}

// Delete removes a user; it reports whether there was one.
func (s *Server) Delete(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.ids[id] {
		return false
	}
	delete(s.ids, id)
	for i := range s.users {
		if s.users[i].id == id {
			s.users = append(s.users[:i], s.users[i+1:]...)
			break
		}
	}
	return true
}

// IDs returns the ids of the users, in the API's order.
func (s *Server) IDs() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	ids := make([]string, len(s.users))
	for i, u := range s.users {
		ids[i] = u.id
	}
	return ids
}

// User returns the raw user with id, or nil.
func (s *Server) User(id string) json.RawMessage {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, u := range s.users {
		if u.id == id {
			return u.raw
		}
	}
	return nil
}

// Stats counts what the fake answered.
type Stats struct {
	Requests, Lists, Gets, Counts int
	Limited                       int // answered 429 by the fake's own rate limit
	Faults                        int // faults answered
	MaxInflight                   int // the most requests answered at once
	MaxInWindow                   int // the most requests seen in one window of the rate limit
}

// Stats returns the counts so far.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return Stats{Requests: s.requests, Lists: s.lists, Gets: s.gets, Counts: s.counts, Limited: s.limited,
		Faults: s.faults, MaxInflight: s.maxInflight, MaxInWindow: s.maxInWindow}
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.requests++
	n := s.requests
	s.inflight++
	s.maxInflight = max(s.maxInflight, s.inflight)
	latency, faultFn, key := s.latency, s.fault, s.key
	limited := s.overLimit(time.Now())
	s.mu.Unlock()
	defer func() { s.mu.Lock(); s.inflight--; s.mu.Unlock() }()
	if latency > 0 {
		time.Sleep(latency)
	}
	if r.Header.Get("Authorization") != "Bearer "+key {
		clerkError(w, http.StatusUnauthorized, "authentication_invalid", "Invalid authentication")
		return
	}
	if limited {
		s.mu.Lock()
		s.limited++
		s.mu.Unlock()
		w.Header().Set("Retry-After", "1")
		clerkError(w, http.StatusTooManyRequests, "too_many_requests", "Too many requests")
		return
	}
	if faultFn != nil {
		if f := faultFn(r, n); f != nil {
			s.mu.Lock()
			s.faults++
			s.mu.Unlock()
			if f.RetryAfter != "" {
				w.Header().Set("Retry-After", f.RetryAfter)
			}
			if f.Status >= 500 {
				// Proxies answer 5xx in HTML, not Clerk's JSON.
				w.WriteHeader(f.Status)
				fmt.Fprint(w, "<html><body>upstream error</body></html>")
				return
			}
			clerkError(w, f.Status, "fault", "injected fault")
			return
		}
	}
	if r.Method != http.MethodGet {
		clerkError(w, http.StatusMethodNotAllowed, "method_not_allowed", "method not allowed")
		return
	}
	path := strings.TrimPrefix(r.URL.Path, "/v1")
	switch {
	case path == "/users":
		s.list(w, r)
	case path == "/users/count":
		s.mu.Lock()
		s.counts++
		total := len(s.users)
		s.mu.Unlock()
		writeJSON(w, map[string]any{"object": "total_count", "total_count": total})
	case strings.HasPrefix(path, "/users/"):
		s.get(w, strings.TrimPrefix(path, "/users/"))
	default:
		clerkError(w, http.StatusNotFound, "resource_not_found", "not found")
	}
}

// overLimit records a request at now and reports whether it exceeds the
// fake's rate limit. Called with the lock held.
func (s *Server) overLimit(now time.Time) bool {
	if s.limitN <= 0 {
		return false
	}
	cut := now.Add(-s.limitPer)
	i := 0
	for i < len(s.times) && !s.times[i].After(cut) {
		i++
	}
	s.times = append(s.times[i:], now)
	s.maxInWindow = max(s.maxInWindow, len(s.times))
	return len(s.times) > s.limitN
}

func (s *Server) list(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if ob := q.Get("order_by"); ob != "+created_at" {
		clerkError(w, http.StatusUnprocessableEntity, "form_param_value_invalid", "the fake serves order_by=+created_at only")
		return
	}
	limit, _ := strconv.Atoi(q.Get("limit"))
	offset, _ := strconv.Atoi(q.Get("offset"))
	if limit < 1 || limit > 500 || offset < 0 {
		clerkError(w, http.StatusUnprocessableEntity, "form_param_value_invalid", "limit or offset out of range")
		return
	}
	s.mu.Lock()
	s.lists++
	n, hook := s.lists, s.beforeList
	s.mu.Unlock()
	if hook != nil {
		hook(offset, n)
	}
	// Written by hand: the users are valid JSON already, and encoding/json
	// would validate and compact each again (the fake is on the benchmark's
	// CPU, Clerk's servers are not).
	s.mu.Lock()
	buf := []byte{'['}
	listed := s.users
	if len(s.hidden) > 0 {
		listed = nil
		for _, u := range s.users {
			if !s.hidden[u.id] {
				listed = append(listed, u)
			}
		}
	}
	for i := offset; i < len(listed) && i < offset+limit; i++ {
		if i > offset {
			buf = append(buf, ',')
		}
		buf = append(buf, listed[i].raw...)
	}
	s.mu.Unlock()
	buf = append(buf, ']')
	w.Header().Set("Content-Type", "application/json")
	w.Write(buf)
}

func (s *Server) get(w http.ResponseWriter, id string) {
	s.mu.Lock()
	s.gets++
	s.mu.Unlock()
	if raw := s.User(id); raw != nil {
		w.Header().Set("Content-Type", "application/json")
		w.Write(raw)
		return
	}
	clerkError(w, http.StatusNotFound, "resource_not_found", "Resource not found")
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}

// clerkError answers as the Backend API does: {"errors":[{code, message}]}.
func clerkError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]any{
		"errors":         []map[string]string{{"code": code, "message": msg, "long_message": msg}},
		"clerk_trace_id": "trace_fake",
	})
}
