package importer

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
)

// MaxRowBytes bounds one CSV row (all its lines, for a quoted field over
// several), as the receiver's 1 MiB bounds one webhook event: a row over it
// is rejected, and it keeps an unterminated quote from holding the rest of
// a large file in memory. A Dashboard export's rows are a few hundred
// bytes.
const MaxRowBytes = 1 << 20

// csvReader splits RFC 4180 CSV into records, as encoding/csv does (CRLF
// or LF line ends, CRLF inside quoted fields read as LF, empty lines
// skipped, "" for a quote inside a quoted field, no lazy quotes), and
// unlike it reports each malformed record with the fields read before the
// fault and the lines it took, so that a rejected row keeps its id and an
// unterminated quote says what it swallowed.
type csvReader struct {
	br   *bufio.Reader
	line int // physical lines read so far

	rec    []byte // the current record's field values, unquoted, end to end
	ends   []int  // where each complete field ends in rec
	whole  int    // fields complete before rec went over MaxRowBytes, or -1
	fields []string
	long   []byte // a line longer than br's buffer
}

// csvRecord is one record of the file.
type csvRecord struct {
	line  int // the physical line where it starts
	lines int // how many physical lines it takes
	// fields holds the record's fields, or when bad is set the fields
	// complete before the fault; valid until the next read.
	fields []string
	bad    string // why the record is malformed, "" when it is not
}

func newCSVReader(br *bufio.Reader) *csvReader { return &csvReader{br: br} }

var (
	errLineTooLong = errors.New("line too long")
	newline        = []byte{'\n'}
)

// readLine returns the next physical line without its line end (CRLF or
// LF), and whether it had one. A line over MaxRowBytes is consumed whole
// and returned as errLineTooLong.
func (c *csvReader) readLine() ([]byte, bool, error) {
	line, err := c.br.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) {
		c.long = append(c.long[:0], line...)
		for errors.Is(err, bufio.ErrBufferFull) {
			line, err = c.br.ReadSlice('\n')
			if len(c.long) <= MaxRowBytes {
				c.long = append(c.long, line...)
			}
		}
		if len(c.long) > MaxRowBytes {
			c.line++
			if err != nil && !errors.Is(err, io.EOF) {
				return nil, false, err
			}
			return nil, true, errLineTooLong
		}
		line = c.long
	}
	if len(line) == 0 && err != nil {
		return nil, false, err // io.EOF, or the read error
	}
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, false, err
	}
	c.line++
	if n := len(line); n > 0 && line[n-1] == '\n' {
		line = line[:n-1]
		if n := len(line); n > 0 && line[n-1] == '\r' {
			line = line[:n-1]
		}
		return line, true, nil
	}
	// The last line, without a line end; a trailing CR is dropped as
	// encoding/csv drops it.
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	return line, false, nil
}

// read returns the next record, or io.EOF after the last one; any other
// error means the input cannot be read any further.
func (c *csvReader) read() (csvRecord, error) {
	var line []byte
	var nl bool
	for {
		var err error
		line, nl, err = c.readLine()
		if errors.Is(err, errLineTooLong) {
			return csvRecord{line: c.line, lines: 1, bad: fmt.Sprintf("the row is longer than %d bytes", MaxRowBytes)}, nil
		}
		if err != nil {
			return csvRecord{}, err
		}
		if len(line) > 0 || !nl {
			break
		}
		// An empty line is no record (encoding/csv skips them too).
	}
	if len(line) == 0 && !nl {
		return csvRecord{}, io.EOF
	}
	start := c.line
	c.rec, c.ends, c.whole = c.rec[:0], c.ends[:0], -1
	r := csvRecord{line: start, lines: 1}
	pos := 0
	for {
		if pos < len(line) && line[pos] == '"' {
			bad, done, err := c.quotedField(&line, &nl, &pos, start)
			if err != nil {
				return csvRecord{}, err
			}
			r.lines = c.line - start + 1
			if bad != "" {
				return c.malformed(r, bad), nil
			}
			if done {
				break
			}
			continue
		}
		rest := line[pos:]
		i := bytes.IndexByte(rest, ',')
		field := rest
		if i >= 0 {
			field = rest[:i]
		}
		if bytes.IndexByte(field, '"') >= 0 {
			return c.malformed(r, "malformed CSV: "+csv.ErrBareQuote.Error()), nil
		}
		c.appendCapped(field)
		c.ends = append(c.ends, len(c.rec))
		if i < 0 {
			break
		}
		pos += i + 1
	}
	if c.whole >= 0 {
		return c.malformed(r, c.tooLong(r)), nil
	}
	r.fields = c.split(len(c.ends))
	return r, nil
}

// quotedField reads the quoted field at *pos, reading more lines while it
// runs on. It says whether the record ended with it, or why it is
// malformed.
func (c *csvReader) quotedField(line *[]byte, nl *bool, pos *int, recStart int) (bad string, done bool, err error) {
	fieldStart := c.line
	p := *pos + 1
	l := *line
	for {
		i := bytes.IndexByte(l[p:], '"')
		if i < 0 {
			c.appendCapped(l[p:])
			if !*nl {
				return c.unterminated(fieldStart, recStart), false, nil
			}
			c.appendCapped(newline)
			var err error
			if l, *nl, err = c.readLine(); err != nil {
				if errors.Is(err, errLineTooLong) {
					// Its quotes are unknown: the record ends with it.
					return fmt.Sprintf("the row is longer than %d bytes (lines %d-%d)", MaxRowBytes, recStart, c.line), false, nil
				}
				if errors.Is(err, io.EOF) {
					return c.unterminated(fieldStart, recStart), false, nil
				}
				return "", false, err
			}
			*line, p = l, 0
			continue
		}
		c.appendCapped(l[p : p+i])
		p += i + 1
		switch {
		case p < len(l) && l[p] == '"': // "" is a quote
			c.appendCapped(l[p : p+1])
			p++
		case p < len(l) && l[p] == ',':
			c.ends = append(c.ends, len(c.rec))
			*pos = p + 1
			return "", false, nil
		case p == len(l):
			c.ends = append(c.ends, len(c.rec))
			return "", true, nil
		default:
			reason := "malformed CSV: " + csv.ErrQuote.Error()
			if c.line > fieldStart {
				reason += fmt.Sprintf(" (the quoted field opened on line %d closes on line %d: lines %d-%d read as one row)",
					fieldStart, c.line, recStart, c.line)
			}
			return reason, false, nil
		}
	}
}

// appendCapped appends to the record unless it is over MaxRowBytes
// already: the rest is still parsed, to find where the record ends.
func (c *csvReader) appendCapped(b []byte) {
	if c.whole >= 0 {
		return
	}
	c.rec = append(c.rec, b...)
	if len(c.rec) > MaxRowBytes {
		c.whole = len(c.ends)
	}
}

func (c *csvReader) unterminated(fieldStart, recStart int) string {
	return fmt.Sprintf("malformed CSV: the quoted field opened on line %d is never closed: lines %d-%d (%d lines, to the end of the file) were read as one row",
		fieldStart, recStart, c.line, c.line-recStart+1)
}

func (c *csvReader) tooLong(r csvRecord) string {
	if r.lines == 1 {
		return fmt.Sprintf("the row is longer than %d bytes", MaxRowBytes)
	}
	return fmt.Sprintf("the row is longer than %d bytes (lines %d-%d)", MaxRowBytes, r.line, r.line+r.lines-1)
}

// malformed returns r as a bad record holding the fields complete before
// the fault.
func (c *csvReader) malformed(r csvRecord, reason string) csvRecord {
	n := len(c.ends)
	if c.whole >= 0 {
		reason, n = c.tooLong(r), c.whole
	}
	r.bad = reason
	r.fields = c.split(n)
	return r
}

// split returns the first n fields of the record, as substrings of one
// string: one allocation per record.
func (c *csvReader) split(n int) []string {
	c.fields = c.fields[:0]
	if n == 0 {
		return c.fields
	}
	s := string(c.rec[:c.ends[n-1]])
	prev := 0
	for _, end := range c.ends[:n] {
		c.fields = append(c.fields, s[prev:end])
		prev = end
	}
	return c.fields
}
