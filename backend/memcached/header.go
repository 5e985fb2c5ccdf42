package memcached

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/yokedcache/yokedcache/backend"
)

// The value header, in front of every value this package stores:
//
//	byte 0   magic 0xB7
//	byte 1   format version (1)
//	byte 2   flags: 1 = full key follows, 2 = tags follow
//	uvarint  absolute expiry, Unix milliseconds (0: no expiry)
//	uvarint  namespace version current when the entry was written
//	[flag 1] uvarint length, full stored key (hashed keys only)
//	[flag 2] uvarint count, then per tag: uvarint length, tag, uvarint version
//	...      the value
const (
	headerMagic   = 0xB7
	headerVersion = 1

	flagFullKey = 1 << 0
	flagTags    = 1 << 1
	knownFlags  = flagFullKey | flagTags
)

// maxHeaderTags bounds the tags a header may declare, so that a corrupt
// count cannot make a reader allocate without bound.
const maxHeaderTags = 1 << 16

var errBadHeader = errors.New("memcached: malformed value header")

// tagVersion is one tag of an entry with the tag's version at Set time.
type tagVersion struct {
	tag     string
	version uint64
}

// header is the decoded value header.
type header struct {
	expiryMs  int64 // 0: never
	nsVersion uint64
	fullKey   string // "" when the key was stored verbatim
	hasKey    bool
	tags      []tagVersion
}

// appendHeader appends h and then value to dst.
func appendHeader(dst []byte, h *header, value []byte) []byte {
	var flags byte
	if h.hasKey {
		flags |= flagFullKey
	}
	if len(h.tags) > 0 {
		flags |= flagTags
	}
	dst = append(dst, headerMagic, headerVersion, flags)
	dst = binary.AppendUvarint(dst, uint64(h.expiryMs))
	dst = binary.AppendUvarint(dst, h.nsVersion)
	if h.hasKey {
		dst = binary.AppendUvarint(dst, uint64(len(h.fullKey)))
		dst = append(dst, h.fullKey...)
	}
	if len(h.tags) > 0 {
		dst = binary.AppendUvarint(dst, uint64(len(h.tags)))
		for _, t := range h.tags {
			dst = binary.AppendUvarint(dst, uint64(len(t.tag)))
			dst = append(dst, t.tag...)
			dst = binary.AppendUvarint(dst, t.version)
		}
	}
	return append(dst, value...)
}

// headerSize returns the encoded size of h.
func headerSize(h *header) int {
	n := 3 + uvarintLen(uint64(h.expiryMs)) + uvarintLen(h.nsVersion)
	if h.hasKey {
		n += uvarintLen(uint64(len(h.fullKey))) + len(h.fullKey)
	}
	if len(h.tags) > 0 {
		n += uvarintLen(uint64(len(h.tags)))
		for _, t := range h.tags {
			n += uvarintLen(uint64(len(t.tag))) + len(t.tag) + uvarintLen(t.version)
		}
	}
	return n
}

func uvarintLen(v uint64) int {
	n := 1
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}

// parseHeader decodes the header at the start of b and returns it with the
// value that follows (a sub-slice of b). Malformed input returns an error
// matching backend.ErrCorrupt; it never panics.
func parseHeader(b []byte) (header, []byte, error) {
	var h header
	if len(b) < 3 || b[0] != headerMagic {
		return h, nil, fmt.Errorf("%w: %w", errBadHeader, backend.ErrCorrupt)
	}
	if b[1] != headerVersion {
		return h, nil, fmt.Errorf("memcached: value header version %d (want %d): %w", b[1], headerVersion, backend.ErrCorrupt)
	}
	flags := b[2]
	if flags&^knownFlags != 0 {
		return h, nil, fmt.Errorf("%w: unknown flags %#x: %w", errBadHeader, flags, backend.ErrCorrupt)
	}
	r := reader{b: b[3:]}
	exp := r.uvarint()
	if exp > 1<<62 {
		r.fail()
	}
	h.expiryMs = int64(exp)
	h.nsVersion = r.uvarint()
	if flags&flagFullKey != 0 {
		h.hasKey = true
		h.fullKey = r.str()
	}
	if flags&flagTags != 0 {
		n := r.uvarint()
		if n == 0 || n > maxHeaderTags || n > uint64(len(r.b)) {
			r.fail()
		} else {
			h.tags = make([]tagVersion, n)
			for i := range h.tags {
				h.tags[i].tag = r.str()
				h.tags[i].version = r.uvarint()
			}
		}
	}
	if r.bad {
		return header{}, nil, fmt.Errorf("%w: %w", errBadHeader, backend.ErrCorrupt)
	}
	return h, r.b, nil
}

// reader decodes uvarints and length-prefixed strings; the first error
// sticks.
type reader struct {
	b   []byte
	bad bool
}

func (r *reader) fail() { r.bad, r.b = true, nil }

func (r *reader) uvarint() uint64 {
	if r.bad {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.fail()
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) str() string {
	n := r.uvarint()
	if r.bad || n > uint64(len(r.b)) {
		r.fail()
		return ""
	}
	s := string(r.b[:n])
	r.b = r.b[n:]
	return s
}
