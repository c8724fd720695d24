package backfill_test

import (
	"context"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/clerksync/clerksync"
	"github.com/clerksync/clerksync/backfill"
	"github.com/clerksync/clerksync/clerkapi"
	"github.com/clerksync/clerksync/db"
	"github.com/clerksync/clerksync/internal/clerkfake"
	"github.com/clerksync/clerksync/internal/testenv"
)

// env is a fake Backend API and a fresh mirror.
type env struct {
	fake   *clerkfake.Server
	client *clerkapi.Client
	store  *db.Store
	conn   *sqlx.DB
}

func newEnv(t testing.TB) *env {
	t.Helper()
	_, conn := testenv.Mirror(t, 8)
	fake := clerkfake.New(t)
	return &env{fake: fake, client: newClient(t, fake), store: db.NewStore(conn), conn: conn}
}

// newClient is a client of the fake with no rate limit and quick retries.
func newClient(t testing.TB, fake *clerkfake.Server, tweak ...func(*clerkapi.Options)) *clerkapi.Client {
	t.Helper()
	o := clerkapi.Options{
		SecretKey: clerkfake.Key, URL: fake.URL, Rate: inf,
		MinBackoff: 10 * time.Millisecond, MaxBackoff: 100 * time.Millisecond, RetryFor: 20 * time.Second,
	}
	for _, f := range tweak {
		f(&o)
	}
	c, err := clerkapi.New(o)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

var inf = math.Inf(1)

func (e *env) backfill(t testing.TB, ctx context.Context, pageSize int, tweak ...func(*backfill.Options)) (backfill.Summary, error) {
	t.Helper()
	o := backfill.Options{Directory: e.client, Mirror: e.store, State: e.store, PageSize: pageSize}
	for _, f := range tweak {
		f(&o)
	}
	return backfill.Run(ctx, o)
}

func (e *env) reconcile(t testing.TB, apply bool, tweak ...func(*backfill.ReconcileOptions)) backfill.Report {
	t.Helper()
	o := backfill.ReconcileOptions{Directory: e.client, Mirror: e.store, State: e.store, PageSize: 50, Apply: apply}
	for _, f := range tweak {
		f(&o)
	}
	r, err := backfill.Reconcile(context.Background(), o)
	if err != nil {
		t.Fatalf("reconcile: %v", err)
	}
	return r
}

// fixtureUsers are the user objects of the Clerk fixtures' created and
// updated events, latest version of each user only.
func fixtureUsers(t testing.TB) []json.RawMessage {
	t.Helper()
	latest := map[string]json.RawMessage{}
	var order []string
	for _, name := range []string{
		"01-user.created.clerk-docs-example.json", "02-user.created.real-2025-email-code.json",
		"10-user.created.openapi-example.json", "11-user.updated.openapi-example.json",
		"20-user.created.composed-multi-contact.json", "21-user.updated.composed-multi-contact.json",
	} {
		b, err := os.ReadFile(filepath.Join("..", "testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		var ev struct {
			Data json.RawMessage `json:"data"`
		}
		if err := json.Unmarshal(b, &ev); err != nil {
			t.Fatal(err)
		}
		u, err := clerksync.DecodeUser(ev.Data)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if _, ok := latest[u.ID]; !ok {
			order = append(order, u.ID)
		}
		latest[u.ID] = ev.Data
	}
	var out []json.RawMessage
	for _, id := range order {
		out = append(out, latest[id])
	}
	return out
}

// mirrorUsers is every live user's id, updated_at (ms) and raw.
func mirrorUsers(t testing.TB, conn *sqlx.DB) map[string]string {
	t.Helper()
	rows, err := conn.Query(`SELECT id, raw::text FROM users ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var id string
		var raw *string
		if err := rows.Scan(&id, &raw); err != nil {
			t.Fatal(err)
		}
		out[id] = ""
		if raw != nil {
			out[id] = *raw
		}
	}
	return out
}

// assertExact fails unless the mirror's live users are exactly the fake's,
// each with the fake's user object as its raw (compared as jsonb).
func assertExact(t testing.TB, e *env) {
	t.Helper()
	want := e.fake.IDs()
	got := mirrorUsers(t, e.conn)
	var gotIDs []string
	for id := range got {
		gotIDs = append(gotIDs, id)
	}
	slices.Sort(gotIDs)
	wantSorted := slices.Sorted(slices.Values(want))
	if !slices.Equal(gotIDs, wantSorted) {
		missing, extra := diff(wantSorted, gotIDs), diff(gotIDs, wantSorted)
		t.Fatalf("mirror has %d users, Clerk %d; missing %v; extra %v", len(gotIDs), len(want), head(missing), head(extra))
	}
	// Each raw is the API's user, as jsonb sees it.
	var stale []string
	for _, id := range want {
		var same bool
		if err := e.conn.Get(&same, `SELECT raw = CAST($2 AS jsonb) FROM users WHERE id = $1`, id, string(e.fake.User(id))); err != nil {
			t.Fatal(err)
		}
		if !same {
			stale = append(stale, id)
		}
	}
	if len(stale) > 0 {
		t.Fatalf("%d users differ from Clerk's: %v", len(stale), head(stale))
	}
}

func diff(a, b []string) []string {
	var out []string
	for _, x := range a {
		if _, ok := slices.BinarySearch(b, x); !ok {
			out = append(out, x)
		}
	}
	return out
}

func head(ids []string) []string { return ids[:min(len(ids), 5)] }

func count(t testing.TB, conn *sqlx.DB, q string, args ...any) int {
	t.Helper()
	var n int
	if err := conn.Get(&n, q, args...); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return n
}

// webhook applies a snapshot to the mirror as the worker would.
func webhook(t testing.TB, s *db.Store, raw []byte) {
	t.Helper()
	u, err := clerksync.DecodeUser(raw)
	if err != nil {
		t.Fatal(err)
	}
	ev := clerksync.Event{DeliveryID: "msg_" + u.ID, Type: clerksync.UserUpdated, Timestamp: u.UpdatedAt.Time, UserID: u.ID, User: u}
	if _, err := s.ApplyEvents(context.Background(), []clerksync.Event{ev}); err != nil {
		t.Fatal(err)
	}
}

// deletion applies a user.deleted to the mirror as the worker would.
func deletion(t testing.TB, s *db.Store, ids ...string) {
	t.Helper()
	var evs []clerksync.Event
	for _, id := range ids {
		evs = append(evs, clerksync.Event{DeliveryID: "msg_del_" + id, Type: clerksync.UserDeleted, UserID: id, Timestamp: time.Now()})
	}
	if _, err := s.ApplyEvents(context.Background(), evs); err != nil {
		t.Fatal(err)
	}
}
