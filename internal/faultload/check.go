package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"reflect"
	"sort"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/clerksync/clerksync/db"
	"github.com/clerksync/clerksync/internal/simclerk"
)

// poisonPrefix starts the ids of poison users, which check leaves to
// poisoncheck.
const poisonPrefix = "user_poison"

// verdict is what the mirror holds for one user, compared with the ledgers.
type verdict string

const (
	exact verdict = "exact"
	// lost: the mirror lacks the effect of an event that was answered 2xx.
	lost verdict = "lost"
	// extra: the mirror shows an event that was sent but never answered
	// 2xx (a 503 whose task was stored after all, or a send cut short).
	extra verdict = "extra"
	// wrong: the mirror holds a state no set of the events leads to.
	wrong verdict = "wrong"
)

// judge compares one user's rows with what its 2xx'd events lead to and,
// when they differ, says how.
func judge(h simclerk.History, evs []Event, got, tried func(string) bool, actual simclerk.Rows) verdict {
	if sameRows(actual, expectedRows(h, evs, got)) {
		return exact
	}
	if sameRows(actual, expectedRows(h, evs, tried)) {
		return extra
	}
	// An older state than the 2xx'd events lead to, or none: something was lost.
	if sameRows(actual, simclerk.NewRows()) {
		return lost
	}
	for _, s := range h.Snapshots {
		if sameRows(actual, simclerk.SnapshotRows(s)) {
			return lost
		}
	}
	return wrong
}

func sameRows(a, b simclerk.Rows) bool {
	for _, t := range simclerk.Tables {
		if len(a[t]) == 0 && len(b[t]) == 0 {
			continue
		}
		if !reflect.DeepEqual(a[t], b[t]) {
			return false
		}
	}
	return true
}

// mirrorRows reads every mirror row, grouped by user id.
func mirrorRows(ctx context.Context, conn *sqlx.DB) (map[string]simclerk.Rows, error) {
	out := map[string]simclerk.Rows{}
	for _, table := range simclerk.Tables {
		rows, err := conn.QueryContext(ctx, simclerk.RowQueries[table])
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", table, err)
		}
		for rows.Next() {
			var user, row string
			if err := rows.Scan(&user, &row); err != nil {
				rows.Close()
				return nil, fmt.Errorf("read %s: %w", table, err)
			}
			if out[user] == nil {
				out[user] = simclerk.NewRows()
			}
			out[user][table] = append(out[user][table], row)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("read %s: %w", table, err)
		}
	}
	for _, r := range out {
		r.Sort()
	}
	return out, nil
}

func openMirror(ctx context.Context) (*sqlx.DB, error) {
	return db.Open(ctx, env("DATABASE_URL", ""), env("DATABASE_SCHEMA", ""), 2)
}

type ledgerList []string

func (l *ledgerList) String() string     { return strings.Join(*l, ",") }
func (l *ledgerList) Set(v string) error { *l = append(*l, strings.Split(v, ",")...); return nil }

func cmdCheck(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("check", flag.ContinueOnError)
	var ledgers ledgerList
	fs.Var(&ledgers, "ledger", "ledger `FILE`s from send (repeat or comma-separate); sends of the same plan add up")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if len(ledgers) == 0 {
		return fmt.Errorf("no -ledger")
	}
	plans := map[string]Plan{}
	got, tried := map[string]bool{}, map[string]bool{}
	sendsOK, sendsNever := 0, 0
	for _, path := range ledgers {
		l, err := readLedger(path)
		if err != nil {
			return err
		}
		if l.Poison {
			continue
		}
		if p, ok := plans[l.Plan.Prefix]; ok && p != l.Plan {
			return fmt.Errorf("ledger %s: plan %+v differs from %+v with the same prefix", path, l.Plan, p)
		}
		plans[l.Plan.Prefix] = l.Plan
		for _, r := range l.Records {
			if len(r.Attempts) > 0 {
				tried[r.ID] = true
			}
			if r.OK() {
				got[r.ID] = true
				sendsOK++
			} else if len(r.Attempts) > 0 {
				sendsNever++
			}
		}
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	conn, err := openMirror(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	actual, err := mirrorRows(ctx, conn)
	if err != nil {
		return err
	}
	counts := map[verdict]int{}
	examples := map[verdict][]string{}
	known := map[string]bool{}
	users, eventsOK, eventsNever := 0, 0, 0
	for _, prefix := range sortedKeys(plans) {
		p := plans[prefix]
		hs, evs := p.Events()
		byUser := make([][]Event, len(hs))
		for _, e := range evs {
			byUser[e.User] = append(byUser[e.User], e)
			if got[e.ID] {
				eventsOK++
			} else if tried[e.ID] {
				eventsNever++
			}
		}
		for i, h := range hs {
			id := p.userID(i)
			known[id] = true
			users++
			rows := actual[id]
			if rows == nil {
				rows = simclerk.NewRows()
			}
			v := judge(h, byUser[i], func(s string) bool { return got[s] }, func(s string) bool { return tried[s] }, rows)
			counts[v]++
			if v != exact && len(examples[v]) < 5 {
				examples[v] = append(examples[v], id)
			}
		}
	}
	var unexpected []string
	for id := range actual {
		if !known[id] && !strings.HasPrefix(id, poisonPrefix) {
			unexpected = append(unexpected, id)
		}
	}
	sort.Strings(unexpected)
	figure(out, "users", users)
	figure(out, "events_2xx", eventsOK)
	figure(out, "events_never_2xx", eventsNever)
	figure(out, "sends_2xx", sendsOK)
	figure(out, "sends_never_2xx", sendsNever)
	for _, v := range []verdict{exact, lost, extra, wrong} {
		figure(out, "users_"+string(v), counts[v])
		if len(examples[v]) > 0 {
			figure(out, "examples_"+string(v), strings.Join(examples[v], ","))
		}
	}
	figure(out, "users_unexpected", len(unexpected))
	if len(unexpected) > 0 {
		figure(out, "examples_unexpected", strings.Join(unexpected[:min(5, len(unexpected))], ","))
	}
	ok := counts[exact] == users && len(unexpected) == 0
	figure(out, "exact", ok)
	if !ok {
		return failure("the mirror differs")
	}
	return nil
}
