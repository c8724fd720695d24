// Package payload is the format of clerksync's task payloads: the verified
// webhook body, compressed with zstd and a dictionary trained on Clerk user
// events, so that a queued event costs Redis about a quarter of its body.
//
// A payload is either
//
//	0x00 0x01 <zstd frame>   compressed; the frame's header names its dictionary
//	<JSON>                   a body as received (tasks queued before compression)
//
// A JSON text never starts with a 0x00 byte, so the two cannot be confused.
// The second byte is the format's version, for a change of codec. Every
// dictionary ever shipped stays embedded under dicts/ (named by its zstd
// dictionary id), so that any queued payload decodes after an upgrade.
package payload

import (
	"embed"
	"errors"
	"fmt"
	"path"
	"strconv"
	"strings"
	"sync"

	"github.com/klauspost/compress/zstd"
)

const (
	magic     = 0x00
	versionZ1 = 0x01 // a zstd frame, with or without a dictionary
	// currentDict is the dictionary Encode uses: the newest shipped.
	currentDict = 32769
	// maxBody bounds what Decode inflates: the receiver takes bodies up to
	// 1 MiB, so anything larger is not a payload of ours.
	maxBody = 4 << 20
)

// ErrCorrupt is returned by Decode for a payload that is compressed but
// cannot be decompressed: damaged, of an unknown version, or naming a
// dictionary this build does not have.
var ErrCorrupt = errors.New("corrupt task payload")

//go:embed dicts/*.zdict
var dictFiles embed.FS

type codec struct {
	enc *zstd.Encoder
	dec *zstd.Decoder
}

// load builds the codec once: encoders and decoders are safe for concurrent
// use and costly to make.
var load = sync.OnceValues(func() (*codec, error) {
	entries, err := dictFiles.ReadDir("dicts")
	if err != nil {
		return nil, err
	}
	var all [][]byte
	var current []byte
	for _, e := range entries {
		b, err := dictFiles.ReadFile(path.Join("dicts", e.Name()))
		if err != nil {
			return nil, err
		}
		id, err := zstd.InspectDictionary(b)
		if err != nil {
			return nil, fmt.Errorf("payload: dictionary %s: %w", e.Name(), err)
		}
		if want := strings.TrimSuffix(e.Name(), ".zdict"); strconv.Itoa(int(id.ID())) != want {
			return nil, fmt.Errorf("payload: dictionary %s holds id %d", e.Name(), id.ID())
		}
		if id.ID() == currentDict {
			current = b
		}
		all = append(all, b)
	}
	if current == nil {
		return nil, fmt.Errorf("payload: dictionary %d is not embedded", currentDict)
	}
	// The fastest level: with a dictionary, higher levels cost 5 to 8 times
	// the CPU for 8% fewer bytes (BenchmarkCodecs).
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderDict(current),
		zstd.WithEncoderCRC(true))
	if err != nil {
		return nil, err
	}
	dec, err := zstd.NewReader(nil, zstd.WithDecoderDicts(all...), zstd.WithDecoderMaxMemory(maxBody),
		zstd.WithDecoderConcurrency(0))
	if err != nil {
		return nil, err
	}
	return &codec{enc: enc, dec: dec}, nil
})

// Encode compresses a webhook body into a task payload.
func Encode(body []byte) []byte {
	c, err := load()
	if err != nil {
		panic(err) // the embedded dictionaries are checked by the tests
	}
	out := make([]byte, 2, 2+len(body)/3+64)
	out[0], out[1] = magic, versionZ1
	return c.enc.EncodeAll(body, out)
}

// Decode returns the webhook body a task payload holds: decompressed, or as
// it is when it was queued uncompressed. Its error wraps ErrCorrupt and
// never quotes the payload.
func Decode(p []byte) ([]byte, error) {
	if len(p) == 0 || p[0] != magic {
		return p, nil
	}
	if len(p) < 2 || p[1] != versionZ1 {
		return nil, fmt.Errorf("%w: unknown format", ErrCorrupt)
	}
	if len(p) == 2 {
		return nil, fmt.Errorf("%w: no frame", ErrCorrupt)
	}
	c, err := load()
	if err != nil {
		return nil, err
	}
	body, err := c.dec.DecodeAll(p[2:], nil)
	if err != nil {
		// zstd's errors name what is wrong with the frame, not its content.
		return nil, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	return body, nil
}

// Compressed reports whether p is a compressed payload.
func Compressed(p []byte) bool { return len(p) > 0 && p[0] == magic }
