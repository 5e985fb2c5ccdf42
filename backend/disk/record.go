package disk

import (
	"encoding/binary"
	"fmt"

	"github.com/yokedcache/yokedcache/backend"
)

// Layout of the file: three top-level buckets.
//
//	d: stored key -> record
//	t: uvarint(len(tag)) tag stored-key -> empty (tag index)
//	m: "format" -> formatVersion; "keys", "bytes" -> big-endian int64
//	   counters and "clean", written by Close, deleted on open: without
//	   it (after a crash) the counters are rebuilt by a scan.
//
// A record is: version byte (recordVersion), expireAt (big-endian int64
// Unix nanoseconds, 0 = no expiry), uvarint tag count, each tag as uvarint
// length + bytes, then the value.
var (
	bucketData = []byte("d")
	bucketTags = []byte("t")
	bucketMeta = []byte("m")

	metaFormat = []byte("format")
	metaKeys   = []byte("keys")
	metaClean  = []byte("clean")
	metaBytes  = []byte("bytes")
)

const (
	formatVersion = "yokedcache-disk-1"
	recordVersion = 1
	// entryOverhead approximates the per-entry bytes of B+tree and index
	// bookkeeping counted against the size bound.
	entryOverhead = 64
)

type record struct {
	expireAt int64
	tags     []string
	value    []byte // aliases the encoded bytes
}

func encodeRecord(expireAt int64, tags []string, value []byte) []byte {
	n := 1 + 8 + binary.MaxVarintLen64 + len(value)
	for _, t := range tags {
		n += binary.MaxVarintLen64 + len(t)
	}
	b := make([]byte, 9, n)
	b[0] = recordVersion
	binary.BigEndian.PutUint64(b[1:9], uint64(expireAt))
	b = binary.AppendUvarint(b, uint64(len(tags)))
	for _, t := range tags {
		b = binary.AppendUvarint(b, uint64(len(t)))
		b = append(b, t...)
	}
	return append(b, value...)
}

// recordError reports a record that does not decode. It matches both
// backend.ErrCorrupt and backend.ErrNotFound, like the memcached
// backend's unreadable values: the entry is a miss, which the Cache
// counts and logs as corrupt.
type recordError struct{ msg string }

func (e *recordError) Error() string   { return e.msg }
func (e *recordError) Unwrap() []error { return []error{backend.ErrCorrupt, backend.ErrNotFound} }

func errCorrupt(key []byte, why string) error {
	return &recordError{fmt.Sprintf("disk: record %q: %s: %v", key, why, backend.ErrCorrupt)}
}

// recordExpiry reads only the expiry of an encoded record.
func recordExpiry(b []byte) (int64, bool) {
	if len(b) < 9 || b[0] != recordVersion {
		return 0, false
	}
	return int64(binary.BigEndian.Uint64(b[1:9])), true
}

// decodeRecord parses b; value and tags are copied only when copyOut.
func decodeRecord(key, b []byte, withTags bool) (record, error) {
	exp, ok := recordExpiry(b)
	if !ok {
		return record{}, errCorrupt(key, "bad header")
	}
	r := record{expireAt: exp}
	p := b[9:]
	n, w := binary.Uvarint(p)
	if w <= 0 || n > uint64(len(p)) {
		return record{}, errCorrupt(key, "bad tag count")
	}
	p = p[w:]
	if withTags && n > 0 {
		r.tags = make([]string, 0, n)
	}
	for range n {
		l, w := binary.Uvarint(p)
		if w <= 0 || l > uint64(len(p)-w) {
			return record{}, errCorrupt(key, "bad tag")
		}
		if withTags {
			r.tags = append(r.tags, string(p[w:w+int(l)]))
		}
		p = p[w+int(l):]
	}
	r.value = p
	return r, nil
}

func tagPrefix(tag string) []byte {
	b := binary.AppendUvarint(make([]byte, 0, binary.MaxVarintLen64+len(tag)), uint64(len(tag)))
	return append(b, tag...)
}

func tagKey(tag string, key []byte) []byte { return append(tagPrefix(tag), key...) }

func entrySize(key, rec []byte) int64 { return int64(len(key)+len(rec)) + entryOverhead }
