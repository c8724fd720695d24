package clerksync

import (
	"bytes"
	"encoding/json"
	"errors"
	"unicode/utf8"

	"github.com/bytedance/sonic"
)

// jsonAPI decodes Clerk events, on the receiver and in the worker alike.
//
// It is bytedance/sonic set to behave as encoding/json does where a decoder
// may choose (strings copied out of the input, raw control characters
// refused, skipped values validated, the last of repeated keys taken), and
// it was chosen by measurement: the receiver parses each user event fully so
// that it can refuse at the door what the worker would refuse, and with
// encoding/json that parse (108 us for fixture 20, 9.5 KB) added 69 us of
// CPU to each request (184 -> 253 us per event in BenchmarkReceiver, 37%);
// sonic does the same parse in 31 us, less than the envelope-only routing
// parse it replaces (46 us). goccy/go-json was faster than encoding/json
// too but accepts invalid JSON in skipped values ([1,], tru, 01), which
// Postgres would then refuse in the raw snapshot. On an architecture or Go
// release sonic does not support it falls back to encoding/json: slower,
// same answers.
var jsonAPI = sonic.Config{CopyString: true, ValidateString: true}.Froze()

// unmarshal decodes data into v. Its error never quotes data: sonic's
// messages show the input around the fault, emails and names included, so
// on failure the error is encoding/json's for the same input, which names
// the fault and the field only (the error path alone pays for it).
func unmarshal(data []byte, v any) error {
	err := jsonAPI.Unmarshal(data, v)
	if err == nil {
		return nil
	}
	if err := json.Unmarshal(data, v); err != nil {
		return err
	}
	return errors.New("JSON the decoder refuses (such as nesting deeper than 4096 levels)")
}

// The limits of what the mirror can store of a JSON text; see checkStorable.
const (
	// maxNumberLen and maxExponent keep every number within Postgres's
	// numeric (131072 digits before the point, 16383 after) with a wide
	// margin: 1000 characters and 10^±1000 are far beyond any Clerk value.
	maxNumberLen = 1000
	maxExponent  = 1000
)

var (
	errInvalidUTF8    = errors.New("body is not valid UTF-8")
	errLoneSurrogate  = errors.New(`a \u escape is a lone UTF-16 surrogate`)
	errNumberTooLarge = errors.New("a number is beyond what the mirror can store")
)

// checkStorable refuses the JSON texts that a decoder accepts but Postgres
// refuses in a jsonb column (the raw snapshot and the metadata are stored
// as received): invalid UTF-8, which RFC 8259 excludes but decoders replace
// silently; \u escapes of lone surrogates; numbers beyond numeric. \u0000 is
// left alone: DecodeUser replaces it. Syntax is the decoder's to check; this
// scan only has to be safe on any input.
func checkStorable(b []byte) error {
	if !utf8.Valid(b) {
		return errInvalidUTF8
	}
	for i := 0; i < len(b); {
		c := b[i]
		switch {
		case c == '"':
			end, err := scanString(b, i+1)
			if err != nil {
				return err
			}
			i = end
		case c == '-' || c >= '0' && c <= '9':
			end, err := scanNumber(b, i)
			if err != nil {
				return err
			}
			i = end
		default:
			i++
		}
	}
	return nil
}

// scanString checks the string whose content starts at b[i] and returns the
// index after its closing quote (len(b) when it is unterminated).
func scanString(b []byte, i int) (int, error) {
	for {
		q := bytes.IndexByte(b[i:], '"')
		if q < 0 {
			return len(b), nil
		}
		seg := b[i : i+q]
		bs := bytes.IndexByte(seg, '\\')
		if bs < 0 {
			return i + q + 1, nil
		}
		// An escape before the next quote: step over it (it may be the
		// quote's own) and look again.
		i += bs
		n, err := escapeLen(b, i)
		if err != nil {
			return 0, err
		}
		i += n
	}
}

// escapeLen checks the escape at b[i] (a backslash) and returns its length.
func escapeLen(b []byte, i int) (int, error) {
	if i+1 >= len(b) {
		return len(b) - i, nil
	}
	if b[i+1] != 'u' {
		return 2, nil
	}
	r, ok := hex4(b, i+2)
	switch {
	case !ok:
		return 2, nil // not JSON: the decoder refuses it
	case r >= 0xDC00 && r <= 0xDFFF:
		return 0, errLoneSurrogate
	case r >= 0xD800 && r <= 0xDBFF:
		if i+7 < len(b) && b[i+6] == '\\' && b[i+7] == 'u' {
			if lo, ok := hex4(b, i+8); ok && lo >= 0xDC00 && lo <= 0xDFFF {
				return 12, nil
			}
		}
		return 0, errLoneSurrogate
	}
	return 6, nil
}

// hex4 reads four hex digits at b[i].
func hex4(b []byte, i int) (rune, bool) {
	if i+4 > len(b) {
		return 0, false
	}
	var r rune
	for _, c := range b[i : i+4] {
		switch {
		case c >= '0' && c <= '9':
			r = r<<4 | rune(c-'0')
		case c >= 'a' && c <= 'f':
			r = r<<4 | rune(c-'a'+10)
		case c >= 'A' && c <= 'F':
			r = r<<4 | rune(c-'A'+10)
		default:
			return 0, false
		}
	}
	return r, true
}

// scanNumber checks the number starting at b[i] and returns the index after it.
func scanNumber(b []byte, i int) (int, error) {
	start, exp, inExp := i, 0, false
	for ; i < len(b); i++ {
		c := b[i]
		switch {
		case c >= '0' && c <= '9':
			if inExp && exp <= maxExponent {
				exp = exp*10 + int(c-'0')
			}
		case c == 'e' || c == 'E':
			inExp = true
		case c == '-' || c == '+' || c == '.':
		default:
			return i, numberErr(i-start, exp)
		}
	}
	return i, numberErr(i-start, exp)
}

func numberErr(length, exp int) error {
	if length > maxNumberLen || exp > maxExponent {
		return errNumberTooLarge
	}
	return nil
}
