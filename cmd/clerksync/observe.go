package main

import (
	"github.com/hibiken/asynq"

	"github.com/clerksync/clerksync/worker"
)

// registerProcessMetrics adds the series every serve, work and run process
// exports beyond its parts' own: clerksync_build_info, and on a worker the
// queue's backlog as that worker sees it (so that a worker-only deployment
// can alert on a growing queue without scraping a receiver). The returned
// function releases the queue collector's connection.
func registerProcessMetrics(app *App, roles Roles) (closeFn func()) {
	app.registry.MustRegister(buildInfoGauge(readBuildInfo()))
	if !roles.Work {
		return func() {}
	}
	insp := asynq.NewInspector(app.redis)
	app.registry.MustRegister(worker.NewQueueCollector(insp))
	return func() { insp.Close() }
}
