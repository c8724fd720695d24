// Command gencsv writes a realistic Clerk Dashboard CSV export of N users,
// the same bytes for the same seed, for benchmarks and manual tests:
//
//	go run ./cmd/gencsv -rows 1000000 -o users.csv
//	go run ./cmd/gencsv -rows 1000000 -heavy -o heavy.csv
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/clerksync/clerksync/internal/csvgen"
)

func main() {
	rows := flag.Int("rows", 1000, "data rows to write")
	seed := flag.Uint64("seed", 1, "random seed: the same seed writes the same file")
	bad := flag.Float64("bad", 0, "share of rows an import must reject, e.g. 0.02")
	heavy := flag.Bool("heavy", false, "the heavier shape: ids in random order, about 2 emails and 0.5 phones per user")
	out := flag.String("o", "-", "output file, - for stdout")
	flag.Usage = func() {
		fmt.Fprintln(os.Stderr, "Usage: gencsv [-rows N] [-seed S] [-bad F] [-heavy] [-o FILE]\n\nWrites a realistic Clerk Dashboard CSV export.\n\nFlags:")
		flag.PrintDefaults()
	}
	flag.Parse()
	if err := run(csvgen.Options{Rows: *rows, Seed: *seed, BadRows: *bad, Heavy: *heavy}, *out); err != nil {
		fmt.Fprintln(os.Stderr, "gencsv:", err)
		os.Exit(1)
	}
}

func run(opt csvgen.Options, out string) error {
	var w io.Writer = os.Stdout
	if out != "-" {
		f, err := os.Create(out)
		if err != nil {
			return err
		}
		defer f.Close()
		w = f
	}
	bw := bufio.NewWriterSize(w, 1<<20)
	st, err := csvgen.Write(bw, opt)
	if err != nil {
		return err
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "gencsv: %d rows (%d good, %d bad), %d bytes\n", st.Rows, st.Good, st.Bad, st.Bytes)
	return nil
}
