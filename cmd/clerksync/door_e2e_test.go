package main

import (
	"bytes"
	"io"
	"net/http"
	"strconv"
	"testing"
	"time"
)

// Through the whole program: what the receiver answers 2xx the worker
// applies, and what the worker would archive the receiver refuses with
// 400. A deletion without an envelope timestamp is applied at the time
// Svix signed it.
func TestDoorAgreesWithTheWorker(t *testing.T) {
	h := startApp(t, Roles{Migrate: true, Serve: true, Work: true})
	client := &http.Client{Timeout: 10 * time.Second}
	if code := h.post(t, client, "msg_door_create", readFixture(t, "20-user.created.composed-multi-contact.json")); code != 200 {
		t.Fatalf("create: %d", code)
	}
	for name, body := range map[string]string{
		"InvalidUTF8":     `{"data":{"id":"user_door1","first_name":"` + "\xff" + `","updated_at":1},"type":"user.created","timestamp":1752566400180}`,
		"NumberForAName":  `{"data":{"id":"user_door2","first_name":7,"updated_at":1},"type":"user.created","timestamp":1752566400180}`,
		"YearTenThousand": `{"data":{"id":"user_door3"},"type":"user.deleted","timestamp":253402300800000}`,
	} {
		if code := h.post(t, client, "msg_door_"+name, []byte(body)); code != http.StatusBadRequest {
			t.Errorf("%s: %d, want 400", name, code)
		}
	}
	signedAt := time.Now().Truncate(time.Second)
	body := []byte(`{"data":{"deleted":true,"id":"user_2zK9mQv7Xc3LrT8pWn4Yb6Hd1Fs","object":"user"},"object":"event","type":"user.deleted"}`)
	sig, err := h.wh.Sign("msg_door_delete", signedAt, body)
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodPost, h.url+"/webhooks/clerk", bytes.NewReader(body))
	req.Header.Set("svix-id", "msg_door_delete")
	req.Header.Set("svix-timestamp", strconv.FormatInt(signedAt.Unix(), 10))
	req.Header.Set("svix-signature", sig)
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("deletion without a timestamp: %d", resp.StatusCode)
	}
	h.drained(t, 20*time.Second) // fails on any archived task
	var deletedAt time.Time
	if err := h.conn.Get(&deletedAt, `SELECT deleted_at FROM deleted_users WHERE id = 'user_2zK9mQv7Xc3LrT8pWn4Yb6Hd1Fs'`); err != nil {
		t.Fatalf("no tombstone: %v", err)
	}
	if !deletedAt.Equal(signedAt) {
		t.Errorf("deleted_at %v, want the signed time %v", deletedAt, signedAt)
	}
	if n := h.count(t, `SELECT count(*) FROM users`); n != 0 {
		t.Errorf("%d users left", n)
	}
}
