package importer

import (
	"bufio"
	"bytes"
	"container/heap"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"

	"github.com/clerksync/clerksync"
)

// DefaultSortBuffer is how many bytes of users the import holds in memory to
// put them in id order, about 30,000 users of a heavy export.
const DefaultSortBuffer = 8 << 20

// sorter hands the valid users on in id order, so that the loader's index
// inserts (users, and contacts whose ids start with the user id) land
// next to each other instead of all over indexes much larger than
// Postgres's cache: for an export in random id order, that halves the
// database's work. Users pass straight through while each id is greater
// than the one before: an export listed by id (or by creation time, which
// is the same for Clerk's ids) streams as it is read. From the first id out
// of order on, users are gathered in a buffer; each full buffer is sorted
// and spilled to a temporary file, and the files are merged at the end. So
// the loader sees an ascending prefix of the input (one or two users of a
// file in random order; all of a sorted one), then the rest in id order.
// The files hold what ImportUser holds (never a credential) and are
// unlinked as soon as they are created, so that nothing is left behind
// even if the process is killed; they take about as much disk space as
// the input.
type sorter struct {
	budget int
	dir    string
	emit   func(clerksync.ImportUser) error

	arena   []byte // the buffer: encoded users
	recs    []span // where each user is in arena
	runs    []*run // sorted buffers spilled to disk
	prev    []byte // the id handed on last, while inOrder
	inOrder bool   // every id added so far was greater than the one before
}

// span is where one encoded user is in the sorter's buffer.
type span struct{ start, end uint32 }

func newSorter(budget int, dir string, emit func(clerksync.ImportUser) error) *sorter {
	if budget <= 0 {
		budget = DefaultSortBuffer
	}
	return &sorter{budget: budget, dir: dir, emit: emit, inOrder: true}
}

// add takes one valid user.
func (s *sorter) add(u *clerksync.ImportUser) error {
	if s.inOrder {
		if s.prev == nil || u.ID > string(s.prev) {
			s.prev = append(s.prev[:0], u.ID...)
			return s.emit(*u)
		}
		s.inOrder, s.prev = false, nil
	}
	if s.arena == nil {
		s.arena = make([]byte, 0, s.budget+64<<10)
	}
	start := len(s.arena)
	s.arena = appendUser(s.arena, u)
	s.recs = append(s.recs, span{uint32(start), uint32(len(s.arena))})
	if len(s.arena) < s.budget {
		return nil
	}
	s.sortBuffer()
	return s.spill()
}

// finish hands on every user still held and releases the temporary files.
func (s *sorter) finish() error {
	defer s.close()
	s.sortBuffer()
	if len(s.runs) == 0 {
		return s.emitBuffer()
	}
	if err := s.spill(); err != nil {
		return err
	}
	s.arena, s.recs = nil, nil // for the batches being merged
	return s.merge()
}

// close releases the temporary files; finish calls it, and Run on error.
func (s *sorter) close() {
	for _, r := range s.runs {
		r.f.Close()
		os.Remove(r.f.Name()) // where an open file cannot be unlinked
	}
	s.runs = nil
}

func (s *sorter) record(i int) []byte { return s.arena[s.recs[i].start:s.recs[i].end] }

// sortBuffer orders the buffer's users by id; the records stay where they
// are.
func (s *sorter) sortBuffer() {
	slices.SortFunc(s.recs, func(a, b span) int {
		return bytes.Compare(recordKey(s.arena[a.start:a.end]), recordKey(s.arena[b.start:b.end]))
	})
}

func (s *sorter) emitBuffer() error {
	for i := range s.recs {
		u, err := decodeUser(string(s.record(i)))
		if err != nil {
			return err
		}
		if err := s.emit(u); err != nil {
			return err
		}
	}
	s.arena, s.recs = s.arena[:0], s.recs[:0]
	return nil
}

// spill writes the sorted buffer to a temporary file.
func (s *sorter) spill() error {
	if len(s.recs) == 0 {
		return nil
	}
	f, err := os.CreateTemp(s.dir, "clerksync-import-*.run")
	if err != nil {
		return fmt.Errorf("sort users: %w", err)
	}
	if runtime.GOOS != "windows" {
		os.Remove(f.Name()) // gone when closed, or when the process dies
	}
	r := &run{f: f}
	s.runs = append(s.runs, r)
	w := bufio.NewWriterSize(f, 256<<10)
	var n [binary.MaxVarintLen64]byte
	for i := range s.recs {
		rec := s.record(i)
		w.Write(n[:binary.PutUvarint(n[:], uint64(len(rec)))])
		w.Write(rec)
	}
	if err := w.Flush(); err != nil {
		return fmt.Errorf("sort users: %w", err)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("sort users: %w", err)
	}
	r.r = bufio.NewReaderSize(f, 64<<10)
	s.arena, s.recs = s.arena[:0], s.recs[:0]
	return nil
}

// merge hands on the users of every spilled run, in id order.
func (s *sorter) merge() error {
	h := make(runHeap, 0, len(s.runs))
	for _, r := range s.runs {
		ok, err := r.next()
		if err != nil {
			return err
		}
		if ok {
			h = append(h, r)
		}
	}
	heap.Init(&h)
	for len(h) > 0 {
		r := h[0]
		u, err := decodeUser(string(r.rec))
		if err != nil {
			return err
		}
		if err := s.emit(u); err != nil {
			return err
		}
		ok, err := r.next()
		switch {
		case err != nil:
			return err
		case ok:
			heap.Fix(&h, 0)
		default:
			heap.Pop(&h)
		}
	}
	return nil
}

// run is one sorted buffer spilled to disk, read back record by record.
type run struct {
	f   *os.File
	r   *bufio.Reader
	rec []byte // the current record
}

func (r *run) next() (bool, error) {
	n, err := binary.ReadUvarint(r.r)
	if errors.Is(err, io.EOF) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("sort users: read back: %w", err)
	}
	if cap(r.rec) < int(n) {
		r.rec = make([]byte, n)
	}
	r.rec = r.rec[:n]
	if _, err := io.ReadFull(r.r, r.rec); err != nil {
		return false, fmt.Errorf("sort users: read back: %w", err)
	}
	return true, nil
}

type runHeap []*run

func (h runHeap) Len() int { return len(h) }
func (h runHeap) Less(i, j int) bool {
	return bytes.Compare(recordKey(h[i].rec), recordKey(h[j].rec)) < 0
}
func (h runHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *runHeap) Push(x any)   { *h = append(*h, x.(*run)) }
func (h *runHeap) Pop() any {
	old := *h
	r := old[len(old)-1]
	*h = old[:len(old)-1]
	return r
}

// A user is encoded as its id first (the sort key), then the line, a byte
// of flags, the names present, and the contacts; strings are a uvarint
// length and the bytes.
const (
	flagPassword = 1 << iota
	flagTOTP
	flagFirstName
	flagLastName
	flagUsername
)

// Contact statuses as one byte; any other status follows as a string.
const (
	statusNone = iota
	statusVerified
	statusUnverified
	statusOther
)

func appendUser(b []byte, u *clerksync.ImportUser) []byte {
	b = appendString(b, u.ID)
	b = binary.AppendUvarint(b, uint64(u.Line))
	var flags byte
	for _, f := range []struct {
		on   bool
		flag byte
	}{{u.PasswordEnabled, flagPassword}, {u.TOTPEnabled, flagTOTP}, {u.FirstName != nil, flagFirstName},
		{u.LastName != nil, flagLastName}, {u.Username != nil, flagUsername}} {
		if f.on {
			flags |= f.flag
		}
	}
	b = append(b, flags)
	for _, s := range []*string{u.FirstName, u.LastName, u.Username} {
		if s != nil {
			b = appendString(b, *s)
		}
	}
	b = appendContacts(b, u.Emails)
	return appendContacts(b, u.Phones)
}

func appendContacts(b []byte, cs []clerksync.ImportContact) []byte {
	b = binary.AppendUvarint(b, uint64(len(cs)))
	for _, c := range cs {
		b = appendString(b, c.ID)
		b = appendString(b, c.Value)
		switch c.Status {
		case "":
			b = append(b, statusNone)
		case clerksync.Verified:
			b = append(b, statusVerified)
		case clerksync.Unverified:
			b = append(b, statusUnverified)
		default:
			b = append(b, statusOther)
			b = appendString(b, c.Status)
		}
		if c.IsPrimary {
			b = append(b, 1)
		} else {
			b = append(b, 0)
		}
	}
	return b
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// recordKey returns the id an encoded user starts with.
func recordKey(rec []byte) []byte {
	n, k := binary.Uvarint(rec)
	return rec[k : k+int(n)]
}

var errCorrupt = errors.New("sort users: a record read back is corrupt")

// decodeUser decodes what appendUser encoded. Its strings share rec's
// memory: one allocation per user.
func decodeUser(rec string) (clerksync.ImportUser, error) {
	d := decoder{s: rec}
	u := clerksync.ImportUser{ID: d.str(), Line: int(d.uvarint())}
	flags := d.byte()
	u.PasswordEnabled, u.TOTPEnabled = flags&flagPassword != 0, flags&flagTOTP != 0
	for _, f := range []struct {
		flag byte
		dst  **string
	}{{flagFirstName, &u.FirstName}, {flagLastName, &u.LastName}, {flagUsername, &u.Username}} {
		if flags&f.flag != 0 {
			s := d.str()
			*f.dst = &s
		}
	}
	u.Emails = d.contacts()
	u.Phones = d.contacts()
	if d.bad || d.s != "" {
		return clerksync.ImportUser{}, errCorrupt
	}
	return u, nil
}

type decoder struct {
	s   string
	bad bool
}

func (d *decoder) uvarint() uint64 {
	var x uint64
	for shift := 0; shift < 64; shift += 7 {
		if d.s == "" {
			d.bad = true
			return 0
		}
		c := d.s[0]
		d.s = d.s[1:]
		x |= uint64(c&0x7f) << shift
		if c < 0x80 {
			return x
		}
	}
	d.bad = true
	return 0
}

func (d *decoder) byte() byte {
	if d.s == "" {
		d.bad = true
		return 0
	}
	c := d.s[0]
	d.s = d.s[1:]
	return c
}

func (d *decoder) str() string {
	n := d.uvarint()
	if n > uint64(len(d.s)) {
		d.bad = true
		return ""
	}
	s := d.s[:n]
	d.s = d.s[n:]
	return s
}

func (d *decoder) contacts() []clerksync.ImportContact {
	n := d.uvarint()
	if n > uint64(len(d.s)) {
		d.bad = true
	}
	if n == 0 || d.bad {
		return nil
	}
	cs := make([]clerksync.ImportContact, n)
	for i := range cs {
		c := &cs[i]
		c.ID, c.Value = d.str(), d.str()
		switch d.byte() {
		case statusVerified:
			c.Status = clerksync.Verified
		case statusUnverified:
			c.Status = clerksync.Unverified
		case statusOther:
			c.Status = d.str()
		}
		c.IsPrimary = d.byte() == 1
	}
	return cs
}
