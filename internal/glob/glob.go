// Package glob implements the one glob syntax every yokedcache backend
// shares, so a pattern matches the same keys whatever stores them.
//
// Syntax (matched against whole strings, rune by rune):
//
//	pattern  matches
//	*        any sequence of runes, including none and including ':'
//	?        exactly one rune
//	[abc]    one rune of the set; ranges like [a-z]; [!abc] or [^abc] negates
//	\x       the rune x literally (so \*, \?, \[, \\ match themselves)
//
// A ']' right after '[' (or after '[!' or '[^') is a literal member, as is
// a '-' first or last in a set. An unclosed '[', a trailing '\', an
// inverted range such as [z-a] and a pattern that is not valid UTF-8 are
// errors matching [ErrBadPattern]. Keys should be valid UTF-8; an invalid
// byte in a key is one rune: '?' and '*' consume it, sets see it as
// U+FFFD, and literal text never matches it.
package glob

import (
	"errors"
	"strings"
	"unicode/utf8"
)

// ErrBadPattern reports a malformed pattern.
var ErrBadPattern = errors.New("glob: malformed pattern")

type kind uint8

const (
	kLit  kind = iota // literal run
	kAny              // ?
	kStar             // *
	kSet              // [...]
)

type rng struct{ lo, hi rune }

type token struct {
	kind   kind
	lit    string
	ranges []rng
	negate bool
}

// Pattern is a compiled glob. It is safe for concurrent use.
type Pattern struct {
	src    string
	toks   []token
	prefix string // literal prefix
	lit    bool   // pattern is entirely literal
}

// Compile parses pattern.
func Compile(pattern string) (*Pattern, error) {
	if !utf8.ValidString(pattern) {
		return nil, errors.Join(ErrBadPattern, errors.New("glob: pattern is not valid UTF-8"))
	}
	p := &Pattern{src: pattern}
	var lit strings.Builder
	flush := func() {
		if lit.Len() > 0 {
			p.toks = append(p.toks, token{kind: kLit, lit: lit.String()})
			lit.Reset()
		}
	}
	for i := 0; i < len(pattern); {
		r, w := utf8.DecodeRuneInString(pattern[i:])
		switch r {
		case '\\':
			if i+w >= len(pattern) {
				return nil, errors.Join(ErrBadPattern, errors.New("glob: trailing backslash"))
			}
			r2, w2 := utf8.DecodeRuneInString(pattern[i+w:])
			lit.WriteRune(r2)
			i += w + w2
			continue
		case '*':
			flush()
			if n := len(p.toks); n == 0 || p.toks[n-1].kind != kStar {
				p.toks = append(p.toks, token{kind: kStar})
			}
		case '?':
			flush()
			p.toks = append(p.toks, token{kind: kAny})
		case '[':
			flush()
			t, n, err := parseSet(pattern[i+1:])
			if err != nil {
				return nil, err
			}
			p.toks = append(p.toks, t)
			i += 1 + n
			continue
		default:
			lit.WriteRune(r)
		}
		i += w
	}
	flush()
	if len(p.toks) == 0 {
		p.lit = true
	} else if p.toks[0].kind == kLit {
		p.prefix = p.toks[0].lit
		p.lit = len(p.toks) == 1
	}
	return p, nil
}

// parseSet parses the body after '[' and returns the token and the number
// of bytes consumed including the closing ']'.
func parseSet(s string) (token, int, error) {
	t := token{kind: kSet}
	i := 0
	if i < len(s) && (s[i] == '!' || s[i] == '^') {
		t.negate = true
		i++
	}
	first := true
	for {
		if i >= len(s) {
			return token{}, 0, errors.Join(ErrBadPattern, errors.New("glob: unclosed '['"))
		}
		r, w := utf8.DecodeRuneInString(s[i:])
		if r == ']' && !first {
			return t, i + w, nil
		}
		first = false
		if r == '\\' {
			if i+w >= len(s) {
				return token{}, 0, errors.Join(ErrBadPattern, errors.New("glob: trailing backslash"))
			}
			i += w
			r, w = utf8.DecodeRuneInString(s[i:])
		}
		i += w
		lo, hi := r, r
		if i+1 < len(s) && s[i] == '-' && s[i+1] != ']' {
			i++
			r2, w2 := utf8.DecodeRuneInString(s[i:])
			if r2 == '\\' {
				if i+w2 >= len(s) {
					return token{}, 0, errors.Join(ErrBadPattern, errors.New("glob: trailing backslash"))
				}
				i += w2
				r2, w2 = utf8.DecodeRuneInString(s[i:])
			}
			i += w2
			hi = r2
			if hi < lo {
				return token{}, 0, errors.Join(ErrBadPattern, errors.New("glob: inverted range"))
			}
		}
		t.ranges = append(t.ranges, rng{lo, hi})
	}
}

// MustCompile is Compile that panics on error, for constant patterns.
func MustCompile(pattern string) *Pattern {
	p, err := Compile(pattern)
	if err != nil {
		panic(err)
	}
	return p
}

// String returns the source pattern.
func (p *Pattern) String() string { return p.src }

// Prefix returns the literal text every match starts with.
func (p *Pattern) Prefix() string { return p.prefix }

// Literal reports whether the pattern has no wildcards, and if so the one
// string it matches.
func (p *Pattern) Literal() (string, bool) { return p.prefix, p.lit }

// Match reports whether s matches the whole pattern.
func (p *Pattern) Match(s string) bool {
	if p.lit {
		return s == p.prefix
	}
	return match(p.toks, s)
}

func (t *token) matchRune(r rune) bool {
	in := false
	for _, rg := range t.ranges {
		if r >= rg.lo && r <= rg.hi {
			in = true
			break
		}
	}
	return in != t.negate
}

// match runs the classic single-backtrack algorithm: on failure after a
// star, retry with the star consuming one more rune. Worst case O(len(s) *
// len(toks)), no exponential blow-up.
func match(toks []token, s string) bool {
	ti, si := 0, 0
	starT, starS := -1, 0
	for {
		if ti < len(toks) {
			t := &toks[ti]
			switch t.kind {
			case kStar:
				starT, starS = ti, si
				ti++
				continue
			case kLit:
				if strings.HasPrefix(s[si:], t.lit) {
					si += len(t.lit)
					ti++
					continue
				}
			case kAny:
				if si < len(s) {
					_, w := utf8.DecodeRuneInString(s[si:])
					si += w
					ti++
					continue
				}
			case kSet:
				if si < len(s) {
					r, w := utf8.DecodeRuneInString(s[si:])
					if t.matchRune(r) {
						si += w
						ti++
						continue
					}
				}
			}
		} else if si == len(s) {
			return true
		}
		// Mismatch: backtrack to the last star, if any.
		if starT < 0 || starS >= len(s) {
			return false
		}
		_, w := utf8.DecodeRuneInString(s[starS:])
		starS += w
		ti, si = starT+1, starS
	}
}

// Escape returns a pattern that matches s literally. The special runes
// are ASCII, so s is escaped byte by byte and any other bytes are kept as
// they are: if s is not valid UTF-8, neither is the result, and Compile
// rejects it rather than match something else.
func Escape(s string) string {
	if !strings.ContainsAny(s, `*?[]\`) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 4)
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch c {
		case '*', '?', '[', ']', '\\':
			b.WriteByte('\\')
		}
		b.WriteByte(c)
	}
	return b.String()
}

// Match compiles pattern and matches s.
func Match(pattern, s string) (bool, error) {
	p, err := Compile(pattern)
	if err != nil {
		return false, err
	}
	return p.Match(s), nil
}
