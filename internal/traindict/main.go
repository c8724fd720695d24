// Command traindict builds a zstd dictionary for task payloads from
// generated Clerk user events (internal/clerkgen, seed 777: not the seed the
// benchmarks measure with), and writes it in zstd's dictionary format.
//
//	go run ./internal/traindict -id 32769 -o worker/payload/dicts/32769.zdict
//
// The builder is not deterministic (the same samples give a slightly
// different dictionary each run), which does not matter, since a shipped
// dictionary is never rebuilt or changed: payloads queued with it name its
// id, and every decoder keeps it. A new dictionary takes a new id (and a new
// file), and payload.Encode switches to it.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/klauspost/compress/dict"
	"github.com/klauspost/compress/zstd"

	"github.com/clerksync/clerksync/internal/clerkgen"
)

func main() {
	id := flag.Uint("id", 0, "the dictionary's id (32768 and up: zstd reserves the lower ones)")
	out := flag.String("o", "", "the file to write")
	size := flag.Int("size", 16<<10, "the dictionary's size in bytes")
	flag.Parse()
	if *id < 32768 || *out == "" {
		fmt.Fprintln(os.Stderr, "usage: traindict -id N (>= 32768) -o FILE [-size BYTES]")
		os.Exit(2)
	}
	fixture, err := os.ReadFile(filepath.Join("testdata", "20-user.created.composed-multi-contact.json"))
	if err != nil {
		fmt.Fprintln(os.Stderr, "traindict: run it from the module root:", err)
		os.Exit(1)
	}
	g, err := clerkgen.New(fixture)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	history, _ := g.History(clerkgen.Options{Events: 10000, Users: 2000, Delete: 0.1, Seed: 777})
	samples := make([][]byte, len(history))
	for i, d := range history {
		samples[i] = d.Body
	}
	d, err := dict.BuildZstdDict(samples, dict.Options{
		MaxDictSize: *size, HashBytes: 6, ZstdDictID: uint32(*id), ZstdDictCompat: true, ZstdLevel: zstd.SpeedDefault,
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "traindict:", err)
		os.Exit(1)
	}
	if err := os.WriteFile(*out, d, 0o644); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Printf("wrote %s: %d bytes, id %d, from %d samples\n", *out, len(d), *id, len(samples))
}
