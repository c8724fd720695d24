// Package csvgen writes realistic Clerk Dashboard CSV exports of any size,
// deterministically from a seed, for tests and benchmarks: a byte order mark,
// CRLF line ends, RFC 4180 quoting, multi-value cells separated by | or ,,
// stray spaces, repeated addresses in other cases, unicode names, bcrypt and
// argon2id digests (commas inside), TOTP secrets, phone-only and id-only
// users, and optionally a share of bad rows of every kind. Two shapes: the
// default, listed by creation time with about 1.3 email addresses and 0.2
// phone numbers per user, and Heavy.
package csvgen

import (
	"bufio"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
)

// Header is the 13-column header of Clerk's Dashboard export.
const Header = "id,first_name,last_name,username,primary_email_address,primary_phone_number," +
	"verified_email_addresses,unverified_email_addresses,verified_phone_numbers," +
	"unverified_phone_numbers,totp_secret,password_digest,password_hasher"

// Options shapes a generated file.
type Options struct {
	Rows int
	Seed uint64
	// BadRows is the share of rows (0 to 1) that must be rejected: a missing
	// id, an id that is not a Clerk user id, a wrong number of fields, a
	// repeated id or a stray quote, in turn.
	BadRows float64
	// Heavy writes the heavier shape of a large, older account: ids in
	// random order (an export sorted by anything but creation time, or
	// merged from several), about 2 email addresses and 0.5 phone numbers
	// per user. The default shape is unchanged by this option: the same seed
	// writes the same bytes as before it existed.
	Heavy bool
}

// Stats says what a generated file holds.
type Stats struct {
	Rows  int // data rows
	Good  int // rows an import loads
	Bad   int // rows an import rejects
	Bytes int64
}

var (
	firstNames = []string{"James", "Mary", "Zoë", "José", "Ana María", "李", "Søren", "Nguyễn", "Olúwaseun",
		"Anne-Marie", "Chloé", "Björn", "Ольга", "محمد", "Priya", "Kenji", "O'Neil", "Ève", "Jan", "Mei"}
	lastNames = []string{"Smith", "Müller", "O'Brien, Jr.", "García", "Ødegaard", "王", "Kowalski", "Nakamura",
		"D'Angelo", "Иванова", "Dubois", "Schröder", "Okafor", "Levi \"Lev\"", "Andersson", "Brown"}
	domains = []string{"gmail.com", "outlook.com", "example.com", "company.io", "mail.example.org", "yahoo.co.uk"}
)

const (
	base62   = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	bcryptCh = "./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	b64      = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	base32   = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
)

type gen struct {
	rnd    *rand.Rand
	w      *bufio.Writer
	n      int64
	lastID string
	rec    []string
	sb     strings.Builder
	heavy  bool
}

// Write writes a file of opt.Rows data rows after the header.
func Write(out io.Writer, opt Options) (Stats, error) {
	g := &gen{rnd: rand.New(rand.NewPCG(opt.Seed, opt.Seed^0x9e3779b97f4a7c15)), w: bufio.NewWriterSize(out, 1<<16), heavy: opt.Heavy}
	g.raw("\ufeff" + Header + "\r\n")
	st := Stats{Rows: opt.Rows}
	badEvery := 0
	if opt.BadRows > 0 {
		badEvery = max(int(1/opt.BadRows), 2)
	}
	for i := 0; i < opt.Rows; i++ {
		if badEvery > 0 && i > 0 && i%badEvery == 0 {
			g.badRow(i / badEvery)
			st.Bad++
			continue
		}
		g.goodRow(i)
		st.Good++
	}
	if err := g.w.Flush(); err != nil {
		return st, fmt.Errorf("csvgen: %w", err)
	}
	st.Bytes = g.n
	return st, nil
}

func (g *gen) raw(s string) {
	n, _ := g.w.WriteString(s)
	g.n += int64(n)
}

// id returns a KSUID-shaped Clerk id whose leading characters grow with i,
// as in an export listed by creation time.
func (g *gen) id(i int) string {
	b := make([]byte, 0, 32)
	b = append(b, "user_2"...)
	t := uint64(i) + 1<<33
	var ts [6]byte
	for k := 5; k >= 0; k-- {
		ts[k] = base62[t%62]
		t /= 62
	}
	b = append(b, ts[:]...)
	for len(b) < 32 {
		b = append(b, base62[g.rnd.IntN(62)])
	}
	return string(b)
}

// randomID returns a KSUID-shaped Clerk id in no particular order.
func (g *gen) randomID() string {
	return "user_2" + g.chars(base62, 26)
}

func (g *gen) pick(xs []string) string { return xs[g.rnd.IntN(len(xs))] }

func (g *gen) chars(alphabet string, n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = alphabet[g.rnd.IntN(len(alphabet))]
	}
	return string(b)
}

func (g *gen) email(first, last string, n int) string {
	a, b := asciiOnly(first), asciiOnly(last)
	local := strings.ToLower(a + "." + b)
	if a == "" || b == "" {
		local = strings.ToLower("user" + a + b)
	}
	return fmt.Sprintf("%s%d@%s", local, n, g.pick(domains))
}

func (g *gen) phone() string {
	return fmt.Sprintf("+1%03d555%04d", 200+g.rnd.IntN(700), g.rnd.IntN(10000))
}

func (g *gen) goodRow(i int) {
	if g.heavy {
		g.heavyRow(i)
		return
	}
	id := g.id(i)
	g.lastID = id
	rec := g.record()
	rec[0] = id
	kind := g.rnd.IntN(100)
	switch {
	case kind < 3: // id only: a web3 or OAuth-only user
		g.writeRecord(rec)
		return
	case kind < 8: // phone only
		p := g.phone()
		rec[3] = fmt.Sprintf("user%d", i)
		rec[5], rec[8] = p, p
		if g.rnd.IntN(3) == 0 {
			rec[9] = g.phone()
		}
		g.writeRecord(rec)
		return
	}
	first, last := g.pick(firstNames), g.pick(lastNames)
	rec[1], rec[2] = first, last
	if g.rnd.IntN(3) == 0 {
		rec[3] = fmt.Sprintf("%s_%d", strings.ToLower("u"+asciiOnly(first)), i)
	}
	primary := g.email(first, last, i)
	rec[4] = primary
	verified := []string{primary}
	if g.rnd.IntN(5) == 0 {
		verified = append(verified, g.email(last, first, i+1))
	}
	if g.rnd.IntN(20) == 0 { // the same address again, in other case, padded
		verified = append(verified, " "+strings.ToUpper(primary)+" ")
	}
	rec[6] = strings.Join(verified, g.sep())
	if g.rnd.IntN(10) == 0 {
		rec[7] = g.email(first, "alt", i) + g.sep() + g.email(first, "old", i)
	}
	if g.rnd.IntN(5) == 0 {
		p := g.phone()
		rec[5], rec[8] = p, p
	}
	switch h := g.rnd.IntN(10); {
	case h < 6:
		rec[11], rec[12] = "$2b$10$"+g.chars(bcryptCh, 53), "bcrypt"
	case h < 7:
		rec[11], rec[12] = "$argon2id$v=19$m=65536,t=3,p=4$"+g.chars(b64, 22)+"$"+g.chars(b64, 43), "argon2id"
	}
	if g.rnd.IntN(20) == 0 {
		rec[10] = g.chars(base32, 32)
	}
	if g.rnd.IntN(50) == 0 {
		rec[1] = "  " + rec[1] + " "
	}
	g.writeRecord(rec)
}

// heavyRow writes a good row of the heavy shape: 3% id only, 5% phone only
// (1.33 numbers each), the others 2.1 addresses and 0.5 numbers on average.
func (g *gen) heavyRow(i int) {
	id := g.randomID()
	g.lastID = id
	rec := g.record()
	rec[0] = id
	kind := g.rnd.IntN(100)
	switch {
	case kind < 3:
		g.writeRecord(rec)
		return
	case kind < 8:
		p := g.phone()
		rec[3] = fmt.Sprintf("user%d", i)
		rec[5], rec[8] = p, p
		if g.rnd.IntN(3) == 0 {
			rec[9] = g.phone()
		}
		g.writeRecord(rec)
		return
	}
	first, last := g.pick(firstNames), g.pick(lastNames)
	rec[1], rec[2] = first, last
	if g.rnd.IntN(3) == 0 {
		rec[3] = fmt.Sprintf("%s_%d", strings.ToLower("u"+asciiOnly(first)), i)
	}
	primary := g.email(first, last, i)
	rec[4] = primary
	verified := []string{primary}
	if g.rnd.IntN(10) < 7 {
		verified = append(verified, g.email(last, first, i+1))
	}
	if g.rnd.IntN(20) == 0 { // the same address again, in other case, padded
		verified = append(verified, " "+strings.ToUpper(primary)+" ")
	}
	rec[6] = strings.Join(verified, g.sep())
	if g.rnd.IntN(5) == 0 {
		rec[7] = g.email(first, "alt", i) + g.sep() + g.email(first, "old", i)
	}
	if g.rnd.IntN(100) < 45 {
		p := g.phone()
		rec[5], rec[8] = p, p
		if g.rnd.IntN(10) == 0 {
			rec[9] = g.phone()
		}
	}
	switch h := g.rnd.IntN(10); {
	case h < 6:
		rec[11], rec[12] = "$2b$10$"+g.chars(bcryptCh, 53), "bcrypt"
	case h < 7:
		rec[11], rec[12] = "$argon2id$v=19$m=65536,t=3,p=4$"+g.chars(b64, 22)+"$"+g.chars(b64, 43), "argon2id"
	}
	if g.rnd.IntN(20) == 0 {
		rec[10] = g.chars(base32, 32)
	}
	g.writeRecord(rec)
}

func (g *gen) sep() string {
	if g.rnd.IntN(2) == 0 {
		return "|"
	}
	return ","
}

// badRow writes one row of each rejectable kind in turn.
func (g *gen) badRow(k int) {
	rec := g.record()
	rec[1], rec[4], rec[6] = "Bad", fmt.Sprintf("bad%d@example.com", k), fmt.Sprintf("bad%d@example.com", k)
	rec[11], rec[12] = "$2b$10$"+g.chars(bcryptCh, 53), "bcrypt"
	switch k % 5 {
	case 0: // no id
	case 1:
		rec[0] = fmt.Sprintf("usr-%d", k)
	case 2:
		rec[0] = g.id(1 << 30)
		rec = rec[:7]
	case 3:
		rec[0] = g.lastID
	case 4:
		g.raw(g.id(1<<30+k) + `,Stray"Quote,,,,,,,,,,,` + "\r\n")
		return
	}
	g.writeRecord(rec)
}

func (g *gen) record() []string {
	if g.rec == nil {
		g.rec = make([]string, 13)
	}
	for i := range g.rec {
		g.rec[i] = ""
	}
	return g.rec[:13]
}

// writeRecord writes one CSV record with RFC 4180 quoting where needed.
func (g *gen) writeRecord(rec []string) {
	g.sb.Reset()
	for i, f := range rec {
		if i > 0 {
			g.sb.WriteByte(',')
		}
		if strings.ContainsAny(f, ",\"\r\n") || strings.TrimSpace(f) != f {
			g.sb.WriteByte('"')
			g.sb.WriteString(strings.ReplaceAll(f, `"`, `""`))
			g.sb.WriteByte('"')
			continue
		}
		g.sb.WriteString(f)
	}
	g.sb.WriteString("\r\n")
	g.raw(g.sb.String())
}

func asciiOnly(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r < 128 && (r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
			b.WriteRune(r)
		}
	}
	return b.String()
}
