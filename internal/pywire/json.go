package pywire

import (
	"errors"
	"fmt"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// maxDepth bounds nesting of arrays and objects while reading or
// rewriting JSON, so hostile input cannot exhaust the stack.
const maxDepth = 1024

// jsonParser walks one JSON text (RFC 8259) with orjson's strictness. When
// out is non-nil it also writes the text in orjson's canonical form.
type jsonParser struct {
	in    []byte
	pos   int
	out   []byte
	write bool
	str   []byte // scratch: the last string's decoded bytes
}

var errTrailing = errors.New("data after the JSON value")

// validateJSON checks p is one JSON value with optional surrounding
// whitespace, as orjson accepts it, and returns its first byte ('{', '[',
// '"', 'n', 't', 'f' or a number's first byte).
func validateJSON(p []byte) (byte, error) {
	j := jsonParser{in: p}
	j.skipWS()
	if j.pos >= len(p) {
		return 0, errors.New("empty document")
	}
	kind := p[j.pos]
	if err := j.value(0); err != nil {
		return 0, err
	}
	j.skipWS()
	if j.pos != len(p) {
		return 0, errTrailing
	}
	return kind, nil
}

// jsonStringValue returns the decoded bytes of a JSON text that is one
// string (validated by validateJSON).
func jsonStringValue(p []byte) ([]byte, error) {
	j := jsonParser{in: p}
	j.skipWS()
	if err := j.string(); err != nil {
		return nil, err
	}
	return j.str, nil
}

// AppendCanonicalJSON appends to dst the JSON text p (as Go's
// encoding/json writes it, or any valid JSON) rewritten into the form
// orjson writes: no whitespace, strings escaped as orjson does, numbers
// with a fraction or an exponent as Python floats (see FormatFloat).
// Integers and object key order are kept.
func AppendCanonicalJSON(dst, p []byte) ([]byte, error) {
	j := jsonParser{in: p, out: dst, write: true}
	j.skipWS()
	if j.pos >= len(p) {
		return dst, errors.New("empty document")
	}
	if err := j.value(0); err != nil {
		return dst, err
	}
	j.skipWS()
	if j.pos != len(p) {
		return dst, errTrailing
	}
	return j.out, nil
}

func (j *jsonParser) skipWS() {
	for j.pos < len(j.in) {
		switch j.in[j.pos] {
		case ' ', '\t', '\n', '\r':
			j.pos++
		default:
			return
		}
	}
}

func (j *jsonParser) errAt(what string) error {
	return fmt.Errorf("%s at offset %d", what, j.pos)
}

func (j *jsonParser) value(depth int) error {
	if j.pos >= len(j.in) {
		return j.errAt("unexpected end")
	}
	switch c := j.in[j.pos]; {
	case c == '{':
		return j.object(depth + 1)
	case c == '[':
		return j.array(depth + 1)
	case c == '"':
		if err := j.string(); err != nil {
			return err
		}
		if j.write {
			j.out = appendJSONString(j.out, j.str)
		}
		return nil
	case c == 't':
		return j.literal("true")
	case c == 'f':
		return j.literal("false")
	case c == 'n':
		return j.literal("null")
	case c == '-' || (c >= '0' && c <= '9'):
		return j.number()
	}
	return j.errAt("unexpected character")
}

func (j *jsonParser) literal(lit string) error {
	if len(j.in)-j.pos < len(lit) || string(j.in[j.pos:j.pos+len(lit)]) != lit {
		return j.errAt("invalid literal")
	}
	j.pos += len(lit)
	if j.write {
		j.out = append(j.out, lit...)
	}
	return nil
}

func (j *jsonParser) object(depth int) error {
	if depth > maxDepth {
		return j.errAt("nesting too deep")
	}
	j.pos++ // '{'
	if j.write {
		j.out = append(j.out, '{')
	}
	j.skipWS()
	if j.pos < len(j.in) && j.in[j.pos] == '}' {
		j.pos++
		if j.write {
			j.out = append(j.out, '}')
		}
		return nil
	}
	for {
		j.skipWS()
		if j.pos >= len(j.in) || j.in[j.pos] != '"' {
			return j.errAt("object key must be a string")
		}
		if err := j.string(); err != nil {
			return err
		}
		if j.write {
			j.out = appendJSONString(j.out, j.str)
		}
		j.skipWS()
		if j.pos >= len(j.in) || j.in[j.pos] != ':' {
			return j.errAt("missing ':'")
		}
		j.pos++
		if j.write {
			j.out = append(j.out, ':')
		}
		j.skipWS()
		if err := j.value(depth); err != nil {
			return err
		}
		j.skipWS()
		if j.pos >= len(j.in) {
			return j.errAt("unterminated object")
		}
		switch j.in[j.pos] {
		case ',':
			j.pos++
			if j.write {
				j.out = append(j.out, ',')
			}
		case '}':
			j.pos++
			if j.write {
				j.out = append(j.out, '}')
			}
			return nil
		default:
			return j.errAt("expected ',' or '}'")
		}
	}
}

func (j *jsonParser) array(depth int) error {
	if depth > maxDepth {
		return j.errAt("nesting too deep")
	}
	j.pos++ // '['
	if j.write {
		j.out = append(j.out, '[')
	}
	j.skipWS()
	if j.pos < len(j.in) && j.in[j.pos] == ']' {
		j.pos++
		if j.write {
			j.out = append(j.out, ']')
		}
		return nil
	}
	for {
		j.skipWS()
		if err := j.value(depth); err != nil {
			return err
		}
		j.skipWS()
		if j.pos >= len(j.in) {
			return j.errAt("unterminated array")
		}
		switch j.in[j.pos] {
		case ',':
			j.pos++
			if j.write {
				j.out = append(j.out, ',')
			}
		case ']':
			j.pos++
			if j.write {
				j.out = append(j.out, ']')
			}
			return nil
		default:
			return j.errAt("expected ',' or ']'")
		}
	}
}

func hexVal(c byte) rune {
	switch {
	case c >= '0' && c <= '9':
		return rune(c - '0')
	case c >= 'a' && c <= 'f':
		return rune(c-'a') + 10
	case c >= 'A' && c <= 'F':
		return rune(c-'A') + 10
	}
	return -1
}

// hex4 reads the 4 hex digits after "\u" at j.pos.
func (j *jsonParser) hex4() (rune, error) {
	if len(j.in)-j.pos < 4 {
		return 0, j.errAt("short \\u escape")
	}
	var r rune
	for i := range 4 {
		v := hexVal(j.in[j.pos+i])
		if v < 0 {
			return 0, j.errAt("bad \\u escape")
		}
		r = r<<4 | v
	}
	j.pos += 4
	return r, nil
}

// string reads a string at j.pos (which is '"') into j.str, decoded. It
// refuses raw control characters, invalid UTF-8 and lone surrogates, as
// orjson does.
func (j *jsonParser) string() error {
	j.pos++
	j.str = j.str[:0]
	for {
		start := j.pos
		for j.pos < len(j.in) {
			c := j.in[j.pos]
			if c == '"' || c == '\\' || c < 0x20 || c >= 0x80 {
				break
			}
			j.pos++
		}
		j.str = append(j.str, j.in[start:j.pos]...)
		if j.pos >= len(j.in) {
			return j.errAt("unterminated string")
		}
		c := j.in[j.pos]
		switch {
		case c == '"':
			j.pos++
			return nil
		case c < 0x20:
			return j.errAt("control character in string")
		case c >= 0x80:
			r, n := utf8.DecodeRune(j.in[j.pos:])
			if r == utf8.RuneError && n <= 1 {
				return j.errAt("invalid UTF-8 in string")
			}
			j.str = append(j.str, j.in[j.pos:j.pos+n]...)
			j.pos += n
		default: // '\\'
			j.pos++
			if j.pos >= len(j.in) {
				return j.errAt("unterminated escape")
			}
			e := j.in[j.pos]
			j.pos++
			switch e {
			case '"', '\\', '/':
				j.str = append(j.str, e)
			case 'b':
				j.str = append(j.str, '\b')
			case 'f':
				j.str = append(j.str, '\f')
			case 'n':
				j.str = append(j.str, '\n')
			case 'r':
				j.str = append(j.str, '\r')
			case 't':
				j.str = append(j.str, '\t')
			case 'u':
				r, err := j.hex4()
				if err != nil {
					return err
				}
				if utf16.IsSurrogate(r) {
					if r >= 0xdc00 || len(j.in)-j.pos < 6 || j.in[j.pos] != '\\' || j.in[j.pos+1] != 'u' {
						return j.errAt("lone surrogate escape")
					}
					j.pos += 2
					r2, err := j.hex4()
					if err != nil {
						return err
					}
					if r2 < 0xdc00 || r2 > 0xdfff {
						return j.errAt("lone surrogate escape")
					}
					r = utf16.DecodeRune(r, r2)
				}
				j.str = utf8.AppendRune(j.str, r)
			default:
				return j.errAt("bad escape")
			}
		}
	}
}

func (j *jsonParser) number() error {
	start := j.pos
	isFloat := false
	if j.in[j.pos] == '-' {
		j.pos++
	}
	digits := func() int {
		n := 0
		for j.pos < len(j.in) && j.in[j.pos] >= '0' && j.in[j.pos] <= '9' {
			j.pos++
			n++
		}
		return n
	}
	if j.pos >= len(j.in) {
		return j.errAt("bad number")
	}
	if j.in[j.pos] == '0' {
		j.pos++
	} else if digits() == 0 {
		return j.errAt("bad number")
	}
	if j.pos < len(j.in) && j.in[j.pos] == '.' {
		isFloat = true
		j.pos++
		if digits() == 0 {
			return j.errAt("bad number fraction")
		}
	}
	if j.pos < len(j.in) && (j.in[j.pos] == 'e' || j.in[j.pos] == 'E') {
		isFloat = true
		j.pos++
		if j.pos < len(j.in) && (j.in[j.pos] == '+' || j.in[j.pos] == '-') {
			j.pos++
		}
		if digits() == 0 {
			return j.errAt("bad number exponent")
		}
	}
	tok := j.in[start:j.pos]
	if !isFloat {
		if j.write {
			j.out = append(j.out, tok...)
		}
		return nil
	}
	// A float out of range (1e400) is refused: Go cannot decode it.
	f, err := strconv.ParseFloat(string(tok), 64)
	if err != nil {
		return fmt.Errorf("number %.40s: %w", tok, err)
	}
	if j.write {
		j.out = AppendFloat(j.out, f)
	}
	return nil
}

// appendJSONString appends s (UTF-8) as orjson writes a string: '"' and
// '\\' escaped, \b \t \n \f \r short, other bytes below 0x20 as \u00xx
// (lower-case hex), everything else (DEL, U+2028, '<', '&', '/') raw.
func appendJSONString(dst, s []byte) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' {
			continue
		}
		dst = append(dst, s[start:i]...)
		switch c {
		case '"':
			dst = append(dst, '\\', '"')
		case '\\':
			dst = append(dst, '\\', '\\')
		case '\b':
			dst = append(dst, '\\', 'b')
		case '\t':
			dst = append(dst, '\\', 't')
		case '\n':
			dst = append(dst, '\\', 'n')
		case '\f':
			dst = append(dst, '\\', 'f')
		case '\r':
			dst = append(dst, '\\', 'r')
		default:
			dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		}
		start = i + 1
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// AppendFloat appends f as orjson 3.8.3 writes a float (the ryu crate's
// format): the shortest digits that round-trip; fixed notation with ".0"
// for whole numbers up to 16 integer digits and down to 0.0000ddd, else
// d[.ddd]e<exp> with no '+' and no leading zeros (1e16, 1.5e-7). NaN and
// infinities, which orjson writes as null, are written as null.
func AppendFloat(dst []byte, f float64) []byte {
	if f != f || f > 1.7976931348623157e308 || f < -1.7976931348623157e308 {
		return append(dst, "null"...)
	}
	var buf [32]byte
	s := strconv.AppendFloat(buf[:0], f, 'e', -1, 64) // [-]d[.ddd]e±XX
	if s[0] == '-' {
		dst = append(dst, '-')
		s = s[1:]
	}
	e := 0
	for e < len(s) && s[e] != 'e' {
		e++
	}
	mant, expPart := s[:e], s[e+1:]
	var digits []byte
	for _, c := range mant {
		if c != '.' {
			digits = append(digits, c)
		}
	}
	exp, _ := strconv.Atoi(string(expPart))
	length := len(digits)
	kk := exp + 1 // position of the decimal point
	k := kk - length
	switch {
	case k >= 0 && kk <= 16:
		dst = append(dst, digits...)
		for range k {
			dst = append(dst, '0')
		}
		return append(dst, '.', '0')
	case kk > 0 && kk <= 16:
		dst = append(dst, digits[:kk]...)
		dst = append(dst, '.')
		return append(dst, digits[kk:]...)
	case kk > -5 && kk <= 0:
		dst = append(dst, '0', '.')
		for range -kk {
			dst = append(dst, '0')
		}
		return append(dst, digits...)
	case length == 1:
		dst = append(dst, digits[0], 'e')
		return strconv.AppendInt(dst, int64(kk-1), 10)
	default:
		dst = append(dst, digits[0], '.')
		dst = append(dst, digits[1:]...)
		dst = append(dst, 'e')
		return strconv.AppendInt(dst, int64(kk-1), 10)
	}
}
