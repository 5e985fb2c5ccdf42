package backendtest

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/yokedcache/yokedcache"
	"github.com/yokedcache/yokedcache/backend"
	"github.com/yokedcache/yokedcache/codec"
	"github.com/yokedcache/yokedcache/internal/envelope"
)

// patternKeys is the keyspace of the pattern tests.
var patternKeys = []string{
	"user:1", "user:2", "user:10", "user:abc", "user:x:y", "users", "user:",
	"post:1", "a*b", "a?b", "a[b]", `a\b`, "axb", "ab", "é:1", "日本:x",
}

// patternCases are globs over patternKeys with the exact matches.
var patternCases = []struct {
	pattern string
	want    []string
}{
	{"*", patternKeys},
	{"user:*", []string{"user:1", "user:2", "user:10", "user:abc", "user:x:y", "user:"}},
	{"user:?", []string{"user:1", "user:2"}},
	{"user:??", []string{"user:10"}},
	{"user:[12]", []string{"user:1", "user:2"}},
	{"user:[a-c]*", []string{"user:abc"}},
	{"user:[!1]", []string{"user:2"}},
	{"user:[^1a]*", []string{"user:2", "user:x:y"}},
	{"*:1", []string{"user:1", "post:1", "é:1"}},
	{"?:1", []string{"é:1"}},
	{"日本:?", []string{"日本:x"}},
	{"a?b", []string{"a*b", "a?b", "axb", `a\b`}},
	{`a\*b`, []string{"a*b"}},
	{`a\?b`, []string{"a?b"}},
	{`a\[b\]`, []string{"a[b]"}},
	{`a\\b`, []string{`a\b`}},
	{"a[*?]b", []string{"a*b", "a?b"}},
	{"user", nil},
	{"users", []string{"users"}},
	{"nomatch*", nil},
}

func (e *env) setPatternKeys(c *yokedcache.Cache) {
	e.t.Helper()
	items := make(map[string]any, len(patternKeys))
	for _, k := range patternKeys {
		items[k] = "v:" + k
	}
	e.must(c.SetMany(e.ctx, items), "SetMany")
}

func patternsLeaves() []leaf {
	return []leaf{
		{
			name:   "Keys streams exactly the matching user keys",
			clause: "Glob patterns (*, ?, [...], escaped with \\) are matched against the user key (without the prefix) with the same rules on every backend. ... Keys(pattern) streams them",
			run: func(e *env) {
				e.needScan()
				e.setPatternKeys(e.c)
				// Noise: internal keys, tag bookkeeping, another prefix
				// sharing a string prefix with this one.
				if e.supports(FeatureTags) {
					e.set(e.c, "tagged", "v", yokedcache.WithTags("t1", "t2"))
					defer func() { _, _ = e.c.Delete(e.ctx, "tagged") }()
				}
				env, err := envelope.Encode(codec.IDString, []byte("x"), nil, envelope.EncodeOptions{})
				e.must(err, "envelope.Encode")
				e.must(e.b.Set(e.ctx, e.prefix+":\xffinternal", env, backend.SetOptions{TTL: time.Hour}), "backend Set of an internal key")
				other := e.secondCache(e.prefix + "x")
				e.set(other, "user:1", "other")
				defer func() { _ = other.Flush(e.ctx) }()
				if e.supports(FeatureTags) {
					_, err := e.c.Delete(e.ctx, "tagged")
					e.must(err, "Delete")
				}
				for _, tc := range patternCases {
					e.wantKeys(e.c, tc.pattern, tc.want)
				}
				e.wantKeys(e.c, "", patternKeys)
				e.wantKeys(other, "*", []string{"user:1"})
			},
		},
		{
			name:   "Keys streams without loading everything and stops early",
			clause: "Keys(pattern) streams them without loading all keys into memory.",
			run: func(e *env) {
				e.needScan()
				const n = 1200
				items := make(map[string]any, n)
				for i := range n {
					items[fmt.Sprintf("k%04d", i)] = i
				}
				e.must(e.c.SetMany(e.ctx, items), "SetMany")
				seen := map[string]bool{}
				for k, err := range e.c.Keys(e.ctx, "k*") {
					e.must(err, "Keys")
					if seen[k] {
						e.Fatalf("Keys yielded %q twice", k)
					}
					if _, ok := items[k]; !ok {
						e.Fatalf("Keys yielded %q, which was never set", k)
					}
					seen[k] = true
				}
				if len(seen) != n {
					e.Fatalf("Keys yielded %d keys; want %d", len(seen), n)
				}
				for _, stopAt := range []int{1, 2, 700} {
					got := 0
					for _, err := range e.c.Keys(e.ctx, "*") {
						e.must(err, "Keys")
						got++
						if got == stopAt {
							break
						}
					}
					if got != stopAt {
						e.Fatalf("breaking out of Keys after %d keys: iterated %d", stopAt, got)
					}
				}
				// The cache still works after an early break.
				e.set(e.c, "after", "v")
				e.wantHit(e.c, "after", "v")
			},
		},
		{
			name:   "InvalidatePattern deletes exactly the matches and returns the count",
			clause: "InvalidatePattern deletes the matches and returns the count",
			run: func(e *env) {
				e.needScan()
				for i, tc := range patternCases {
					c := e.secondCache(fmt.Sprintf("%sp%d", e.prefix, i))
					e.setPatternKeys(c)
					n, err := c.InvalidatePattern(e.ctx, tc.pattern)
					e.must(err, fmt.Sprintf("InvalidatePattern(%q)", tc.pattern))
					if n != int64(len(tc.want)) {
						e.Errorf("InvalidatePattern(%q) = %d; want %d (%q)", tc.pattern, n, len(tc.want), tc.want)
					}
					var rest []string
					for _, k := range patternKeys {
						if slices.Contains(tc.want, k) {
							e.wantMiss(c, k)
						} else {
							rest = append(rest, k)
							e.wantHit(c, k, "v:"+k)
						}
					}
					e.wantKeys(c, "*", rest)
					e.must(c.Flush(e.ctx), "Flush")
				}
			},
		},
		{
			name:   "InvalidatePattern never deletes internal keys or other prefixes",
			clause: "Never KEYS, FLUSHALL or FLUSHDB: Flush removes only this cache's namespace.",
			run: func(e *env) {
				e.needScan()
				e.setPatternKeys(e.c)
				env, err := envelope.Encode(codec.IDString, []byte("x"), nil, envelope.EncodeOptions{})
				e.must(err, "envelope.Encode")
				internal := e.prefix + ":\xffinternal"
				e.must(e.b.Set(e.ctx, internal, env, backend.SetOptions{TTL: time.Hour}), "backend Set of an internal key")
				other := e.secondCache(e.prefix + "x")
				e.set(other, "user:1", "other")
				defer func() { _ = other.Flush(e.ctx) }()
				n, err := e.c.InvalidatePattern(e.ctx, "*")
				e.must(err, "InvalidatePattern(*)")
				if n != int64(len(patternKeys)) {
					e.Fatalf("InvalidatePattern(*) = %d; want %d", n, len(patternKeys))
				}
				if _, err := e.b.Get(e.ctx, internal); err != nil {
					e.Fatalf("InvalidatePattern(*) deleted the internal key %q: %v", internal, err)
				}
				e.wantHit(other, "user:1", "other")
				e.wantKeys(e.c, "*", nil)
			},
		},
		{
			name:   "an invalid pattern is an error",
			clause: "Glob patterns (*, ?, [...], escaped with \\) are matched ... with the same rules on every backend.",
			run: func(e *env) {
				e.needScan()
				e.setPatternKeys(e.c)
				for _, p := range []string{"[abc", `abc\`, "user:[", "bad\xff*"} {
					var err error
					for _, kerr := range e.c.Keys(e.ctx, p) {
						if kerr != nil {
							err = kerr
							break
						}
					}
					if err == nil {
						e.Fatalf("Keys(%q) yielded no error; want an invalid-pattern error", p)
					}
					e.asYError(err, "keys", "")
					n, err := e.c.InvalidatePattern(e.ctx, p)
					if err == nil {
						e.Fatalf("InvalidatePattern(%q) = %d, nil; want an error", p, n)
					}
					e.asYError(err, "invalidate_pattern", "")
				}
				e.wantKeys(e.c, "*", patternKeys)
			},
		},
		{
			name:   "Flush removes only this prefix",
			clause: "Flush removes only this cache's namespace.",
			run: func(e *env) {
				e.needFlush()
				other := e.secondCache(e.prefix + "x")
				sub := e.secondCache(e.prefix[:len(e.prefix)-1])
				defer func() { _ = other.Flush(e.ctx); _ = sub.Flush(e.ctx) }()
				keys := []string{"a", "b:c", "日本"}
				for _, k := range keys {
					e.set(e.c, k, "mine")
					e.set(other, k, "other")
					e.set(sub, k, "sub")
				}
				if e.supports(FeatureTags) {
					e.set(e.c, "tagged", "mine", yokedcache.WithTags("t"))
					e.set(other, "tagged", "other", yokedcache.WithTags("t"))
				}
				e.must(e.c.Flush(e.ctx), "Flush")
				for _, k := range append(keys, "tagged") {
					e.wantMiss(e.c, k)
				}
				for _, k := range keys {
					e.wantHit(other, k, "other")
					e.wantHit(sub, k, "sub")
				}
				if e.supports(FeatureTags) {
					e.wantHit(other, "tagged", "other")
					// Tags still work after a Flush.
					n, err := e.c.InvalidateTags(e.ctx, "t")
					e.must(err, "InvalidateTags after Flush")
					e.wantTagCount("InvalidateTags after Flush", n, 0)
					e.wantHit(other, "tagged", "other")
					e.set(e.c, "tagged", "again", yokedcache.WithTags("t"))
					e.wantHit(e.c, "tagged", "again")
					_, err = e.c.InvalidateTags(e.ctx, "t")
					e.must(err, "InvalidateTags")
					e.wantMiss(e.c, "tagged")
				}
				e.wantKeys(e.c, "*", nil)
				e.wantKeys(other, "*", append(keys, "tagged")[:len(keys)+boolInt(e.supports(FeatureTags))])
				// Flush of an empty namespace is fine.
				e.must(e.c.Flush(e.ctx), "second Flush")
				// With a second instance on a shared store.
				if e.h.Shared {
					b2 := e.newBackend(e.backendClock())
					c2 := e.newCache(b2, e.prefix, e.cfgMod)
					defer c2.Close()
					e.set(e.c, "shared", "v")
					e.wantHit(e.c, "shared", "v")
					e.must(c2.Flush(e.ctx), "Flush on a second instance")
					e.wantMiss(c2, "shared")
					if d := e.h.FlushVisibleAfter; d > 0 {
						time.Sleep(d + d/10)
					}
					e.waitCrossInstance()
					e.wantMiss(e.c, "shared")
					e.wantHit(other, "a", "other")
				}
			},
		},
		{
			name:   "declared-unsupported scanning fails with ErrUnsupported",
			clause: "where a backend truly cannot do something, it returns an error that matches ErrUnsupported and the suite asserts exactly that.",
			run: func(e *env) {
				if e.supports(FeatureScan) {
					return
				}
				check := func(op string, err error) {
					if !errors.Is(err, yokedcache.ErrUnsupported) {
						e.Fatalf("%s on a backend without scanning = %v; want ErrUnsupported", op, err)
					}
				}
				check("Keys", e.tryScan())
				_, err := e.c.InvalidatePattern(e.ctx, "*")
				check("InvalidatePattern", err)
				_, err = e.c.FuzzySearch(e.ctx, "x")
				check("FuzzySearch", err)
			},
		},
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
