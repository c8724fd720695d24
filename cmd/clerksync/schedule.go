package main

import (
	"context"
	"fmt"

	"github.com/clerksync/clerksync/backfill"
	"github.com/clerksync/clerksync/db"
)

// reconcileSchedule is a work process's part in the scheduled reconcile
// (RECONCILE_EVERY): one at a time across every worker, under a Postgres
// session advisory lock (see db.TryReconcileLock for why not an Asynq task).
type reconcileSchedule struct {
	schedule *backfill.Schedule
	cancel   context.CancelFunc
	done     chan struct{}
}

// buildReconcile exports the last reconcile's record from every worker and,
// with RECONCILE_EVERY set, prepares the schedule.
func (a *App) buildReconcile() error {
	if !a.roles.Work {
		return nil
	}
	if err := a.registry.Register(backfill.NewStatusCollector(a.store)); err != nil {
		return fmt.Errorf("register reconcile metrics: %w", err)
	}
	if a.cfg.ReconcileEvery <= 0 {
		return nil
	}
	if err := a.cfg.RequireClerkSecretKey(); err != nil {
		return fmt.Errorf("RECONCILE_EVERY: %w", err)
	}
	client, err := newClerkClient(a.cfg, a.log)
	if err != nil {
		return err
	}
	store := a.store
	a.reconcile = &reconcileSchedule{schedule: &backfill.Schedule{
		Every: a.cfg.ReconcileEvery,
		TryLock: func(ctx context.Context) (backfill.Lease, bool, error) {
			l, ok, err := store.TryReconcileLock(ctx)
			if !ok || err != nil {
				return nil, false, err
			}
			return l, true, nil
		},
		State: store,
		Reconcile: func(ctx context.Context) (backfill.Report, error) {
			return backfill.Reconcile(ctx, backfill.ReconcileOptions{
				Directory: client, Mirror: store, State: store, Apply: true,
				Grace: backfill.DefaultGrace, Log: a.log,
			})
		},
		Log: a.log,
	}}
	a.log.Info("scheduled reconcile enabled", "every", a.cfg.ReconcileEvery.String())
	return nil
}

func (a *App) startReconcile() {
	if a.reconcile == nil {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	a.reconcile.cancel, a.reconcile.done = cancel, make(chan struct{})
	go func() {
		defer close(a.reconcile.done)
		a.reconcile.schedule.Run(ctx)
	}()
}

// stopReconcile cancels a reconcile under way (its writes are committed per
// page; the next run starts over) and waits for it to return.
func (a *App) stopReconcile() {
	if a.reconcile == nil || a.reconcile.cancel == nil {
		return
	}
	a.reconcile.cancel()
	<-a.reconcile.done
}

var _ backfill.Lease = (*db.ReconcileLock)(nil)
