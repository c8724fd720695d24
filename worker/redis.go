// Package worker is the Asynq side of clerksync: the task format, the queue
// the receiver writes to, and the server that applies queued events to the
// mirror in shared transactions.
package worker

import (
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/hibiken/asynq"
)

// RedisConnOpt turns REDIS_URL into Asynq's connection options. It takes
// every form asynq.ParseRedisURI does (redis://, rediss://, redis-socket://,
// redis-sentinel://host:port,host:port/db?master=NAME) and also
// redis-cluster://[:password@]host:port,host:port for Redis Cluster.
func RedisConnOpt(redisURL string) (asynq.RedisConnOpt, error) {
	if rest, ok := strings.CutPrefix(redisURL, "redis-cluster://"); ok {
		u, err := url.Parse("redis://" + rest)
		if err != nil || u.Host == "" {
			return nil, errors.New("REDIS_URL: want redis-cluster://[:password@]host:port[,host:port...]")
		}
		opt := asynq.RedisClusterClientOpt{Addrs: strings.Split(u.Host, ",")}
		if u.User != nil {
			opt.Username = u.User.Username()
			opt.Password, _ = u.User.Password()
		}
		return opt, nil
	}
	opt, err := asynq.ParseRedisURI(redisURL)
	if err != nil {
		// The parser's message may quote the URL, password and all.
		return nil, fmt.Errorf("REDIS_URL: want redis://, rediss://, redis-socket://, redis-sentinel:// or redis-cluster://")
	}
	return opt, nil
}
