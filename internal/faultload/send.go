package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	svix "github.com/svix/svix-webhooks/go"
)

// Attempt is one POST of a delivery and its answer.
type Attempt struct {
	Start   float64 `json:"start"` // Unix seconds
	End     float64 `json:"end"`
	Status  int     `json:"status"`            // 0 when no answer came
	Outcome string  `json:"outcome,omitempty"` // the answer's "status": queued, duplicate, ...
	Err     string  `json:"err,omitempty"`
}

// Record is one send of a delivery (a copy of the same svix-id is another
// record) with every attempt it took.
type Record struct {
	ID       string    `json:"id"`
	Kind     string    `json:"kind,omitempty"` // poison events only
	Attempts []Attempt `json:"attempts"`
}

// OK reports whether some attempt of the record was answered 2xx.
func (r Record) OK() bool {
	for _, a := range r.Attempts {
		if a.Status >= 200 && a.Status <= 299 {
			return true
		}
	}
	return false
}

// Ledger is what a sender did: its plan and a record per send.
type Ledger struct {
	Plan    Plan     `json:"plan"`
	Poison  bool     `json:"poison,omitempty"`
	Records []Record `json:"records"`
}

func readLedger(path string) (Ledger, error) {
	var l Ledger
	b, err := os.ReadFile(path)
	if err != nil {
		return l, err
	}
	if err := json.Unmarshal(b, &l); err != nil {
		return l, fmt.Errorf("ledger %s: %w", path, err)
	}
	return l, nil
}

func writeLedger(path string, l Ledger) error {
	b, err := json.Marshal(l)
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o644)
}

// sender posts deliveries as Svix does: signed, and again with backoff
// until a 2xx answer or retryFor has passed since the first attempt.
type sender struct {
	urls     []string
	wh       *svix.Webhook
	client   *http.Client
	retryFor time.Duration
	sem      chan struct{}
}

type senderFlags struct {
	urls        string
	concurrency int
	retryFor    time.Duration
	timeout     time.Duration
}

func (f *senderFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.urls, "url", "http://127.0.0.1:8080/webhooks/clerk", "receiver `URLs`, comma-separated: sends go round-robin")
	fs.IntVar(&f.concurrency, "concurrency", 32, "requests in flight at most")
	fs.DurationVar(&f.retryFor, "retry-for", 2*time.Minute, "retry a delivery not answered 2xx for this long after its first attempt (0: never)")
	fs.DurationVar(&f.timeout, "timeout", 15*time.Second, "per-request timeout (Svix waits 15 s)")
}

func (f senderFlags) sender() (*sender, error) {
	secret, err := firstSecret()
	if err != nil {
		return nil, err
	}
	wh, err := svix.NewWebhook(secret)
	if err != nil {
		return nil, errors.New("CLERK_WEBHOOK_SIGNING_SECRET: want whsec_ followed by base64")
	}
	urls := strings.Split(f.urls, ",")
	return &sender{
		urls: urls, wh: wh, retryFor: f.retryFor, sem: make(chan struct{}, max(1, f.concurrency)),
		client: &http.Client{Timeout: f.timeout, Transport: &http.Transport{
			MaxIdleConns: f.concurrency * 2, MaxIdleConnsPerHost: f.concurrency, IdleConnTimeout: 30 * time.Second,
		}},
	}, nil
}

func unixNow() float64 { return float64(time.Now().UnixNano()) / 1e9 }

// deliver posts one delivery until it is answered 2xx, a 4xx says it never
// will be (Svix stops on those too, in effect), retryFor has passed or ctx
// ends.
func (s *sender) deliver(ctx context.Context, url, id string, body []byte) []Attempt {
	var attempts []Attempt
	first := time.Now()
	backoff := 250 * time.Millisecond
	for {
		s.sem <- struct{}{}
		a := s.post(ctx, url, id, body)
		<-s.sem
		attempts = append(attempts, a)
		if a.Status >= 200 && a.Status <= 299 || a.Status >= 400 && a.Status <= 499 && a.Status != 408 && a.Status != 429 {
			return attempts
		}
		if s.retryFor <= 0 || time.Since(first)+backoff > s.retryFor {
			return attempts
		}
		select {
		case <-ctx.Done():
			return attempts
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 2*time.Second)
	}
}

func (s *sender) post(ctx context.Context, url, id string, body []byte) Attempt {
	a := Attempt{Start: unixNow()}
	now := time.Now()
	sig, err := s.wh.Sign(id, now, body)
	if err != nil {
		a.Err = "sign: " + err.Error()
		a.End = unixNow()
		return a
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		a.Err = err.Error()
		a.End = unixNow()
		return a
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("svix-id", id)
	req.Header.Set("svix-timestamp", strconv.FormatInt(now.Unix(), 10))
	req.Header.Set("svix-signature", sig)
	resp, err := s.client.Do(req)
	if err != nil {
		a.Err = shortErr(err)
		a.End = unixNow()
		return a
	}
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	resp.Body.Close()
	a.Status = resp.StatusCode
	var st struct {
		Status string `json:"status"`
	}
	if json.Unmarshal(answer, &st) == nil {
		a.Outcome = st.Status
	}
	a.End = unixNow()
	return a
}

// shortErr names the kind of a transport error without the URL.
func shortErr(err error) string {
	switch {
	case errors.Is(err, context.DeadlineExceeded) || strings.Contains(err.Error(), "Client.Timeout"):
		return "timeout"
	case strings.Contains(err.Error(), "connection refused"):
		return "refused"
	case strings.Contains(err.Error(), "connection reset") || strings.Contains(err.Error(), "EOF"):
		return "reset"
	}
	return "transport"
}

func cmdSend(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("send", flag.ContinueOnError)
	var p Plan
	p.flags(fs)
	var sf senderFlags
	sf.register(fs)
	dup := fs.Float64("dup", 0.3, "probability that a delivery is sent a second time (a Svix retry)")
	copies := fs.Int("copies", 0, "extra copies of every delivery (a replay storm)")
	rate := fs.Float64("rate", 0, "deliveries started per second (0: as fast as -concurrency allows)")
	maxDuration := fs.Duration("max-duration", 10*time.Minute, "stop whatever is left after this long")
	outPath := fs.String("out", "", "write the ledger to `FILE`")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := p.validate(); err != nil {
		return err
	}
	s, err := sf.sender()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, *maxDuration)
	defer cancel()
	_, evs := p.Events()
	order := sends(evs, p.Seed, *dup, *copies)
	records := make([]Record, len(order))
	start := time.Now()
	var wg sync.WaitGroup
	var tick <-chan time.Time
	if *rate > 0 {
		t := time.NewTicker(time.Duration(float64(time.Second) / *rate))
		defer t.Stop()
		tick = t.C
	}
launch:
	for k, i := range order {
		if tick != nil {
			select {
			case <-tick:
			case <-ctx.Done():
				break launch
			}
		} else if ctx.Err() != nil {
			break
		}
		e := evs[i]
		records[k].ID = e.ID
		url := s.urls[k%len(s.urls)]
		wg.Add(1)
		go func() {
			defer wg.Done()
			records[k].Attempts = s.deliver(ctx, url, e.ID, e.Body)
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	if *outPath != "" {
		if err := writeLedger(*outPath, Ledger{Plan: p, Records: records}); err != nil {
			return err
		}
	}
	summarize(out, records, len(evs), elapsed)
	return nil
}

// summarize prints a send's figures.
func summarize(out io.Writer, records []Record, events int, elapsed time.Duration) {
	var ok, firstOK, gaveUp, attempts, retried int
	var latencies []float64 // of 2xx answers
	outcomes := map[string]int{}
	statuses := map[string]int{}
	for _, r := range records {
		attempts += len(r.Attempts)
		if len(r.Attempts) > 1 {
			retried++
		}
		for _, a := range r.Attempts {
			st := strconv.Itoa(a.Status)
			if a.Status == 0 {
				st = a.Err
				if st == "" {
					st = "none"
				}
			}
			statuses[st]++
			if a.Status >= 200 && a.Status <= 299 {
				latencies = append(latencies, a.End-a.Start)
			}
		}
		if r.OK() {
			ok++
			last := r.Attempts[len(r.Attempts)-1]
			outcomes[last.Outcome]++
		} else {
			gaveUp++
		}
		if len(r.Attempts) > 0 && r.Attempts[0].Status >= 200 && r.Attempts[0].Status <= 299 {
			firstOK++
		}
	}
	figure(out, "events", events)
	figure(out, "sends", len(records))
	figure(out, "attempts", attempts)
	figure(out, "sends_2xx", ok)
	figure(out, "sends_2xx_first_try", firstOK)
	figure(out, "sends_retried", retried)
	figure(out, "sends_never_2xx", gaveUp)
	for _, k := range sortedKeys(outcomes) {
		figure(out, "outcome_"+k, outcomes[k])
	}
	for _, k := range sortedKeys(statuses) {
		figure(out, "answers_"+k, statuses[k])
	}
	sort.Float64s(latencies)
	figure(out, "latency_2xx_p50_ms", 1000*percentile(latencies, 0.50))
	figure(out, "latency_2xx_p99_ms", 1000*percentile(latencies, 0.99))
	figure(out, "seconds", elapsed.Seconds())
	figure(out, "sends_per_second", float64(len(records))/elapsed.Seconds())
}

// percentile of sorted values (0 for none).
func percentile(sorted []float64, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[min(len(sorted)-1, int(p*float64(len(sorted))))]
}
