package csvgen_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/csv"
	"fmt"
	"strings"
	"testing"

	"github.com/clerksync/clerksync/internal/csvgen"
)

func TestSameSeedSameBytes(t *testing.T) {
	var a, b, c bytes.Buffer
	csvgen.Write(&a, csvgen.Options{Rows: 500, Seed: 42, BadRows: 0.02})
	csvgen.Write(&b, csvgen.Options{Rows: 500, Seed: 42, BadRows: 0.02})
	csvgen.Write(&c, csvgen.Options{Rows: 500, Seed: 43, BadRows: 0.02})
	if !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Error("the same seed wrote different files")
	}
	if bytes.Equal(a.Bytes(), c.Bytes()) {
		t.Error("different seeds wrote the same file")
	}
}

func TestRealisticShape(t *testing.T) {
	var buf bytes.Buffer
	st, err := csvgen.Write(&buf, csvgen.Options{Rows: 5000, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	if st.Bytes != int64(buf.Len()) || st.Good != 5000 || st.Bad != 0 {
		t.Fatalf("stats %+v for %d bytes", st, buf.Len())
	}
	text := buf.String()
	if !strings.HasPrefix(text, "\ufeff"+csvgen.Header+"\r\n") {
		t.Error("no BOM, header and CRLF")
	}
	r := csv.NewReader(strings.NewReader(strings.TrimPrefix(text, "\ufeff")))
	recs, err := r.ReadAll()
	if err != nil {
		t.Fatalf("not RFC 4180: %v", err)
	}
	var pipes, quotedCommas, argon, totp, idOnly, phoneOnly int
	for _, rec := range recs[1:] {
		switch {
		case strings.Contains(rec[6], "|"):
			pipes++
		case strings.Contains(rec[6], ","):
			quotedCommas++
		}
		if strings.HasPrefix(rec[11], "$argon2id$") && strings.Contains(rec[11], ",") {
			argon++
		}
		if rec[10] != "" {
			totp++
		}
		if strings.Join(rec[1:], "") == "" {
			idOnly++
		}
		if rec[4] == "" && rec[5] != "" {
			phoneOnly++
		}
	}
	for name, n := range map[string]int{"pipes": pipes, "quoted commas": quotedCommas, "argon2id": argon,
		"TOTP": totp, "id only": idOnly, "phone only": phoneOnly} {
		if n < 25 {
			t.Errorf("only %d rows with %s in 5000", n, name)
		}
	}
}

// TestDefaultShapeUnchanged pins the default shape's bytes, so that
// benchmark figures stay comparable across changes to the generator.
func TestDefaultShapeUnchanged(t *testing.T) {
	var b bytes.Buffer
	csvgen.Write(&b, csvgen.Options{Rows: 2000, Seed: 42, BadRows: 0.02})
	const want = "0160ff1048b4cd788bc9e120745cdd7a8196ddac23c393b0be186dc7c719f9fb"
	if got := fmt.Sprintf("%x", sha256.Sum256(b.Bytes())); got != want {
		t.Errorf("the default shape changed: sha256 %s, want %s", got, want)
	}
}

// contactsPerUser counts the distinct addresses (case-insensitively) and
// numbers of the good rows, and how often an id sorts before the previous
// one.
func contactsPerUser(t *testing.T, opt csvgen.Options) (emails, phones float64, descents int) {
	t.Helper()
	var buf bytes.Buffer
	if _, err := csvgen.Write(&buf, opt); err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(strings.NewReader(strings.TrimPrefix(buf.String(), "\ufeff"))).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	split := func(cells ...string) map[string]bool {
		set := map[string]bool{}
		for _, c := range cells {
			for _, v := range strings.FieldsFunc(c, func(r rune) bool { return r == '|' || r == ',' }) {
				if v = strings.ToLower(strings.TrimSpace(v)); v != "" {
					set[v] = true
				}
			}
		}
		return set
	}
	var ne, np int
	for i, rec := range recs[1:] {
		ne += len(split(rec[4], rec[6], rec[7]))
		np += len(split(rec[5], rec[8], rec[9]))
		if i > 0 && rec[0] < recs[i][0] {
			descents++
		}
	}
	n := float64(len(recs) - 1)
	return float64(ne) / n, float64(np) / n, descents
}

func TestShapes(t *testing.T) {
	const rows = 20000
	e, p, d := contactsPerUser(t, csvgen.Options{Rows: rows, Seed: 3})
	if e < 1.1 || e > 1.5 || p < 0.1 || p > 0.3 || d != 0 {
		t.Errorf("default: %.2f emails, %.2f phones per user, %d ids out of order", e, p, d)
	}
	e, p, d = contactsPerUser(t, csvgen.Options{Rows: rows, Seed: 3, Heavy: true})
	if e < 1.8 || e > 2.2 || p < 0.4 || p > 0.6 || d < rows/3 {
		t.Errorf("heavy: %.2f emails, %.2f phones per user, %d ids out of order", e, p, d)
	}
}
