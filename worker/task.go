package worker

import (
	"strings"

	"github.com/clerksync/clerksync"
)

// Queue is the Asynq queue that holds clerksync's tasks, so that it can
// share a Redis with other Asynq applications.
const Queue = "clerksync"

// taskPrefix starts every clerksync task type; the rest is the Clerk event
// type, so that the dashboard shows what each task is.
const taskPrefix = "clerk:"

// TaskType is the Asynq task type for a Clerk event type.
func TaskType(eventType string) string { return taskPrefix + eventType }

// EventType is the Clerk event type of an Asynq task type, or "" when the
// task is not one of clerksync's.
func EventType(taskType string) string {
	t, ok := strings.CutPrefix(taskType, taskPrefix)
	if !ok || !clerksync.IsUserEvent(t) {
		return ""
	}
	return t
}
