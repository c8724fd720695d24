package csvgen_test

import (
	"bytes"
	"encoding/csv"
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
