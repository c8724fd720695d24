package importer

import (
	"fmt"
	"testing"
)

func TestSeenIDsFindsRepeats(t *testing.T) {
	s := newSeenIDs()
	for i := range 100000 {
		if _, dup := s.add(fmt.Sprintf("user_%d", i), i+2); dup {
			t.Fatalf("user_%d seen before it was added", i)
		}
	}
	for _, i := range []int{0, 1, 4095, 99999} {
		if first, dup := s.add(fmt.Sprintf("user_%d", i), 1<<30); !dup || first != i+2 {
			t.Errorf("user_%d again: first %d, dup %v", i, first, dup)
		}
	}
	if s.n != 100000 || s.n*5 > len(s.hashes)*4 {
		t.Errorf("%d ids in %d slots", s.n, len(s.hashes))
	}
}
