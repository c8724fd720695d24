package importer

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"errors"
	"io"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"

	"github.com/clerksync/clerksync/internal/csvgen"
)

// encodingCSV reads input with encoding/csv as the importer used to:
// each record's start line and fields, or its start line and no fields
// when it is malformed.
func encodingCSV(input string) [][]string {
	r := csv.NewReader(strings.NewReader(input))
	r.FieldsPerRecord = -1
	var out [][]string
	for {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			return out
		}
		var pe *csv.ParseError
		if errors.As(err, &pe) {
			out = append(out, []string{"bad", itoa(pe.StartLine)})
			continue
		}
		line, _ := r.FieldPos(0)
		out = append(out, append([]string{itoa(line)}, rec...))
	}
}

func ours(input string) [][]string {
	c := newCSVReader(bufio.NewReaderSize(strings.NewReader(input), 16))
	var out [][]string
	for {
		rec, err := c.read()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			panic(err)
		}
		if rec.bad != "" {
			out = append(out, []string{"bad", itoa(rec.line)})
			continue
		}
		out = append(out, append([]string{itoa(rec.line)}, rec.fields...))
	}
}

func itoa(n int) string { return strings.Repeat("|", n) }

// TestCSVReaderAgreesWithEncodingCSV: on well-formed and malformed input
// alike the importer's reader finds the records encoding/csv finds, with
// the same fields and start lines, and fails the same records.
func TestCSVReaderAgreesWithEncodingCSV(t *testing.T) {
	cases := []string{
		"", "\n", "a", "a\n", "a,b\r\nc,d\r\n", "a,,\n\n\n,b\n", `"a""b",c` + "\n", "\"multi\r\nline\",x\r\ny\r\n",
		`a,"b` + "\n", `a,b"c,d` + "\ny\n", `"a"b,c` + "\nz\n", `"a` + "\n\"x\n", "a\r", "a,\"\"\n", `""""` + "\n",
		"a,b\n\"c\n\nd\",e\n", "x,\"y\"\r", " a , \"b\" \n",
	}
	rnd := rand.New(rand.NewPCG(7, 8))
	alphabet := []string{"a", "b", ",", `"`, "\n", "\r\n", " ", "\r"}
	for range 5000 {
		var b strings.Builder
		for range rnd.IntN(24) {
			b.WriteString(alphabet[rnd.IntN(len(alphabet))])
		}
		cases = append(cases, b.String())
	}
	for _, opt := range []csvgen.Options{{Rows: 3000, Seed: 1, BadRows: 0.05}, {Rows: 3000, Seed: 2, Heavy: true}} {
		var buf bytes.Buffer
		csvgen.Write(&buf, opt)
		cases = append(cases, strings.TrimPrefix(buf.String(), "\ufeff"))
	}
	for _, in := range cases {
		if got, want := ours(in), encodingCSV(in); !reflect.DeepEqual(got, want) {
			t.Fatalf("input %.200q:\n got %.200q\nwant %.200q", in, got, want)
		}
	}
}

func TestCSVReaderReportsWhatAQuoteSwallowed(t *testing.T) {
	tests := []struct {
		name, input string
		line        int
		fields      []string
		reason      string
	}{
		{"UnterminatedToTheEnd", "user_a,\"Bob\nx\ny\n", 1, []string{"user_a"},
			"malformed CSV: the quoted field opened on line 1 is never closed: lines 1-3 (3 lines, to the end of the file) were read as one row"},
		{"ClosedLaterByAStrayQuote", "user_a,\"Bob\nx\ny\"z,w\nnext\n", 1, []string{"user_a"},
			"malformed CSV: extraneous or missing \" in quoted-field (the quoted field opened on line 1 closes on line 3: lines 1-3 read as one row)"},
		{"BareQuote", "user_a,Bo\"b,c\n", 1, []string{"user_a"}, "malformed CSV: bare \" in non-quoted-field"},
		{"TooLong", "user_a,\"" + strings.Repeat("x\n", MaxRowBytes/2+1) + "\"\n", 1, []string{"user_a"},
			"the row is longer than 1048576 bytes (lines 1-524290)"},
		{"LineTooLong", strings.Repeat("x", MaxRowBytes+1) + "\n", 1, nil, "the row is longer than 1048576 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newCSVReader(bufio.NewReaderSize(strings.NewReader(tt.input), 4096))
			rec, err := c.read()
			if err != nil {
				t.Fatal(err)
			}
			if rec.line != tt.line || rec.bad != tt.reason || !reflect.DeepEqual(append([]string{}, rec.fields...), append([]string{}, tt.fields...)) {
				t.Errorf("got line %d fields %.80q reason %q\nwant line %d fields %q reason %q", rec.line, rec.fields, rec.bad, tt.line, tt.fields, tt.reason)
			}
		})
	}
}
