package payload_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/clerksync/clerksync/internal/clerkgen"
	"github.com/clerksync/clerksync/worker/payload"
)

func fixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// generated are Clerk-shaped bodies from another seed than the dictionary
// was trained on.
func generated(t testing.TB, events int) [][]byte {
	t.Helper()
	return generatedSeed(t, events, 1)
}

func generatedSeed(t testing.TB, events int, seed uint64) [][]byte {
	t.Helper()
	g, err := clerkgen.New(fixture(t, "20-user.created.composed-multi-contact.json"))
	if err != nil {
		t.Fatal(err)
	}
	ds, _ := g.History(clerkgen.Options{Events: events, Users: events / 5, Delete: 0.1, Seed: seed})
	out := make([][]byte, len(ds))
	for i, d := range ds {
		out[i] = d.Body
	}
	return out
}

func TestRoundTrip(t *testing.T) {
	bodies := generated(t, 500)
	fixtures, _ := filepath.Glob(filepath.Join("..", "..", "testdata", "*.json"))
	for _, f := range fixtures {
		bodies = append(bodies, fixture(t, filepath.Base(f)))
	}
	bodies = append(bodies, []byte("{}"), []byte(`{"type":"user.created"}`), bytes.Repeat([]byte("x"), 1<<20))
	in, out := 0, 0
	for _, b := range bodies {
		p := payload.Encode(b)
		if !payload.Compressed(p) {
			t.Fatal("Encode's payload is not marked compressed")
		}
		got, err := payload.Decode(p)
		if err != nil || !bytes.Equal(got, b) {
			t.Fatalf("round trip of %d bytes: %v", len(b), err)
		}
		in, out = in+len(b), out+len(p)
	}
	t.Logf("%d bodies: %d -> %d bytes", len(bodies), in, out)
}

// TestUncompressedPayloadDecodesAsIs: tasks queued before compression hold
// the body as received, and still decode after the upgrade.
func TestUncompressedPayloadDecodesAsIs(t *testing.T) {
	for _, b := range [][]byte{fixture(t, "20-user.created.composed-multi-contact.json"), []byte(" {\"type\":1}"), []byte("not json"), nil} {
		if payload.Compressed(b) {
			t.Errorf("%q taken for compressed", b)
		}
		got, err := payload.Decode(b)
		if err != nil || !bytes.Equal(got, b) {
			t.Errorf("Decode(%q) = %q, %v", b, got, err)
		}
	}
}

// TestCompressedFixedPayloadDecodes pins the format: a payload written by
// this version (dictionary 32769) must decode in every later one.
func TestCompressedFixedPayloadDecodes(t *testing.T) {
	want := fixture(t, "22-user.deleted.composed.json")
	p, err := os.ReadFile(filepath.Join("testdata", "22-user.deleted.composed.v1-32769.payload"))
	if err != nil {
		t.Fatal(err)
	}
	got, err := payload.Decode(p)
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("Decode: %v\n%s", err, got)
	}
}

func TestCorruptPayload(t *testing.T) {
	good := payload.Encode(fixture(t, "20-user.created.composed-multi-contact.json"))
	flipped := bytes.Clone(good)
	flipped[len(flipped)/2] ^= 0x40
	otherDict := bytes.Clone(good)
	// The high byte of the frame header's dictionary id (after our 2 bytes,
	// zstd's magic and the frame descriptor): a dictionary this build does
	// not have.
	otherDict[2+4+1+1]++
	for name, p := range map[string][]byte{
		"BitFlipped":     flipped,
		"Truncated":      good[:len(good)-7],
		"HeaderOnly":     good[:2],
		"MagicOnly":      good[:1],
		"UnknownVersion": append([]byte{0x00, 0x7f}, good[2:]...),
		"UnknownDict":    otherDict,
		"NotZstd":        []byte("\x00\x01ada@example.com"),
	} {
		t.Run(name, func(t *testing.T) {
			got, err := payload.Decode(p)
			if !errors.Is(err, payload.ErrCorrupt) {
				t.Fatalf("Decode = %d bytes, %v; want ErrCorrupt", len(got), err)
			}
			if strings.Contains(err.Error(), "ada@example.com") {
				t.Errorf("error quotes the payload: %v", err)
			}
		})
	}
}

// TestPayloadBombRefused: a payload that would inflate past the largest
// body the receiver takes is corrupt, not a reason to allocate gigabytes.
func TestPayloadBombRefused(t *testing.T) {
	p := payload.Encode(bytes.Repeat([]byte{'a'}, 5<<20))
	if _, err := payload.Decode(p); !errors.Is(err, payload.ErrCorrupt) {
		t.Fatalf("err %v, want ErrCorrupt", err)
	}
}
