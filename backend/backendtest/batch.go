package backendtest

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/yokedcache/yokedcache"
)

func batchLeaves() []leaf {
	return []leaf{
		{
			name:   "GetMany SetMany DeleteMany with hits and misses",
			clause: "Batches: GetMany, SetMany, DeleteMany",
			run: func(e *env) {
				e.must(e.c.SetMany(e.ctx, map[string]any{"a": "1", "b": "2", "c": "3"}), "SetMany")
				vals, err := e.c.GetMany(e.ctx, []string{"a", "missing", "c", "a"})
				e.must(err, "GetMany")
				if len(vals) != 2 {
					e.Fatalf("GetMany(a, missing, c, a) = %d hits; want 2", len(vals))
				}
				for k, want := range map[string]string{"a": "1", "c": "3"} {
					var s string
					v, ok := vals[k]
					if !ok {
						e.Fatalf("GetMany missed %q", k)
					}
					if err := v.Decode(&s); err != nil || s != want {
						e.Fatalf("GetMany[%q] = %q, %v; want %q", k, s, err, want)
					}
				}
				if _, ok := vals["missing"]; ok {
					e.Fatalf("GetMany returned a value for a missing key")
				}
				typed, err := yokedcache.GetMany[string](e.ctx, e.c, []string{"a", "b", "zz"})
				e.must(err, "GetMany[string]")
				if len(typed) != 2 || typed["a"] != "1" || typed["b"] != "2" {
					e.Fatalf("GetMany[string] = %v; want a:1 b:2", typed)
				}
				n, err := e.c.DeleteMany(e.ctx, "a", "missing", "b")
				if err != nil || n != 2 {
					e.Fatalf("DeleteMany(a, missing, b) = %d, %v; want 2", n, err)
				}
				e.wantMiss(e.c, "a")
				e.wantMiss(e.c, "b")
				e.wantHit(e.c, "c", "3")
				empty, err := e.c.GetMany(e.ctx, nil)
				if err != nil || len(empty) != 0 {
					e.Fatalf("GetMany() = %v, %v; want empty", empty, err)
				}
				if n, err := e.c.DeleteMany(e.ctx); err != nil || n != 0 {
					e.Fatalf("DeleteMany() = %d, %v; want 0", n, err)
				}
				if err := e.c.SetMany(e.ctx, nil); err != nil {
					e.Fatalf("SetMany(nil) = %v", err)
				}
			},
		},
		{
			name:   "large batches",
			clause: "Batches: GetMany, SetMany, DeleteMany (one backend round trip where the backend allows).",
			run: func(e *env) {
				const n = 1000
				items := make(map[string]any, n)
				keys := make([]string, 0, n+10)
				for i := range n {
					k := fmt.Sprintf("k%d", i)
					items[k] = i
					keys = append(keys, k)
				}
				for i := range 10 {
					keys = append(keys, fmt.Sprintf("absent%d", i))
				}
				e.must(e.c.SetMany(e.ctx, items), "SetMany")
				got, err := yokedcache.GetMany[int](e.ctx, e.c, keys)
				e.must(err, "GetMany")
				if len(got) != n {
					e.Fatalf("GetMany over %d set keys and 10 absent = %d hits", n, len(got))
				}
				for k, v := range got {
					if items[k] != v {
						e.Fatalf("GetMany[%q] = %d; want %d", k, v, items[k])
					}
				}
				d, err := e.c.DeleteMany(e.ctx, keys...)
				if err != nil || d != n {
					e.Fatalf("DeleteMany over %d set keys and 10 absent = %d, %v", n, d, err)
				}
				e.wantKeys(e.c, "*", nil)
			},
		},
		{
			name:   "SetMany with an invalid key or value writes nothing",
			clause: "An empty key, invalid UTF-8 or a key over the maximum is rejected with an error matching ErrInvalidKey.",
			run: func(e *env) {
				for name, k := range invalidKeys() {
					err := e.c.SetMany(e.ctx, map[string]any{"a": "1", "b": "2", k: "3", "c": "4"})
					if !errors.Is(err, yokedcache.ErrInvalidKey) {
						e.Fatalf("SetMany with a %s key = %v; want ErrInvalidKey", name, err)
					}
					e.asYError(err, "set_many", k)
				}
				err := e.c.SetMany(e.ctx, map[string]any{"a": "1", "b": make(chan int)})
				if !errors.Is(err, yokedcache.ErrInvalidValue) {
					e.Fatalf("SetMany with a channel value = %v; want ErrInvalidValue", err)
				}
				err = e.c.SetMany(e.ctx, map[string]any{"a": "1"}, yokedcache.WithTTL(-5))
				if !errors.Is(err, yokedcache.ErrInvalidTTL) {
					e.Fatalf("SetMany with a negative TTL = %v; want ErrInvalidTTL", err)
				}
				for _, k := range []string{"a", "b", "c"} {
					e.wantMiss(e.c, k)
				}
				e.wantKeys(e.c, "*", nil)
				_, err = e.c.GetMany(e.ctx, []string{"a", ""})
				if !errors.Is(err, yokedcache.ErrInvalidKey) {
					e.Fatalf("GetMany with an empty key = %v; want ErrInvalidKey", err)
				}
				_, err = e.c.DeleteMany(e.ctx, "a", "bad\xff")
				if !errors.Is(err, yokedcache.ErrInvalidKey) {
					e.Fatalf("DeleteMany with invalid UTF-8 = %v; want ErrInvalidKey", err)
				}
			},
		},
		{
			name:   "SetMany applies TTL and tags to every entry",
			clause: "Set(..., WithTags(...)) associates tags",
			run: func(e *env) {
				ttl := e.shortTTL()
				keys := []string{"x", "y", "z"}
				items := map[string]any{"x": "1", "y": "2", "z": "3"}
				var opts []yokedcache.SetOption
				if e.supports(FeatureTags) {
					opts = append(opts, yokedcache.WithTags("batch"))
				}
				setAt := time.Now()
				e.must(e.c.SetMany(e.ctx, items, append(opts, yokedcache.WithTTL(ttl))...), "SetMany")
				for _, k := range keys {
					e.wantHitSince(e.c, k, items[k].(string), setAt, ttl)
				}
				for _, k := range keys {
					e.waitExpired(k, ttl)
				}
				if !e.supports(FeatureTags) {
					return
				}
				e.must(e.c.SetMany(e.ctx, items, opts...), "SetMany")
				n, err := e.c.InvalidateTags(e.ctx, "batch")
				e.must(err, "InvalidateTags")
				e.wantTagCount("InvalidateTags over a SetMany batch", n, 3)
				vals, err := e.c.GetMany(e.ctx, slices.Clone(keys))
				e.must(err, "GetMany")
				if len(vals) != 0 {
					e.Fatalf("GetMany after InvalidateTags = %d hits; want 0", len(vals))
				}
			},
		},
	}
}
