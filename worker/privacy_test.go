package worker_test

import (
	"context"
	"fmt"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/clerksync/clerksync"
	"github.com/clerksync/clerksync/db"
	"github.com/clerksync/clerksync/worker"
	"github.com/clerksync/clerksync/worker/payload"
)

// personalBody is a user event whose personal values all carry tag.
func personalBody(typ, userID, tag string, updatedAt int64) []byte {
	return fmt.Appendf(nil, `{"type":%q,"object":"event","timestamp":%d,"data":{"id":%q,"object":"user",
		"first_name":"First%s","last_name":"Last%s","username":"user%s","primary_email_address_id":"idn_%s",
		"email_addresses":[{"id":"idn_%s","object":"email_address","email_address":"%s@example.com",
		"verification":{"status":"verified","strategy":"email_code"},"linked_to":[]}],
		"phone_numbers":[],"web3_wallets":[],"external_accounts":[],
		"public_metadata":{"plan":"plan%s"},"private_metadata":{"note":"note%s"},"unsafe_metadata":{},
		"created_at":1752566400000,"updated_at":%d}}`,
		typ, updatedAt, userID, tag, tag, tag, tag, tag, tag, tag, tag, updatedAt)
}

// decompressedFields returns the decompressed text of every compressed
// payload among the top-level bytes fields of a protobuf message (Asynq's
// task message, and the worker registry's WorkerInfo).
func decompressedFields(m []byte) string {
	var out strings.Builder
	for len(m) > 0 {
		_, typ, n := protowire.ConsumeTag(m)
		if n < 0 {
			return out.String()
		}
		m = m[n:]
		if typ != protowire.BytesType {
			n = protowire.ConsumeFieldValue(0, typ, m)
			if n < 0 {
				return out.String()
			}
			m = m[n:]
			continue
		}
		b, n := protowire.ConsumeBytes(m)
		if n < 0 {
			return out.String()
		}
		m = m[n:]
		if payload.Compressed(b) {
			if body, err := payload.Decode(b); err == nil {
				out.Write(body)
			}
		}
	}
	return out.String()
}

// redisValues dumps every key of the DB and every value in it, as text.
func redisValues(t *testing.T, opt asynq.RedisConnOpt) map[string]string {
	t.Helper()
	ctx := context.Background()
	c := opt.MakeRedisClient().(redis.UniversalClient)
	defer c.Close()
	out := map[string]string{}
	iter := c.Scan(ctx, 0, "*", 100).Iterator()
	for iter.Next(ctx) {
		key := iter.Val()
		typ, err := c.Type(ctx, key).Result()
		if err != nil {
			t.Fatal(err)
		}
		var v any
		switch typ {
		case "string":
			v, err = c.Get(ctx, key).Result()
		case "hash":
			var h map[string]string
			h, err = c.HGetAll(ctx, key).Result()
			// Task payloads are stored compressed, in task messages ("msg")
			// and in the worker registry's entries: the scan reads every
			// field as the worker would, so that a compressed value is
			// found too.
			decoded := map[string]string{}
			for f, m := range h {
				if d := decompressedFields([]byte(m)); d != "" {
					decoded[f+" (decompressed payloads)"] = d
				}
			}
			maps.Copy(h, decoded)
			v = h
		case "list":
			v, err = c.LRange(ctx, key, 0, -1).Result()
		case "set":
			v, err = c.SMembers(ctx, key).Result()
		case "zset":
			v, err = c.ZRangeWithScores(ctx, key, 0, -1).Result()
		case "stream":
			v, err = c.XRange(ctx, key, "-", "+").Result()
		case "none":
			continue // expired meanwhile
		default:
			t.Fatalf("key %s of type %s", key, typ)
		}
		if err != nil && err != redis.Nil {
			t.Fatal(err)
		}
		out[key] = fmt.Sprintf("%v", v)
	}
	if err := iter.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// holding returns the keys whose name or value contains s.
func holding(values map[string]string, s string) []string {
	var keys []string
	for k, v := range values {
		if strings.Contains(k, s) || strings.Contains(v, s) {
			keys = append(keys, k)
		}
	}
	return keys
}

// TestDeletedUserGoneFromRedis: a user's earlier tasks, completed, waiting
// to retry and archived, and one arriving late, keep none of the user's
// personal values in Redis once the deletion is applied; another user's
// stay.
func TestDeletedUserGoneFromRedis(t *testing.T) {
	e := newEnv(t)
	const gone, kept = "user_privacygone", "user_privacykept"
	const tag, keepTag = "zqxgone", "zqxkept"
	q := worker.NewEnqueuer(e.redis, time.Hour)
	defer q.Close()
	enqueue := func(id, typ, userID string, body []byte) {
		t.Helper()
		if _, err := q.Enqueue(context.Background(), clerksync.Delivery{ID: id, Type: typ, UserID: userID, Body: body}); err != nil {
			t.Fatal(err)
		}
	}
	// A trigger of the application's refuses one snapshot: its task waits
	// to be retried.
	if _, err := e.conn.Exec(`CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN IF NEW.first_name = 'Firstzqxgonefail' THEN RAISE EXCEPTION 'refused' USING ERRCODE = '22023'; END IF;
		RETURN NEW; END $$;
		CREATE TRIGGER refuse BEFORE INSERT OR UPDATE ON users FOR EACH ROW EXECUTE FUNCTION refuse()`); err != nil {
		t.Fatal(err)
	}
	srv := worker.NewServer(worker.Options{Redis: e.redis, Mirror: db.NewStore(e.conn), Concurrency: 8,
		TaskRetention: time.Hour, ShutdownTimeout: 5 * time.Second, Registerer: e.registry})
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	stopped := false
	defer func() {
		if !stopped {
			srv.Shutdown(context.Background())
		}
	}()
	insp := asynq.NewInspector(e.redis)
	defer insp.Close()
	state := func(id string) asynq.TaskState {
		info, err := insp.GetTaskInfo(worker.Queue, id)
		if err != nil {
			return 0
		}
		return info.State
	}

	enqueue("msg_p_created", clerksync.UserCreated, gone, personalBody(clerksync.UserCreated, gone, tag, 1752566400000))
	enqueue("msg_k_created", clerksync.UserCreated, kept, personalBody(clerksync.UserCreated, kept, keepTag, 1752566400000))
	eventually(t, "the creations completed", func() bool {
		return state("msg_p_created") == asynq.TaskStateCompleted && state("msg_k_created") == asynq.TaskStateCompleted
	})
	enqueue("msg_p_updated", clerksync.UserUpdated, gone, personalBody(clerksync.UserUpdated, gone, tag+"upd", 1752566500000))
	enqueue("msg_p_fails", clerksync.UserUpdated, gone, personalBody(clerksync.UserUpdated, gone, tag+"fail", 1752566600000))
	// Never applicable (an email without an id): archived at once.
	enqueue("msg_p_poison", clerksync.UserUpdated, gone, fmt.Appendf(nil,
		`{"type":"user.updated","timestamp":1752566700000,"data":{"id":%q,"first_name":"Poison%s","email_addresses":[{"email_address":"%spoison@example.com"}]}}`,
		gone, tag, tag))
	eventually(t, "completed, retrying and archived tasks", func() bool {
		return state("msg_p_updated") == asynq.TaskStateCompleted && state("msg_p_fails") == asynq.TaskStateRetry &&
			state("msg_p_poison") == asynq.TaskStateArchived
	})
	if keys := holding(redisValues(t, e.redis), tag); len(keys) == 0 {
		t.Fatal("the scan finds none of the user's values before the deletion: it proves nothing")
	}

	enqueue("msg_p_deleted", clerksync.UserDeleted, gone, fmt.Appendf(nil,
		`{"type":"user.deleted","object":"event","timestamp":1752566800000,"data":{"id":%q,"object":"user","deleted":true}}`, gone))
	eventually(t, "the deletion completed", func() bool { return state("msg_p_deleted") == asynq.TaskStateCompleted })
	// A snapshot that arrives after the deletion is stale: applied as such
	// and not kept.
	enqueue("msg_p_late", clerksync.UserUpdated, gone, personalBody(clerksync.UserUpdated, gone, tag+"late", 1752566900000))
	eventually(t, "the late snapshot handled and dropped", func() bool {
		_, err := insp.GetTaskInfo(worker.Queue, "msg_p_late")
		return err != nil
	})
	for _, id := range []string{"msg_p_created", "msg_p_updated", "msg_p_fails", "msg_p_poison"} {
		if s := state(id); s != 0 {
			t.Errorf("task %s still in Redis (%v) after the deletion", id, s)
		}
	}
	// Asynq's worker registry copies a running task's payload until the
	// next heartbeat (5 s): wait that out, then nothing may remain.
	deadline := time.Now().Add(15 * time.Second)
	for {
		values := redisValues(t, e.redis)
		left := holding(values, tag)
		if len(left) == 0 {
			if len(holding(values, keepTag)) == 0 {
				t.Error("the other user's completed task is gone too")
			}
			break
		}
		if time.Now().After(deadline) {
			for _, k := range left {
				t.Errorf("key %s still holds the deleted user's data", k)
			}
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if n := e.count(t, `SELECT count(*) FROM users WHERE id = $1`, gone); n != 0 {
		t.Errorf("deleted user still in the mirror")
	}
}
