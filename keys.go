package yokedcache

import (
	"fmt"
	"strings"
	"unicode/utf8"
	"unsafe"

	"github.com/yokedcache/yokedcache/backend"
)

// Key rules, kept in one place: a user key is non-empty valid UTF-8 of at
// most MaxKeyLength bytes, and is always stored as "<KeyPrefix>:<key>",
// whatever it starts with, so that Keys and FuzzySearch return exactly the
// keys that were set and no two user keys share an entry.

func validKey(key string) error {
	if key == "" {
		return fmt.Errorf("empty key: %w", ErrInvalidKey)
	}
	if len(key) > MaxKeyLength {
		return fmt.Errorf("key of %d bytes exceeds MaxKeyLength %d: %w", len(key), MaxKeyLength, ErrInvalidKey)
	}
	if !utf8.ValidString(key) {
		return fmt.Errorf("key is not valid UTF-8: %w", ErrInvalidKey)
	}
	return nil
}

// storedKey returns the backend key for a user key, allocating.
func (c *Cache) storedKey(key string) string { return c.prefix + key }

// storedKeys returns the stored keys of keys[i] for i in idx, built in
// one allocation (the strings share one buffer).
func (c *Cache) storedKeys(keys []string, idx []int) []string {
	n := 0
	for _, i := range idx {
		n += len(c.prefix) + len(keys[i])
	}
	buf := make([]byte, 0, n)
	out := make([]string, len(idx))
	for j, i := range idx {
		start := len(buf)
		buf = append(append(buf, c.prefix...), keys[i]...)
		out[j] = unsafe.String(unsafe.SliceData(buf[start:]), len(buf)-start)
	}
	return out
}

// withKey calls f with the stored key for key built in a pooled buffer, so
// that reads allocate nothing for the key. Backends must not retain keys
// passed to read operations (see backend.Backend).
func (c *Cache) withKey(key string, f func(skey string)) {
	bp := c.keyBuf.Get().(*[]byte)
	b := append(append((*bp)[:0], c.prefix...), key...)
	f(unsafe.String(unsafe.SliceData(b), len(b)))
	*bp = b
	c.keyBuf.Put(bp)
}

// userKey strips the prefix from a stored key; ok is false for keys that
// are not this cache's user keys.
func (c *Cache) userKey(skey string) (string, bool) {
	if !strings.HasPrefix(skey, c.prefix) || backend.IsInternalKey(skey) {
		return "", false
	}
	k := skey[len(c.prefix):]
	if k == "" || !utf8.ValidString(k) {
		return "", false
	}
	return k, true
}

func (c *Cache) tagID(tag string) string { return c.tagPrefix + tag }

func validTags(tags []string) ([]string, error) {
	for _, t := range tags {
		if t == "" || len(t) > MaxTagLength || !utf8.ValidString(t) {
			return nil, fmt.Errorf("tag %q must be non-empty UTF-8 of at most %d bytes: %w", shortKey(t), MaxTagLength, ErrInvalidValue)
		}
	}
	if len(tags) == 0 {
		return nil, nil
	}
	return backend.UniqueTags(tags), nil
}

// shortKey returns a key for an error message: the key itself, or its
// first bytes and its length when it is long.
func shortKey(key string) string {
	const keep = 64
	if len(key) <= keep+16 {
		return key
	}
	cut := keep
	for cut > 0 && !utf8.RuneStart(key[cut]) {
		cut--
	}
	return fmt.Sprintf("%s… (%d bytes)", key[:cut], len(key))
}
