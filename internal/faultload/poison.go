package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/hibiken/asynq"

	"github.com/clerksync/clerksync/internal/simclerk"
	"github.com/clerksync/clerksync/worker"
)

// year10000 is 10000-01-01 in Unix milliseconds: a time Clerk never sends,
// outside what Go's JSON and RFC 3339 can write.
const year10000 = 253402300800000

// The kinds of poison: events that can never be applied as they are, and
// one (nul_metadata) that must be applied with U+FFFD for the NUL.
var poisonKinds = []struct {
	name string
	// door: the contract says the receiver refuses it with 400.
	door bool
	// applies: it must reach the mirror (NULs become U+FFFD).
	applies bool
	body    func(id string) []byte
}{
	{"year10000_updated_at", false, false, func(id string) []byte {
		s := poisonSnapshot(id)
		s.UpdatedAt = year10000
		return simclerk.UserEvent(s)
	}},
	{"year10000_deleted", false, false, func(id string) []byte { return simclerk.DeleteEvent(id, "", year10000) }},
	{"invalid_utf8", true, false, func(id string) []byte {
		return bytes.Replace(simclerk.UserEvent(poisonSnapshot(id)), []byte(`"POISONMARK"`), []byte("\"bad\xff\xfename\""), 1)
	}},
	{"number_for_string", true, false, func(id string) []byte {
		return bytes.Replace(simclerk.UserEvent(poisonSnapshot(id)), []byte(`"POISONMARK"`), []byte(`12345`), 1)
	}},
	{"nul_metadata", false, true, func(id string) []byte {
		return bytes.Replace(simclerk.UserEvent(poisonSnapshot(id)), []byte(`"unsafe_metadata":{}`), []byte(`"unsafe_metadata":{"note":"a\u0000b"}`), 1)
	}},
}

// nulStored is what the NUL event's note must read in the mirror.
const nulStored = "a\uFFFDb"

func poisonSnapshot(id string) simclerk.Snapshot {
	return simclerk.Snapshot{ID: id, UpdatedAt: 1752566400000, First: "updated", Last: "POISONMARK", Plan: "free",
		Emails:       []simclerk.Contact{{ID: "idn_" + id[5:] + "_em", Value: "poison@example.com", Verified: true}},
		PrimaryEmail: 0, PrimaryPhone: -1, PrimaryWallet: -1}
}

func cmdPoison(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("poison", flag.ContinueOnError)
	var sf senderFlags
	sf.register(fs)
	perKind := fs.Int("per-kind", 4, "events of each kind")
	outPath := fs.String("out", "", "write the ledger to `FILE`")
	if err := fs.Parse(args); err != nil {
		return err
	}
	s, err := sf.sender()
	if err != nil {
		return err
	}
	start := time.Now()
	var records []Record
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, k := range poisonKinds {
		for j := range *perKind {
			id := fmt.Sprintf("%s_%s_%d", poisonPrefix, k.name, j)
			msg := fmt.Sprintf("msg_poison_%s_%d", k.name, j)
			wg.Add(1)
			go func() {
				defer wg.Done()
				attempts := s.deliver(ctx, s.urls[0], msg, k.body(id))
				mu.Lock()
				records = append(records, Record{ID: msg, Kind: k.name, Attempts: attempts})
				mu.Unlock()
			}()
		}
	}
	wg.Wait()
	if *outPath != "" {
		if err := writeLedger(*outPath, Ledger{Poison: true, Records: records}); err != nil {
			return err
		}
	}
	summarize(out, records, len(records), time.Since(start))
	return nil
}

// poisonFate is what became of one poison event.
type poisonFate struct {
	status   int    // the last answer
	state    string // the task's state, "" when no task is in Redis
	retried  int
	inMirror bool
	nulOK    bool
}

func cmdPoisonCheck(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("poisoncheck", flag.ContinueOnError)
	ledgerPath := fs.String("ledger", "", "the poison `FILE`")
	if err := fs.Parse(args); err != nil {
		return err
	}
	l, err := readLedger(*ledgerPath)
	if err != nil {
		return err
	}
	insp, err := inspector()
	if err != nil {
		return err
	}
	defer insp.Close()
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	conn, err := openMirror(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	fates := map[string][]poisonFate{}
	for _, r := range l.Records {
		var f poisonFate
		if n := len(r.Attempts); n > 0 {
			f.status = r.Attempts[n-1].Status
		}
		info, err := insp.GetTaskInfo(worker.Queue, r.ID)
		switch {
		case err == nil:
			f.state, f.retried = info.State.String(), info.Retried
		case errors.Is(err, asynq.ErrTaskNotFound) || errors.Is(err, asynq.ErrQueueNotFound):
		default:
			return fmt.Errorf("task %s: %w", r.ID, err)
		}
		user := poisonPrefix + strings.TrimPrefix(r.ID, "msg_poison")
		var n int
		if err := conn.GetContext(ctx, &n, `SELECT (SELECT count(*) FROM users WHERE id = $1) + (SELECT count(*) FROM deleted_users WHERE id = $1)`, user); err != nil {
			return err
		}
		f.inMirror = n > 0
		if r.Kind == "nul_metadata" && f.inMirror {
			var note *string
			if err := conn.GetContext(ctx, &note, `SELECT unsafe_metadata->>'note' FROM users WHERE id = $1`, user); err == nil && note != nil {
				f.nulOK = *note == nulStored
			}
		}
		fates[r.Kind] = append(fates[r.Kind], f)
	}
	goalDoor, goalArchived, goalNul := true, true, true
	for _, k := range poisonKinds {
		var sent, refused, ok2xx, archivedFirst, archivedLater, retrying, waiting, completed, inMirror, nulOK int
		for _, f := range fates[k.name] {
			sent++
			switch {
			case f.status == 400:
				refused++
			case f.status >= 200 && f.status <= 299:
				ok2xx++
			}
			switch {
			case f.state == "archived" && f.retried == 0:
				archivedFirst++
			case f.state == "archived":
				archivedLater++
			case f.state == "retry" || f.retried > 0 && f.state != "completed":
				retrying++
			case f.state == "completed":
				completed++
			case f.state != "":
				waiting++
			}
			if f.inMirror {
				inMirror++
			}
			if f.nulOK {
				nulOK++
			}
			switch {
			case k.applies:
				goalNul = goalNul && f.nulOK
			default:
				// Refused at the door, or archived on the first try; never
				// retried, never in the mirror.
				never := f.status == 400 || f.state == "archived" && f.retried == 0
				goalArchived = goalArchived && never && !f.inMirror
			}
			if k.door {
				goalDoor = goalDoor && f.status == 400
			}
		}
		p := "poison_" + k.name + "_"
		figure(out, p+"sent", sent)
		figure(out, p+"refused_400", refused)
		figure(out, p+"answered_2xx", ok2xx)
		figure(out, p+"archived_first_try", archivedFirst)
		figure(out, p+"archived_after_retries", archivedLater)
		figure(out, p+"retrying", retrying)
		figure(out, p+"pending_or_active", waiting)
		figure(out, p+"completed", completed)
		figure(out, p+"in_mirror", inMirror)
		if k.applies {
			figure(out, p+"stored_with_fffd", nulOK)
		}
	}
	figure(out, "goal_door_400", goalDoor)
	figure(out, "goal_archived_at_once", goalArchived)
	figure(out, "goal_nul_fffd", goalNul)
	if !goalDoor || !goalArchived || !goalNul {
		return failure("poison goals missed")
	}
	return nil
}
