package glob

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestMatch(t *testing.T) {
	for _, tc := range []struct {
		pattern string
		match   []string
		noMatch []string
	}{
		// Literals and the empty pattern.
		{"", []string{""}, []string{"a", " "}},
		{"user:42", []string{"user:42"}, []string{"user:4", "user:421", "User:42", ""}},
		// '*'
		{"*", []string{"", "a", "user:42:profile", "日本", "*"}, nil},
		{"**", []string{"", "abc"}, nil},
		{"user:*", []string{"user:", "user:42", "user:42:profile", "user:*"}, []string{"user", "users:1", "xuser:1"}},
		{"*:profile", []string{":profile", "user:42:profile"}, []string{"user:42:profile:x", "profile"}},
		{"user:*:profile", []string{"user:42:profile", "user::profile", "user:a:b:profile"}, []string{"user:42:settings", "user:profile"}},
		{"*a*b*c*", []string{"abc", "xaxbxcx", "aabbcc", "cabc"}, []string{"acb", "cba", "ab"}},
		{"a*a*a*a*b", []string{"aaaab", "aXaYaZab"}, []string{strings.Repeat("a", 40)}},
		{"*aab", []string{"aab", "aaab", "abaab"}, []string{"aba", "aabx"}},
		// '?'
		{"?", []string{"a", "日", "😀", "*", "?"}, []string{"", "ab", "é\u0301"}},
		{"user:??", []string{"user:42", "user:日本", "user:😀😀"}, []string{"user:4", "user:421"}},
		{"?*?", []string{"ab", "abc", "日本"}, []string{"a", ""}},
		{"caf?", []string{"café", "cafe"}, []string{"caf", "cafés"}},
		// Sets.
		{"[abc]", []string{"a", "b", "c"}, []string{"d", "", "ab", "A"}},
		{"[a-z]", []string{"a", "m", "z"}, []string{"A", "0", "{", "`"}},
		{"[a-cx-z0-9]", []string{"b", "y", "5"}, []string{"d", "w", "-"}},
		{"[!x]", []string{"a", "y", "日"}, []string{"x", "", "ab"}},
		{"[^x]", []string{"a", "y"}, []string{"x", ""}},
		{"[!a-z]", []string{"A", "0", ":"}, []string{"a", "q"}},
		{"[]]", []string{"]"}, []string{"[", "a"}},
		{"[]a]", []string{"]", "a"}, []string{"b"}},
		{"[!]]", []string{"a", "["}, []string{"]"}},
		{"[^]]", []string{"a"}, []string{"]"}},
		{"[a-]", []string{"a", "-"}, []string{"b"}},
		{"[-a]", []string{"a", "-"}, []string{"b"}},
		{"[!-]", []string{"a"}, []string{"-"}},
		{"[\\]]", []string{"]"}, []string{"\\"}},
		{"[\\\\]", []string{"\\"}, []string{"]"}},
		{"[\\-a]", []string{"-", "a"}, []string{"b", "\\"}},
		{"[a\\-z]", []string{"a", "-", "z"}, []string{"m"}},
		{"[*?]", []string{"*", "?"}, []string{"a"}},
		{"[[]", []string{"["}, []string{"]"}},
		{"[é日😀]", []string{"é", "日", "😀"}, []string{"e", "本"}},
		{"[α-ω]", []string{"α", "λ", "ω"}, []string{"Α", "a"}},
		{"[!日]", []string{"本", "a"}, []string{"日"}},
		{"user:[0-9][0-9]", []string{"user:42", "user:00"}, []string{"user:4", "user:4a", "user:042"}},
		{"[a-c]*[x-z]", []string{"ax", "b---y", "cz"}, []string{"dx", "a"}},
		// Escapes.
		{`\*`, []string{"*"}, []string{"a", "", "\\*"}},
		{`\?`, []string{"?"}, []string{"a"}},
		{`\[`, []string{"["}, []string{"a"}},
		{`\]`, []string{"]"}, []string{"a"}},
		{`\\`, []string{`\`}, []string{"a", `\\`}},
		{`\a`, []string{"a"}, []string{`\a`}},
		{`\日`, []string{"日"}, []string{"本"}},
		{`user\*:*`, []string{"user*:", "user*:42"}, []string{"user:42", "userX:1"}},
		{`*\**`, []string{"*", "a*b"}, []string{"ab"}},
		{`[a]\[b\]`, []string{"a[b]"}, []string{"ab"}},
		// Keys with characters that are special elsewhere (SQL LIKE, regexp).
		{"100%", []string{"100%"}, []string{"1000", "100"}},
		{"a_b", []string{"a_b"}, []string{"aXb", "ab"}},
		{"%_*", []string{"%_", "%_x"}, []string{"x_", "%"}},
		{"a.b", []string{"a.b"}, []string{"aXb"}},
		{"(a|b)+", []string{"(a|b)+"}, []string{"a", "ab"}},
		{"^a$", []string{"^a$"}, []string{"a"}},
		{"a]", []string{"a]"}, []string{"a"}},
		{"{a,b}", []string{"{a,b}"}, []string{"a"}},
	} {
		p, err := Compile(tc.pattern)
		if err != nil {
			t.Errorf("Compile(%q): %v", tc.pattern, err)
			continue
		}
		if p.String() != tc.pattern {
			t.Errorf("Compile(%q).String() = %q", tc.pattern, p.String())
		}
		for _, s := range tc.match {
			if !p.Match(s) {
				t.Errorf("%q should match %q", tc.pattern, s)
			}
			if ref := refMatch([]rune(tc.pattern), []rune(s)); !ref {
				t.Errorf("reference: %q should match %q", tc.pattern, s)
			}
			if ok, err := Match(tc.pattern, s); !ok || err != nil {
				t.Errorf("Match(%q, %q) = %v, %v", tc.pattern, s, ok, err)
			}
		}
		for _, s := range tc.noMatch {
			if p.Match(s) {
				t.Errorf("%q should not match %q", tc.pattern, s)
			}
			if ref := refMatch([]rune(tc.pattern), []rune(s)); ref {
				t.Errorf("reference: %q should not match %q", tc.pattern, s)
			}
		}
	}
}

func TestPrefixLiteral(t *testing.T) {
	for _, tc := range []struct {
		pattern, prefix string
		literal         bool
	}{
		{"", "", true},
		{"user:42", "user:42", true},
		{`user\*42`, "user*42", true},
		{`\\\[\]\?`, `\[]?`, true},
		{"user:*", "user:", false},
		{"user:?", "user:", false},
		{"user:[0-9]", "user:", false},
		{`us\*er:*:x`, "us*er:", false},
		{"*user", "", false},
		{"?user", "", false},
		{"[u]ser", "", false},
		{"日本:*", "日本:", false},
	} {
		p := MustCompile(tc.pattern)
		if got := p.Prefix(); got != tc.prefix {
			t.Errorf("Compile(%q).Prefix() = %q, want %q", tc.pattern, got, tc.prefix)
		}
		lit, ok := p.Literal()
		if ok != tc.literal {
			t.Errorf("Compile(%q).Literal() ok = %v, want %v", tc.pattern, ok, tc.literal)
		}
		if ok && lit != tc.prefix {
			t.Errorf("Compile(%q).Literal() = %q, want %q", tc.pattern, lit, tc.prefix)
		}
	}
}

var escapeSamples = []string{
	"", "a", "user:42:profile", "*", "?", "[", "]", "\\", `\\`, "[abc]", "[!x]",
	"a*b?c[d]e\\f", "100%", "a_b", "**", "\\*", "[]", "][", "日本*語?", "😀[😀]",
	"user:*:profile", "trailing\\", "[a-z]", "^$.+(){}|", " spaces and\ttabs ",
}

func TestEscapeRoundTrip(t *testing.T) {
	for _, s := range escapeSamples {
		checkEscape(t, s)
	}
}

func checkEscape(t *testing.T, s string) {
	t.Helper()
	e := Escape(s)
	p, err := Compile(e)
	if err != nil {
		t.Fatalf("Compile(Escape(%q) = %q): %v", s, e, err)
	}
	if !p.Match(s) {
		t.Errorf("Compile(Escape(%q)) does not match %q", s, s)
	}
	if lit, ok := p.Literal(); !ok || lit != s {
		t.Errorf("Compile(Escape(%q)).Literal() = %q, %v", s, lit, ok)
	}
	if p.Prefix() != s {
		t.Errorf("Compile(Escape(%q)).Prefix() = %q", s, p.Prefix())
	}
	if p.Match(s+"x") || (s != "" && p.Match(s[:len(s)-1])) {
		t.Errorf("Compile(Escape(%q)) matches more than %q", s, s)
	}
}

func TestEscapeInvalidUTF8(t *testing.T) {
	// The bytes are kept, so the pattern is rejected instead of silently
	// matching U+FFFD.
	e := Escape("a*\xff")
	if e != "a\\*\xff" {
		t.Fatalf("Escape = %q", e)
	}
	if _, err := Compile(e); !errors.Is(err, ErrBadPattern) {
		t.Fatalf("Compile(%q) = %v, want ErrBadPattern", e, err)
	}
}

func TestCompileErrors(t *testing.T) {
	for _, tc := range []struct{ pattern, msg string }{
		{"[", "unclosed"},
		{"[abc", "unclosed"},
		{"user:[0-9", "unclosed"},
		{"[]", "unclosed"},
		{"[!]", "unclosed"},
		{"[^", "unclosed"},
		{"[a-", "unclosed"},
		{`[\]`, "unclosed"},
		{`\`, "trailing backslash"},
		{`user:\`, "trailing backslash"},
		{`[\`, "trailing backslash"},
		{`[a-\`, "trailing backslash"},
		{"[z-a]", "inverted range"},
		{"[9-0]", "inverted range"},
		{"[ω-α]", "inverted range"},
		{"a\xffb", "UTF-8"},
		{"\xc3", "UTF-8"},
		{"[\xff]", "UTF-8"},
	} {
		p, err := Compile(tc.pattern)
		if err == nil {
			t.Errorf("Compile(%q) = %v, want an error", tc.pattern, p)
			continue
		}
		if !errors.Is(err, ErrBadPattern) {
			t.Errorf("Compile(%q) error %v does not match ErrBadPattern", tc.pattern, err)
		}
		if !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("Compile(%q) error %q does not mention %q", tc.pattern, err, tc.msg)
		}
		if ok, err := Match(tc.pattern, "x"); ok || !errors.Is(err, ErrBadPattern) {
			t.Errorf("Match(%q) = %v, %v", tc.pattern, ok, err)
		}
		if refValid(tc.pattern) {
			t.Errorf("reference validator accepts %q", tc.pattern)
		}
	}
}

func TestMustCompilePanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("MustCompile(\"[\") did not panic")
		}
	}()
	MustCompile("[")
}

func TestMatchInvalidUTF8Key(t *testing.T) {
	// Keys are valid UTF-8, but matching must still be total: an invalid
	// byte counts as one rune.
	for _, tc := range []struct {
		pattern, s string
		want       bool
	}{
		{"?", "\xff", true},
		{"a?b", "a\xffb", true},
		{"*", "\xff\xfe", true},
		{"??", "\xff\xfe", true},
		{"[!a]", "\xff", true},
		{"a*", "a\xff", true},
		{"\ufffd", "\xff", false},
	} {
		if got := MustCompile(tc.pattern).Match(tc.s); got != tc.want {
			t.Errorf("%q.Match(%q) = %v, want %v", tc.pattern, tc.s, got, tc.want)
		}
	}
}

// refValid reports whether pattern is well formed, by an independent
// reading of the syntax in the package documentation.
func refValid(pattern string) bool {
	if !utf8.ValidString(pattern) {
		return false
	}
	p := []rune(pattern)
	for i := 0; i < len(p); i++ {
		switch p[i] {
		case '\\':
			if i+1 >= len(p) {
				return false
			}
			i++
		case '[':
			_, n, ok := refSet(p[i+1:], 0)
			if !ok {
				return false
			}
			i += n
		}
	}
	return true
}

// refSet reads the set body p (after '[') and reports whether c is in the
// set, how many runes the body and its ']' take, and whether it is well
// formed.
func refSet(p []rune, c rune) (in bool, n int, ok bool) {
	i := 0
	neg := false
	if i < len(p) && (p[i] == '!' || p[i] == '^') {
		neg = true
		i++
	}
	for first := true; ; first = false {
		if i >= len(p) {
			return false, 0, false
		}
		if p[i] == ']' && !first {
			return in != neg, i + 1, true
		}
		lo := p[i]
		i++
		if lo == '\\' {
			if i >= len(p) {
				return false, 0, false
			}
			lo = p[i]
			i++
		}
		hi := lo
		if i+1 < len(p) && p[i] == '-' && p[i+1] != ']' {
			hi = p[i+1]
			i += 2
			if hi == '\\' {
				if i >= len(p) {
					return false, 0, false
				}
				hi = p[i]
				i++
			}
			if hi < lo {
				return false, 0, false
			}
		}
		if lo <= c && c <= hi {
			in = true
		}
	}
}

// refMatch is an exponential backtracking matcher over runes, for
// well-formed patterns and short inputs.
func refMatch(p, s []rune) bool {
	if len(p) == 0 {
		return len(s) == 0
	}
	switch p[0] {
	case '*':
		for i := 0; i <= len(s); i++ {
			if refMatch(p[1:], s[i:]) {
				return true
			}
		}
		return false
	case '?':
		return len(s) > 0 && refMatch(p[1:], s[1:])
	case '[':
		if len(s) == 0 {
			return false
		}
		in, n, ok := refSet(p[1:], s[0])
		return ok && in && refMatch(p[1+n:], s[1:])
	case '\\':
		return len(s) > 0 && s[0] == p[1] && refMatch(p[2:], s[1:])
	default:
		return len(s) > 0 && s[0] == p[0] && refMatch(p[1:], s[1:])
	}
}

func FuzzMatch(f *testing.F) {
	for _, s := range [][2]string{
		{"user:*", "user:42"}, {"*a*b*", "xaybz"}, {"[a-z]?", "b日"},
		{"[!x]*", "y"}, {"[]a]*", "]]"}, {`\*\?\[\\`, `*?[\`}, {"[", ""},
		{`\`, ""}, {"[z-a]", "q"}, {"a\xff", "a\xff"}, {"%_", "%_"},
		{"*?*?*", "日本"}, {"[^]-a]", "b"},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, pattern, s string) {
		p, err := Compile(pattern)
		if valid := refValid(pattern); (err == nil) != valid {
			t.Fatalf("Compile(%q) error = %v, reference says valid = %v", pattern, err, valid)
		}
		if err != nil {
			if !errors.Is(err, ErrBadPattern) {
				t.Fatalf("Compile(%q) error %v does not match ErrBadPattern", pattern, err)
			}
		} else {
			got := p.Match(s)
			if got && !strings.HasPrefix(s, p.Prefix()) {
				t.Fatalf("%q matches %q without its prefix %q", pattern, s, p.Prefix())
			}
			if lit, ok := p.Literal(); ok && got != (s == lit) {
				t.Fatalf("literal %q (%q): Match(%q) = %v", pattern, lit, s, got)
			}
			pr, sr := []rune(pattern), []rune(s)
			if utf8.ValidString(s) && len(pr) <= 12 && len(sr) <= 16 {
				if want := refMatch(pr, sr); got != want {
					t.Fatalf("Compile(%q).Match(%q) = %v, reference says %v", pattern, s, got, want)
				}
			}
		}
		if utf8.ValidString(s) {
			checkEscape(t, s)
		}
	})
}

func BenchmarkMatch(b *testing.B) {
	for _, bc := range []struct{ name, pattern, key string }{
		{"literal", "user:42:profile", "user:42:profile"},
		{"prefix-star", "user:*", "user:42:profile"},
		{"inner-star", "user:*:profile", "user:1234567:profile"},
		{"sets", "product_list:page:[0-9][0-9]", "product_list:page:42"},
		{"many-stars", "*a*b*c*", "xxxxxxxxxxaxxxxxxxxxbxxxxxxxxxxxxxxxc"},
		{"no-match", "*:settings", "tenant:acme:user:42:profile:something:else:entirely"},
		{"unicode", "用户:??:*", "用户:日本:资料"},
	} {
		p := MustCompile(bc.pattern)
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_ = p.Match(bc.key)
			}
		})
	}
}
