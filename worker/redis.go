// Package worker is the Asynq side of clerksync: the task format, the queue
// the receiver writes to, and the server that applies queued events to the
// mirror in shared transactions.
package worker

import (
	"errors"
	"fmt"
	"net/url"
	"strconv"
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
	if strings.HasPrefix(redisURL, "redis-sentinel://") {
		return sentinelConnOpt(redisURL)
	}
	opt, err := asynq.ParseRedisURI(redisURL)
	if err != nil {
		// The parser's message may quote the URL, password and all.
		return nil, fmt.Errorf("REDIS_URL: want redis://, rediss://, redis-socket://, redis-sentinel:// or redis-cluster://")
	}
	return opt, nil
}

// sentinelConnOpt reads redis-sentinel://[:password@]host:port[,host:port...][/db]?master=NAME
// [&sentinel_password=P]. Unlike asynq's own parser it applies the password
// to the master too (the usual setup: one password for both) and honours
// the DB number.
func sentinelConnOpt(redisURL string) (asynq.RedisConnOpt, error) {
	u, err := url.Parse(redisURL)
	if err != nil || u.Host == "" || u.Query().Get("master") == "" {
		return nil, errors.New("REDIS_URL: want redis-sentinel://[:password@]host:port[,host:port...][/db]?master=NAME")
	}
	opt := asynq.RedisFailoverClientOpt{
		MasterName:    u.Query().Get("master"),
		SentinelAddrs: strings.Split(u.Host, ","),
	}
	if u.User != nil {
		opt.Username = u.User.Username()
		opt.Password, _ = u.User.Password()
		opt.SentinelPassword = opt.Password
	}
	if p := u.Query().Get("sentinel_password"); p != "" {
		opt.SentinelPassword = p
	}
	if db := strings.Trim(u.Path, "/"); db != "" {
		n, err := strconv.Atoi(db)
		if err != nil || n < 0 {
			return nil, errors.New("REDIS_URL: the sentinel URL's path must be a DB number")
		}
		opt.DB = n
	}
	return opt, nil
}
