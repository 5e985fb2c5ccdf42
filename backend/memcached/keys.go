package memcached

import (
	"crypto/sha256"
	"encoding/base64"
	"unicode/utf8"
)

// Memcached's key rules (text protocol): at most 250 bytes, no whitespace
// and no control characters.
const maxMemcachedKey = 250

// readableMax bounds the readable part of a hashed key: readableMax + 1
// ('~') + 43 (base64url of a SHA-256) stays under maxMemcachedKey.
const readableMax = 200

// hashMark separates the readable part of a hashed key from its digest.
// Keys kept verbatim never contain it, so a verbatim key and a hashed key
// can never be equal.
const hashMark = '~'

// safeByte reports whether b may appear in a verbatim memcached key: a
// printable ASCII character other than the hash mark.
func safeByte(b byte) bool { return b > ' ' && b < 0x7f && b != hashMark }

// encodeKey maps a stored key (any bytes) to a legal memcached key without
// collisions:
//
//   - a key of at most 250 bytes made only of printable ASCII other than
//     '~' is used as it is;
//   - any other key becomes "<readable>~<base64url(sha256(key))>", where
//     readable is the key with every character outside printable ASCII (and
//     '~') replaced by '_', cut to 200 bytes (never empty).
//
// Verbatim keys contain no '~' and hashed keys always do, so the two forms
// never meet; two hashed keys meet only on a SHA-256 collision, and the
// value header stores the full key of every hashed entry so that even that
// would read as a miss, never as another key's value.
func encodeKey(key string) string {
	if len(key) <= maxMemcachedKey && key != "" {
		i := 0
		for i < len(key) && safeByte(key[i]) {
			i++
		}
		if i == len(key) {
			return key
		}
	}
	return hashedKey(key)
}

// isHashed reports whether encodeKey(key) hashed the key.
func isHashed(mkey string) bool {
	for i := 0; i < len(mkey); i++ {
		if mkey[i] == hashMark {
			return true
		}
	}
	return false
}

func hashedKey(key string) string {
	sum := sha256.Sum256([]byte(key))
	buf := make([]byte, 0, readableMax+1+base64.RawURLEncoding.EncodedLen(len(sum)))
	for i := 0; i < len(key) && len(buf) < readableMax; {
		if safeByte(key[i]) {
			buf = append(buf, key[i])
			i++
			continue
		}
		// One '_' per character (or per invalid byte), so that
		// multi-byte text stays about as long as it reads.
		_, size := utf8.DecodeRuneInString(key[i:])
		buf = append(buf, '_')
		i += size
	}
	if len(buf) == 0 {
		buf = append(buf, '_')
	}
	buf = append(buf, hashMark)
	buf = base64.RawURLEncoding.AppendEncode(buf, sum[:])
	return string(buf)
}

// legalKey reports whether k satisfies memcached's key rules.
func legalKey(k string) bool {
	if k == "" || len(k) > maxMemcachedKey {
		return false
	}
	for i := 0; i < len(k); i++ {
		if k[i] <= ' ' || k[i] == 0x7f {
			return false
		}
	}
	return true
}
