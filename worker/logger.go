package worker

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"
)

// asynqLogger sends Asynq's own messages to slog.
type asynqLogger struct{ l *slog.Logger }

func (a asynqLogger) Debug(args ...any) { a.l.Debug(fmt.Sprint(args...), "component", "asynq") }
func (a asynqLogger) Info(args ...any)  { a.l.Info(fmt.Sprint(args...), "component", "asynq") }
func (a asynqLogger) Warn(args ...any) {
	msg := fmt.Sprint(args...)
	if strings.HasPrefix(msg, "revoke task id=") || strings.HasPrefix(msg, "Retry exhausted for task id=") {
		// A revoked task is a stale snapshot dropped on purpose (see
		// Server.handle), not a warning, and an archived one has its own
		// "sync failed" line already: one more a delivery would be noise.
		a.l.Debug(msg, "component", "asynq")
		return
	}
	a.l.Warn(msg, "component", "asynq")
}
func (a asynqLogger) Error(args ...any) { a.l.Error(fmt.Sprint(args...), "component", "asynq") }
func (a asynqLogger) Fatal(args ...any) {
	a.l.Log(context.Background(), slog.LevelError+4, fmt.Sprint(args...), "component", "asynq")
	os.Exit(1)
}
