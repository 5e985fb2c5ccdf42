package memcached

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestEncodeKeyVerbatim(t *testing.T) {
	for _, k := range []string{"yokedcache:user:42", "a_b", "x", strings.Repeat("k", 250), "!#$%&'()*+,-./:;<=>?@[]^`{|}"} {
		if got := encodeKey(k); got != k {
			t.Errorf("encodeKey(%q) = %q; want it unchanged", k, got)
		}
	}
}

func TestEncodeKeyHashed(t *testing.T) {
	for _, k := range []string{
		"a b", "tab\there", "new\nline", "del\x7f", "caf\u00e9", "\xff\xffn:x#0", "~", "a~b",
		strings.Repeat("k", 251), strings.Repeat("\u00e9", 600), "", " ",
	} {
		mk := encodeKey(k)
		if !legalKey(mk) {
			t.Errorf("encodeKey(%q) = %q: not a legal memcached key", k, mk)
		}
		if !isHashed(mk) {
			t.Errorf("encodeKey(%q) = %q: want a hashed key", k, mk)
		}
		if strings.HasPrefix(mk, "~") {
			t.Errorf("encodeKey(%q) = %q: readable part is empty", k, mk)
		}
	}
	if got := encodeKey("user 42"); !strings.HasPrefix(got, "user_42~") {
		t.Errorf("encodeKey(%q) = %q; want the readable prefix user_42~", "user 42", got)
	}
}

func TestEncodeKeyNoCollisions(t *testing.T) {
	long := strings.Repeat("p", 300)
	keys := []string{
		"a b", "a_b", "a~b", "a\tb", "a\u00a0b",
		long + "1", long + "2", long + " 1", long + "_1",
		strings.Repeat("x", 250), strings.Repeat("x", 251), strings.Repeat("x", 252),
		strings.Repeat("x", 249) + " ", strings.Repeat("x", 249) + "_",
		"\u00e9", "\u00e8", "_", "__",
	}
	seen := map[string]string{}
	for _, k := range keys {
		mk := encodeKey(k)
		if other, dup := seen[mk]; dup {
			t.Fatalf("keys %q and %q both map to %q", other, k, mk)
		}
		seen[mk] = k
	}
}

// FuzzEncodeKey checks that every key maps to a legal memcached key, that
// verbatim keys are exactly the safe short ones, and that two distinct
// keys do not collide.
func FuzzEncodeKey(f *testing.F) {
	f.Add("a b", "a_b")
	f.Add(strings.Repeat("k", 250), strings.Repeat("k", 251))
	f.Add("caf\u00e9", "caf_")
	f.Add("x~y", "x")
	f.Fuzz(func(t *testing.T, a, b string) {
		ma, mb := encodeKey(a), encodeKey(b)
		if !legalKey(ma) {
			t.Fatalf("encodeKey(%q) = %q: illegal", a, ma)
		}
		if a != b && ma == mb {
			t.Fatalf("encodeKey(%q) == encodeKey(%q) == %q", a, b, ma)
		}
		if !isHashed(ma) && ma != a {
			t.Fatalf("encodeKey(%q) = %q: verbatim form changed the key", a, ma)
		}
		if utf8.ValidString(a) && isHashed(ma) == (ma == a) {
			t.Fatalf("encodeKey(%q) = %q: inconsistent form", a, ma)
		}
	})
}

// TestEncodeKeyStable pins the encoding: every process sharing the servers
// must derive the same memcached keys, across versions of this package.
func TestEncodeKeyStable(t *testing.T) {
	if got, want := encodeKey("a b"), "a_b~yGh6CKpdbtIEQyj6aml6uOltw0KR6MIDSujDjm_MbWU"; got != want {
		t.Fatalf("encodeKey(%q) = %q; want %q", "a b", got, want)
	}
}
