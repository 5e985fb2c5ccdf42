package fuzzy

import (
	"unicode"
	"unicode/utf8"
)

const (
	capitalSigma    = 'Σ' // U+03A3
	smallSigma      = 'σ' // U+03C3
	finalSigma      = 'ς' // U+03C2
	capitalDottedI  = 'İ' // U+0130, lower-cases to "i" + U+0307
	combiningDotAbv = '\u0307'
)

// asciiClass maps an ASCII byte to its processed form: lower-cased letters,
// digits and '_' are kept, everything else becomes ' '.
var asciiClass = func() (t [utf8.RuneSelf]byte) {
	for i := range t {
		c := byte(i)
		switch {
		case c >= 'A' && c <= 'Z':
			t[i] = c + ('a' - 'A')
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '_':
			t[i] = c
		default:
			t[i] = ' '
		}
	}
	return t
}()

// isWord reports whether Python's re `\w` (unicode mode) matches r:
// str.isalnum() or '_'. Python's isalnum is letters (L*) plus numbers
// (Nd, Nl, No), which is exactly unicode.IsLetter || unicode.IsNumber.
func isWord(r rune) bool {
	if r < utf8.RuneSelf {
		return asciiClass[r] != ' '
	}
	return unicode.IsLetter(r) || unicode.IsNumber(r)
}

// isCaseIgnorable and isCased implement the Unicode properties Python's
// str.lower uses for the final-sigma rule. They are exact for the runes
// that can occur after the non-word replacement (word runes and ' ').
func isCaseIgnorable(r rune) bool {
	return unicode.In(r, unicode.Mn, unicode.Me, unicode.Cf, unicode.Lm, unicode.Sk)
}

func isCased(r rune) bool {
	return unicode.In(r, unicode.Lu, unicode.Ll, unicode.Lt, unicode.Other_Lowercase, unicode.Other_Uppercase)
}

// Process returns s as fuzzywuzzy's utils.full_process(s) (force_ascii
// False) returns it: every rune that Python's `\W` matches (anything but
// letters, numbers and '_') becomes a space, the result is lower-cased with
// Python's str.lower (full case mapping: 'İ' becomes "i̇", and a final
// 'Σ' becomes 'ς'), and leading and trailing spaces are removed. Inner
// runs of spaces are kept, as in Python.
//
// Invalid UTF-8 bytes count as U+FFFD and so become spaces.
func Process(s string) string {
	return string(appendProcessed(nil, s))
}

// appendProcessed appends the processed runes of s to dst.
func appendProcessed(dst []rune, s string) []rune {
	base := len(dst)
	ascii := true
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			ascii = false
			break
		}
	}
	if ascii {
		// Trim first: leading/trailing non-word bytes become spaces that
		// strip() removes.
		lo, hi := 0, len(s)
		for lo < hi && asciiClass[s[lo]] == ' ' {
			lo++
		}
		for hi > lo && asciiClass[s[hi-1]] == ' ' {
			hi--
		}
		for i := lo; i < hi; i++ {
			dst = append(dst, rune(asciiClass[s[i]]))
		}
		return dst
	}

	// Pass 1: replace non-word runes by spaces, keeping case.
	var sigma, dotI bool
	for _, r := range s {
		switch {
		case r < utf8.RuneSelf:
			if asciiClass[r] == ' ' {
				r = ' '
			}
		case !isWord(r):
			r = ' '
		case r == capitalSigma:
			sigma = true
		case r == capitalDottedI:
			dotI = true
		}
		dst = append(dst, r)
	}
	buf := dst[base:]

	// Pass 2: resolve capital sigmas in their original context (the
	// replacement of one sigma by another keeps the context's properties).
	if sigma {
		for i, r := range buf {
			if r == capitalSigma {
				buf[i] = lowerSigma(buf, i)
			}
		}
	}

	// Pass 3: lower-case.
	for i, r := range buf {
		if r >= utf8.RuneSelf {
			if r == capitalDottedI {
				continue
			}
			buf[i] = unicode.ToLower(r)
		} else {
			buf[i] = rune(asciiClass[r]) // letters lowered; ' ' stays ' '
		}
	}
	if dotI {
		// 'İ' lower-cases to two runes: rebuild with room for them.
		var extra int
		for _, r := range buf {
			if r == capitalDottedI {
				extra++
			}
		}
		out := make([]rune, 0, len(buf)+extra)
		for _, r := range buf {
			if r == capitalDottedI {
				out = append(out, 'i', combiningDotAbv)
				continue
			}
			out = append(out, r)
		}
		dst = append(dst[:base], out...)
		buf = dst[base:]
	}

	// Pass 4: strip spaces (the only whitespace left).
	lo, hi := 0, len(buf)
	for lo < hi && buf[lo] == ' ' {
		lo++
	}
	for hi > lo && buf[hi-1] == ' ' {
		hi--
	}
	if lo > 0 {
		copy(buf, buf[lo:hi])
	}
	return dst[:base+hi-lo]
}

// lowerSigma returns the lower case of the capital sigma at buf[i]
// following Python's handle_capital_sigma: final form when preceded by a
// cased rune and not followed by one (case-ignorable runes skipped).
func lowerSigma(buf []rune, i int) rune {
	j := i - 1
	for j >= 0 && isCaseIgnorable(buf[j]) {
		j--
	}
	final := j >= 0 && isCased(buf[j])
	if final && i+1 < len(buf) {
		j = i + 1
		for j < len(buf) && isCaseIgnorable(buf[j]) {
			j++
		}
		final = j == len(buf) || !isCased(buf[j])
	}
	if final {
		return finalSigma
	}
	return smallSigma
}
