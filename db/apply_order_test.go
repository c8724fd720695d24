package db_test

import (
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/clerksync/clerksync"
)

// TestTies: two different snapshots with the same updated_at are ordered by
// the envelope timestamp, then by the delivery id, whatever the order they
// arrive in, in one batch or in several; a backfill's snapshot (no timestamp,
// no delivery id) loses every tie.
func TestTies(t *testing.T) {
	at := func(ms int64) time.Time { return time.UnixMilli(ms).UTC() }
	type snap struct {
		updated, ts int64 // ts 0: none
		delivery    string
		source      string
		last        string
	}
	event := func(id string, s snap) clerksync.Event {
		l := s.last
		e := clerksync.Event{Type: clerksync.UserUpdated, UserID: id, DeliveryID: s.delivery, Source: s.source,
			User: &clerksync.User{ID: id, LastName: &l, UpdatedAt: clerksync.Millis{Time: at(s.updated)},
				PublicMetadata: []byte("{}"), PrivateMetadata: []byte("{}"), UnsafeMetadata: []byte("{}"), Raw: []byte("{}")}}
		if s.ts != 0 {
			e.Timestamp = at(s.ts)
		}
		return e
	}
	hook := func(updated, ts int64, delivery, last string) snap { return snap{updated, ts, delivery, "", last} }
	backfill := func(updated int64, last string) snap { return snap{updated, 0, "", clerksync.SourceBackfill, last} }
	A, S := clerksync.Applied, clerksync.Stale
	cases := []struct {
		name     string
		batches  [][]snap
		want     string
		outcomes []clerksync.Outcome // of the last batch
	}{
		{"LaterTimestampWins", [][]snap{{hook(2, 5, "msg_b", "early")}, {hook(2, 6, "msg_a", "late")}}, "late", []clerksync.Outcome{A}},
		{"EarlierTimestampStale", [][]snap{{hook(2, 6, "msg_a", "late")}, {hook(2, 5, "msg_b", "early")}}, "late", []clerksync.Outcome{S}},
		{"NoTimestampLosesToATimestamp", [][]snap{{hook(2, 5, "msg_a", "stamped")}, {hook(2, 0, "msg_z", "none")}}, "stamped", []clerksync.Outcome{S}},
		{"HigherDeliveryIDWins", [][]snap{{hook(2, 5, "msg_a", "a")}, {hook(2, 5, "msg_b", "b")}}, "b", []clerksync.Outcome{A}},
		{"LowerDeliveryIDStale", [][]snap{{hook(2, 5, "msg_b", "b")}, {hook(2, 5, "msg_a", "a")}}, "b", []clerksync.Outcome{S}},
		{"DeliveryIDsCompareByteWise", [][]snap{{hook(2, 5, "msg_a", "lower")}, {hook(2, 5, "msg_B", "upper")}}, "lower", []clerksync.Outcome{S}},
		{"UpdatedAtBeforeTimestamp", [][]snap{{hook(2, 9, "msg_z", "old")}, {hook(3, 1, "msg_a", "new")}}, "new", []clerksync.Outcome{A}},
		{"EqualTiedSnapshotHarmless", [][]snap{{hook(2, 5, "msg_a", "x")}, {hook(2, 5, "msg_a", "x")}}, "x", []clerksync.Outcome{A}},
		{"SameBatchLaterTimestampWins", [][]snap{{hook(2, 6, "msg_a", "late"), hook(2, 5, "msg_b", "early")}}, "late", []clerksync.Outcome{A, S}},
		{"SameBatchLaterTimestampWinsReversed", [][]snap{{hook(2, 5, "msg_b", "early"), hook(2, 6, "msg_a", "late")}}, "late", []clerksync.Outcome{S, A}},
		{"SameBatchDeliveryIDDecides", [][]snap{{hook(2, 5, "msg_b", "b"), hook(2, 5, "msg_a", "a")}}, "b", []clerksync.Outcome{A, S}},
		{"BackfillLosesTieToWebhook", [][]snap{{hook(2, 5, "msg_a", "webhook")}, {backfill(2, "backfill")}}, "webhook", []clerksync.Outcome{S}},
		{"BackfillLosesTieToUnstampedWebhook", [][]snap{{hook(2, 0, "msg_a", "webhook")}, {backfill(2, "backfill")}}, "webhook", []clerksync.Outcome{S}},
		{"WebhookWinsTieOverBackfill", [][]snap{{backfill(2, "backfill")}, {hook(2, 5, "msg_a", "webhook")}}, "webhook", []clerksync.Outcome{A}},
		{"NewerBackfillWins", [][]snap{{hook(2, 5, "msg_a", "webhook")}, {backfill(3, "backfill")}}, "backfill", []clerksync.Outcome{A}},
		{"OlderWebhookStaleAfterBackfill", [][]snap{{backfill(3, "backfill")}, {hook(2, 9, "msg_z", "webhook")}}, "backfill", []clerksync.Outcome{S}},
		{"EqualBackfillHarmless", [][]snap{{backfill(2, "backfill")}, {backfill(2, "backfill")}}, "backfill", []clerksync.Outcome{A}},
		{"SameBatchBackfillLosesTie", [][]snap{{hook(2, 5, "msg_a", "webhook"), backfill(2, "backfill")}}, "webhook", []clerksync.Outcome{A, S}},
		{"SameBatchBackfillLosesTieReversed", [][]snap{{backfill(2, "backfill"), hook(2, 5, "msg_a", "webhook")}}, "webhook", []clerksync.Outcome{S, A}},
		// Whatever a backfill's Event carries, it has no envelope of its own.
		{"BackfillWithDeliveryIDStillLosesTie", [][]snap{{hook(2, 5, "msg_a", "webhook")}, {{2, 9, "msg_z", clerksync.SourceBackfill, "backfill"}}}, "webhook", []clerksync.Outcome{S}},
	}
	s, conn := newStore(t)
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			id := fmt.Sprintf("user_tie%d", i)
			var out []clerksync.Outcome
			for _, b := range c.batches {
				var evs []clerksync.Event
				for _, sn := range b {
					evs = append(evs, event(id, sn))
				}
				out = apply(t, s, evs...)
			}
			if !reflect.DeepEqual(out, c.outcomes) {
				t.Errorf("outcomes %v, want %v", out, c.outcomes)
			}
			if got := rows(t, conn, `SELECT last_name FROM users WHERE id = $1`, id); len(got) != 1 || got[0][0] != c.want {
				t.Errorf("last_name %v, want %s", got, c.want)
			}
		})
	}
}

// TestStoredOrderColumns: a webhook row keeps the envelope timestamp and the
// delivery id it was ordered by; a backfill row keeps neither.
func TestStoredOrderColumns(t *testing.T) {
	s, conn := newStore(t)
	hook := fixture(t, "20-user.created.composed-multi-contact.json")
	back := fixture(t, "01-user.created.clerk-docs-example.json")
	back.Source, back.DeliveryID = clerksync.SourceBackfill, "msg_ignored"
	apply(t, s, hook, back)
	want := [][]any{
		{"user_29w83sxmDNGwOuEthce5gg56FcC", "backfill", nil, nil},
		{"user_2zK9mQv7Xc3LrT8pWn4Yb6Hd1Fs", "webhook", "2025-07-15 08:00:00.180", "msg_20-user.created.composed-multi-contact.json"},
	}
	got := rows(t, conn, `SELECT id, source, to_char(event_timestamp AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.MS'), delivery_id
		FROM users ORDER BY id`)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %v\nwant %v", got, want)
	}
}
