package sqlite

import (
	"strings"
	"unicode/utf8"
)

// sqlGlob translates a pattern of yokedcache's glob syntax (package
// internal/glob) to SQLite's GLOB syntax. The result matches every key
// the pattern matches; exact reports whether it matches no other key, so
// callers that need exactness filter with the glob package when it is
// false (Scan and DeletePattern always filter again). ok is false for a
// pattern SQLite cannot take (malformed, or containing NUL, which ends a
// SQLite string), which must then not be used as a filter at all.
//
// The two syntaxes differ in three places:
//
//   - SQLite has no escape character: a literal '*', '?' or '[' is written
//     as a one-member set ("[*]", "[?]", "[[]"); '\' and ']' are literal.
//     Our "\x" is therefore the literal x, so escaped.
//   - SQLite negates a set with '^' only; our "[!...]" becomes "[^...]".
//   - Inside a SQLite set ']' is literal only first, '-' only first or last
//     and '^' only not first, and there are no escapes. A set using any of
//     those three as a member is translated to '?' (any one character, a
//     superset) and exact is false.
//
// SQLite compares by Unicode code point, as we do, and reads keys as
// UTF-8; keys that contain NUL are cut there by GLOB, so queries also
// accept keys containing NUL and leave them to the Go filter.
func sqlGlob(pattern string) (out string, exact, ok bool) {
	if !utf8.ValidString(pattern) || strings.IndexByte(pattern, 0) >= 0 {
		return "", false, false
	}
	var b strings.Builder
	exact = true
	lit := func(r rune) {
		switch r {
		case '*', '?', '[':
			b.WriteByte('[')
			b.WriteRune(r)
			b.WriteByte(']')
		default:
			b.WriteRune(r)
		}
	}
	for i := 0; i < len(pattern); {
		r, w := utf8.DecodeRuneInString(pattern[i:])
		switch r {
		case '\\':
			if i+w >= len(pattern) {
				return "", false, false
			}
			r2, w2 := utf8.DecodeRuneInString(pattern[i+w:])
			lit(r2)
			i += w + w2
			continue
		case '*', '?':
			b.WriteRune(r)
		case '[':
			set, n, safe, good := translateSet(pattern[i+1:])
			if !good {
				return "", false, false
			}
			if safe {
				b.WriteString(set)
			} else {
				b.WriteByte('?')
				exact = false
			}
			i += 1 + n
			continue
		default:
			lit(r)
		}
		i += w
	}
	return b.String(), exact, true
}

// translateSet parses a set body after '[' with the glob package's rules
// and returns its SQLite form, the bytes consumed including the closing
// ']', whether the SQLite form is exact, and whether the set is well
// formed.
func translateSet(s string) (out string, n int, safe, ok bool) {
	var b strings.Builder
	b.WriteByte('[')
	i := 0
	if i < len(s) && (s[i] == '!' || s[i] == '^') {
		b.WriteByte('^')
		i++
	}
	safe = true
	special := func(r rune) bool { return r == ']' || r == '-' || r == '^' }
	read := func() (rune, bool) {
		r, w := utf8.DecodeRuneInString(s[i:])
		if r == '\\' {
			if i+w >= len(s) {
				return 0, false
			}
			i += w
			r, w = utf8.DecodeRuneInString(s[i:])
		}
		i += w
		return r, true
	}
	first := true
	for {
		if i >= len(s) {
			return "", 0, false, false
		}
		r, w := utf8.DecodeRuneInString(s[i:])
		if r == ']' && !first {
			b.WriteByte(']')
			return b.String(), i + w, safe, true
		}
		first = false
		lo, good := read()
		if !good {
			return "", 0, false, false
		}
		hi := lo
		if i+1 < len(s) && s[i] == '-' && s[i+1] != ']' {
			i++
			if hi, good = read(); !good {
				return "", 0, false, false
			}
			if hi < lo {
				return "", 0, false, false
			}
		}
		if special(lo) || special(hi) {
			safe = false
		}
		b.WriteRune(lo)
		if hi != lo {
			b.WriteByte('-')
			b.WriteRune(hi)
		}
	}
}
