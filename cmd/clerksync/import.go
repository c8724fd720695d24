package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"strings"
	"syscall"

	"github.com/clerksync/clerksync/db"
	"github.com/clerksync/clerksync/importer"
)

const importHelp = `Bulk-loads the users of a Clerk Dashboard CSV export (Users > Export) into the
mirror in DATABASE_URL (schema DATABASE_SCHEMA); FILE - reads stdin. Safe to run
while webhooks are flowing, and to run again: users already mirrored from a
webhook or a backfill are left untouched (they are fresher than any export),
deleted users stay deleted, and a re-run of the same file changes nothing.

Columns are found by header name in any order; only id is required. Password
digests, hashers and TOTP secrets are never stored: the summary counts them.
Rows that cannot be loaded (no id, an id that is not a Clerk user id, the wrong
number of fields, an id repeated from an earlier row, malformed CSV, a value
that is not UTF-8 or holds a NUL byte, a row over 1 MiB) are written with their
line number, reason and id (when it is a valid Clerk user id) to the rejects
file (default: next to FILE, users.csv giving users.rejects.csv; for stdin,
clerksync-import.rejects.csv in the working directory), and every other row
loads. Nothing else of a rejected row is written there. The file is replaced
only when the import completes; an interrupted one leaves it as it was and
says where its own partial list is. Email addresses and phone numbers are
stored whatever their length, as the webhook path stores them.

Users are loaded in id order: a file in another order is sorted in runs
spilled to $TMPDIR (unlinked at once; about the size of FILE). A first import
(empty contact tables) builds the contact hash indexes once at its end instead
of row by row; one killed before its end leaves them to the next migrate or
import.

The schema must exist: run clerksync migrate first.

Exit status: 0 when every row loaded, 3 when some rows were rejected (the others
loaded, or with --dry-run would have), 1 when the import failed (an unreadable file or a header without an id
column loads nothing), 2 for a usage error.`

// importMemoryLimit is the Go heap's soft limit during an import, which
// keeps a 1M-row import under 100 MB of resident memory.
const importMemoryLimit = 72 << 20

// exitRejected is the exit status of an import that loaded every good row but
// rejected some: the run worked, the file needs a look.
const exitRejected = 3

func cmdImport(ctx context.Context, e *Env, args []string) error {
	fs := newFlags(e, "import", "[--rejects PATH] [--dry-run] [--batch N] [--parallel N] [--metrics-file PATH] FILE|-", importHelp)
	rejects := fs.String("rejects", "", "write rejected rows (line, reason, id) to `PATH`")
	dryRun := fs.Bool("dry-run", false, "validate and report without connecting to the database or writing to it")
	batch := fs.Int("batch", importer.DefaultBatchSize, "users per transaction (`N`); each holds one lock per user")
	workers := fs.Int("parallel", importer.DefaultWorkers, "transactions loading at once (`N`)")
	metricsFile := fs.String("metrics-file", "", "write the import's Prometheus metrics to `PATH` (for node_exporter's textfile collector)")
	file, err := parseImportArgs(fs, args)
	if err != nil {
		return err
	}
	if *batch < 1 || *workers < 1 {
		fmt.Fprintln(e.Stderr, "clerksync import: --batch and --parallel must be at least 1")
		return &exitError{code: 2}
	}
	in, size, closeIn, err := openInput(e, file)
	if err != nil {
		return err
	}
	defer closeIn()
	r, err := importer.NewReader(in)
	if err != nil {
		return fmt.Errorf("%s: %w", inputName(file), err)
	}
	opt := importer.Options{BatchSize: *batch, Workers: *workers, RejectsPath: rejectsPath(file, *rejects)}
	if sameFile(file, opt.RejectsPath) {
		return fmt.Errorf("the rejects file %s would overwrite the input", opt.RejectsPath)
	}
	if !*dryRun {
		cfg, err := e.Config()
		if err != nil {
			return err
		}
		conn, err := db.Open(ctx, cfg.DatabaseURL.Reveal(), cfg.DatabaseSchema, *workers)
		if err != nil {
			return err
		}
		defer conn.Close()
		log := slog.New(slog.NewTextHandler(e.Stderr, &slog.HandlerOptions{Level: cfg.LogLevelValue()}))
		loader, err := db.NewImportLoader(ctx, conn, log)
		if err != nil {
			return fmt.Errorf("schema %s: %w", cfg.DatabaseSchema, err)
		}
		if err := loader.Start(ctx); err != nil {
			return fmt.Errorf("schema %s: %w", cfg.DatabaseSchema, err)
		}
		opt.Loader = loader
	}
	if e.StderrIsTerminal {
		opt.Progress = importer.NewProgress(e.Stderr, size)
	}
	if _, set := e.Lookup("GOMEMLIMIT"); !set {
		// The heap holds the ids seen (13 to 25 bytes each), the sort
		// buffer (8 MB) and a few batches in flight; a soft limit keeps the
		// garbage collector from letting a multi-million row import grow to
		// twice that.
		// Restored after, for callers that run more than the import.
		defer debug.SetMemoryLimit(debug.SetMemoryLimit(importMemoryLimit))
	}
	sum, err := importer.Run(ctx, r, opt)
	var indexErr error
	if l, ok := opt.Loader.(*db.ImportLoader); ok {
		// Whatever the import's outcome, a first import builds the indexes
		// it deferred (see db.ImportLoader.Start) before it reports: even
		// after the interrupt that stopped it, until the next one.
		fctx, stop := signal.NotifyContext(context.WithoutCancel(ctx), syscall.SIGINT, syscall.SIGTERM)
		indexErr = l.Finish(fctx)
		stop()
	}
	sum.Write(e.Stdout)
	if *metricsFile != "" {
		if merr := sum.WriteMetrics(*metricsFile, err == nil && indexErr == nil); merr != nil {
			fmt.Fprintf(e.Stderr, "clerksync import: %v\n", merr)
		}
	}
	if indexErr != nil {
		if err == nil {
			// The rows are in: only the indexes are missing.
			return indexErr
		}
		fmt.Fprintf(e.Stderr, "clerksync import: %v\n", indexErr)
	}
	if err != nil {
		if sum.RejectsPartial {
			err = fmt.Errorf("%w (rows rejected until then: %s)", err, sum.RejectsPath)
		}
		return fmt.Errorf("import stopped after %d rows (those loaded stay loaded; running it again completes it): %w", sum.Read, err)
	}
	if sum.Rejected > 0 {
		return &exitError{code: exitRejected, msg: sum.Line()}
	}
	return nil
}

// parseImportArgs parses flags on either side of FILE, so that both
// "import --dry-run users.csv" and "import users.csv --dry-run" work.
func parseImportArgs(fs *flag.FlagSet, args []string) (string, error) {
	if err := parseFlags(fs, args); err != nil {
		return "", err
	}
	rest := fs.Args()
	if len(rest) == 0 {
		fmt.Fprintln(fs.Output(), "clerksync import: name the CSV file to import (or - for stdin)")
		fs.Usage()
		return "", &exitError{code: 2}
	}
	file := rest[0]
	if err := parseFlags(fs, rest[1:]); err != nil {
		return "", err
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(fs.Output(), "clerksync import: one FILE only (got %q too)\n", fs.Arg(0))
		return "", &exitError{code: 2}
	}
	return file, nil
}

// openInput opens FILE (or stdin for "-") and returns its size when known,
// for the progress bar.
func openInput(e *Env, file string) (io.Reader, int64, func(), error) {
	if file == "-" {
		return e.Stdin, 0, func() {}, nil
	}
	f, err := os.Open(file)
	if err != nil {
		return nil, 0, nil, fmt.Errorf("open %s: %w", file, unwrapPath(err))
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, nil, fmt.Errorf("open %s: %w", file, unwrapPath(err))
	}
	if fi.IsDir() {
		f.Close()
		return nil, 0, nil, fmt.Errorf("open %s: is a directory", file)
	}
	return f, fi.Size(), func() { f.Close() }, nil
}

// unwrapPath drops the path that *PathError repeats.
func unwrapPath(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

func sameFile(a, b string) bool {
	if a == "-" {
		return false
	}
	// os.SameFile sees through links and relative paths alike; a rejects
	// file that does not exist yet cannot be the input.
	x, errA := os.Stat(a)
	y, errB := os.Stat(b)
	return errA == nil && errB == nil && os.SameFile(x, y)
}

func inputName(file string) string {
	if file == "-" {
		return "stdin"
	}
	return file
}

// rejectsPath is --rejects, or FILE with .rejects.csv in place of its
// extension, or a file in the working directory for stdin.
func rejectsPath(file, flagValue string) string {
	switch {
	case flagValue != "":
		return flagValue
	case file == "-":
		return "clerksync-import.rejects.csv"
	}
	return strings.TrimSuffix(file, filepath.Ext(file)) + ".rejects.csv"
}
