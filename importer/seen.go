package importer

import "github.com/cespare/xxhash/v2"

// seenIDs remembers the ids accepted so far and the line of each, to reject a
// repeated id. It keys on a 64-bit xxhash of the id rather than the id itself,
// in an open-addressed table of its own: 12 bytes a slot, at most 80% full, so
// a million ids cost 13 to 25 MB where a Go map of the same took up to 40 MB
// (and the id strings 70 more), which keeps a multi-million row import within
// its memory budget. Two different ids share a hash with probability 2^-64
// per pair, about 3e-8 for a whole 1M-row file; should it happen, the second
// row is rejected as a repeat, visibly, in the rejects file, and never loaded
// over the first.
type seenIDs struct {
	hashes []uint64 // 0 marks an empty slot; a hash of 0 is stored as 1
	lines  []uint32
	n      int
}

func newSeenIDs() seenIDs { return seenIDs{hashes: make([]uint64, 1024), lines: make([]uint32, 1024)} }

// add records id at line and reports the line where it was first seen when it
// is a repeat.
func (s *seenIDs) add(id string, line int) (first int, dup bool) {
	h := xxhash.Sum64String(id)
	if h == 0 {
		h = 1
	}
	if i, ok := s.find(h); ok {
		return int(s.lines[i]), true
	}
	if (s.n+1)*5 > len(s.hashes)*4 {
		s.grow()
	}
	i, _ := s.find(h)
	s.hashes[i], s.lines[i] = h, uint32(line)
	s.n++
	return 0, false
}

// find returns the slot holding h, or the empty slot where it belongs.
func (s *seenIDs) find(h uint64) (int, bool) {
	mask := uint64(len(s.hashes) - 1)
	for i := h & mask; ; i = (i + 1) & mask {
		switch s.hashes[i] {
		case h:
			return int(i), true
		case 0:
			return int(i), false
		}
	}
}

func (s *seenIDs) grow() {
	old, oldLines := s.hashes, s.lines
	s.hashes, s.lines = make([]uint64, 2*len(old)), make([]uint32, 2*len(old))
	for i, h := range old {
		if h != 0 {
			j, _ := s.find(h)
			s.hashes[j], s.lines[j] = h, oldLines[i]
		}
	}
}
