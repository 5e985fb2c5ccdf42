// Package envelope is the versioned value envelope every stored value is
// wrapped in: the codec id, compression, flags, soft expiry, tags and a
// CRC-32C, in front of the payload (see package codec's doc for the byte
// layout). It is internal: only the Cache builds and reads envelopes.
package envelope

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"sync"
	"unicode/utf8"

	"github.com/klauspost/compress/s2"
	"github.com/klauspost/compress/zstd"

	"github.com/yokedcache/yokedcache/codec"
)

// ErrCorrupt reports stored bytes that are not a valid envelope. It is the
// same value as backend.ErrCorrupt's message family but kept here so this
// package has no dependency on backend; the Cache wraps it.
var ErrCorrupt = errors.New("corrupt envelope")

const (
	magic      = 0xCB
	version    = 1
	HeaderSize = 9 // bytes before the tag list and payload
	flagTags   = 1
	// flagFresh: an 8-byte little-endian soft expiry (Unix milliseconds)
	// and a 4-byte little-endian load duration (milliseconds, 0 unknown)
	// follow the header, before the tag list. Envelopes written before
	// it existed do not set it and decode as before.
	flagFresh = 2
	// flagNegative: the entry records a miss (negative caching); its
	// payload is empty.
	flagNegative = 4
	freshSize    = 12
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// EncodeOptions controls Encode.
type EncodeOptions struct {
	// Compression is applied when the payload is at least Threshold bytes.
	Compression codec.Compression
	// Threshold is the smallest payload that is compressed; 0 means 1024.
	// A negative value disables compression.
	Threshold int
	// FreshUntil is the entry's soft expiry in Unix milliseconds: after it
	// the entry is stale (still stored until its hard TTL, servable by
	// stale-while-revalidate or stale-if-error). 0: none (the envelope
	// then has no soft-expiry field and is byte-for-byte what older
	// versions wrote).
	FreshUntil int64
	// LoadMs is how long the value took to load, in milliseconds, kept
	// with the soft expiry (for probabilistic early refresh). Ignored
	// without FreshUntil.
	LoadMs uint32
	// Negative marks an entry that records a miss (negative caching).
	Negative bool
}

// Encode builds an envelope around payload (already encoded by the codec
// with id codecID) with the given tags. The result is a new slice; payload
// is not retained.
func Encode(codecID byte, payload []byte, tags []string, o EncodeOptions) ([]byte, error) {
	return AppendEncode(make([]byte, 0, MaxEncodedLen(len(payload), tags)), codecID, payload, tags, o)
}

// MaxEncodedLen is the most bytes Encode can produce for a payload of n
// bytes with tags (compression is kept only when it makes the envelope
// smaller).
func MaxEncodedLen(n int, tags []string) int {
	size := HeaderSize + freshSize + n
	if len(tags) > 0 {
		size += binary.MaxVarintLen64
		for _, t := range tags {
			size += binary.MaxVarintLen64 + len(t)
		}
	}
	return size
}

// AppendEncode appends the envelope Encode would build to dst and returns
// the extended slice. When cap(dst)-len(dst) >= MaxEncodedLen it does not
// allocate (except for compression's scratch space). dst's existing bytes
// are not part of the envelope or its checksum.
func AppendEncode(dst []byte, codecID byte, payload []byte, tags []string, o EncodeOptions) ([]byte, error) {
	comp := codec.None
	threshold := o.Threshold
	if threshold == 0 {
		threshold = 1024
	}
	if o.Compression != codec.None && threshold > 0 && len(payload) >= threshold {
		c, err := compress(o.Compression, payload)
		if err != nil {
			return dst, err
		}
		// Keep the compressed form only when it saves space.
		if len(c) < len(payload) {
			payload = c
			comp = o.Compression
		}
	}
	var flags byte
	if len(tags) > 0 {
		flags |= flagTags
	}
	if o.FreshUntil != 0 {
		flags |= flagFresh
	}
	if o.Negative {
		flags |= flagNegative
	}
	base := len(dst)
	dst = append(dst, magic, version, codecID, byte(comp), flags, 0, 0, 0, 0)
	if o.FreshUntil != 0 {
		dst = binary.LittleEndian.AppendUint64(dst, uint64(o.FreshUntil))
		dst = binary.LittleEndian.AppendUint32(dst, o.LoadMs)
	}
	if len(tags) > 0 {
		dst = binary.AppendUvarint(dst, uint64(len(tags)))
		for _, t := range tags {
			dst = binary.AppendUvarint(dst, uint64(len(t)))
			dst = append(dst, t...)
		}
	}
	dst = append(dst, payload...)
	b := dst[base:]
	binary.LittleEndian.PutUint32(b[5:9], checksum(b))
	return dst, nil
}

func checksum(b []byte) uint32 {
	c := crc32.Update(0, castagnoli, b[:5])
	return crc32.Update(c, castagnoli, b[HeaderSize:])
}

// Envelope is a decoded envelope. Payload aliases the input when the value
// was not compressed.
type Envelope struct {
	Codec       byte
	Compression codec.Compression
	// Payload is the codec's bytes, decompressed.
	Payload []byte
	// FreshUntil is the soft expiry in Unix milliseconds, 0 when the
	// entry has none (see EncodeOptions.FreshUntil).
	FreshUntil int64
	// LoadMs is the load duration stored with the soft expiry
	// (milliseconds, 0 unknown).
	LoadMs uint32
	// Negative reports an entry that records a miss.
	Negative bool
	tags     []byte // encoded tag list, nil when none
}

// StaleAt reports whether the entry is past its soft expiry at now (Unix
// milliseconds). An entry without one is never stale.
func (e Envelope) StaleAt(nowMs int64) bool { return e.FreshUntil != 0 && nowMs >= e.FreshUntil }

// Decode parses data. maxSize bounds the decompressed payload (0 means
// 512 MiB) so a corrupted or hostile length cannot exhaust memory. Every
// failure matches ErrCorrupt.
func Decode(data []byte, maxSize int) (Envelope, error) {
	return decode(data, maxSize, true)
}

// DecodeTrusted is Decode without the checksum, for bytes that never left
// this process (an in-process backend holds the very slice the encoder
// produced): the header is still validated, so foreign bytes are still
// rejected, but accidental corruption in transit or at rest is not
// looked for.
func DecodeTrusted(data []byte, maxSize int) (Envelope, error) {
	return decode(data, maxSize, false)
}

func decode(data []byte, maxSize int, verify bool) (Envelope, error) {
	var e Envelope
	if err := decodeTo(&e, data, maxSize, verify); err != nil {
		return Envelope{}, err
	}
	return e, nil
}

// DecodeTrustedTo is DecodeTrusted writing the envelope into *e instead
// of returning it (no copy of the struct on a hot path). On error *e is
// left in an unspecified state.
func DecodeTrustedTo(e *Envelope, data []byte, maxSize int) error {
	return decodeTo(e, data, maxSize, false)
}

func decodeTo(e *Envelope, data []byte, maxSize int, verify bool) error {
	if maxSize <= 0 {
		maxSize = 512 << 20
	}
	if len(data) < HeaderSize {
		return fmt.Errorf("%w: %d bytes is shorter than the header", ErrCorrupt, len(data))
	}
	if data[0] != magic {
		return fmt.Errorf("%w: bad magic byte 0x%02x", ErrCorrupt, data[0])
	}
	if data[1] != version {
		return fmt.Errorf("%w: unsupported format version %d", ErrCorrupt, data[1])
	}
	if verify && binary.LittleEndian.Uint32(data[5:9]) != checksum(data) {
		return fmt.Errorf("%w: checksum mismatch", ErrCorrupt)
	}
	*e = Envelope{Codec: data[2], Compression: codec.Compression(data[3])}
	if e.Codec == 0 || (e.Codec > codec.IDMsgpack && e.Codec < codec.IDUserMin) {
		return fmt.Errorf("%w: unknown codec id %d", ErrCorrupt, e.Codec)
	}
	if data[4]&^(flagTags|flagFresh|flagNegative) != 0 {
		return fmt.Errorf("%w: unknown flags 0x%02x", ErrCorrupt, data[4])
	}
	e.Negative = data[4]&flagNegative != 0
	rest := data[HeaderSize:]
	if data[4]&flagFresh != 0 {
		if len(rest) < freshSize {
			return fmt.Errorf("%w: truncated soft expiry", ErrCorrupt)
		}
		e.FreshUntil = int64(binary.LittleEndian.Uint64(rest))
		e.LoadMs = binary.LittleEndian.Uint32(rest[8:])
		if e.FreshUntil <= 0 {
			return fmt.Errorf("%w: bad soft expiry %d", ErrCorrupt, e.FreshUntil)
		}
		rest = rest[freshSize:]
	}
	if data[4]&flagTags != 0 {
		n, err := skipTags(rest)
		if err != nil {
			return err
		}
		e.tags = rest[:n]
		rest = rest[n:]
	}
	switch e.Compression {
	case codec.None:
		e.Payload = rest
	case codec.S2:
		n, err := s2.DecodedLen(rest)
		if err != nil {
			return fmt.Errorf("%w: s2: %v", ErrCorrupt, err)
		}
		if n > maxSize {
			return fmt.Errorf("%w: decompressed size %d exceeds limit %d", ErrCorrupt, n, maxSize)
		}
		out, err := s2.Decode(make([]byte, n), rest)
		if err != nil {
			return fmt.Errorf("%w: s2: %v", ErrCorrupt, err)
		}
		e.Payload = out
	case codec.Zstd:
		var h zstd.Header
		if err := h.Decode(rest); err != nil {
			return fmt.Errorf("%w: zstd header: %v", ErrCorrupt, err)
		}
		if h.HasFCS && h.FrameContentSize > uint64(maxSize) {
			return fmt.Errorf("%w: zstd frame size %d over limit %d", ErrCorrupt, h.FrameContentSize, maxSize)
		}
		// Without a content size in the header (the encoder leaves it out
		// for some small frames) the output grows as it decodes, bounded
		// by the decoder's memory limit and checked against maxSize below.
		var out []byte
		var err error
		if h.HasFCS {
			out, err = zstdDecoder().DecodeAll(rest, make([]byte, 0, h.FrameContentSize))
		} else {
			out, err = zstdDecoder().DecodeAll(rest, nil)
		}
		if err != nil {
			return fmt.Errorf("%w: zstd: %v", ErrCorrupt, err)
		}
		if len(out) > maxSize {
			return fmt.Errorf("%w: decompressed size over limit", ErrCorrupt)
		}
		e.Payload = out
	default:
		return fmt.Errorf("%w: unknown compression id %d", ErrCorrupt, e.Compression)
	}
	return nil
}

// skipTags validates the tag list at the start of b and returns its length.
func skipTags(b []byte) (int, error) {
	n, w := binary.Uvarint(b)
	if w <= 0 || n == 0 || n > uint64(len(b)) {
		return 0, fmt.Errorf("%w: bad tag count", ErrCorrupt)
	}
	off := w
	for i := uint64(0); i < n; i++ {
		l, w := binary.Uvarint(b[off:])
		if w <= 0 || l > uint64(len(b)-off-w) {
			return 0, fmt.Errorf("%w: bad tag length", ErrCorrupt)
		}
		off += w
		if !utf8.Valid(b[off : off+int(l)]) {
			return 0, fmt.Errorf("%w: tag is not UTF-8", ErrCorrupt)
		}
		off += int(l)
	}
	return off, nil
}

// HasTags reports whether the entry carries tags.
func (e Envelope) HasTags() bool { return len(e.tags) > 0 }

// Tags returns the entry's tags (validated by Decode).
func (e Envelope) Tags() []string {
	if len(e.tags) == 0 {
		return nil
	}
	n, off := binary.Uvarint(e.tags)
	out := make([]string, 0, n)
	for i := uint64(0); i < n; i++ {
		l, w := binary.Uvarint(e.tags[off:])
		off += w
		out = append(out, string(e.tags[off:off+int(l)]))
		off += int(l)
	}
	return out
}

func compress(c codec.Compression, p []byte) ([]byte, error) {
	switch c {
	case codec.S2:
		return s2.Encode(nil, p), nil
	case codec.Zstd:
		return zstdEncoder().EncodeAll(p, make([]byte, 0, len(p)/2)), nil
	}
	return nil, fmt.Errorf("codec: unknown compression %d", byte(c))
}

// The zstd encoder and decoder are safe for concurrent EncodeAll/DecodeAll
// and expensive to build, so one of each is built on first use and shared.
// They hold no configuration a user can change.
var (
	zstdEncoder = sync.OnceValue(func() *zstd.Encoder {
		e, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedDefault), zstd.WithEncoderConcurrency(1))
		if err != nil {
			panic(err) // only fails on invalid options, which are constant here
		}
		return e
	})
	zstdDecoder = sync.OnceValue(func() *zstd.Decoder {
		d, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(0), zstd.WithDecoderMaxMemory(1<<30))
		if err != nil {
			panic(err)
		}
		return d
	})
)
