// Package importer loads Clerk Dashboard CSV exports into the mirror: it
// streams the file, validates and normalises each row, writes the rows it
// rejects (with line number and reason) to a rejects file, and hands the good
// ones in batches to a clerksync.Loader.
package importer

import (
	"context"
	"fmt"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/clerksync/clerksync"
)

// DefaultBatchSize is the number of users per Load call: large enough to
// amortise a transaction (a larger batch measured no faster), small enough
// that the advisory locks of two batches loading at once (one lock per user)
// fit in the shared lock table of a default Postgres (64 locks per
// transaction x 100 connections) with room left for the webhook workers.
const DefaultBatchSize = 2500

// DefaultWorkers is the number of batches loaded at once: Postgres spends
// one CPU per batch, the reader a fraction of another.
const DefaultWorkers = 2

// Options says where the rows go.
type Options struct {
	// Loader writes the batches; nil makes a dry run, which only validates.
	Loader clerksync.Loader
	// BatchSize is the number of users per Load call; DefaultBatchSize when 0.
	BatchSize int
	// RejectsPath is the rejects file, written when the run completes (see
	// rejectsFile).
	RejectsPath string
	// Workers is the number of batches loaded at once; DefaultWorkers when 0. Batches
	// hold distinct users, so they never wait for each other's locks.
	Workers int
	// Progress, when not nil, is told about every batch loaded.
	Progress *Progress
	// SortBuffer is how many bytes of users are held in memory to hand
	// them to the loader in id order; DefaultSortBuffer when 0.
	SortBuffer int
	// TempDir is where users are spilled when the input is not in id
	// order; the system's temporary directory ($TMPDIR) when "".
	TempDir string
}

// Credentials counts the credentials that the rows with the header's number
// of fields carried; none of them is stored anywhere.
type Credentials struct {
	Rows            int // rows with a digest, a hasher or a TOTP secret
	PasswordDigests int
	TOTPSecrets     int
}

// Summary is what an import did.
type Summary struct {
	// Read is the number of data rows in the file, rejected ones included.
	Read int
	// Lines is the number of lines read, the header's included.
	Lines int
	// Valid is the number of rows that passed validation: the rows handed to
	// the loader, or that a dry run would have handed.
	Valid int
	// Loaded says what the loader did with the valid rows (zero in a dry run).
	Loaded   clerksync.LoadResult
	Rejected int
	// RejectsPath is where the rejected rows are: the rejects file, or when
	// the run did not complete (RejectsPartial) a file beside it holding
	// those found until then; "" when no row was rejected.
	RejectsPath    string
	RejectsPartial bool
	Credentials    Credentials
	Elapsed        time.Duration
	DryRun         bool
}

type batch struct {
	users []clerksync.ImportUser
	bytes int64 // input consumed when the batch was complete, for the progress bar
}

// Run reads every row of r, writes the rejected ones to the rejects file and
// loads the others in batches, in id order (see sorter), reading on while
// batches load. It stops at the first error from the loader or the input;
// the batches loaded until then stay loaded (loading is idempotent, so
// running the import again completes it). The summary is valid even with
// an error.
func Run(ctx context.Context, r *Reader, opt Options) (Summary, error) {
	start := time.Now()
	size := opt.BatchSize
	if size <= 0 {
		size = DefaultBatchSize
	}
	rejects := &rejectsFile{path: opt.RejectsPath}
	sum := Summary{DryRun: opt.Loader == nil}

	g, gctx := errgroup.WithContext(ctx)
	batches := make(chan batch, 1)
	g.Go(func() error {
		defer close(batches)
		return readBatches(gctx, r, size, rejects, &sum, batches, newSorter(opt.SortBuffer, opt.TempDir, nil))
	})
	var mu sync.Mutex // guards sum.Loaded, rows and the progress display
	var rows int
	workers := opt.Workers
	if workers <= 0 {
		workers = DefaultWorkers
	}
	for range workers {
		g.Go(func() error {
			for b := range batches {
				var res clerksync.LoadResult
				if opt.Loader != nil {
					var err error
					if res, err = opt.Loader.Load(gctx, b.users); err != nil {
						return fmt.Errorf("load %d users (the first from line %d): %w", len(b.users), b.users[0].Line, err)
					}
				}
				mu.Lock()
				rows += len(b.users)
				sum.Loaded = sum.Loaded.Add(res)
				opt.Progress.update(rows, b.bytes)
				mu.Unlock()
			}
			return nil
		})
	}
	err := g.Wait()
	path, rerr := rejects.finish(err == nil)
	if err == nil {
		err = rerr
	}
	opt.Progress.finish()
	sum.Read, sum.Lines = r.Rows(), r.Lines()
	sum.Rejected = rejects.count
	sum.RejectsPath, sum.RejectsPartial = path, path != "" && path != opt.RejectsPath
	sum.Credentials = r.Credentials()
	sum.Elapsed = time.Since(start)
	return sum, err
}

// readBatches reads rows into batches of size users, in id order. It
// writes sum.Valid only, the loading goroutines sum.Loaded only; Run reads
// both after Wait.
func readBatches(ctx context.Context, r *Reader, size int, rejects *rejectsFile, sum *Summary, out chan<- batch, order *sorter) error {
	users := make([]clerksync.ImportUser, 0, size)
	sent := 0
	send := func() error {
		// The input read so far, scaled by the share of its valid rows
		// handed on: with sorting, reading runs ahead of loading.
		sent += len(users)
		bytes := r.BytesRead()
		if sum.Valid > 0 {
			bytes = bytes * int64(sent) / int64(sum.Valid)
		}
		select {
		case out <- batch{users: users, bytes: bytes}:
			users = make([]clerksync.ImportUser, 0, size)
			return nil
		case <-ctx.Done():
			return context.Cause(ctx)
		}
	}
	order.emit = func(u clerksync.ImportUser) error {
		users = append(users, u)
		if len(users) == size {
			return send()
		}
		return nil
	}
	defer order.close()
	err := parseInParallel(ctx, r, func(p parsedRow) error {
		u, rej := r.accept(p)
		if rej != nil {
			return rejects.write(*rej)
		}
		sum.Valid++
		return order.add(&u)
	})
	if err != nil {
		return err
	}
	if err := order.finish(); err != nil {
		return err
	}
	if len(users) > 0 {
		return send()
	}
	return nil
}
