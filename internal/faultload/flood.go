package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"flag"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// cmdFlood posts requests with well-formed headers and a forged signature,
// as an attacker who knows the endpoint but not the secret would. It is
// bounded both in count and in time.
func cmdFlood(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("flood", flag.ContinueOnError)
	url := fs.String("url", "http://127.0.0.1:8080/webhooks/clerk", "receiver `URL` (loopback only)")
	n := fs.Int("n", 50000, "requests to send")
	concurrency := fs.Int("concurrency", 32, "requests in flight")
	maxDuration := fs.Duration("max-duration", 2*time.Minute, "stop after this long whatever is left")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, *maxDuration)
	defer cancel()
	body := []byte(`{"type":"user.created","object":"event","timestamp":1752566400000,"data":{"id":"user_forged","object":"user"}}`)
	client := &http.Client{Timeout: 15 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: *concurrency}}
	var next atomic.Int64
	var mu sync.Mutex
	statuses := map[string]int{}
	var wg sync.WaitGroup
	start := time.Now()
	for range *concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			local := map[string]int{}
			for ctx.Err() == nil {
				i := next.Add(1)
				if i > int64(*n) {
					break
				}
				local[forge(ctx, client, *url, i, body)]++
			}
			mu.Lock()
			for k, v := range local {
				statuses[k] += v
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	total := 0
	for _, v := range statuses {
		total += v
	}
	figure(out, "requests", total)
	figure(out, "seconds", elapsed.Seconds())
	figure(out, "requests_per_second", float64(total)/elapsed.Seconds())
	for _, k := range sortedKeys(statuses) {
		figure(out, "answers_"+k, statuses[k])
	}
	return nil
}

// forge sends one request signed with a random key and names its answer.
func forge(ctx context.Context, client *http.Client, url string, i int64, body []byte) string {
	sig := make([]byte, 32)
	rand.Read(sig)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return "error"
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("svix-id", fmt.Sprintf("msg_forged_%d", i))
	req.Header.Set("svix-timestamp", strconv.FormatInt(time.Now().Unix(), 10))
	req.Header.Set("svix-signature", "v1,"+base64.StdEncoding.EncodeToString(sig))
	resp, err := client.Do(req)
	if err != nil {
		return shortErr(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return strconv.Itoa(resp.StatusCode)
}
