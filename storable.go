package clerksync

import (
	"bytes"
	"fmt"
	"unicode/utf8"
)

// storable prepares a Clerk JSON document for the mirror, whose every text
// and jsonb value (raw included) is read by Postgres. It returns data, or a
// repaired copy, with
//   - each \u0000 escape replaced by \ufffd: Postgres text and jsonb cannot
//     hold NUL, and the contract stores it as U+FFFD;
//   - each \u escape of an unpaired UTF-16 surrogate replaced by \ufffd:
//     jsonb refuses those, and encoding/json already decodes them as U+FFFD,
//     so raw now says what the columns say.
//
// The replacement has the escape's length, so offsets do not move. An
// escaped backslash followed by "u0000" (`\\u0000`) is text, not an escape,
// and is left alone.
//
// It returns an error wrapping ErrInvalidEvent for what can never be stored:
// bytes that are not UTF-8, or a number outside what Postgres's numeric (and
// so jsonb) holds (see numberFits). data is not modified.
//
// The common case, no escape to repair and only small numbers, costs one
// pass over the bytes and no allocation.
func storable(data []byte) ([]byte, error) {
	if !utf8.Valid(data) {
		return nil, fmt.Errorf("%w: user is not UTF-8", ErrInvalidEvent)
	}
	var repaired []byte // a copy of data, made at the first repair
	for i := 0; i < len(data); {
		switch c := data[i]; {
		case c == '"':
			i = scanString(data, &repaired, i+1)
		case c == '-' || c >= '0' && c <= '9':
			end := numberEnd(data, i)
			if !numberFits(data[i:end]) {
				return nil, fmt.Errorf("%w: a number overflows Postgres's numeric", ErrInvalidEvent)
			}
			i = end
		default:
			i++
		}
	}
	if repaired != nil {
		return repaired, nil
	}
	return data, nil
}

// scanString scans the JSON string whose text starts at data[i:] and returns
// the index after its closing quote, writing the escapes it repairs to
// *repaired (a copy of data, made at the first repair).
func scanString(data []byte, repaired *[]byte, i int) int {
	for {
		q := bytes.IndexByte(data[i:], '"')
		if q < 0 {
			return len(data) // unterminated: json.Unmarshal says so
		}
		q += i
		b := bytes.IndexByte(data[i:q], '\\')
		if b < 0 {
			return q + 1
		}
		b += i
		if data[b+1] != 'u' {
			i = b + 2 // a two-byte escape, \" and \\ included
			continue
		}
		r, ok := hex4(data, b+2)
		if !ok {
			i = b + 2 // malformed: json.Unmarshal refuses it
			continue
		}
		i = b + 6
		if r >= 0xD800 && r <= 0xDBFF {
			if lo, ok := escapeAt(data, i); ok && lo >= 0xDC00 && lo <= 0xDFFF {
				i += 6 // a valid pair
				continue
			}
		} else if r != 0 && (r < 0xDC00 || r > 0xDFFF) {
			continue
		}
		if *repaired == nil {
			*repaired = bytes.Clone(data)
		}
		copy((*repaired)[b+2:b+6], "fffd")
	}
}

// escapeAt returns the code unit of the \u escape at data[i:], if there is one.
func escapeAt(data []byte, i int) (rune, bool) {
	if i+1 >= len(data) || data[i] != '\\' || data[i+1] != 'u' {
		return 0, false
	}
	return hex4(data, i+2)
}

func hex4(data []byte, i int) (rune, bool) {
	if i+4 > len(data) {
		return 0, false
	}
	var r rune
	for _, c := range data[i : i+4] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c -= 'a' - 10
		case c >= 'A' && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

// numberEnd returns the index after the number token starting at i.
func numberEnd(data []byte, i int) int {
	for i < len(data) {
		c := data[i]
		if !(c >= '0' && c <= '9' || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E') {
			break
		}
		i++
	}
	return i
}

// Postgres's numeric limits: a value is stored as base-10000 digits with an
// int16 weight (so at most 131072 decimal digits before the point) and a
// 14-bit display scale (at most 16383 digits after it), and numeric_in
// refuses any exponent of INT_MAX/2 or more in magnitude before looking at
// the digits. jsonb keeps every JSON number as a numeric.
const (
	numericMaxWeight10 = 131071     // the highest power of ten of a digit
	numericMaxDScale   = 16383      // digits after the point
	numericMaxExponent = 1073741822 // INT_MAX/2 - 1
)

// numberFits reports whether the JSON number n can be stored in jsonb. It is
// exact for valid JSON numbers (the boundaries are tested against Postgres in
// db's tests); anything that does not parse as one is left to json.Unmarshal
// and reported as fitting.
func numberFits(n []byte) bool {
	if len(n) < 20 && bytes.IndexAny(n, "eE") < 0 {
		return true // the fast path: every short plain number fits
	}
	i := 0
	if i < len(n) && n[i] == '-' {
		i++
	}
	intStart := i
	for i < len(n) && n[i] >= '0' && n[i] <= '9' {
		i++
	}
	intDigits := n[intStart:i]
	var fracDigits []byte
	if i < len(n) && n[i] == '.' {
		i++
		start := i
		for i < len(n) && n[i] >= '0' && n[i] <= '9' {
			i++
		}
		fracDigits = n[start:i]
	}
	exp := 0
	if i < len(n) && (n[i] == 'e' || n[i] == 'E') {
		i++
		neg := false
		if i < len(n) && (n[i] == '+' || n[i] == '-') {
			neg = n[i] == '-'
			i++
		}
		for ; i < len(n) && n[i] >= '0' && n[i] <= '9'; i++ {
			if exp <= numericMaxExponent {
				exp = exp*10 + int(n[i]-'0')
			}
		}
		if exp > numericMaxExponent {
			return false
		}
		if neg {
			exp = -exp
		}
	}
	if i != len(n) || len(intDigits) == 0 {
		return true // not a JSON number: json.Unmarshal refuses it
	}
	if len(fracDigits)-exp > numericMaxDScale {
		return false
	}
	// The power of ten of the first non-zero digit decides the weight.
	if k := bytes.IndexFunc(intDigits, nonZero); k >= 0 {
		return len(intDigits)-1-k+exp <= numericMaxWeight10
	}
	if k := bytes.IndexFunc(fracDigits, nonZero); k >= 0 {
		return -(k+1)+exp <= numericMaxWeight10
	}
	return true // zero: any weight
}

func nonZero(r rune) bool { return r != '0' }
