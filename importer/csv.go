package importer

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync/atomic"
	"unicode/utf8"

	"github.com/clerksync/clerksync"
)

// The columns of Clerk's Dashboard export. Only id is required: an export
// trimmed to fewer columns still loads, the missing ones read as empty.
const (
	colID = iota
	colFirstName
	colLastName
	colUsername
	colPrimaryEmail
	colPrimaryPhone
	colVerifiedEmails
	colUnverifiedEmails
	colVerifiedPhones
	colUnverifiedPhones
	colTOTPSecret
	colPasswordDigest
	colPasswordHasher
	numColumns
)

var columnNames = [numColumns]string{
	"id", "first_name", "last_name", "username", "primary_email_address", "primary_phone_number",
	"verified_email_addresses", "unverified_email_addresses", "verified_phone_numbers",
	"unverified_phone_numbers", "totp_secret", "password_digest", "password_hasher",
}

// ErrBadFile means the input cannot be imported at all (no header, no id
// column, not CSV); nothing was loaded.
var ErrBadFile = errors.New("not a Clerk user export")

// Reject is a row that was not loaded, as written to the rejects file. It
// never holds the row itself, which may carry credentials.
type Reject struct {
	Line   int    // the physical line where the row starts
	ID     string // the row's id when it is a valid Clerk user id, else ""
	Reason string
}

// Reader reads a Clerk Dashboard CSV export row by row, validating and
// normalising each one. Memory stays flat whatever the file size, apart from
// 13 to 25 bytes per distinct id for duplicate detection (see seenIDs).
type Reader struct {
	csv   *csvReader
	in    *countingReader
	width int             // fields in the header: every row must have as many
	index [numColumns]int // field index of each known column, -1 when absent
	seen  seenIDs         // ids accepted so far, for duplicate detection
	creds Credentials     // what the accepted rows carried
	rows  int
}

// NewReader reads the header of an export: a UTF-8 byte order mark is
// skipped, header names are matched case-insensitively after trimming
// spaces, their order is free, unknown columns are ignored. It returns an
// error wrapping ErrBadFile when there is no header or no id column, or one
// that names the read failure when in cannot be read.
func NewReader(in io.Reader) (*Reader, error) {
	cr := &countingReader{r: in}
	br := bufio.NewReaderSize(cr, 256<<10)
	if bom, err := br.Peek(3); err == nil && string(bom) == "\ufeff" {
		br.Discard(3)
	}
	c := newCSVReader(br)
	h, err := c.read()
	if err != nil {
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%w: the file is empty (no header row)", ErrBadFile)
		}
		return nil, fmt.Errorf("read header: %w", err)
	}
	if h.bad != "" {
		return nil, fmt.Errorf("%w: header row: %s", ErrBadFile, h.bad)
	}
	header := h.fields
	r := &Reader{csv: c, in: cr, width: len(header), seen: newSeenIDs()}
	for i := range r.index {
		r.index[i] = -1
	}
	for i, name := range header {
		name = strings.ToLower(strings.TrimSpace(name))
		for col, want := range columnNames {
			if name != want {
				continue
			}
			if r.index[col] >= 0 {
				return nil, fmt.Errorf("%w: column %q appears twice in the header", ErrBadFile, want)
			}
			r.index[col] = i
		}
	}
	if r.index[colID] < 0 {
		// The line is not quoted back: in a file without a header it is a
		// user's row, credentials included.
		return nil, fmt.Errorf("%w: the header has no %q column (the first line has %d fields; an export's starts with %s,...)",
			ErrBadFile, "id", len(header), strings.Join(columnNames[:3], ","))
	}
	return r, nil
}

// Next returns the next row: either a user ready to load, or a reject. It
// returns io.EOF after the last row, and another error only when the input
// cannot be read any further.
func (r *Reader) Next() (clerksync.ImportUser, *Reject, error) {
	rec, err := r.read()
	if err != nil {
		return clerksync.ImportUser{}, nil, err
	}
	u, rej := r.accept(r.parseRecord(rec))
	return u, rej, nil
}

// The work of Next in three steps, so that Run can parse rows on several
// cores: read (in file order), parseRecord (in any order, concurrently:
// it only reads the header's layout), accept (in file order again).

// read returns the next record, io.EOF after the last one, or an error
// naming the read failure. Its fields are valid until the next read.
func (r *Reader) read() (csvRecord, error) {
	rec, err := r.csv.read()
	if errors.Is(err, io.EOF) {
		return csvRecord{}, io.EOF
	}
	if err != nil {
		return csvRecord{}, fmt.Errorf("read row %d (line %d): %w", r.rows+1, r.csv.line+1, err)
	}
	r.rows++
	return rec, nil
}

// parsedRow is one record parsed: a user to accept, or a reject.
type parsedRow struct {
	user  clerksync.ImportUser
	rej   *Reject
	creds Credentials // what the row carried (well-formed rows only)
}

func (r *Reader) parseRecord(rec csvRecord) parsedRow {
	if rec.bad != "" {
		// The fields before the fault are whole: the id is kept when it
		// is among them.
		return parsedRow{rej: &Reject{Line: rec.line, ID: r.rejectedID(rec.fields), Reason: rec.bad}}
	}
	var p parsedRow
	if len(rec.fields) == r.width {
		p.creds = r.count(rec.fields)
	}
	u, reason := r.parse(rec.fields)
	if reason != "" {
		p.rej = &Reject{Line: rec.line, ID: r.rejectedID(rec.fields), Reason: reason}
		return p
	}
	u.Line = rec.line
	p.user = u
	return p
}

// accept counts a parsed row's credentials and rejects a user whose id an
// earlier row had.
func (r *Reader) accept(p parsedRow) (clerksync.ImportUser, *Reject) {
	r.creds.Rows += p.creds.Rows
	r.creds.PasswordDigests += p.creds.PasswordDigests
	r.creds.TOTPSecrets += p.creds.TOTPSecrets
	if p.rej != nil {
		return clerksync.ImportUser{}, p.rej
	}
	u := p.user
	if first, dup := r.seen.add(u.ID, u.Line); dup {
		return clerksync.ImportUser{}, &Reject{Line: u.Line, ID: u.ID,
			Reason: fmt.Sprintf("repeats the id of line %d", first)}
	}
	return u, nil
}

// rejectedID is the id of a rejected row, or "" when it is not a valid
// Clerk user id: an invalid one might be anything, a shifted credential
// included.
func (r *Reader) rejectedID(fields []string) string {
	if id := r.field(fields, colID); clerksync.ValidUserID(id) {
		return id
	}
	return ""
}

// count says which credentials a well-formed row carried, for the summary;
// rejected rows count too, since theirs are dropped as well.
func (r *Reader) count(rec []string) Credentials {
	var c Credentials
	pw := r.field(rec, colPasswordDigest) != ""
	totp := r.field(rec, colTOTPSecret) != ""
	if pw {
		c.PasswordDigests++
	}
	if totp {
		c.TOTPSecrets++
	}
	if pw || totp || r.field(rec, colPasswordHasher) != "" {
		c.Rows++
	}
	return c
}

// Credentials counts the credentials the rows carried, all of them dropped.
func (r *Reader) Credentials() Credentials { return r.creds }

// BytesRead is how much of the input has been consumed (read ahead by a
// buffer), for a progress bar.
func (r *Reader) BytesRead() int64 { return r.in.n.Load() }

// countingReader counts the bytes read; Run reads the count while
// another goroutine reads the input.
type countingReader struct {
	r io.Reader
	n atomic.Int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// Rows is the number of data rows read so far, rejected ones included.
func (r *Reader) Rows() int { return r.rows }

// Lines is the number of physical lines read so far, the header's
// included: more than Rows+1 when quoted fields hold line breaks, or an
// unterminated quote took the rest of the file.
func (r *Reader) Lines() int { return r.csv.line }

// parse validates one record and builds the user, or says why it cannot.
func (r *Reader) parse(rec []string) (clerksync.ImportUser, string) {
	if len(rec) != r.width {
		return clerksync.ImportUser{}, fmt.Sprintf("has %d fields, the header has %d", len(rec), r.width)
	}
	id := r.field(rec, colID)
	switch {
	case id == "":
		return clerksync.ImportUser{}, "no id"
	case !clerksync.ValidUserID(id):
		return clerksync.ImportUser{}, "id is not a Clerk user id (user_ followed by letters, digits or _)"
	}
	// Credentials are only looked at, never copied: what leaves is whether
	// they were there.
	for _, col := range [...]int{colFirstName, colLastName, colUsername, colPrimaryEmail, colPrimaryPhone,
		colVerifiedEmails, colUnverifiedEmails, colVerifiedPhones, colUnverifiedPhones} {
		v := r.field(rec, col)
		if !utf8.ValidString(v) {
			return clerksync.ImportUser{}, columnNames[col] + " is not valid UTF-8"
		}
		if strings.IndexByte(v, 0) >= 0 {
			return clerksync.ImportUser{}, columnNames[col] + " contains a NUL byte"
		}
	}
	u := clerksync.ImportUser{
		ID:              id,
		FirstName:       optional(r.field(rec, colFirstName)),
		LastName:        optional(r.field(rec, colLastName)),
		Username:        optional(r.field(rec, colUsername)),
		PasswordEnabled: r.field(rec, colPasswordDigest) != "",
		TOTPEnabled:     r.field(rec, colTOTPSecret) != "",
	}
	var emails contacts
	emails.addAll(r.field(rec, colVerifiedEmails), clerksync.Verified, sameEmail)
	emails.addAll(r.field(rec, colUnverifiedEmails), clerksync.Unverified, sameEmail)
	emails.setPrimary(r.field(rec, colPrimaryEmail), sameEmail)
	var phones contacts
	phones.addAll(r.field(rec, colVerifiedPhones), clerksync.Verified, exact)
	phones.addAll(r.field(rec, colUnverifiedPhones), clerksync.Unverified, exact)
	phones.setPrimary(r.field(rec, colPrimaryPhone), exact)
	u.Emails = emails.finish(id, clerksync.ImportEmailID)
	u.Phones = phones.finish(id, clerksync.ImportPhoneID)
	return u, ""
}

// field returns a column's value, trimmed; "" when the file has no such
// column.
func (r *Reader) field(rec []string, col int) string {
	i := r.index[col]
	if i < 0 || i >= len(rec) {
		return ""
	}
	return strings.TrimSpace(rec[i])
}

func optional(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func exact(a, b string) bool { return a == b }

// sameEmail compares addresses by the key ImportEmailID hashes (lower case):
// two spellings that give one id must be one contact, or the row's COPY
// fails. (strings.EqualFold differs: "İ" and "i" fold apart but lower alike.)
func sameEmail(a, b string) bool { return strings.ToLower(a) == strings.ToLower(b) }

// contacts gathers one user's emails or phones, each value once.
type contacts []clerksync.ImportContact

// addAll adds the values of a multi-value cell, separated by | or , (the
// export uses both), skipping values already present.
func (cs *contacts) addAll(cell, status string, same func(a, b string) bool) {
	for cell != "" {
		var v string
		if i := strings.IndexAny(cell, "|,"); i >= 0 {
			v, cell = cell[:i], cell[i+1:]
		} else {
			v, cell = cell, ""
		}
		cs.add(strings.TrimSpace(v), status, same)
	}
}

func (cs *contacts) add(v, status string, same func(a, b string) bool) int {
	if v == "" {
		return -1
	}
	for i, c := range *cs {
		if same(c.Value, v) {
			return i
		}
	}
	*cs = append(*cs, clerksync.ImportContact{Value: v, Status: status})
	return len(*cs) - 1
}

// setPrimary marks the primary value, adding it without a status when
// neither list held it.
func (cs *contacts) setPrimary(v string, same func(a, b string) bool) {
	if i := cs.add(v, "", same); i >= 0 {
		(*cs)[i].IsPrimary = true
	}
}

func (cs contacts) finish(userID string, id func(userID, value string) string) []clerksync.ImportContact {
	for i := range cs {
		cs[i].ID = id(userID, cs[i].Value)
	}
	return cs
}
