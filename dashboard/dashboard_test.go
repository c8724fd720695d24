package dashboard

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hibiken/asynq"

	"github.com/clerksync/clerksync/internal/testenv"
	"github.com/clerksync/clerksync/worker/payload"
)

func newDashboard(t *testing.T) (*Handler, *httptest.Server) {
	t.Helper()
	opt, err := asynq.ParseRedisURI(testenv.Redis(t))
	if err != nil {
		t.Fatal(err)
	}
	// The queue exists once it has held a task.
	c := asynq.NewClient(opt)
	defer c.Close()
	if _, err := c.Enqueue(asynq.NewTask("clerk:user.created", []byte("{}")), asynq.Queue("clerksync")); err != nil {
		t.Fatal(err)
	}
	h, err := New(Options{Redis: opt, User: "admin", Password: "s3cret-pass"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	mux := http.NewServeMux()
	mux.Handle(DefaultRootPath+"/", h)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return h, srv
}

func do(t *testing.T, req *http.Request) *http.Response {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

func TestBasicAuth(t *testing.T) {
	_, srv := newDashboard(t)
	for _, tc := range []struct {
		name       string
		user, pass string
		noAuth     bool
		want       int
	}{
		{name: "NoCredentials401", noAuth: true, want: 401},
		{name: "WrongPassword401", user: "admin", pass: "s3cret-pas", want: 401},
		{name: "WrongUser401", user: "Admin", pass: "s3cret-pass", want: 401},
		{name: "EmptyCredentials401", user: "", pass: "", want: 401},
		{name: "PasswordAsUser401", user: "s3cret-pass", pass: "admin", want: 401},
		{name: "RightCredentials200", user: "admin", pass: "s3cret-pass", want: 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, path := range []string{"/asynq/", "/asynq/api/queues"} {
				req, _ := http.NewRequest(http.MethodGet, srv.URL+path, nil)
				if !tc.noAuth {
					req.SetBasicAuth(tc.user, tc.pass)
				}
				resp := do(t, req)
				if resp.StatusCode != tc.want {
					t.Errorf("GET %s: %d, want %d", path, resp.StatusCode, tc.want)
				}
				if tc.want == 401 && !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Basic realm=") {
					t.Errorf("GET %s: WWW-Authenticate %q", path, resp.Header.Get("WWW-Authenticate"))
				}
			}
		})
	}
}

// TestCrossSiteRequestsRefused: a page on another site cannot use the
// operator's cached credentials to change anything; the dashboard's own
// pages and non-browser clients can.
func TestCrossSiteRequestsRefused(t *testing.T) {
	_, srv := newDashboard(t)
	// Running every archived task changes state and is harmless to repeat.
	runAll := srv.URL + "/asynq/api/queues/clerksync/archived_tasks:run_all"
	for _, tc := range []struct {
		name    string
		method  string
		headers map[string]string
		want    int
	}{
		{"CrossSitePost403", "POST", map[string]string{"Sec-Fetch-Site": "cross-site"}, 403},
		{"SameSiteOtherOriginPost403", "POST", map[string]string{"Sec-Fetch-Site": "same-site"}, 403},
		{"ForeignOriginPost403", "POST", map[string]string{"Origin": "https://evil.example"}, 403},
		{"ForeignOriginDelete403", "DELETE", map[string]string{"Origin": "https://evil.example"}, 403},
		{"SameOriginPost200", "POST", map[string]string{"Sec-Fetch-Site": "same-origin", "Origin": srv.URL}, 200},
		{"SameOriginByOriginHeader204", "POST", map[string]string{"Origin": srv.URL}, 200},
		{"NonBrowserPost200", "POST", nil, 200},
		{"CrossSiteGetAllowed200", "GET", map[string]string{"Sec-Fetch-Site": "cross-site"}, 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			url := runAll
			if tc.method == "GET" {
				url = srv.URL + "/asynq/api/queues"
			}
			if tc.method == "DELETE" {
				url = srv.URL + "/asynq/api/queues/clerksync/archived_tasks:delete_all"
			}
			req, _ := http.NewRequest(tc.method, url, nil)
			req.SetBasicAuth("admin", "s3cret-pass")
			for k, v := range tc.headers {
				req.Header.Set(k, v)
			}
			if resp := do(t, req); resp.StatusCode != tc.want {
				t.Errorf("%s %s: %d, want %d", tc.method, url, resp.StatusCode, tc.want)
			}
		})
	}
}

func TestNewRefusesMissingParts(t *testing.T) {
	opt := asynq.RedisClientOpt{Addr: "127.0.0.1:1"}
	for name, o := range map[string]Options{
		"NoRedis":      {User: "admin", Password: "hunter2-secret"},
		"NoUser":       {Redis: opt, Password: "hunter2-secret"},
		"NoPassword":   {Redis: opt, User: "admin"},
		"RelativeRoot": {Redis: opt, User: "admin", Password: "hunter2-secret", RootPath: "asynq"},
	} {
		t.Run(name, func(t *testing.T) {
			h, err := New(o)
			if err == nil {
				h.Close()
				t.Fatal("want an error")
			}
			if o.Password != "" && strings.Contains(err.Error(), o.Password) {
				t.Errorf("error quotes the password: %v", err)
			}
		})
	}
}

func TestFormatPayloadRedacts(t *testing.T) {
	body, err := os.ReadFile(filepath.Join("..", "testdata", "20-user.created.composed-multi-contact.json"))
	if err != nil {
		t.Fatal(err)
	}
	got := FormatPayload("clerk:user.created", body)
	want := `{"event_type":"user.created","user_id":"user_2zK9mQv7Xc3LrT8pWn4Yb6Hd1Fs","timestamp":"2025-07-15T08:00:00.18Z","updated_at":"2025-07-15T08:00:00.165Z"}`
	if got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	for _, pii := range personalData {
		if strings.Contains(got, pii) {
			t.Errorf("payload shows %q", pii)
		}
	}
}

// TestFormatPayloadRedactsCompressed: tasks hold their body compressed; the
// dashboard shows the same summary for them, and a compressed payload that
// does not decompress as its length only.
func TestFormatPayloadRedactsCompressed(t *testing.T) {
	body, err := os.ReadFile(filepath.Join("..", "testdata", "20-user.created.composed-multi-contact.json"))
	if err != nil {
		t.Fatal(err)
	}
	stored := payload.Encode(body)
	want := FormatPayload("clerk:user.created", body)
	if got := FormatPayload("clerk:user.created", stored); got != want || !strings.Contains(got, "user_2zK9mQv7Xc3LrT8pWn4Yb6Hd1Fs") {
		t.Errorf("compressed: got  %s\nwant %s", got, want)
	}
	broken := stored[:len(stored)-5]
	if got, want := FormatPayload("clerk:user.created", broken), fmt.Sprintf("[unparsable payload, %d bytes]", len(broken)); got != want {
		t.Errorf("corrupt: got %s, want %s", got, want)
	}
	notEvent := payload.Encode([]byte(`{"data":{"id":"user_1","first_name":"Ada"}}`))
	if got := FormatPayload("clerk:user.created", notEvent); got != fmt.Sprintf("[unparsable payload, %d bytes]", len(notEvent)) {
		t.Errorf("compressed non-event: %s", got)
	}
}

// personalData are strings from fixture 20 that must never be shown.
var personalData = []string{"ada@example.com", "Lovelace", "+14155550123", "cus_Q1w2E3r4T5y6U7", "legacy-42", "203.0.113.7", "Mozilla", "pro"}

func TestFormatPayloadCases(t *testing.T) {
	for _, tc := range []struct {
		name, payload, want string
	}{
		{"DeletionShowsIdAndTime", `{"type":"user.deleted","timestamp":1753689600243,"data":{"id":"user_1","deleted":true,"external_id":"legacy-42"}}`,
			`{"event_type":"user.deleted","user_id":"user_1","timestamp":"2025-07-28T08:00:00.243Z"}`},
		{"NotJSONShowsLengthOnly", `ada@example.com is not json`, `[unparsable payload, 27 bytes]`},
		{"NoTypeShowsLengthOnly", `{"data":{"id":"user_1","first_name":"Ada"}}`, `[unparsable payload, 43 bytes]`},
		{"BadUserIDShowsLengthOnly", `{"type":"user.created","data":{"id":"ada@example.com"}}`, `[unparsable payload, 55 bytes]`},
		{"OddUpdatedAtStillShowsIds", `{"type":"user.updated","data":{"id":"user_1","updated_at":"soon"}}`,
			`{"event_type":"user.updated","user_id":"user_1"}`},
		{"EmptyPayload", ``, `[unparsable payload, 0 bytes]`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := FormatPayload("clerk:whatever", []byte(tc.payload)); got != tc.want {
				t.Errorf("got  %s\nwant %s", got, tc.want)
			}
		})
	}
}

func TestFormatResultHidesBytes(t *testing.T) {
	if got := FormatResult("", nil); got != "" {
		t.Errorf("empty result shown as %q", got)
	}
	if got := FormatResult("", []byte("ada@example.com")); got != "[result hidden, 15 bytes]" {
		t.Errorf("got %q", got)
	}
}
