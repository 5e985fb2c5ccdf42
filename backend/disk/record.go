package disk

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"sync/atomic"

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
// length + bytes, the value, then (version 2) the big-endian checksum
// of the stored key and everything before it (recordSum). Every read verifies it, so that a damaged page can never hand out
// another key's value: a record reached through a damaged element table
// or with damaged bytes is a miss matching backend.ErrCorrupt.
//
// Version 1 records (no checksum) were written by earlier builds; New
// rewrites them as version 2 (migrateRecords) and then marks the store
// with metaRecords, after which a version 1 record is damage.
var (
	bucketData = []byte("d")
	bucketTags = []byte("t")
	bucketMeta = []byte("m")

	metaFormat = []byte("format")
	metaKeys   = []byte("keys")
	metaClean  = []byte("clean")
	metaBytes  = []byte("bytes")
	// metaRecords is "2" once every record has a checksum.
	metaRecords = []byte("records")
)

const (
	formatVersion = "yokedcache-disk-1"
	recordVersion = 2
	// recordVersion1 is the version of records without a checksum.
	recordVersion1 = 1
	// recordsV2 is metaRecords' value once every record has a checksum.
	recordsV2 = "2"
	// sumSize is the size of a record's trailing checksum.
	sumSize = 4
	// entryOverhead approximates the per-entry bytes of B+tree and index
	// bookkeeping counted against the size bound.
	entryOverhead = 64
)

type record struct {
	expireAt int64
	tags     []string
	value    []byte // aliases the encoded bytes
}

// castagnoli is the CRC-32C table (hardware accelerated on amd64 and
// arm64).
var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// recordSum is the checksum of a record body (without its checksum)
// stored under key: the CRC-32C of the key followed by the body, xored
// with the key's length, so that two keys of different lengths never
// share a checksum through the same concatenation. (The length is not
// fed to the CRC: a buffer for it would escape to the heap on every
// read.)
func recordSum(key, body []byte) uint32 {
	c := crc32.Update(0, castagnoli, key)
	return crc32.Update(c, castagnoli, body) ^ uint32(len(key))
}

// verifyKeyCheck, when false, skips the record checksum. It exists only
// for the A/B benchmark of its cost (bench_test.go).
var verifyKeyCheck atomic.Bool

func init() { verifyKeyCheck.Store(true) }

// encodeRecord encodes a version 2 record for key.
func encodeRecord(key []byte, expireAt int64, tags []string, value []byte) []byte {
	b := encodeBody(recordVersion, expireAt, tags, value, sumSize)
	return binary.BigEndian.AppendUint32(b, recordSum(key, b))
}

// encodeBody encodes a record without its checksum, with room for extra
// more bytes.
func encodeBody(version byte, expireAt int64, tags []string, value []byte, extra int) []byte {
	n := 1 + 8 + binary.MaxVarintLen64 + len(value) + extra
	for _, t := range tags {
		n += binary.MaxVarintLen64 + len(t)
	}
	b := make([]byte, 9, n)
	b[0] = version
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

// recordExpiry reads only the expiry of an encoded record, unchecked:
// for the sweep, eviction and counts, which hand out no value.
func recordExpiry(b []byte) (int64, bool) {
	if len(b) < 9 || (b[0] != recordVersion && b[0] != recordVersion1) {
		return 0, false
	}
	return int64(binary.BigEndian.Uint64(b[1:9])), true
}

// decodeRecord verifies b, the record stored under key, and parses it;
// value and tags alias b. A version 1 record is accepted only when v1 is
// true (during the migration).
func decodeRecord(key, b []byte, withTags bool) (record, error) {
	return decodeRecordV(key, b, withTags, false)
}

func decodeRecordV(key, b []byte, withTags, v1 bool) (record, error) {
	exp, ok := recordExpiry(b)
	if !ok || (b[0] == recordVersion1 && !v1) {
		return record{}, errCorrupt(key, "bad header")
	}
	if b[0] == recordVersion {
		if len(b) < 9+1+sumSize {
			return record{}, errCorrupt(key, "too short")
		}
		body := b[:len(b)-sumSize]
		if verifyKeyCheck.Load() && binary.BigEndian.Uint32(b[len(b)-sumSize:]) != recordSum(key, body) {
			return record{}, errCorrupt(key, "checksum mismatch: another key's record, or damaged bytes")
		}
		b = body
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
