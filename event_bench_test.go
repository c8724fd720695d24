package clerksync_test

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/clerksync/clerksync"
)

func benchBody(b *testing.B) []byte {
	b.Helper()
	body, err := os.ReadFile(filepath.Join("testdata", "20-user.created.composed-multi-contact.json"))
	if err != nil {
		b.Fatal(err)
	}
	return body
}

// cpuPerOp reports the process's CPU time per iteration (garbage collection
// included), which a shared machine disturbs much less than ns/op.
func cpuPerOp(b *testing.B, loop func()) {
	b.Helper()
	var before, after syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &before)
	n := 0
	for b.Loop() {
		loop()
		n++
	}
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &after)
	cpu := time.Duration(after.Utime.Nano() + after.Stime.Nano() - before.Utime.Nano() - before.Stime.Nano())
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(n), "cpu-ns/op")
}

// BenchmarkParseEnvelope is the routing parse of fixture 20 (9.5 KB), what
// the receiver ran on every event before it parsed user events fully.
func BenchmarkParseEnvelope(b *testing.B) {
	body := benchBody(b)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	cpuPerOp(b, func() {
		if _, err := clerksync.ParseEnvelope(body); err != nil {
			b.Fatal(err)
		}
	})
}

// BenchmarkParseEvent is the full parse of fixture 20 that the receiver and
// the worker both run on each user event.
func BenchmarkParseEvent(b *testing.B) {
	body := benchBody(b)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	cpuPerOp(b, func() {
		if _, err := clerksync.ParseEvent("msg_1", body); err != nil {
			b.Fatal(err)
		}
	})
}
