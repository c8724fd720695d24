package db

import (
	"crypto/sha256"
	"slices"
	"strconv"
	"strings"

	"github.com/clerksync/clerksync"
)

// fingerprinter computes what findImportedSQL returns for a user an import
// stored, from the CSV row that would store it: equal fingerprints mean
// that importing the row again would write exactly what is there, so it
// is skipped. A difference in the serialisation (a server encoding other
// than UTF-8, say) only makes every user look changed: slower, never wrong.
// It reuses its buffers; it is not safe for concurrent use.
type fingerprinter struct {
	buf, list []byte
	order     []int
}

func (f *fingerprinter) sum(u *clerksync.ImportUser) [sha256.Size]byte {
	pe, pp := clerksync.Primary(u.Emails), clerksync.Primary(u.Phones)
	b := append(f.buf[:0], "v1"...)
	b = appendNullable(b, u.Username)
	b = appendNullable(b, u.FirstName)
	b = appendNullable(b, u.LastName)
	b = appendNullable(b, contactIDPtr(pe))
	b = appendNullable(b, contactValuePtr(pe))
	b = appendNullable(b, contactIDPtr(pp))
	b = appendNullable(b, contactValuePtr(pp))
	b = appendBool(b, u.PasswordEnabled)
	b = appendBool(b, u.TOTPEnabled) // two_factor_enabled
	b = appendBool(b, u.TOTPEnabled)
	b = f.appendContacts(b, u.Emails)
	b = f.appendContacts(b, u.Phones)
	f.buf = b
	return sha256.Sum256(b)
}

// appendContacts appends a contact list as findImportedSQL's string_agg
// builds it, ordered by id in byte order (the ids' COLLATE "C"), as one
// length-prefixed value; an empty list is N, as string_agg of no rows is
// NULL.
func (f *fingerprinter) appendContacts(b []byte, cs []clerksync.ImportContact) []byte {
	if len(cs) == 0 {
		return append(b, 'N')
	}
	f.order = f.order[:0]
	for i := range cs {
		f.order = append(f.order, i)
	}
	slices.SortFunc(f.order, func(x, y int) int { return strings.Compare(cs[x].ID, cs[y].ID) })
	l := f.list[:0]
	for _, i := range f.order {
		c := &cs[i]
		l = appendValue(l, c.ID)
		l = appendValue(l, c.Value)
		if c.Status == "" {
			l = append(l, 'N')
		} else {
			l = appendValue(l, c.Status)
		}
		l = appendBool(l, c.IsPrimary)
	}
	f.list = l
	b = strconv.AppendInt(b, int64(len(l)), 10)
	b = append(b, ':')
	return append(b, l...)
}

func appendValue(b []byte, s string) []byte {
	b = strconv.AppendInt(b, int64(len(s)), 10)
	b = append(b, ':')
	return append(b, s...)
}

func appendNullable(b []byte, s *string) []byte {
	if s == nil {
		return append(b, 'N')
	}
	return appendValue(b, *s)
}

func appendBool(b []byte, v bool) []byte {
	if v {
		return append(b, 't')
	}
	return append(b, 'f')
}

func contactIDPtr(c *clerksync.ImportContact) *string {
	if c == nil {
		return nil
	}
	return &c.ID
}

func contactValuePtr(c *clerksync.ImportContact) *string {
	if c == nil {
		return nil
	}
	return &c.Value
}
