package main

import (
	"context"
	"flag"
	"fmt"
	"io"
)

func cmdFreeport(_ context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("freeport", flag.ContinueOnError)
	if err := fs.Parse(args); err != nil {
		return err
	}
	port, err := freePort()
	if err != nil {
		return err
	}
	fmt.Fprintln(out, port)
	return nil
}

// cmdWindow counts the attempts that started and ended inside [from, to]:
// while a service was away, none of them may have been answered 2xx. It also
// counts the attempts answered inside the window whenever they started, and
// those started inside it but answered after it.
func cmdWindow(_ context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("window", flag.ContinueOnError)
	var ledgers ledgerList
	fs.Var(&ledgers, "ledger", "ledger `FILE`s")
	fromFlag := fs.String("from", "", "window start, Unix seconds")
	toFlag := fs.String("to", "", "window end, Unix seconds")
	prefix := fs.String("prefix", "", "prefix of the printed keys")
	if err := fs.Parse(args); err != nil {
		return err
	}
	from, err := parseSince(*fromFlag)
	if err != nil {
		return err
	}
	to, err := parseSince(*toFlag)
	if err != nil {
		return err
	}
	f, t := float64(from.UnixNano())/1e9, float64(to.UnixNano())/1e9
	var inside, ok, unavailable, noAnswer, other int
	// Answered while away (whenever sent), and sent while away but answered
	// after (a request held by a frozen Redis).
	var answeredIn, answeredIn2xx, heldOver, heldOver2xx int
	longest := 0.0 // the slowest answer to an attempt started inside
	// The first 2xx answer to an attempt started after the window: how soon
	// the receiver took deliveries again.
	firstAfter := -1.0
	for _, path := range ledgers {
		l, err := readLedger(path)
		if err != nil {
			return err
		}
		for _, r := range l.Records {
			for _, a := range r.Attempts {
				if a.Start >= t && a.Status >= 200 && a.Status <= 299 && (firstAfter < 0 || a.End-t < firstAfter) {
					firstAfter = a.End - t
				}
				is2xx := a.Status >= 200 && a.Status <= 299
				if a.End >= f && a.End <= t {
					answeredIn++
					if is2xx {
						answeredIn2xx++
					}
				}
				if a.Start >= f && a.Start <= t {
					longest = max(longest, a.End-a.Start)
				}
				if a.Start >= f && a.Start <= t && a.End > t {
					heldOver++
					if is2xx {
						heldOver2xx++
					}
				}
				if a.Start < f || a.End > t {
					continue
				}
				inside++
				switch {
				case a.Status >= 200 && a.Status <= 299:
					ok++
				case a.Status == 503:
					unavailable++
				case a.Status == 0:
					noAnswer++
				default:
					other++
				}
			}
		}
	}
	figure(out, *prefix+"attempts", inside)
	figure(out, *prefix+"answers_2xx", ok)
	figure(out, *prefix+"answers_503", unavailable)
	figure(out, *prefix+"no_answer", noAnswer)
	figure(out, *prefix+"answers_other", other)
	figure(out, *prefix+"first_2xx_after_s", firstAfter)
	figure(out, *prefix+"answered_inside", answeredIn)
	figure(out, *prefix+"answered_inside_2xx", answeredIn2xx)
	figure(out, *prefix+"held_over", heldOver)
	figure(out, *prefix+"held_over_2xx", heldOver2xx)
	figure(out, *prefix+"longest_s", longest)
	return nil
}
