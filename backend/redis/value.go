package redis

import (
	"encoding/binary"
	"iter"
	"slices"
	"strconv"
	"strings"
)

// Stored values. An entry with tags is stored as tagMark, the length of
// its tag list (uvarint), the list (encodeTags) and then the value, so one
// SET writes the value and its tags together and InvalidateTags can tell
// from the stored bytes alone whether a member of a tag's index still
// carries the tag. A value without tags is stored as given, unless it
// starts with tagMark: then it gets an empty tag list, so reads never
// mistake it for a tagged one. (Values the Cache writes start with the
// envelope's magic byte, never tagMark.)
const (
	tagMark = 0xFE
	// headRead is how many bytes GETRANGE reads to find a value's tags;
	// a longer tag list is read again in full.
	headRead = 128
	// smallValue is the largest stored value whose index membership goes
	// to the tag's "small" index, which InvalidateTags checks with MGET
	// (whole values); larger values go to the "large" index and are
	// checked with GETRANGE of their first headRead bytes.
	smallValue = 512
	// maxTagList bounds the tag-list length headTags believes (a head
	// claiming more is malformed), so a hostile head cannot ask for a huge
	// read or overflow int on 32-bit platforms.
	maxTagList = 1 << 24
)

// largeIndexKey is the index of tag's entries stored in more than
// smallValue bytes; tag itself is the index of the smaller ones.
func largeIndexKey(tag string) string { return tag + "\xffL" }

// persistentTagKey is the set of keys without expiry carrying tag.
func persistentTagKey(tag string) string { return tag + "\xffp" }

// indexKey is the sorted set that records an entry of n stored bytes
// under tag.
func indexKey(tag string, n int) string {
	if n > smallValue {
		return largeIndexKey(tag)
	}
	return tag
}

// needsHead reports whether value must be stored with a tag list even
// without tags.
func needsHead(value []byte) bool { return len(value) > 0 && value[0] == tagMark }

// storedValue is value with its tag list in front (see tagMark).
func storedValue(value []byte, tags []string) []byte {
	list := encodeTags(tags)
	b := make([]byte, 0, 1+binary.MaxVarintLen64+len(list)+len(value))
	b = append(b, tagMark)
	b = binary.AppendUvarint(b, uint64(len(list)))
	b = append(b, list...)
	return append(b, value...)
}

// valueOf returns the value in stored bytes (see tagMark), aliasing b.
// Bytes that start with tagMark but are malformed (written by something
// else) are returned whole, as stored: the Cache's envelope check then
// reports them as corrupt.
func valueOf(b []byte) []byte {
	if !needsHead(b) {
		return b
	}
	n, w := binary.Uvarint(b[1:])
	if w <= 0 || n > uint64(len(b)-1-w) {
		return b
	}
	return b[1+w+int(n):]
}

// headTags parses the first bytes of a stored value (a GETRANGE of
// headRead bytes from 0, or the whole value). It returns the encoded tag
// list (aliasing head), or need > 0 when the list is longer than head and
// the first need bytes must be read to see it whole. A malformed head has
// no tags.
func headTags(head string) (list string, need int) {
	if len(head) == 0 || head[0] != tagMark {
		return "", 0
	}
	var n uint64
	w := 0
	for shift := uint(0); ; shift += 7 {
		w++
		if w >= len(head) || shift > 28 {
			return "", 0 // truncated or absurd: GETRANGE always covers the length
		}
		c := head[w]
		n |= uint64(c&0x7f) << shift
		if c < 0x80 {
			break
		}
	}
	if n > maxTagList {
		return "", 0
	}
	end := 1 + w + int(n)
	if end > len(head) {
		return "", end
	}
	return head[1+w : end], 0
}

// encodeTags serialises tag identifiers: each as a decimal length, ':'
// and the bytes.
func encodeTags(tags []string) string {
	var b strings.Builder
	for _, t := range tags {
		b.WriteString(strconv.Itoa(len(t)))
		b.WriteByte(':')
		b.WriteString(t)
	}
	return b.String()
}

// decodeTags parses encodeTags output; malformed input yields what
// parsed.
func decodeTags(s string) []string { return slices.Collect(tagList(s)) }

// tagList yields the tags of encodeTags output, up to the first malformed
// byte, without allocating.
func tagList(s string) iter.Seq[string] {
	return func(yield func(string) bool) {
		for s != "" {
			i := strings.IndexByte(s, ':')
			if i <= 0 {
				return
			}
			n, err := strconv.Atoi(s[:i])
			if err != nil || n < 0 || n > len(s)-i-1 {
				return
			}
			if !yield(s[i+1 : i+1+n]) {
				return
			}
			s = s[i+1+n:]
		}
	}
}

// listHasAny reports whether the encoded tag list holds any of tags.
func listHasAny(list string, tags []string) bool {
	for t := range tagList(list) {
		if slices.Contains(tags, t) {
			return true
		}
	}
	return false
}
