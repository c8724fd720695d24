// Command faultload drives the fault scenarios of `make faults`
// (scripts/faults/): it sends signed Clerk user histories to receivers as Svix
// would (retrying each delivery until it is answered 2xx), records what every
// attempt got, and checks the mirror exactly against the events that were
// answered 2xx. It also reads the queue's figures from Redis, sends poison
// events, floods a receiver with forged requests and finds free ports.
//
// It reads CLERK_WEBHOOK_SIGNING_SECRET, DATABASE_URL, DATABASE_SCHEMA and
// REDIS_URL from the environment, as clerksync does. Figures are printed as
// key=value lines, for the scripts to pick up.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
)

type command struct {
	summary string
	run     func(ctx context.Context, args []string, out io.Writer) error
}

var commands = map[string]command{
	"freeport":    {"print a free loopback TCP port outside the shared services' ports", cmdFreeport},
	"send":        {"send a plan's histories, signed, retrying until 2xx; write a ledger", cmdSend},
	"check":       {"compare the mirror with what the ledgers' 2xx'd events lead to", cmdCheck},
	"window":      {"count a ledger's attempts and 2xx answers inside a time window", cmdWindow},
	"queue":       {"print the queue's figures (states, retry counts)", cmdQueue},
	"drain":       {"wait until the queue is drained; print when it first moved and when it emptied", cmdDrain},
	"poison":      {"send poison events (one user each); write a ledger", cmdPoison},
	"poisoncheck": {"report what became of the poison events: refused, archived, retried, applied", cmdPoisonCheck},
	"flood":       {"send forged (bad-signature) requests; print requests/s and answers", cmdFlood},
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if len(os.Args) < 2 {
		usage()
		os.Exit(2)
	}
	c, ok := commands[os.Args[1]]
	if !ok {
		usage()
		os.Exit(2)
	}
	err := c.run(ctx, os.Args[2:], os.Stdout)
	var fail failure
	switch {
	case err == nil:
	case errors.Is(err, flag.ErrHelp):
	case errors.As(err, &fail):
		// The figures are printed; the exit status says the goal was missed.
		os.Exit(1)
	default:
		fmt.Fprintf(os.Stderr, "faultload %s: %s\n", os.Args[1], strings.Join(strings.Fields(err.Error()), " "))
		os.Exit(2)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "Usage: faultload COMMAND [flags]  (COMMAND -h for its flags)\n\nCommands:")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(os.Stderr, "  %-12s %s\n", n, commands[n].summary)
	}
}

// failure is a check that ran and found the goal missed (exit 1), as
// opposed to an error that kept it from running (exit 2).
type failure string

func (f failure) Error() string { return string(f) }

// figure prints one key=value line.
func figure(w io.Writer, key string, value any) {
	switch v := value.(type) {
	case float64:
		fmt.Fprintf(w, "%s=%.3f\n", key, v)
	case bool:
		b := 0
		if v {
			b = 1
		}
		fmt.Fprintf(w, "%s=%d\n", key, b)
	default:
		fmt.Fprintf(w, "%s=%v\n", key, v)
	}
}

func env(name, def string) string {
	if v, ok := os.LookupEnv(name); ok && v != "" {
		return v
	}
	return def
}

// firstSecret is the first of CLERK_WEBHOOK_SIGNING_SECRET's secrets.
func firstSecret() (string, error) {
	f := strings.FieldsFunc(os.Getenv("CLERK_WEBHOOK_SIGNING_SECRET"), func(r rune) bool { return r == ',' || r == ' ' })
	if len(f) == 0 {
		return "", errors.New("CLERK_WEBHOOK_SIGNING_SECRET is not set")
	}
	return f[0], nil
}
