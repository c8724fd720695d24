package main

import (
	"context"
	"errors"
)

// cmdImport is replaced by the importer work (issue 3).
func cmdImport(ctx context.Context, e *Env, args []string) error {
	return errors.New("not implemented yet")
}
