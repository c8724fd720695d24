package main

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/clerksync/clerksync/internal/testenv"
)

// TestPersistenceCheck: the start-up check warns when Redis persists
// nothing (a restart would lose every queued event), is quiet when it
// persists, and says at info level when CONFIG is refused (managed Redis),
// against real Redis servers configured each way.
func TestPersistenceCheck(t *testing.T) {
	for _, tc := range []struct {
		name      string
		args      []string
		wantLevel string
		wantText  string
	}{
		{"NothingPersistedWarns", []string{"--appendonly", "no"}, "WARN", "persists nothing"},
		{"AppendOnlyIsQuiet", []string{"--appendonly", "yes"}, "", ""},
		{"RDBSnapshotsAreQuiet", []string{"--appendonly", "no", "--save", "3600 1"}, "", ""},
		{"ConfigRefusedIsInfo", []string{"--rename-command", "CONFIG", ""}, "INFO", "could not check Redis persistence"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := testenv.StartRedis(t, tc.args...)
			rdb := redis.NewClient(&redis.Options{Addr: r.Addr})
			defer rdb.Close()
			var buf bytes.Buffer
			log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo}))
			checkPersistence(context.Background(), log, func(ctx context.Context) (persistence, error) {
				return redisPersistence(ctx, rdb)
			})
			out := buf.String()
			if tc.wantLevel == "" {
				if out != "" {
					t.Errorf("logged %q", out)
				}
				return
			}
			if strings.Count(out, "\n") != 1 || !strings.Contains(out, "level="+tc.wantLevel) || !strings.Contains(out, tc.wantText) {
				t.Errorf("logged %q, want one %s line saying %q", out, tc.wantLevel, tc.wantText)
			}
		})
	}
}
