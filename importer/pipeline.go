package importer

import (
	"context"
	"errors"
	"io"
	"runtime"
	"sync"
)

// rowsPerBlock is how many rows travel together between the reading, the
// parsing and the accepting goroutines.
const rowsPerBlock = 256

type rowBlock struct {
	recs []csvRecord
	rows []parsedRow
	err  error // what the reading ended with after these rows, if it did
	done chan struct{}
}

// parseInParallel reads r's rows on one goroutine, parses them on up to four
// (one per CPU), and hands them to accept in file order: what depends on
// order (duplicate ids, the rejects file, the sort) stays sequential, and
// the parsing, which is most of the CPU, does not hold up the first load of
// a file that must be sorted. It returns accept's first error, the input's
// read error, or the context's; it has stopped every goroutine it started
// when it returns.
func parseInParallel(ctx context.Context, r *Reader, accept func(parsedRow) error) error {
	ctx, cancel := context.WithCancel(ctx)
	workers := min(runtime.GOMAXPROCS(0), 4)
	todo := make(chan *rowBlock, workers)
	inOrder := make(chan *rowBlock, 2*workers)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel() // runs first: unblocks the goroutines, then Wait

	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(todo)
		defer close(inOrder)
		for {
			b := &rowBlock{done: make(chan struct{}), recs: make([]csvRecord, 0, rowsPerBlock)}
			fields := make([]string, 0, rowsPerBlock*max(r.width, 1))
			for len(b.recs) < rowsPerBlock {
				if err := ctx.Err(); err != nil {
					b.err = context.Cause(ctx)
					break
				}
				rec, err := r.read()
				if err != nil {
					b.err = err
					break
				}
				// The reader reuses its slice: the block keeps a copy, all its
				// rows' in one allocation (a longer row gets its own).
				start := len(fields)
				fields = append(fields, rec.fields...)
				rec.fields = fields[start:len(fields):len(fields)]
				b.recs = append(b.recs, rec)
			}
			select {
			case todo <- b:
			case <-ctx.Done():
				return
			}
			select {
			case inOrder <- b:
			case <-ctx.Done():
				return
			}
			if b.err != nil {
				return
			}
		}
	}()
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for b := range todo {
				b.rows = make([]parsedRow, len(b.recs))
				for i := range b.recs {
					b.rows[i] = r.parseRecord(b.recs[i])
				}
				close(b.done)
			}
		}()
	}

	for b := range inOrder {
		select {
		case <-b.done:
		case <-ctx.Done():
			return context.Cause(ctx)
		}
		for _, p := range b.rows {
			if err := accept(p); err != nil {
				return err
			}
		}
		if b.err != nil {
			if errors.Is(b.err, io.EOF) {
				return nil
			}
			return b.err
		}
	}
	return context.Cause(ctx)
}
