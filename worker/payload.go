package worker

import (
	"fmt"

	"github.com/hibiken/asynq"

	"github.com/clerksync/clerksync"
	"github.com/clerksync/clerksync/worker/payload"
)

// parseTask decodes a task's payload (compressed, or a body queued before
// compression) and parses the event it holds. A payload that does not
// decompress can never succeed: its error wraps ErrInvalidEvent, so that
// the task is archived, not retried.
func parseTask(id string, t *asynq.Task) (clerksync.Event, error) {
	body, err := payload.Decode(t.Payload())
	if err != nil {
		return clerksync.Event{}, fmt.Errorf("%w: %w", clerksync.ErrInvalidEvent, err)
	}
	return clerksync.ParseEvent(id, body)
}
