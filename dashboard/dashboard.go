// Package dashboard mounts the Asynq dashboard (asynqmon) for operators:
// behind basic auth, protected against cross-site requests, and showing task
// payloads redacted to the ids and times an operator needs.
package dashboard

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/hibiken/asynq"
	"github.com/hibiken/asynqmon"
)

// DefaultRootPath is where the dashboard is mounted unless told otherwise.
const DefaultRootPath = "/asynq"

// Options configures the dashboard.
type Options struct {
	// Redis is the Redis the queue lives in.
	Redis asynq.RedisConnOpt
	// User and Password are the basic-auth credentials; both are required.
	User, Password string
	// RootPath is the URL path the dashboard is mounted at, without a
	// trailing slash; "" means DefaultRootPath.
	RootPath string
}

// Handler is the dashboard; it is safe for concurrent use. Close releases
// its Redis connections.
type Handler struct {
	mon   *asynqmon.HTTPHandler
	next  http.Handler
	user  [sha256.Size]byte
	pass  [sha256.Size]byte
	realm string
}

// New builds the dashboard. It fails when Redis or either credential is
// missing or RootPath does not start with a slash; its errors never contain
// the credentials.
func New(o Options) (*Handler, error) {
	if o.Redis == nil {
		return nil, errors.New("dashboard: no Redis connection")
	}
	if o.User == "" || o.Password == "" {
		return nil, errors.New("dashboard: ADMIN_USER and ADMIN_PASSWORD are both required")
	}
	if o.RootPath == "" {
		o.RootPath = DefaultRootPath
	}
	if !strings.HasPrefix(o.RootPath, "/") {
		return nil, fmt.Errorf("dashboard: root path %q must start with a slash", o.RootPath)
	}
	mon := asynqmon.New(asynqmon.Options{
		RootPath:         strings.TrimSuffix(o.RootPath, "/"),
		RedisConnOpt:     o.Redis,
		PayloadFormatter: asynqmon.PayloadFormatterFunc(FormatPayload),
		ResultFormatter:  asynqmon.ResultFormatterFunc(FormatResult),
		// Operators retry, archive and delete tasks here: that is the point.
		ReadOnly: false,
	})
	// The browser UI posts from the dashboard's own pages, which carry
	// Sec-Fetch-Site: same-origin; a page elsewhere that tries to use the
	// operator's cached credentials is refused with 403.
	csrf := http.NewCrossOriginProtection()
	return &Handler{
		mon:   mon,
		next:  csrf.Handler(mon),
		user:  sha256.Sum256([]byte(o.User)),
		pass:  sha256.Sum256([]byte(o.Password)),
		realm: `Basic realm="clerksync dashboard", charset="UTF-8"`,
	}, nil
}

// ServeHTTP asks for credentials, refuses cross-site state changes and
// serves asynqmon's UI and API.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !h.authorized(r) {
		w.Header().Set("WWW-Authenticate", h.realm)
		http.Error(w, "unauthorized", http.StatusUnauthorized)
		return
	}
	// The dashboard can delete and replay syncs: no other site may frame it.
	w.Header().Set("X-Frame-Options", "DENY")
	w.Header().Set("Content-Security-Policy", "frame-ancestors 'none'")
	w.Header().Set("Referrer-Policy", "same-origin")
	w.Header().Set("Cache-Control", "no-store")
	h.next.ServeHTTP(w, r)
}

// authorized compares both credentials in constant time. Comparing their
// SHA-256 digests keeps the lengths equal, so the time taken says nothing
// about the length of the real ones, and both are always compared so that
// a right user name is not told apart from a wrong one.
func (h *Handler) authorized(r *http.Request) bool {
	user, pass, ok := r.BasicAuth()
	if !ok {
		return false
	}
	u := sha256.Sum256([]byte(user))
	p := sha256.Sum256([]byte(pass))
	userOK := subtle.ConstantTimeCompare(u[:], h.user[:])
	passOK := subtle.ConstantTimeCompare(p[:], h.pass[:])
	return userOK&passOK == 1
}

// Close releases the dashboard's Redis connections.
func (h *Handler) Close() error {
	if err := h.mon.Close(); err != nil {
		return fmt.Errorf("dashboard: close: %w", err)
	}
	return nil
}
