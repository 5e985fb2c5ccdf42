package backendtest

import (
	"errors"
	"fmt"
	"strings"

	"github.com/yokedcache/yokedcache"
	"github.com/yokedcache/yokedcache/internal/envelope"
)

// invalidKeys are user keys every Cache rejects.
func invalidKeys() map[string]string {
	return map[string]string{
		"empty":                 "",
		"invalid UTF-8":         "bad\xff\xfekey",
		"lone surrogate":        "a\xed\xa0\x80b",
		"over maximum":          strings.Repeat("k", yokedcache.MaxKeyLength+1),
		"over maximum in runes": strings.Repeat("é", yokedcache.MaxKeyLength/2) + "x",
	}
}

// collidingKeys are distinct user keys that naive encodings map together.
func collidingKeys() []string {
	long := strings.Repeat("L", 260)
	k250 := strings.Repeat("m", 249)
	return []string{
		"a b", "a_b", "a:b", "a-b", "a.b", "a%b", "a%20b", "a+b", "a/b", `a\b`,
		"a*b", "a?b", "a[b]", "a{b}", "a\nb", "a\tb", "a\rb", "a\x00b", "a\x7fb",
		"A B", "ab", "a  b", " ab", "ab ", "a\u00a0b", "a\u3000b",
		"é", "e\u0301", "日本語", "日本", "🎉", "🎉🎉", "key with spaces",
		"%", "_", "*", "?", "[", "]", `\`, "[!a]", "a%_b", "a_%b",
		long + "a", long + "b", k250 + "x", k250 + "y", k250 + "xy",
		strings.Repeat("日", 100) + "1", strings.Repeat("日", 100) + "2",
		"md5:0cc175b9c0f1b6a831c399e269772661", "b64:YQ==", "a",
	}
}

func keysLeaves() []leaf {
	return []leaf{
		{
			name:   "invalid keys are rejected with ErrInvalidKey",
			clause: "An empty key, invalid UTF-8 or a key over the maximum is rejected with an error matching ErrInvalidKey.",
			run: func(e *env) {
				for name, k := range invalidKeys() {
					var s string
					checks := map[string]error{
						"Set":    e.c.Set(e.ctx, k, "v"),
						"Get":    e.c.Get(e.ctx, k, &s),
						"Delete": second(e.c.Delete(e.ctx, k)),
						"Exists": second(e.c.Exists(e.ctx, k)),
						"SetMany": e.c.SetMany(e.ctx, map[string]any{
							"ok": "v", k: "v",
						}),
						"GetMany":    second(e.c.GetMany(e.ctx, []string{"ok", k})),
						"DeleteMany": second(e.c.DeleteMany(e.ctx, "ok", k)),
					}
					if e.supports(FeatureTTL) {
						checks["TTL"] = second(e.c.TTL(e.ctx, k))
						checks["Expire"] = second(e.c.Expire(e.ctx, k, 60e9))
						checks["Touch"] = second(e.c.Touch(e.ctx, k))
					}
					for op, err := range checks {
						if !errors.Is(err, yokedcache.ErrInvalidKey) {
							e.Errorf("%s with %s key %q: err = %v; want ErrInvalidKey", op, name, trunc(k), err)
						}
					}
					// Nothing was written, under the key or through SetMany.
					if v, err := e.b.Get(e.ctx, e.skey(k)); err == nil {
						e.Errorf("%s key: backend holds %d bytes under %q after rejected writes", name, len(v), trunc(e.skey(k)))
					}
				}
				e.wantMiss(e.c, "ok")
				e.wantKeys(e.c, "*", nil)
			},
		},
		{
			name:   "a key of the maximum length works",
			clause: "A user key is any non-empty UTF-8 string up to a documented maximum (at least 1 KiB).",
			run: func(e *env) {
				if yokedcache.MaxKeyLength < 1024 {
					e.Fatalf("MaxKeyLength = %d; want at least 1 KiB", yokedcache.MaxKeyLength)
				}
				keys := []string{
					strings.Repeat("k", yokedcache.MaxKeyLength),
					strings.Repeat("é", yokedcache.MaxKeyLength/2),
					strings.Repeat("k", yokedcache.MaxKeyLength-1) + "j",
				}
				for i, k := range keys {
					e.set(e.c, k, fmt.Sprint("v", i))
				}
				for i, k := range keys {
					e.wantHit(e.c, k, fmt.Sprint("v", i))
				}
				e.wantKeys(e.c, "*", keys)
				for _, k := range keys {
					ok, err := e.c.Delete(e.ctx, k)
					e.must(err, "Delete")
					if !ok {
						e.Fatalf("Delete(%d-byte key) = false; want true", len(k))
					}
					e.wantMiss(e.c, k)
				}
			},
		},
		{
			name:   "stored keys are prefix colon key",
			clause: "Stored keys are `<KeyPrefix>:<key>` (default prefix `yokedcache`).",
			run: func(e *env) {
				e.set(e.c, "user:42", "v")
				raw, err := e.b.Get(e.ctx, e.prefix+":user:42")
				if err != nil {
					e.Fatalf("backend Get(%q) after Cache.Set(\"user:42\"): %v", e.prefix+":user:42", err)
				}
				if _, err := envelope.Decode(raw, 0); err != nil {
					e.Fatalf("backend value under %q is not an envelope: %v", e.prefix+":user:42", err)
				}
				// The default prefix, checked without writing: the suite
				// never touches keys outside its own "bt..." namespaces.
				c := e.newCache(e.b, "", func(cfg *yokedcache.Config) { cfg.KeyPrefix = "" })
				if c.KeyPrefix() != "yokedcache" || yokedcache.DefaultKeyPrefix != "yokedcache" {
					e.Fatalf("default KeyPrefix = %q; want \"yokedcache\"", c.KeyPrefix())
				}
			},
		},
		{
			name:   "a key that starts with the prefix is prefixed like any other",
			clause: "Stored keys are `<KeyPrefix>:<key>`, always: a user key that happens to start with `<KeyPrefix>:` is prefixed like any other, so `Keys`/`FuzzySearch` return exactly the key that was set and no two user keys share an entry.",
			run: func(e *env) {
				inner := e.prefix + ":x"
				e.set(e.c, inner, "inner")
				e.set(e.c, "x", "outer")
				e.set(e.c, e.prefix+":", "bare")
				e.wantHit(e.c, inner, "inner")
				e.wantHit(e.c, "x", "outer")
				e.wantHit(e.c, e.prefix+":", "bare")
				raw, err := e.b.Get(e.ctx, e.prefix+":"+inner)
				if err != nil || len(raw) == 0 {
					e.Fatalf("backend Get(%q) = %v; want the entry of user key %q stored under the prefix", e.prefix+":"+inner, err, inner)
				}
				if e.supports(FeatureScan) {
					e.wantKeys(e.c, "*", []string{e.prefix + ":", inner, "x"})
					res, err := e.c.FuzzySearch(e.ctx, "x", yokedcache.WithThreshold(100), yokedcache.WithMaxResults(10))
					e.must(err, "FuzzySearch")
					for _, r := range res {
						var got string
						e.must(r.Decode(&got), "Decode")
						want := map[string]string{inner: "inner", "x": "outer"}[r.Key]
						if got != want {
							e.Fatalf("FuzzySearch result %q holds %q; want %q", r.Key, got, want)
						}
					}
					// Deleting every listed key leaves nothing behind.
					var listed []string
					for k, err := range e.c.Keys(e.ctx, "*") {
						e.must(err, "Keys")
						listed = append(listed, k)
					}
					n, err := e.c.DeleteMany(e.ctx, listed...)
					e.must(err, "DeleteMany")
					if n != 3 {
						e.Fatalf("DeleteMany(%q) = %d; want 3", listed, n)
					}
					e.wantKeys(e.c, "*", nil)
				}
				ok, err := e.c.Delete(e.ctx, inner)
				e.must(err, "Delete")
				if ok == e.supports(FeatureScan) {
					e.Fatalf("Delete(%q) = %v after the listed keys were deleted (scan supported: %v)", inner, ok, e.supports(FeatureScan))
				}
				e.wantMiss(e.c, inner)
				if !e.supports(FeatureScan) {
					e.wantHit(e.c, "x", "outer")
				}
			},
		},
		{
			name:   "distinct keys never collide",
			clause: "Two different user keys never map to the same stored key.",
			run: func(e *env) {
				keys := collidingKeys()
				items := make(map[string]any, len(keys))
				for i, k := range keys {
					if i%2 == 0 {
						e.set(e.c, k, fmt.Sprint("value-", i))
					} else {
						items[k] = fmt.Sprint("value-", i)
					}
				}
				e.must(e.c.SetMany(e.ctx, items), "SetMany")
				for i, k := range keys {
					got, ok := e.getString(e.c, k)
					if !ok || got != fmt.Sprint("value-", i) {
						e.Errorf("Get(%q) = %q, hit=%v; want %q", trunc(k), got, ok, fmt.Sprint("value-", i))
					}
				}
				vals, err := e.c.GetMany(e.ctx, keys)
				e.must(err, "GetMany")
				for i, k := range keys {
					var s string
					if v, ok := vals[k]; !ok {
						e.Errorf("GetMany missed %q", trunc(k))
					} else if err := v.Decode(&s); err != nil || s != fmt.Sprint("value-", i) {
						e.Errorf("GetMany[%q] = %q, %v; want %q", trunc(k), s, err, fmt.Sprint("value-", i))
					}
				}
				e.wantKeys(e.c, "*", keys)
				// Deleting one key leaves its look-alikes.
				ok, err := e.c.Delete(e.ctx, "a b")
				e.must(err, "Delete")
				if !ok {
					e.Fatalf("Delete(\"a b\") = false")
				}
				e.wantMiss(e.c, "a b")
				e.wantHit(e.c, "a_b", "value-1")
				e.wantHit(e.c, "a:b", "value-2")
			},
		},
	}
}

// second returns the error of a two-result call.
func second[T any](_ T, err error) error { return err }

// trunc shortens long keys in messages.
func trunc(s string) string {
	if len(s) > 40 {
		return fmt.Sprintf("%s...(%d bytes)", s[:30], len(s))
	}
	return s
}
