package worker_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/clerksync/clerksync"
	"github.com/clerksync/clerksync/worker"
)

// TestMirrorSideFailuresRetried: Postgres refuses some events for a reason
// of the mirror's (a column someone narrowed, a trigger of the
// application's raising 22023). Those tasks are retried with Asynq's
// backoff, not archived; the other events of the same batches are applied;
// once the cause is fixed the retried tasks apply.
func TestMirrorSideFailuresRetried(t *testing.T) {
	for _, tc := range []struct {
		name        string
		break_, fix string
	}{
		{"NarrowedColumn",
			`ALTER TABLE users ALTER COLUMN first_name TYPE varchar(3)`,
			`ALTER TABLE users ALTER COLUMN first_name TYPE text`},
		{"TriggerRaises22023",
			`CREATE FUNCTION refuse_long() RETURNS trigger LANGUAGE plpgsql AS $$
			 BEGIN IF length(NEW.first_name) > 3 THEN RAISE EXCEPTION 'first name too long' USING ERRCODE = '22023'; END IF;
			 RETURN NEW; END $$;
			 CREATE TRIGGER refuse_long BEFORE INSERT OR UPDATE ON users FOR EACH ROW EXECUTE FUNCTION refuse_long()`,
			`DROP TRIGGER refuse_long ON users`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			if _, err := e.conn.Exec(tc.break_); err != nil {
				t.Fatal(err)
			}
			// Queued before the worker starts, so that they share batches:
			// every third event has a name the mirror refuses.
			const n = 60
			var bad []string
			for i := range n {
				name := "Ann"
				if i%3 == 0 {
					name = "Annabel"
					bad = append(bad, fmt.Sprintf("msg_side_%02d", i))
				}
				e.enqueue(t, snapshotDelivery(fmt.Sprintf("msg_side_%02d", i), fmt.Sprintf("user_side%02d", i), name, 1752566400000))
			}
			e.startWorker(t)
			insp := asynq.NewInspector(e.redis)
			defer insp.Close()
			eventually(t, "the good events applied and the bad retrying", func() bool {
				info, err := insp.GetQueueInfo(worker.Queue)
				return err == nil && info.Retry == len(bad) && info.Pending+info.Active == 0
			})
			if got := e.count(t, `SELECT count(*) FROM users`); got != n-len(bad) {
				t.Errorf("%d users applied, want %d", got, n-len(bad))
			}
			now := time.Now()
			for _, id := range bad {
				info, err := insp.GetTaskInfo(worker.Queue, id)
				if err != nil {
					t.Fatal(err)
				}
				if info.State != asynq.TaskStateRetry || info.Retried != 1 || info.LastErr == "" {
					t.Errorf("%s: state %v, retried %d, error %q; want retry, 1, an error", id, info.State, info.Retried, info.LastErr)
				}
				// Asynq's backoff: the first retry 15-44 s later, not at once
				// (a hot loop) and not in weeks.
				if wait := info.NextProcessAt.Sub(now); wait < 5*time.Second || wait > 2*time.Minute {
					t.Errorf("%s: next try in %s, want Asynq's first backoff step", id, wait)
				}
			}
			if info, _ := insp.GetQueueInfo(worker.Queue); info.Archived != 0 {
				t.Errorf("%d archived, want 0", info.Archived)
			}
			// Fixed: the retried tasks apply (run now rather than after the
			// backoff, as an operator would from the dashboard).
			if _, err := e.conn.Exec(tc.fix); err != nil {
				t.Fatal(err)
			}
			if _, err := insp.RunAllRetryTasks(worker.Queue); err != nil {
				t.Fatal(err)
			}
			eventually(t, "every user applied", func() bool { return e.count(t, `SELECT count(*) FROM users`) == n })
			if got := e.count(t, `SELECT count(*) FROM users WHERE first_name = 'Annabel'`); got != len(bad) {
				t.Errorf("%d long names, want %d", got, len(bad))
			}
		})
	}
}

// TestInvalidEventsArchivedAtOnce: every event the domain's own parsing
// rejects is archived on its first try (SkipRetry), without a retry.
func TestInvalidEventsArchivedAtOnce(t *testing.T) {
	e := newEnv(t)
	bodies := map[string]string{
		"msg_inv_json":   `{"type":"user.created","data":`,
		"msg_inv_email":  `{"type":"user.created","timestamp":1752566400180,"data":{"id":"user_x","email_addresses":[{"email_address":"no-id@example.com"}]}}`,
		"msg_inv_noid":   `{"type":"user.updated","timestamp":1752566400180,"data":{"first_name":"A"}}`,
		"msg_inv_nots":   `{"type":"user.deleted","data":{"id":"user_x","deleted":true}}`,
		"msg_inv_type":   `{"type":"user.created","timestamp":1752566400180,"data":{"id":"user_x","first_name":42,"updated_at":1}}`,
		"msg_inv_userid": `{"type":"user.created","timestamp":1752566400180,"data":{"id":"not a user id","updated_at":1}}`,
	}
	for id, body := range bodies {
		e.enqueue(t, clerksync.Delivery{ID: id, Type: clerksync.UserCreated, Body: []byte(body)})
	}
	e.startWorker(t)
	insp := asynq.NewInspector(e.redis)
	defer insp.Close()
	eventually(t, "every invalid event archived", func() bool {
		info, err := insp.GetQueueInfo(worker.Queue)
		return err == nil && info.Archived == len(bodies)
	})
	for id := range bodies {
		if info, err := insp.GetTaskInfo(worker.Queue, id); err != nil || info.Retried != 0 {
			t.Errorf("%s: %+v %v, want archived without a retry", id, info, err)
		}
	}
}

// TestDeadlockIsNotAnOutage: a batch failing with ErrUnavailable while
// Postgres answers a ping (a deadlock, a broken connection) is no outage:
// nothing says Postgres is unavailable.
func TestDeadlockIsNotAnOutage(t *testing.T) {
	e := newEnv(t)
	if _, err := e.conn.Exec(`CREATE FUNCTION fake_deadlock() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN RAISE EXCEPTION 'deadlock detected' USING ERRCODE = '40P01'; END $$;
		CREATE TRIGGER fake_deadlock BEFORE INSERT ON users FOR EACH ROW EXECUTE FUNCTION fake_deadlock()`); err != nil {
		t.Fatal(err)
	}
	e.enqueue(t, snapshotDelivery("msg_deadlock", "user_deadlock", "Ann", 1752566400000))
	e.startWorker(t)
	insp := asynq.NewInspector(e.redis)
	defer insp.Close()
	eventually(t, "the task to fail and wait for its retry", func() bool {
		info, err := insp.GetTaskInfo(worker.Queue, "msg_deadlock")
		return err == nil && info.State == asynq.TaskStateRetry
	})
	if got := testutil.ToFloat64(metric(t, e.registry, "clerksync_worker_postgres_outages_total")); got != 0 {
		t.Errorf("%v outages, want 0", got)
	}
}
