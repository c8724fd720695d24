package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/redis/go-redis/v9"
)

// maxmemoryPolicy asks Redis for its maxmemory-policy. Managed Redis often
// refuses CONFIG; the error then says so.
func maxmemoryPolicy(ctx context.Context, rdb redis.UniversalClient) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	got, err := rdb.ConfigGet(ctx, "maxmemory-policy").Result()
	if err != nil {
		return "", fmt.Errorf("config get maxmemory-policy: %w", err)
	}
	policy, ok := got["maxmemory-policy"]
	if !ok {
		return "", errors.New("config get maxmemory-policy: no such setting")
	}
	return policy, nil
}

// checkEviction warns when Redis may evict keys under memory pressure: an
// evicted task is a sync lost after its webhook was answered 2xx. It only
// logs, because a Redis that cannot be checked (managed services refuse
// CONFIG) may well be configured right. It returns the policy it found, ""
// when it could not tell.
func checkEviction(ctx context.Context, log *slog.Logger, get func(context.Context) (string, error)) string {
	policy, err := get(ctx)
	switch {
	case err != nil:
		log.Info("could not check Redis maxmemory-policy; make sure it is noeviction, or queued events may be evicted and lost",
			"error", err.Error())
		return ""
	case policy != "noeviction":
		log.Warn("Redis maxmemory-policy is not noeviction: under memory pressure Redis may evict queued events, which are then lost syncs; set maxmemory-policy noeviction",
			"maxmemory_policy", policy)
	default:
		log.Debug("Redis maxmemory-policy is noeviction")
	}
	return policy
}
