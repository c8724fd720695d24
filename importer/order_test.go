package importer

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/clerksync/clerksync"
	"github.com/clerksync/clerksync/internal/csvgen"
)

func sptr(s string) *string { return &s }

func TestUserEncodingRoundTrips(t *testing.T) {
	users := []clerksync.ImportUser{
		{ID: "user_a", Line: 2},
		{ID: "user_b", Line: 1 << 40, FirstName: sptr(""), LastName: sptr("Ødegaard\t\n"), Username: sptr("x"),
			PasswordEnabled: true, TOTPEnabled: true,
			Emails: []clerksync.ImportContact{
				{ID: "imp_em_1", Value: "a@x", Status: clerksync.Verified, IsPrimary: true},
				{ID: "imp_em_2", Value: "b@x", Status: clerksync.Unverified},
				{ID: "imp_em_3", Value: "c@x"},
				{ID: "imp_em_4", Value: "d@x", Status: "pending"},
			},
			Phones: []clerksync.ImportContact{{ID: "imp_ph_1", Value: "+1", IsPrimary: true}}},
		{ID: "user_c", Line: 3, Username: sptr(strings.Repeat("ü", 300))},
	}
	for _, u := range users {
		got, err := decodeUser(string(appendUser(nil, &u)))
		if err != nil {
			t.Fatalf("%s: %v", u.ID, err)
		}
		if !reflect.DeepEqual(got, u) {
			t.Errorf("round trip:\n got %+v\nwant %+v", got, u)
		}
	}
	rec := appendUser(nil, &users[1])
	for _, cut := range []int{1, len(rec) / 2, len(rec) - 1} {
		if _, err := decodeUser(string(rec[:cut])); err == nil {
			t.Errorf("a record cut at %d of %d decoded", cut, len(rec))
		}
	}
}

// sortedUsers feeds users to a sorter with a small buffer and returns what
// it hands on and how many buffers it spilled.
func sortedUsers(t *testing.T, users []clerksync.ImportUser) ([]clerksync.ImportUser, int) {
	t.Helper()
	var out []clerksync.ImportUser
	s := newSorter(4<<10, t.TempDir(), func(u clerksync.ImportUser) error {
		out = append(out, u)
		return nil
	})
	spilled := 0
	for i := range users {
		if err := s.add(&users[i]); err != nil {
			t.Fatal(err)
		}
		spilled = max(spilled, len(s.runs))
	}
	if err := s.finish(); err != nil {
		t.Fatal(err)
	}
	return out, spilled
}

// loadOrder is the order a sorter hands users on in: the ascending prefix
// of the input as it is, then the rest by id.
func loadOrder(in []clerksync.ImportUser) []clerksync.ImportUser {
	n := 1
	for n < len(in) && in[n].ID > in[n-1].ID {
		n++
	}
	n = min(n, len(in))
	rest := slices.Clone(in[n:])
	slices.SortFunc(rest, func(a, b clerksync.ImportUser) int { return strings.Compare(a.ID, b.ID) })
	return append(slices.Clone(in[:n]), rest...)
}

func TestSorterOrdersUsers(t *testing.T) {
	var users []clerksync.ImportUser
	for i := range 3000 {
		u := clerksync.ImportUser{ID: fmt.Sprintf("user_%06d", i), Line: i + 2, FirstName: sptr(strings.Repeat("n", i%50))}
		if i%3 == 0 {
			u.Emails = []clerksync.ImportContact{{ID: fmt.Sprintf("imp_em_%d", i), Value: "e@x", Status: clerksync.Verified, IsPrimary: true}}
		}
		users = append(users, u)
	}
	t.Run("InOrderPassesThrough", func(t *testing.T) {
		out, spilled := sortedUsers(t, slices.Clone(users))
		if spilled != 0 || !reflect.DeepEqual(out, users) {
			t.Fatalf("%d runs spilled, %d users out", spilled, len(out))
		}
	})
	t.Run("ShuffledIsSpilledAndMerged", func(t *testing.T) {
		shuffled := slices.Clone(users)
		rand.New(rand.NewPCG(1, 2)).Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
		out, spilled := sortedUsers(t, slices.Clone(shuffled))
		if want := loadOrder(shuffled); spilled < 10 || !reflect.DeepEqual(out, want) {
			t.Fatalf("%d runs spilled, %d users out", spilled, len(out))
		}
	})
}

// TestRunLoadsInIDOrder: a heavy export in random id order reaches the
// loader in id order (after its ascending prefix), every valid row once,
// and leaves no file behind.
func TestRunLoadsInIDOrder(t *testing.T) {
	var buf bytes.Buffer
	if _, err := csvgen.Write(&buf, csvgen.Options{Rows: 8000, Seed: 5, BadRows: 0.01, Heavy: true}); err != nil {
		t.Fatal(err)
	}
	ref, err := NewReader(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	var want []clerksync.ImportUser
	for {
		u, rej, err := ref.Next()
		if err != nil {
			break
		}
		if rej == nil {
			want = append(want, u)
		}
	}
	want = loadOrder(want)

	dir := t.TempDir()
	r, err := NewReader(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	var got []clerksync.ImportUser
	loader := loaderFunc(func(users []clerksync.ImportUser) {
		got = append(got, users...)
	})
	_, err = Run(t.Context(), r, Options{Loader: loader, BatchSize: 700, Workers: 1, SortBuffer: 128 << 10,
		TempDir: dir, RejectsPath: dir + "/rejects.csv"})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) || !reflect.DeepEqual(got, want) {
		t.Fatalf("loaded %d users, want %d in id order", len(got), len(want))
	}
	left, _ := os.ReadDir(dir)
	if len(left) != 1 { // the rejects file
		t.Errorf("files left in the temporary directory: %v", left)
	}
}

// loaderFunc is a Loader that hands each batch to a function.
type loaderFunc func([]clerksync.ImportUser)

func (f loaderFunc) Load(_ context.Context, users []clerksync.ImportUser) (clerksync.LoadResult, error) {
	f(users)
	return clerksync.LoadResult{Inserted: len(users)}, nil
}
