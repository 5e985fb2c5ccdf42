package sqlite

import (
	"database/sql"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/yokedcache/yokedcache/internal/glob"
)

func TestSQLGlobTranslation(t *testing.T) {
	cases := []struct{ in, out string }{
		{`a*b`, `a*b`},
		{`a?b`, `a?b`},
		{`\*`, `[*]`},
		{`\?`, `[?]`},
		{`\[`, `[[]`},
		{`\\`, `\`},
		{`50%_`, `50%_`},
		{`]`, `]`},
		{`[abc]`, `[abc]`},
		{`[a-z]x`, `[a-z]x`},
		{`[!a-z]`, `[^a-z]`},
		{`[^a]`, `[^a]`},
		{`[]]`, `?`},
		{`[a-]`, `?`},
		{`[\^]`, `?`},
		{`[\*]`, `[*]`},
		{`[*?[]`, `[*?[]`},
	}
	for _, c := range cases {
		got, _, ok := sqlGlob(c.in)
		if !ok || got != c.out {
			t.Errorf("sqlGlob(%q) = %q, %v; want %q", c.in, got, ok, c.out)
		}
	}
	for _, bad := range []string{`[abc`, `a\`, "a\x00*", "\xff*"} {
		if _, _, ok := sqlGlob(bad); ok {
			t.Errorf("sqlGlob(%q) accepted", bad)
		}
	}
}

// FuzzSQLGlob checks the translation against the glob package on SQLite
// itself: every key the pattern matches, the translated GLOB matches, and
// an exact translation matches nothing else.
func FuzzSQLGlob(f *testing.F) {
	db, err := sql.Open(DriverName, "file::memory:")
	if err != nil {
		f.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	f.Cleanup(func() { db.Close() })
	st, err := db.Prepare(`SELECT ? GLOB ?`)
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range [][2]string{
		{`a*b`, `axxb`}, {`\*`, `*`}, {`[!x]`, `y`}, {`[]]`, `]`}, {`[a-]`, `-`}, {`50%*`, `50%x`},
		{`a_b`, `axb`}, {`[[]x]`, `[x]`}, {`[^\]]`, `a`}, {`?ä*`, `xäy`}, {`\\*`, `\x`}, {`[\-a]`, `-`},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, pattern, key string) {
		p, err := glob.Compile(pattern)
		if err != nil {
			return
		}
		g, exact, ok := sqlGlob(pattern)
		if !ok {
			if !strings.ContainsRune(pattern, 0) {
				t.Fatalf("sqlGlob(%q) refused a valid pattern", pattern)
			}
			return
		}
		if !utf8.ValidString(key) || strings.ContainsRune(key, 0) {
			return
		}
		var sqlMatch bool
		if err := st.QueryRow(key, g).Scan(&sqlMatch); err != nil {
			t.Fatal(err)
		}
		want := p.Match(key)
		if want && !sqlMatch {
			t.Fatalf("%q matches %q but GLOB %q does not", pattern, key, g)
		}
		if exact && sqlMatch != want {
			t.Fatalf("exact GLOB %q of %q: GLOB says %v, glob says %v for %q", g, pattern, sqlMatch, want, key)
		}
	})
}
