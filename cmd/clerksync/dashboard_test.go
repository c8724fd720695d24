package main

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/clerksync/clerksync/worker"
)

// dash calls the dashboard's HTTP API as the browser UI does: with the
// operator's credentials and, for changes, from the dashboard's own origin.
func (h *harness) dash(t *testing.T, method, path string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, h.url+"/asynq"+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.SetBasicAuth(adminUser, adminPassword)
	if method != http.MethodGet {
		req.Header.Set("Origin", h.url)
		req.Header.Set("Sec-Fetch-Site", "same-origin")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// dashJSON GETs an API path and decodes the answer into v.
func (h *harness) dashJSON(t *testing.T, path string, v any) string {
	t.Helper()
	code, body := h.dash(t, http.MethodGet, path)
	if code != 200 {
		t.Fatalf("GET /asynq%s: %d %s", path, code, body)
	}
	if err := json.Unmarshal([]byte(body), v); err != nil {
		t.Fatalf("GET /asynq%s: %v in %s", path, err, body)
	}
	return body
}

func TestDashboardNotMountedWithoutCredentials(t *testing.T) {
	h := startApp(t, Roles{Serve: true})
	for _, path := range []string{"/asynq/", "/asynq/api/queues", "/asynq"} {
		req, _ := http.NewRequest(http.MethodGet, h.url+path, nil)
		req.SetBasicAuth(adminUser, adminPassword)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 404 {
			t.Errorf("GET %s: %d, want 404", path, resp.StatusCode)
		}
	}
	if !strings.Contains(h.logs.String(), "dashboard disabled") {
		t.Error("start-up does not say the dashboard is off")
	}
}

func TestDashboardAuth(t *testing.T) {
	h := startApp(t, Roles{Serve: true}, withAdmin)
	if !strings.Contains(h.logs.String(), "dashboard enabled") {
		t.Error("start-up does not say the dashboard is on")
	}
	for _, tc := range []struct {
		name       string
		user, pass string
		anonymous  bool
		want       int
	}{
		{name: "Anonymous401", anonymous: true, want: 401},
		{name: "WrongPassword401", user: adminUser, pass: adminPassword + "x", want: 401},
		{name: "WrongUser401", user: "admin", pass: adminPassword, want: 401},
		{name: "Operator200", user: adminUser, pass: adminPassword, want: 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, path := range []string{"/asynq/", "/asynq/api/queues", "/asynq/queues/clerksync"} {
				req, _ := http.NewRequest(http.MethodGet, h.url+path, nil)
				if !tc.anonymous {
					req.SetBasicAuth(tc.user, tc.pass)
				}
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if resp.StatusCode != tc.want {
					t.Errorf("GET %s: %d, want %d", path, resp.StatusCode, tc.want)
				}
				if tc.want == 401 && resp.Header.Get("WWW-Authenticate") == "" {
					t.Errorf("GET %s: 401 without WWW-Authenticate", path)
				}
			}
		})
	}
	// The redirect from /asynq to /asynq/ gives nothing away either.
	if code, _ := h.get(t, "/asynq/api/queues"); code != 401 {
		t.Errorf("anonymous API call: %d", code)
	}
	// A cross-site form post with the operator's cached credentials is refused.
	req, _ := http.NewRequest(http.MethodPost, h.url+"/asynq/api/queues/clerksync/archived_tasks:run_all", nil)
	req.SetBasicAuth(adminUser, adminPassword)
	req.Header.Set("Origin", "https://attacker.example")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 403 {
		t.Errorf("cross-site POST: %d, want 403", resp.StatusCode)
	}
}

// assertRedacted fails when a dashboard answer shows any of fixture 20's
// personal data.
func assertRedacted(t *testing.T, where, body string) {
	t.Helper()
	for _, pii := range []string{"ada@example.com", "Lovelace", "+14155550123", "cus_Q1w2E3r4T5y6U7",
		"legacy-42", "Ada", "203.0.113.7", "analytical.example", "Mozilla"} {
		if strings.Contains(body, pii) {
			t.Errorf("%s shows %q: %s", where, pii, body)
		}
	}
}

// TestDashboardRedactsPayloads follows one delivery through every view of
// the dashboard that shows a payload (pending, active, the worker's current
// task, completed, the task page) and finds its ids but no personal data.
func TestDashboardRedactsPayloads(t *testing.T) {
	h := startApp(t, Roles{Migrate: true, Serve: true}, withAdmin)
	const id = "msg_redact_20"
	if code := h.post(t, http.DefaultClient, id, readFixture(t, "20-user.created.composed-multi-contact.json")); code != 200 {
		t.Fatalf("post: %d", code)
	}
	type task struct {
		ID      string `json:"id"`
		Type    string `json:"type"`
		Payload string `json:"payload"`
	}
	var list struct {
		Tasks []task `json:"tasks"`
	}
	check := func(where, body string, tasks []task) {
		t.Helper()
		assertRedacted(t, where, body)
		if len(tasks) != 1 || tasks[0].ID != id || tasks[0].Type != "clerk:user.created" {
			t.Fatalf("%s: tasks %+v", where, tasks)
		}
		var p map[string]string
		if err := json.Unmarshal([]byte(tasks[0].Payload), &p); err != nil {
			t.Fatalf("%s: payload %q: %v", where, tasks[0].Payload, err)
		}
		if p["event_type"] != "user.created" || p["user_id"] != "user_2zK9mQv7Xc3LrT8pWn4Yb6Hd1Fs" || p["timestamp"] == "" {
			t.Errorf("%s: payload %v", where, p)
		}
	}
	body := h.dashJSON(t, "/api/queues/clerksync/pending_tasks", &list)
	check("pending tasks", body, list.Tasks)

	// Running: held on the users table while the views are read.
	release := lockUsers(t, h.conn)
	startWorker(t, h)
	waitFor(t, 10*time.Second, "task active", func() bool { return h.queueInfo(t).Active == 1 })
	body = h.dashJSON(t, "/api/queues/clerksync/active_tasks", &list)
	check("active tasks", body, list.Tasks)
	var servers struct {
		Servers []struct {
			ActiveWorkers []struct {
				TaskID      string `json:"task_id"`
				TaskPayload string `json:"task_payload"`
			} `json:"active_workers"`
		} `json:"servers"`
	}
	// Asynq publishes what each server runs every few seconds.
	var running []string
	waitFor(t, 10*time.Second, "the worker's current task in the servers view", func() bool {
		body = h.dashJSON(t, "/api/servers", &servers)
		running = running[:0]
		for _, s := range servers.Servers {
			for _, w := range s.ActiveWorkers {
				running = append(running, w.TaskID+" "+w.TaskPayload)
			}
		}
		return len(running) > 0
	})
	assertRedacted(t, "servers", body)
	if len(running) != 1 || !strings.Contains(running[0], id) || !strings.Contains(running[0], "user_2zK9mQv7Xc3LrT8pWn4Yb6Hd1Fs") {
		t.Errorf("servers view: %s", body)
	}
	release()
	h.drained(t, 20*time.Second)

	body = h.dashJSON(t, "/api/queues/clerksync/completed_tasks", &list)
	check("completed tasks", body, list.Tasks)
	var one task
	body = h.dashJSON(t, "/api/queues/clerksync/tasks/"+id, &one)
	check("task page", body, []task{one})
}

// TestRetryThroughDashboard: a sync fails on the mirror's side and waits to
// be retried; the operator fixes the cause and runs the task again from the
// dashboard; the user lands. The cause here is a mirror column someone
// narrowed, so that Postgres refuses the value: a data exception that is no
// fault of the event's, so the task is retried with backoff (not archived,
// as it was before issue 7: a mirror-side incident must not archive every
// event, and Asynq drops archived tasks past 10,000).
func TestRetryThroughDashboard(t *testing.T) {
	h := startApp(t, Roles{Migrate: true, Serve: true, Work: true}, withAdmin)
	if _, err := h.conn.Exec(`ALTER TABLE users ALTER COLUMN first_name TYPE varchar(2)`); err != nil {
		t.Fatal(err)
	}
	const id = "msg_retry_20"
	if code := h.post(t, http.DefaultClient, id, readFixture(t, "20-user.created.composed-multi-contact.json")); code != 200 {
		t.Fatalf("post: %d", code)
	}
	// Waiting to be retried, with backoff; not archived.
	waitFor(t, 20*time.Second, "task retrying", func() bool { return h.queueInfo(t).Retry == 1 })
	var retrying struct {
		Tasks []struct {
			ID       string `json:"id"`
			Payload  string `json:"payload"`
			ErrorMsg string `json:"error_message"`
		} `json:"tasks"`
	}
	body := h.dashJSON(t, "/api/queues/clerksync/retry_tasks", &retrying)
	assertRedacted(t, "retry tasks", body)
	if len(retrying.Tasks) != 1 || retrying.Tasks[0].ID != id || retrying.Tasks[0].ErrorMsg == "" {
		t.Fatalf("retry tasks: %s", body)
	}
	if info := h.queueInfo(t); info.Archived != 0 {
		t.Fatalf("%d archived, want 0", info.Archived)
	}
	if n := h.count(t, `SELECT count(*) FROM users`); n != 0 {
		t.Fatalf("%d users before the fix", n)
	}

	// The operator fixes the schema and presses "Run" on the task.
	if _, err := h.conn.Exec(`ALTER TABLE users ALTER COLUMN first_name TYPE text`); err != nil {
		t.Fatal(err)
	}
	if code, body := h.dash(t, http.MethodPost, "/api/queues/"+worker.Queue+"/retry_tasks/"+id+":run"); code != 204 {
		t.Fatalf("run retry task: %d %s", code, body)
	}
	h.drained(t, 20*time.Second)
	if n := h.count(t, `SELECT count(*) FROM users WHERE id = 'user_2zK9mQv7Xc3LrT8pWn4Yb6Hd1Fs' AND first_name = 'Ada'`); n != 1 {
		t.Fatal("the retried sync did not land")
	}
	if n := h.count(t, `SELECT count(*) FROM email_addresses WHERE user_id = 'user_2zK9mQv7Xc3LrT8pWn4Yb6Hd1Fs'`); n != 3 {
		t.Errorf("%d emails, want 3", n)
	}
	if info := h.queueInfo(t); info.Completed != 1 || info.Archived != 0 {
		t.Errorf("queue after the retry: %+v", info)
	}
}
