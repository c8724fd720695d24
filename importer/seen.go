package importer

import "github.com/cespare/xxhash/v2"

// seenIDs remembers the ids accepted so far and the line of each, to reject a
// repeated id. It keys on a 64-bit xxhash of the id rather than the id itself:
// a million ids cost about 24 MB instead of 70, which keeps a multi-million
// row import within its memory budget. Two different ids share a hash with
// probability 2^-64 per pair, about 3e-8 for a whole 1M-row file; should it
// happen, the second row is rejected as a repeat, visibly, in the rejects
// file, and never loaded over the first.
type seenIDs map[uint64]uint32

func newSeenIDs() seenIDs { return make(seenIDs, 1024) }

// add records id at line and reports the line where it was first seen when it
// is a repeat.
func (s seenIDs) add(id string, line int) (first int, dup bool) {
	h := xxhash.Sum64String(id)
	if l, ok := s[h]; ok {
		return int(l), true
	}
	s[h] = uint32(line)
	return 0, false
}
