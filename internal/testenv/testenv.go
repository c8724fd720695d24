// Package testenv gives integration tests their own Postgres database and
// Redis DB number, created for the test and removed after it. A missing
// service fails the test with a message saying how to start it: tests never
// skip because a service is down.
package testenv

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"strconv"
	"testing"
	"time"

	_ "github.com/lib/pq"
	"github.com/redis/go-redis/v9"
)

// AdminURL is the maintenance database the tests create their databases from.
func AdminURL() string {
	if v := os.Getenv("TEST_DATABASE_URL"); v != "" {
		return v
	}
	return "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
}

// RedisAddr is the Redis server the tests take DB numbers on.
func RedisAddr() string {
	if v := os.Getenv("TEST_REDIS_ADDR"); v != "" {
		return v
	}
	return "127.0.0.1:6379"
}

const hint = "start the services with `make services` (scripts/services.sh)"

// Postgres creates an empty database for the test and returns its URL; the
// database is dropped when the test ends.
func Postgres(tb testing.TB) string {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	admin, err := sql.Open("postgres", AdminURL())
	if err != nil {
		tb.Fatalf("testenv: postgres: %v", err)
	}
	defer admin.Close()
	if err := admin.PingContext(ctx); err != nil {
		tb.Fatalf("testenv: Postgres is not reachable at %s (%v); %s", redact(AdminURL()), err, hint)
	}
	name := "clerksync_test_" + randomHex(6)
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		tb.Fatalf("testenv: create database: %v", err)
	}
	tb.Cleanup(func() {
		admin, err := sql.Open("postgres", AdminURL())
		if err != nil {
			return
		}
		defer admin.Close()
		if _, err := admin.Exec("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)"); err != nil {
			tb.Errorf("testenv: drop database %s: %v", name, err)
		}
	})
	u, _ := url.Parse(AdminURL())
	u.Path = "/" + name
	return u.String()
}

// claimKey marks a Redis DB as taken by one test; its expiry frees the DB
// should the test process die without cleaning up.
const claimKey = "clerksync:testenv:claim"

// Redis claims an empty Redis DB number for the test and returns its URL
// (redis://host/N). The DB is flushed when the test ends; a DB holding
// anything the test did not create is never used.
func Redis(tb testing.TB) string {
	tb.Helper()
	ctx := context.Background()
	deadline := time.Now().Add(60 * time.Second)
	for {
		for n := 1; n < 16; n++ {
			c := redis.NewClient(&redis.Options{Addr: RedisAddr(), DB: n})
			if err := c.Ping(ctx).Err(); err != nil {
				c.Close()
				tb.Fatalf("testenv: Redis is not reachable at %s (%v); %s", RedisAddr(), err, hint)
			}
			ok, err := c.SetNX(ctx, claimKey, strconv.Itoa(os.Getpid()), 30*time.Minute).Result()
			if err != nil || !ok {
				c.Close()
				continue
			}
			if size, _ := c.DBSize(ctx).Result(); size != 1 {
				// Someone else's data: leave it alone.
				c.Del(ctx, claimKey)
				c.Close()
				continue
			}
			tb.Cleanup(func() {
				c.FlushDB(context.Background())
				c.Close()
			})
			return fmt.Sprintf("redis://%s/%d", RedisAddr(), n)
		}
		if time.Now().After(deadline) {
			tb.Fatalf("testenv: no free Redis DB number on %s after 60s", RedisAddr())
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func redact(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}
