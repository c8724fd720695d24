package worker

import (
	"fmt"

	"github.com/hibiken/asynq"

	"github.com/clerksync/clerksync"
	"github.com/clerksync/clerksync/worker/payload"
)

// parseTask decodes a task's payload (compressed, or a body queued before
// compression) and parses the event it holds; it returns the body too,
// nil when the payload does not decompress. Such a payload can never
// succeed: its error wraps ErrInvalidEvent, so that the task is archived,
// not retried.
func parseTask(id string, t *asynq.Task) (clerksync.Event, []byte, error) {
	body, err := payload.Decode(t.Payload())
	if err != nil {
		return clerksync.Event{}, nil, fmt.Errorf("%w: %w", clerksync.ErrInvalidEvent, err)
	}
	ev, err := clerksync.ParseEvent(id, body)
	return ev, body, err
}
