// Command clerksync keeps a Postgres mirror of an application's Clerk users:
// it receives Clerk's signed webhooks, queues them in Redis (Asynq), applies
// them to Postgres, and imports Clerk Dashboard CSV exports.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/clerksync/clerksync/config"
)

// Env is what a command gets from the process: its streams and environment.
type Env struct {
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	Lookup func(string) (string, bool)
	// StderrIsTerminal says whether to draw progress bars.
	StderrIsTerminal bool
}

// Config loads and validates the configuration from the environment.
func (e *Env) Config() (config.Config, error) { return config.Load(e.Lookup) }

type command struct {
	name    string
	summary string
	run     func(ctx context.Context, e *Env, args []string) error
}

// commands is the table of subcommands; each lives in a file of its name.
var commands = []command{
	{"migrate", "apply the embedded schema migrations (safe to run again and concurrently)", cmdMigrate},
	{"serve", "run the webhook receiver, health checks, metrics and the queue dashboard", cmdServe},
	{"work", "run the worker that applies queued events to Postgres", cmdWork},
	{"run", "migrate, then serve and work in one process (local and small deployments)", cmdRun},
	{"import", "bulk-load a Clerk Dashboard CSV export (FILE, or - for stdin)", cmdImport},
	{"backfill", "load every user from Clerk's Backend API through the guarded write path (resumable)", cmdBackfill},
	{"reconcile", "compare the mirror with Clerk's Backend API, report drift and, with --apply, repair it", cmdReconcile},
	{"send", "sign a sample Clerk event (or a JSON file) and post it to the receiver", cmdSend},
}

// exitError carries a specific exit status; its message is already printed
// when msg is empty.
type exitError struct {
	code int
	msg  string
}

func (e *exitError) Error() string { return e.msg }

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	e := &Env{
		Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr, Lookup: os.LookupEnv,
		StderrIsTerminal: isTerminal(os.Stderr),
	}
	os.Exit(Main(ctx, e, os.Args[1:]))
}

// Main runs one subcommand and returns the process exit status; every
// failure is one line on stderr.
func Main(ctx context.Context, e *Env, args []string) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(e.Stderr)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	for _, c := range commands {
		if c.name != args[0] {
			continue
		}
		err := c.run(ctx, e, args[1:])
		var ee *exitError
		switch {
		case err == nil:
			return 0
		case errors.Is(err, flag.ErrHelp):
			return 0
		case errors.As(err, &ee):
			if ee.msg != "" {
				fmt.Fprintf(e.Stderr, "clerksync %s: %s\n", c.name, oneLine(ee.msg))
			}
			return ee.code
		default:
			fmt.Fprintf(e.Stderr, "clerksync %s: %s\n", c.name, oneLine(err.Error()))
			return 1
		}
	}
	fmt.Fprintf(e.Stderr, "clerksync: unknown command %q (clerksync -h lists them)\n", args[0])
	return 2
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "Usage: clerksync COMMAND [flags]\n\nKeeps a Postgres mirror of your Clerk users.\n\nCommands:")
	for _, c := range commands {
		fmt.Fprintf(w, "  %-9s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "\nConfiguration comes from the environment: DATABASE_URL, DATABASE_SCHEMA, REDIS_URL,\n"+
		"CLERK_WEBHOOK_SIGNING_SECRET, LISTEN_ADDR, ADMIN_USER, ADMIN_PASSWORD, LOG_FORMAT, LOG_LEVEL,\n"+
		"WORKER_CONCURRENCY, TASK_RETENTION, SHUTDOWN_TIMEOUT, CLERK_SECRET_KEY, CLERK_API_URL, CLERK_API_RATE,\n"+
		"RECONCILE_EVERY (see README.md). Run clerksync COMMAND -h for a command's flags.")
}

// newFlags returns a flag set whose -h prints the command's usage to stderr.
func newFlags(e *Env, name, argsUsage, summary string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(e.Stderr)
	fs.Usage = func() {
		fmt.Fprintf(e.Stderr, "Usage: clerksync %s %s\n\n%s\n", name, argsUsage, summary)
		var any bool
		fs.VisitAll(func(*flag.Flag) { any = true })
		if any {
			fmt.Fprintln(e.Stderr, "\nFlags:")
			fs.PrintDefaults()
		}
	}
	return fs
}

// parseFlags parses args; a usage error exits 2 after the flag package has
// printed its line.
func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return &exitError{code: 2}
	}
	return nil
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

func isTerminal(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
