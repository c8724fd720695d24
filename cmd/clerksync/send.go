package main

import (
	"context"
	"errors"
)

// cmdSend is replaced by the operations work (issue 4).
func cmdSend(ctx context.Context, e *Env, args []string) error {
	return errors.New("not implemented yet")
}
