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
	{"tasks", "list, retry and delete queued syncs: ids, states and times, never payloads", cmdTasks},
	{"healthcheck", "exit 0 when the local process's /readyz answers 200 (container health checks)", cmdHealthcheck},
	{"version", "print the version, commit and Go version", cmdVersion},
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
	if len(args) == 0 {
		usage(e.Stderr)
		return 2
	}
	switch args[0] {
	case "-h", "-help", "--help":
		usage(e.Stderr)
		return 0
	case "help":
		if len(args) == 1 {
			usage(e.Stderr)
			return 0
		}
		// "help tasks ls" is "tasks ls -h".
		return Main(ctx, e, append(append([]string{}, args[1:]...), "-h"))
	case "-version", "--version":
		args = []string{"version"}
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
		fmt.Fprintf(w, "  %-11s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "\nConfiguration comes from the environment: DATABASE_URL, DATABASE_SCHEMA, REDIS_URL,\n"+
		"CLERK_WEBHOOK_SIGNING_SECRET, LISTEN_ADDR, ADMIN_USER, ADMIN_PASSWORD, LOG_FORMAT, LOG_LEVEL,\n"+
		"WORKER_CONCURRENCY, TASK_RETENTION, SHUTDOWN_TIMEOUT, CLERK_SECRET_KEY, CLERK_API_URL, CLERK_API_RATE,\n"+
		"RECONCILE_EVERY (see README.md). Run clerksync COMMAND -h (or clerksync help COMMAND) for a\n"+
		"command's flags.")
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

// parseFlags parses args. -h prints the command's usage; a bad flag is one
// line naming the flag and pointing at -h (exit 2), not the whole usage.
func parseFlags(fs *flag.FlagSet, args []string) error {
	usage, out := fs.Usage, fs.Output()
	fs.Usage = func() {}
	fs.SetOutput(io.Discard)
	err := fs.Parse(args)
	fs.Usage = usage
	fs.SetOutput(out)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, flag.ErrHelp):
		usage()
		return err
	default:
		return usageError("%v (clerksync %s -h lists the flags)", err, fs.Name())
	}
}

// usageError is a usage mistake: one line, exit status 2.
func usageError(format string, args ...any) error {
	return &exitError{code: 2, msg: fmt.Sprintf(format, args...)}
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

func isTerminal(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
