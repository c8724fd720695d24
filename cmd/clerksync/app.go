package main

import (
	"context"
	"errors"
)

func cmdServe(ctx context.Context, e *Env, args []string) error { return errors.New("not implemented yet") }
func cmdWork(ctx context.Context, e *Env, args []string) error  { return errors.New("not implemented yet") }
func cmdRun(ctx context.Context, e *Env, args []string) error   { return errors.New("not implemented yet") }
