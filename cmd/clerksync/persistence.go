package main

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// persistence is what Redis says of how it keeps writes across a restart.
type persistence struct {
	AppendOnly string // "yes" or "no"
	Save       string // the RDB snapshot schedule; "" when off
}

// none reports whether Redis persists nothing: no AOF and no RDB snapshot.
func (p persistence) none() bool {
	return p.AppendOnly != "yes" && strings.TrimSpace(p.Save) == ""
}

// redisPersistence asks Redis for appendonly and save. Managed Redis often
// refuses CONFIG; the error then says so.
func redisPersistence(ctx context.Context, rdb redis.UniversalClient) (persistence, error) {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	var p persistence
	for key, into := range map[string]*string{"appendonly": &p.AppendOnly, "save": &p.Save} {
		got, err := rdb.ConfigGet(ctx, key).Result()
		if err != nil {
			return persistence{}, fmt.Errorf("config get %s: %w", key, err)
		}
		v, ok := got[key]
		if !ok {
			return persistence{}, fmt.Errorf("config get %s: no such setting", key)
		}
		*into = v
	}
	return p, nil
}

// checkPersistence warns when Redis persists nothing: a 2xx answer means
// "queued in Redis", and a Redis restarted without AOF or RDB has lost
// every queued event, with nothing to tell clerksync or Svix. It only logs:
// a Redis that cannot be checked (managed services refuse CONFIG) most
// likely persists, and one kept deliberately in memory is the operator's
// call.
func checkPersistence(ctx context.Context, log *slog.Logger, get func(context.Context) (persistence, error)) {
	p, err := get(ctx)
	switch {
	case err != nil:
		log.Info("could not check Redis persistence; make sure it has appendonly yes (or RDB snapshots), or a restart loses the queued events",
			"error", err.Error())
	case p.none():
		log.Warn("Redis persists nothing (appendonly no, no RDB save schedule): a restart loses every queued event that was answered 2xx; set appendonly yes",
			"appendonly", p.AppendOnly, "save", p.Save)
	default:
		log.Debug("Redis persists writes", "appendonly", p.AppendOnly, "save", p.Save)
	}
}
