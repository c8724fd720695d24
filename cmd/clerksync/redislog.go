package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"time"
)

// redisLogger passes go-redis's messages (connection trouble) to slog,
// where redisQuieter collapses them.
type redisLogger struct{ log *slog.Logger }

func (l redisLogger) Printf(ctx context.Context, format string, v ...any) {
	l.log.WarnContext(ctx, "redis: "+fmt.Sprintf(format, v...))
}

// redisQuieter is a slog.Handler that turns the flood a Redis outage causes
// (go-redis's pool warnings and every Asynq loop's error, several a second)
// into one error line naming REDIS_URL's host, a summary once a minute
// while it lasts, and one line when Redis answers again. Everything else
// passes through unchanged.
type redisQuieter struct {
	next  slog.Handler
	state *quietState // shared by the handlers WithAttrs and WithGroup derive
}

type quietState struct {
	out    slog.Handler // where the quieter's own lines go
	target string       // REDIS_URL's host(s); never its password
	every  time.Duration
	grace  time.Duration
	ping   func(context.Context) error // nil: no recovery line
	stop   chan struct{}
	wg     sync.WaitGroup

	mu         sync.Mutex
	down       bool
	since      time.Time // when the outage was first seen
	upAt       time.Time // when Redis last answered again
	reported   time.Time // the last summary
	suppressed int       // messages dropped since the last line
	closed     bool
}

// newRedisQuieter wraps next. ping, called every probeEvery during an
// outage, tells when Redis is back.
func newRedisQuieter(next slog.Handler, redisURL string, ping func(context.Context) error) *redisQuieter {
	return &redisQuieter{next: next, state: &quietState{
		out: next, target: redisHosts(redisURL), every: time.Minute, grace: 5 * time.Second,
		ping: ping, stop: make(chan struct{}),
	}}
}

func (h *redisQuieter) Enabled(ctx context.Context, l slog.Level) bool { return h.next.Enabled(ctx, l) }

func (h *redisQuieter) WithAttrs(as []slog.Attr) slog.Handler {
	return &redisQuieter{next: h.next.WithAttrs(as), state: h.state}
}

func (h *redisQuieter) WithGroup(name string) slog.Handler {
	return &redisQuieter{next: h.next.WithGroup(name), state: h.state}
}

func (h *redisQuieter) Handle(ctx context.Context, r slog.Record) error {
	if !isRedisTrouble(r) {
		return h.next.Handle(ctx, r)
	}
	return h.state.trouble(ctx, r)
}

// Close stops the recovery probe.
func (h *redisQuieter) Close() {
	s := h.state
	s.mu.Lock()
	if !s.closed {
		s.closed = true
		close(s.stop)
	}
	s.mu.Unlock()
	s.wg.Wait()
}

func (s *quietState) trouble(ctx context.Context, r slog.Record) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	switch {
	case !s.down && now.Sub(s.upAt) < s.grace:
		// Calls that failed just before Redis came back.
		return nil
	case !s.down:
		s.down, s.since, s.reported, s.suppressed = true, now, now, 0
		if s.ping != nil && !s.closed {
			s.wg.Add(1)
			go s.probe()
		}
		return s.emit(ctx, slog.LevelError, "redis unreachable: check REDIS_URL and that Redis runs; "+
			"retrying, with repeated Redis errors summarised once a minute",
			slog.String("redis", s.target), slog.String("error", strings.TrimPrefix(r.Message, "redis: ")))
	}
	s.suppressed++
	if now.Sub(s.reported) < s.every {
		return nil
	}
	n := s.suppressed
	s.reported, s.suppressed = now, 0
	return s.emit(ctx, slog.LevelWarn, "redis still unreachable", slog.String("redis", s.target),
		slog.String("for", now.Sub(s.since).Round(time.Second).String()), slog.Int("errors", n),
		slog.String("last_error", strings.TrimPrefix(r.Message, "redis: ")))
}

// probe pings Redis until it answers, then says so once.
func (s *quietState) probe() {
	defer s.wg.Done()
	t := time.NewTicker(2 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		err := s.ping(ctx)
		cancel()
		if err != nil {
			continue
		}
		s.mu.Lock()
		now := time.Now()
		n := s.suppressed
		s.down, s.upAt, s.suppressed = false, now, 0
		s.emit(context.Background(), slog.LevelInfo, "redis reachable again", slog.String("redis", s.target),
			slog.String("after", now.Sub(s.since).Round(time.Second).String()), slog.Int("errors", n))
		s.mu.Unlock()
		return
	}
}

func (s *quietState) emit(ctx context.Context, level slog.Level, msg string, attrs ...slog.Attr) error {
	if !s.out.Enabled(ctx, level) {
		return nil
	}
	r := slog.NewRecord(time.Now(), level, msg, 0)
	r.AddAttrs(attrs...)
	return s.out.Handle(ctx, r)
}

// isRedisTrouble recognises a library's report of a failed Redis call: a
// network failure in the message of go-redis ("redis: ..."), of Asynq
// (component=asynq) or of Asynq's queue collector. clerksync's own lines put
// errors in attributes, never in the message, so they always pass.
func isRedisTrouble(r slog.Record) bool {
	msg := r.Message
	if !hasNetworkFailure(msg) {
		return false
	}
	if strings.Contains(strings.ToLower(msg), "redis") || strings.HasPrefix(msg, "Failed to collect metrics data") {
		return true
	}
	asynq := false
	r.Attrs(func(a slog.Attr) bool {
		asynq = a.Key == "component" && a.Value.String() == "asynq"
		return !asynq
	})
	return asynq
}

var networkFailures = []string{
	"connection refused", "i/o timeout", "connection reset", "broken pipe", "no such host",
	"network is unreachable", "no route to host", "EOF", "use of closed network connection",
	"dial tcp", "dial unix", "context deadline exceeded", "LOADING", "failed to dial",
}

func hasNetworkFailure(msg string) bool {
	for _, f := range networkFailures {
		if strings.Contains(msg, f) {
			return true
		}
	}
	return false
}

// redisHosts is the host part of REDIS_URL (several, comma-separated, for
// Sentinel and Cluster; the socket path for redis-socket://), never the user
// name or password.
func redisHosts(redisURL string) string {
	u, err := url.Parse(redisURL)
	if err != nil {
		return "(REDIS_URL does not parse)"
	}
	if u.Scheme == "redis-socket" {
		return u.Path
	}
	return u.Host
}
