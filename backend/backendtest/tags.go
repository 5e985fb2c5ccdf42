package backendtest

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/yokedcache/yokedcache"
)

// wantCount asserts an invalidation count, allowing -1 when the harness
// declares tag counts unknown.
func (e *env) wantTagCount(what string, got, want int64) {
	e.t.Helper()
	if got == want || (e.h.TagCountUnknown && got == -1) {
		return
	}
	e.Fatalf("%s returned %d; want %d", what, got, want)
}

func tagsLeaves() []leaf {
	return []leaf{
		{
			name:   "InvalidateTags makes every entry with any of the tags a miss",
			clause: "InvalidateTags(tags...) makes **every** entry that carries **any** of the tags a miss ... It reports how many entries it invalidated where the backend can know.",
			run: func(e *env) {
				e.needTags()
				e.set(e.c, "k1", "v", yokedcache.WithTags("a"))
				e.set(e.c, "k2", "v", yokedcache.WithTags("b"))
				e.set(e.c, "k3", "v", yokedcache.WithTags("a", "b"))
				e.set(e.c, "k4", "v", yokedcache.WithTags("c"))
				e.set(e.c, "k5", "v")
				e.set(e.c, "k6", "v", yokedcache.WithTags("c", "a"))
				e.must(e.c.SetMany(e.ctx, map[string]any{"m1": "v", "m2": "v"}, yokedcache.WithTags("b")), "SetMany with tags")
				n, err := e.c.InvalidateTags(e.ctx, "a", "b")
				e.must(err, "InvalidateTags")
				e.wantTagCount("InvalidateTags(a, b) over 6 tagged entries", n, 6)
				for _, k := range []string{"k1", "k2", "k3", "k6", "m1", "m2"} {
					e.wantMiss(e.c, k)
				}
				e.wantHit(e.c, "k4", "v")
				e.wantHit(e.c, "k5", "v")
				vals, err := e.c.GetMany(e.ctx, []string{"k1", "k3", "k4", "k5", "m1"})
				e.must(err, "GetMany")
				if len(vals) != 2 {
					e.Fatalf("GetMany after InvalidateTags returned %d values; want the 2 untagged ones", len(vals))
				}
				e.wantKeys(e.c, "*", []string{"k4", "k5"})
				n, err = e.c.InvalidateTags(e.ctx, "a", "nobody")
				e.must(err, "InvalidateTags")
				e.wantTagCount("InvalidateTags of tags without live entries", n, 0)
				n, err = e.c.InvalidateTags(e.ctx)
				if err != nil || n != 0 {
					e.Fatalf("InvalidateTags() with no tags = %d, %v; want 0, nil", n, err)
				}
				// A tag can be used again after an invalidation.
				e.set(e.c, "k1", "again", yokedcache.WithTags("a"))
				e.wantHit(e.c, "k1", "again")
				n, err = e.c.InvalidateTags(e.ctx, "a")
				e.must(err, "InvalidateTags")
				e.wantTagCount("InvalidateTags(a) over 1 entry", n, 1)
				e.wantMiss(e.c, "k1")
				e.wantHit(e.c, "k4", "v")
			},
		},
		{
			name:   "re-setting a key replaces its tags",
			clause: "Re-setting a key replaces its tags.",
			run: func(e *env) {
				e.needTags()
				e.set(e.c, "k", "v1", yokedcache.WithTags("old"))
				e.set(e.c, "k", "v2", yokedcache.WithTags("new"))
				n, err := e.c.InvalidateTags(e.ctx, "old")
				e.must(err, "InvalidateTags(old)")
				e.wantHit(e.c, "k", "v2")
				if !e.h.TagCountUnknown && n != 0 {
					e.Fatalf("InvalidateTags(old) after the key was re-set with other tags = %d; want 0", n)
				}
				n, err = e.c.InvalidateTags(e.ctx, "new")
				e.must(err, "InvalidateTags(new)")
				e.wantTagCount("InvalidateTags(new)", n, 1)
				e.wantMiss(e.c, "k")
				// Re-set without tags: no tag invalidates it.
				e.set(e.c, "u", "v1", yokedcache.WithTags("t"))
				e.set(e.c, "u", "v2")
				_, err = e.c.InvalidateTags(e.ctx, "t")
				e.must(err, "InvalidateTags(t)")
				e.wantHit(e.c, "u", "v2")
				// Through SetMany and Fetch too.
				e.set(e.c, "w", "v1", yokedcache.WithTags("t1"))
				e.must(e.c.SetMany(e.ctx, map[string]any{"w": "v2"}, yokedcache.WithTags("t2")), "SetMany")
				_, err = e.c.InvalidateTags(e.ctx, "t1")
				e.must(err, "InvalidateTags(t1)")
				e.wantHit(e.c, "w", "v2")
				_, err = e.c.InvalidateTags(e.ctx, "t2")
				e.must(err, "InvalidateTags(t2)")
				e.wantMiss(e.c, "w")
				v, err := yokedcache.Fetch(e.ctx, e.c, "f", func(contextT) (string, error) { return "loaded", nil }, yokedcache.WithTags("ft"))
				if err != nil || v != "loaded" {
					e.Fatalf("Fetch with tags = %q, %v", v, err)
				}
				_, err = e.c.InvalidateTags(e.ctx, "ft")
				e.must(err, "InvalidateTags(ft)")
				e.wantMiss(e.c, "f")
			},
		},
		{
			name:   "tags hold for values of every size, long tag lists and entries without expiry",
			clause: "InvalidateTags(tags...) makes **every** entry that carries **any** of the tags a miss ... Re-setting a key replaces its tags.",
			run: func(e *env) {
				e.needTags()
				big := strings.Repeat("x", 4<<10)
				huge := strings.Repeat("y", 64<<10)
				var long []string
				for i := range 30 {
					long = append(long, fmt.Sprintf("a-rather-long-tag-name-number-%02d", i))
				}
				forever := yokedcache.WithTTL(yokedcache.NoExpiry)
				tagged := map[string]string{}
				for _, c := range []struct {
					key, val string
					opts     []yokedcache.SetOption
				}{
					{"small", "v", nil},
					{"big", big, nil},
					{"huge", huge, nil},
					{"forever", "v", []yokedcache.SetOption{forever}},
					{"foreverBig", big, []yokedcache.SetOption{forever}},
				} {
					e.set(e.c, c.key, c.val, append([]yokedcache.SetOption{yokedcache.WithTags("t")}, c.opts...)...)
					tagged[c.key] = c.val
				}
				e.set(e.c, "longList", big, yokedcache.WithTags(append(long, "t")...))
				e.set(e.c, "longListSmall", "v", yokedcache.WithTags(append(long, "t")...))
				// Re-set across sizes and expiry kinds, without the tag.
				e.set(e.c, "shrunk", big, yokedcache.WithTags("t"))
				e.set(e.c, "shrunk", "v")
				e.set(e.c, "grown", "v", yokedcache.WithTags("t"))
				e.set(e.c, "grown", big)
				e.set(e.c, "madeForever", big, yokedcache.WithTags("t"))
				e.set(e.c, "madeForever", "v", forever)
				e.set(e.c, "madeExpiring", "v", yokedcache.WithTags("t"), forever)
				e.set(e.c, "madeExpiring", big)
				// Re-set across sizes with the tag: still one entry.
				e.set(e.c, "resized", "v", yokedcache.WithTags("t"))
				e.set(e.c, "resized", big, yokedcache.WithTags("t"))
				n, err := e.c.InvalidateTags(e.ctx, "t")
				e.must(err, "InvalidateTags(t)")
				e.wantTagCount("InvalidateTags(t) over 8 tagged entries", n, 8)
				for k := range tagged {
					e.wantMiss(e.c, k)
				}
				for _, k := range []string{"longList", "longListSmall", "resized"} {
					e.wantMiss(e.c, k)
				}
				e.wantHit(e.c, "shrunk", "v")
				e.wantHit(e.c, "grown", big)
				e.wantHit(e.c, "madeForever", "v")
				e.wantHit(e.c, "madeExpiring", big)
				// The other tags of a long list still find nothing more, and
				// the survivors are not found by t again.
				n, err = e.c.InvalidateTags(e.ctx, append(long, "t")...)
				e.must(err, "InvalidateTags(long list)")
				e.wantTagCount("InvalidateTags of already invalidated tags", n, 0)
			},
		},
		{
			name:   "a Set completed before InvalidateTags is invalidated",
			clause: "A Set that completes before InvalidateTags starts is always invalidated.",
			run: func(e *env) {
				e.needTags()
				const writers = 4
				var (
					mu       sync.Mutex
					done     []string // keys whose Set returned
					stop     atomic.Bool
					wg       sync.WaitGroup
					fails    atomic.Int64
					finished atomic.Int64 // writers that stopped
				)
				for w := range writers {
					wg.Add(1)
					go func() {
						defer wg.Done()
						defer finished.Add(1)
						for i := 0; !stop.Load() && i < 2000; i++ {
							k := fmt.Sprintf("w%d-%d", w, i)
							if err := e.c.Set(e.ctx, k, "v", yokedcache.WithTags("hot", fmt.Sprint("w", w))); err != nil {
								fails.Add(1)
								return
							}
							mu.Lock()
							done = append(done, k)
							mu.Unlock()
						}
					}()
				}
				defer func() { stop.Store(true); wg.Wait() }()
				deadline := time.Now().Add(10 * time.Second)
				checked := 0
				for round := range 8 {
					// Let some writes complete.
					mu.Lock()
					start := len(done)
					mu.Unlock()
					for {
						mu.Lock()
						n := len(done)
						mu.Unlock()
						if n >= start+20 || finished.Load() == writers || time.Now().After(deadline) {
							break
						}
						time.Sleep(time.Millisecond)
					}
					// Keys of earlier rounds were checked already and are
					// never set again.
					mu.Lock()
					before := append([]string(nil), done[checked:]...)
					checked = len(done)
					mu.Unlock()
					if _, err := e.c.InvalidateTags(e.ctx, "hot"); err != nil {
						e.Fatalf("InvalidateTags: %v", err)
					}
					vals, err := e.c.GetMany(e.ctx, before)
					e.must(err, "GetMany")
					for k := range vals {
						e.Fatalf("round %d: %q was Set (returned) before InvalidateTags started but is still a hit after it returned", round, k)
					}
					if fails.Load() > 0 {
						e.Fatalf("concurrent Set failed")
					}
				}
				stop.Store(true)
				wg.Wait()
				if fails.Load() > 0 {
					e.Fatalf("concurrent Set failed")
				}
			},
		},
		{
			name:   "invalidation is seen by every instance sharing the backend",
			clause: "InvalidateTags(tags...) makes every entry that carries any of the tags a miss, on every process sharing the backend, as soon as the call returns.",
			run: func(e *env) {
				e.needTags()
				if !e.h.Shared {
					e.t.Skipf("%s: instances from Harness.New do not share a store (Harness.Shared is false)", e.h.Name)
				}
				b2 := e.newBackend(e.backendClock())
				c2 := e.newCache(b2, e.prefix, e.cfgMod)
				defer c2.Close()
				e.set(e.c, "one", "v", yokedcache.WithTags("t"))
				e.set(c2, "two", "v", yokedcache.WithTags("t"))
				e.set(c2, "keep", "v", yokedcache.WithTags("k"))
				e.wantHit(c2, "one", "v")
				e.wantHit(e.c, "two", "v")
				n, err := c2.InvalidateTags(e.ctx, "t")
				e.must(err, "InvalidateTags on the second instance")
				e.wantTagCount("InvalidateTags(t) over entries written by two instances", n, 2)
				e.waitCrossInstance()
				e.wantMiss(e.c, "one")
				e.wantMiss(e.c, "two")
				e.wantMiss(c2, "one")
				e.wantHit(e.c, "keep", "v")
				// And the other way round, with a tag set through the other.
				e.set(c2, "three", "v", yokedcache.WithTags("t"))
				_, err = e.c.InvalidateTags(e.ctx, "t")
				e.must(err, "InvalidateTags on the first instance")
				e.waitCrossInstance()
				e.wantMiss(c2, "three")
			},
		},
		{
			name:   "tag bookkeeping is reclaimed",
			clause: "Tag bookkeeping must not grow without bound: when tagged entries expire or are deleted, the space used for their tag bookkeeping is reclaimed",
			run: func(e *env) {
				e.needTags()
				const n = 60
				ttl := e.shortTTL()
				for i := range n {
					opts := []yokedcache.SetOption{yokedcache.WithTags(fmt.Sprint("own-", i), "common")}
					if i%2 == 1 {
						opts = append(opts, yokedcache.WithTTL(ttl))
					}
					e.set(e.c, fmt.Sprint("k", i), "v", opts...)
				}
				for i := 0; i < n; i += 2 {
					ok, err := e.c.Delete(e.ctx, fmt.Sprint("k", i))
					if err != nil || !ok {
						e.Fatalf("Delete(k%d) = %v, %v", i, ok, err)
					}
				}
				for i := 1; i < n; i += 2 {
					e.waitExpired(fmt.Sprint("k", i), ttl)
					e.wantMiss(e.c, fmt.Sprint("k", i))
				}
				// Nothing tagged is live: invalidating counts none.
				cnt, err := e.c.InvalidateTags(e.ctx, "common")
				e.must(err, "InvalidateTags")
				e.wantTagCount("InvalidateTags over deleted and expired entries", cnt, 0)
				if !e.canFlush() || !e.supports(FeatureStats) {
					return
				}
				e.must(e.c.Flush(e.ctx), "Flush")
				if !e.supports(FeatureStats) {
					return
				}
				st, err := e.stats(e.c)
				e.must(err, "Stats")
				if st.Keys != -1 && st.Scope == "prefix" && st.Keys != 0 {
					e.Fatalf("backend Stats reports %d keys under the prefix after every tagged entry was deleted or expired and Flush; want 0", st.Keys)
				}
			},
		},
		{
			name:   "tags are validated",
			clause: "Set(..., WithTags(...)) associates tags",
			run: func(e *env) {
				e.needTags()
				for _, bad := range []string{"", "bad\xff"} {
					if err := e.c.Set(e.ctx, "k", "v", yokedcache.WithTags(bad)); !errors.Is(err, yokedcache.ErrInvalidValue) {
						e.Fatalf("Set WithTags(%q) = %v; want ErrInvalidValue", bad, err)
					}
					if _, err := e.c.InvalidateTags(e.ctx, bad); !errors.Is(err, yokedcache.ErrInvalidValue) {
						e.Fatalf("InvalidateTags(%q) = %v; want ErrInvalidValue", bad, err)
					}
				}
				e.wantMiss(e.c, "k")
				// Tags with glob and separator characters are plain names.
				odd := []string{"a*", "a:b", "a b", "日本", "[x]"}
				for i, tg := range odd {
					e.set(e.c, fmt.Sprint("k", i), "v", yokedcache.WithTags(tg))
				}
				e.set(e.c, "plain", "v", yokedcache.WithTags("a", "ab", "a:"))
				n, err := e.c.InvalidateTags(e.ctx, "a*")
				e.must(err, "InvalidateTags")
				e.wantTagCount("InvalidateTags(\"a*\") (a literal tag, not a glob)", n, 1)
				e.wantHit(e.c, "plain", "v")
				e.wantMiss(e.c, "k0")
				e.wantHit(e.c, "k1", "v")
			},
		},
	}
}
