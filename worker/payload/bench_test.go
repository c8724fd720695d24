package payload_test

import (
	"fmt"
	"runtime"
	"syscall"
	"testing"
	"time"

	cdict "github.com/klauspost/compress/dict"
	"github.com/klauspost/compress/s2"
	"github.com/klauspost/compress/zstd"

	"github.com/clerksync/clerksync/worker/payload"
)

// candidate is one way of compressing payloads that BenchmarkCodecs
// compares; "shipped" is what Encode and Decode do.
type candidate struct {
	name string
	enc  func([]byte) []byte
	dec  func([]byte) ([]byte, error)
}

func candidates(b *testing.B) []candidate {
	dict, err := payload.DictFile()
	if err != nil {
		b.Fatal(err)
	}
	out := []candidate{{"shipped", payload.Encode, payload.Decode}}
	for _, lvl := range []zstd.EncoderLevel{zstd.SpeedFastest, zstd.SpeedDefault, zstd.SpeedBetterCompression} {
		for _, withDict := range []bool{false, true} {
			eo := []zstd.EOption{zstd.WithEncoderLevel(lvl)}
			var do []zstd.DOption
			name := "zstd-" + lvl.String()
			if withDict {
				eo, do, name = append(eo, zstd.WithEncoderDict(dict)), append(do, zstd.WithDecoderDicts(dict)), name+"-dict"
			}
			e, err := zstd.NewWriter(nil, eo...)
			if err != nil {
				b.Fatal(err)
			}
			d, _ := zstd.NewReader(nil, do...)
			out = append(out, candidate{name, func(p []byte) []byte { return e.EncodeAll(p, nil) },
				func(p []byte) ([]byte, error) { return d.DecodeAll(p, nil) }})
		}
	}
	// An S2 dictionary from the same kind of samples the zstd one was built
	// from (another seed than the measured bodies).
	s2raw, err := cdict.BuildS2Dict(generatedSeed(b, 10000, 777), cdict.Options{MaxDictSize: 16 << 10, HashBytes: 6})
	if err != nil {
		b.Fatal(err)
	}
	sd := s2.NewDict(s2raw)
	out = append(out,
		candidate{"s2-dict", func(p []byte) []byte { return sd.Encode(nil, p) }, func(p []byte) ([]byte, error) { return sd.Decode(nil, p) }},
		candidate{"s2-dict-better", func(p []byte) []byte { return sd.EncodeBetter(nil, p) }, func(p []byte) ([]byte, error) { return sd.Decode(nil, p) }},
		candidate{"s2", func(p []byte) []byte { return s2.Encode(nil, p) }, func(p []byte) ([]byte, error) { return s2.Decode(nil, p) }},
		candidate{"s2-better", func(p []byte) []byte { return s2.EncodeBetter(nil, p) }, func(p []byte) ([]byte, error) { return s2.Decode(nil, p) }},
	)
	return out
}

// BenchmarkCodecs compares the candidates on generated 3 KB bodies (another
// seed than the dictionary's samples) and on fixture 20 (9.5 KB): bytes out
// per body and the CPU time of the goroutine's thread per encode and decode
// (thread CPU, so that a loaded machine's waiting is not counted). It is how
// the shipped codec was chosen.
func BenchmarkCodecs(b *testing.B) {
	sets := map[string][][]byte{
		"3KB": generated(b, 2000),
		"9KB": {fixture(b, "20-user.created.composed-multi-contact.json")},
	}
	for _, set := range []string{"3KB", "9KB"} {
		bodies := sets[set]
		in := 0
		for _, p := range bodies {
			in += len(p)
		}
		for _, c := range candidates(b) {
			enc := make([][]byte, len(bodies))
			out := 0
			for i, p := range bodies {
				enc[i] = c.enc(p)
				out += len(enc[i])
			}
			b.Run(fmt.Sprintf("%s/%s/encode", set, c.name), func(b *testing.B) {
				cpu := threadCPU(b, func(i int) { c.enc(bodies[i%len(bodies)]) })
				b.ReportMetric(float64(in)/float64(len(bodies)), "in-B")
				b.ReportMetric(float64(out)/float64(len(bodies)), "out-B")
				b.ReportMetric(cpu, "cpu-ns/op")
			})
			b.Run(fmt.Sprintf("%s/%s/decode", set, c.name), func(b *testing.B) {
				cpu := threadCPU(b, func(i int) {
					if _, err := c.dec(enc[i%len(enc)]); err != nil {
						b.Fatal(err)
					}
				})
				b.ReportMetric(cpu, "cpu-ns/op")
			})
		}
	}
}

// threadCPU runs do b.N times on one locked OS thread and returns that
// thread's CPU time per call.
func threadCPU(b *testing.B, do func(i int)) float64 {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	before := threadTime(b)
	i := 0
	for b.Loop() {
		do(i)
		i++
	}
	return float64(threadTime(b)-before) / float64(i)
}

func threadTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(1 /* RUSAGE_THREAD */, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
