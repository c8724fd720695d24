package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/clerksync/clerksync"
)

// A task's payload is the Clerk event as received: emails, names, metadata.
// Asynq keeps it after the task ran: completed (TASK_RETENTION), waiting to
// retry (weeks) and archived (90 days). Once a user's deletion is applied,
// none of that user's earlier snapshots may keep its payload anywhere in
// Redis. So:
//
//   - Before a batch is applied, the worker records each snapshot task's id
//     in a per-user index (a sorted set, one pipelined round trip per batch;
//     the receiver's hot path is untouched). Each id's score says until when
//     the task may still exist: 91 days at first (an archived task lives 90),
//     shortened to the completed retention once the batch committed, so that
//     the index holds only users with tasks still in Redis.
//   - When a deletion is applied, its task removes every task in that user's
//     index, whatever its state, and only then completes; a task running at
//     that moment cannot be deleted, so it goes to a purge set that every
//     worker sweeps each second until the task has ended and can be.
//   - A snapshot that arrives (or is taken from the queue) after the deletion
//     is stale: its task is revoked (asynq.RevokeTask), which removes it
//     instead of keeping it as completed. Every stale snapshot is revoked so,
//     not only a deleted user's: it has nothing left to tell, and a replay
//     of it is applied (as stale) again, harmlessly.
//
// Asynq also copies a running task's payload into its worker registry
// (asynq:workers:*), rewritten by each heartbeat: it is gone at most 5 s
// after the task ends.

const (
	// indexTTL is how long an index entry outlives its last processing when
	// the outcome is unknown or a failure: an archived task lives 90 days.
	indexTTL = 91 * 24 * time.Hour
	// indexSlack is added to the completed retention: the index must outlive
	// the completed task, which the janitor removes a little late.
	indexSlack = 5 * time.Minute
	// purgeGiveUp bounds how long a task stays in the purge set: a task runs
	// at most 30 minutes (Asynq's default timeout) before it is retried and
	// deletable.
	purgeGiveUp = 2 * time.Hour
	// purgeKey is the purge set: task ids to delete once no longer running.
	purgeKey = "clerksync:purge"
)

// indexKey is the sorted set of a user's snapshot task ids.
func indexKey(userID string) string { return "clerksync:user-tasks:" + userID }

// recordScript adds (or, with "XX", updates) task ids with a keep-until
// score, drops the ids past it, and lets the key expire with its last id.
//
// KEYS[1] the user's index; ARGV[1] now and ARGV[2] keep-until (Unix
// seconds); ARGV[3] "XX" to update ids already there only, "" to add;
// ARGV[4...] the task ids.
var recordScript = redis.NewScript(`
for i = 4, #ARGV do
  if ARGV[3] == "XX" then
    redis.call("ZADD", KEYS[1], "XX", ARGV[2], ARGV[i])
  else
    redis.call("ZADD", KEYS[1], ARGV[2], ARGV[i])
  end
end
redis.call("ZREMRANGEBYSCORE", KEYS[1], "-inf", "(" .. ARGV[1])
local top = redis.call("ZRANGE", KEYS[1], -1, -1, "WITHSCORES")
if top[2] then
  redis.call("EXPIREAT", KEYS[1], top[2])
end
return 0
`)

// privacy keeps the per-user task index and removes a deleted user's tasks.
type privacy struct {
	rdb       redis.UniversalClient
	inspector *asynq.Inspector
	retention time.Duration
	log       *slog.Logger
	metrics   *metrics
	stop      chan struct{}
	stopOnce  sync.Once
	wg        sync.WaitGroup
}

func newPrivacy(rdb redis.UniversalClient, retention time.Duration, log *slog.Logger, m *metrics) *privacy {
	return &privacy{rdb: rdb, inspector: asynq.NewInspectorFromRedisClient(rdb), retention: retention,
		log: log, metrics: m, stop: make(chan struct{})}
}

// record writes the snapshot tasks of a batch into their users' indexes, in
// one round trip, before the batch is applied: a task is in the index
// before its payload can be the one a later deletion must remove.
func (p *privacy) record(ctx context.Context, events []clerksync.Event) error {
	err := p.write(ctx, events, time.Now().Add(indexTTL), false)
	if err != nil {
		return fmt.Errorf("record tasks in their users' index: %w: %v", clerksync.ErrUnavailable, err)
	}
	return nil
}

// committed shortens the index entries of a batch that committed: an
// applied snapshot's task is kept for the completed retention, a stale one
// is revoked. It is best effort: a failure only leaves the longer entry.
func (p *privacy) committed(events []clerksync.Event, outcomes []clerksync.Outcome) {
	var applied, stale []clerksync.Event
	for i, e := range events {
		switch {
		case e.User == nil:
		case outcomes[i] == clerksync.Stale:
			stale = append(stale, e)
		default:
			applied = append(applied, e)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	now := time.Now()
	err := errors.Join(p.write(ctx, applied, now.Add(p.retention+indexSlack), true),
		p.write(ctx, stale, now.Add(indexSlack), true))
	if err != nil {
		p.log.Debug("could not shorten task index entries", "error", err.Error())
	}
}

// write runs recordScript for each user of the snapshots in events, pipelined.
func (p *privacy) write(ctx context.Context, events []clerksync.Event, keepUntil time.Time, update bool) error {
	byUser := map[string][]any{}
	var users []string
	for _, e := range events {
		if e.User == nil || e.DeliveryID == "" {
			continue
		}
		if _, ok := byUser[e.UserID]; !ok {
			users = append(users, e.UserID)
		}
		byUser[e.UserID] = append(byUser[e.UserID], e.DeliveryID)
	}
	if len(users) == 0 {
		return nil
	}
	mode := ""
	if update {
		mode = "XX"
	}
	now := strconv.FormatInt(time.Now().Unix(), 10)
	until := strconv.FormatInt(keepUntil.Unix(), 10)
	pipe := p.rdb.Pipeline()
	for _, u := range users {
		args := append([]any{now, until, mode}, byUser[u]...)
		recordScript.Eval(ctx, pipe, []string{indexKey(u)}, args...)
	}
	_, err := pipe.Exec(ctx)
	return err
}

// recordPoison indexes the task of a snapshot the worker could not parse
// (it is archived at once, for 90 days) under the user id its envelope
// names, if any.
func (p *privacy) recordPoison(ctx context.Context, taskID string, payload []byte) {
	env, err := clerksync.ParseEnvelope(payload)
	if err != nil || env.Type == clerksync.UserDeleted || !clerksync.IsUserEvent(env.Type) {
		return
	}
	e := clerksync.Event{DeliveryID: taskID, Type: env.Type, UserID: env.ObjectID, User: &clerksync.User{}}
	if err := p.write(ctx, []clerksync.Event{e}, time.Now().Add(indexTTL), false); err != nil {
		p.log.Warn("could not record an invalid event's task in its user's index", "delivery_id", taskID, "error", err.Error())
	}
}

// forget removes every indexed task of a deleted user, whatever its state;
// the tasks running now go to the purge set, removed when they end.
func (p *privacy) forget(ctx context.Context, userID string) error {
	key := indexKey(userID)
	ids, err := p.rdb.ZRange(ctx, key, 0, -1).Result()
	if err != nil {
		return fmt.Errorf("forget user %s: %w", userID, err)
	}
	var running []redis.Z
	until := float64(time.Now().Add(purgeGiveUp).Unix())
	for _, id := range ids {
		gone, err := p.remove(id)
		if err != nil {
			return fmt.Errorf("forget user %s: task %s: %w", userID, id, err)
		}
		if !gone {
			running = append(running, redis.Z{Score: until, Member: id})
		}
	}
	// Not a transaction: in a Redis Cluster the two keys live in different
	// slots. Should the second write fail, the deletion is retried.
	pipe := p.rdb.Pipeline()
	if len(running) > 0 {
		pipe.ZAdd(ctx, purgeKey, running...)
	}
	pipe.Del(ctx, key)
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("forget user %s: %w", userID, err)
	}
	return nil
}

// remove deletes a task unless it is running; gone says whether it is gone.
func (p *privacy) remove(id string) (gone bool, err error) {
	state, err := p.state(id)
	if err != nil || state == 0 {
		return err == nil, err
	}
	if state == asynq.TaskStateActive {
		return false, nil
	}
	err = p.inspector.DeleteTask(Queue, id)
	if err == nil || isNotFound(err) {
		p.metrics.tasksForgotten.Inc()
		return true, nil
	}
	// It may have started running in between.
	if state, serr := p.state(id); serr == nil && (state == 0 || state == asynq.TaskStateActive) {
		return state == 0, nil
	}
	return false, err
}

// state is a task's state, 0 when it is gone.
func (p *privacy) state(id string) (asynq.TaskState, error) {
	info, err := p.inspector.GetTaskInfo(Queue, id)
	if isNotFound(err) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	return info.State, nil
}

func isNotFound(err error) bool {
	return errors.Is(err, asynq.ErrTaskNotFound) || errors.Is(err, asynq.ErrQueueNotFound)
}

// start sweeps the purge set every second until close.
func (p *privacy) start() {
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-p.stop:
				return
			case <-t.C:
				p.sweep()
			}
		}
	}()
}

// sweep removes the tasks of the purge set that have stopped running.
func (p *privacy) sweep() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	now := time.Now().Unix()
	if err := p.rdb.ZRemRangeByScore(ctx, purgeKey, "-inf", "("+strconv.FormatInt(now, 10)).Err(); err != nil {
		return
	}
	ids, err := p.rdb.ZRange(ctx, purgeKey, 0, 99).Result()
	if err != nil {
		return
	}
	for _, id := range ids {
		gone, err := p.remove(id)
		if err != nil {
			p.log.Debug("could not purge a deleted user's task yet", "delivery_id", id, "error", err.Error())
			continue
		}
		if gone {
			p.rdb.ZRem(ctx, purgeKey, id)
		}
	}
}

// close stops the sweeper.
func (p *privacy) close() {
	p.stopOnce.Do(func() { close(p.stop) })
	p.wg.Wait()
}
