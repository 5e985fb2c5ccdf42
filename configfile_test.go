package yokedcache_test

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/yokedcache/yokedcache"
	"github.com/yokedcache/yokedcache/backend"
	"github.com/yokedcache/yokedcache/backend/memory"
)

// TestCacheRoutingEndToEnd drives a routed Cache through the public API:
// keys, patterns, fuzzy search across routes, tags, stats, health, Close.
func TestCacheRoutingEndToEnd(t *testing.T) {
	ctx := t.Context()
	newMem := func() *memory.Store {
		s, err := memory.New(memory.Options{})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	def, hot, sess := newMem(), newMem(), newMem()
	c, err := yokedcache.New(yokedcache.Config{
		KeyPrefix:      "e2e",
		DefaultBackend: def,
		PrefixBackends: map[string]backend.Backend{"hot": hot, "session": sess, "session:admin": hot},
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"hot:config", "hot:flags", "session:abc", "session:admin:1", "user:42", "user:43", "hotel:9"} {
		if err := c.Set(ctx, k, "v-"+k, yokedcache.WithTags("all", k[:3])); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := hot.Get(ctx, "e2e:session:admin:1"); err != nil {
		t.Fatalf("nested route: %v", err)
	}
	var keys []string
	for k, err := range c.Keys(ctx, "*") {
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, k)
	}
	slices.Sort(keys)
	if !slices.Equal(keys, []string{"hot:config", "hot:flags", "hotel:9", "session:abc", "session:admin:1", "user:42", "user:43"}) {
		t.Fatalf("Keys = %v", keys)
	}
	res, err := c.FuzzySearch(ctx, "hot", yokedcache.WithThreshold(100))
	if err != nil {
		t.Fatal(err)
	}
	var found []string
	for _, r := range res {
		found = append(found, r.Key)
		var s string
		if err := r.Decode(&s); err != nil || s != "v-"+r.Key {
			t.Fatalf("value of %s: %q %v", r.Key, s, err)
		}
	}
	if !slices.Equal(found, []string{"hot:config", "hot:flags", "hotel:9"}) {
		t.Fatalf("FuzzySearch merged across routes = %v", found)
	}
	vals, err := c.GetMany(ctx, []string{"user:42", "hot:config", "session:abc", "nope"})
	if err != nil || len(vals) != 3 {
		t.Fatalf("GetMany = %v %v", vals, err)
	}
	if n, err := c.InvalidatePattern(ctx, "session:*"); n != 2 || err != nil {
		t.Fatalf("InvalidatePattern = %d %v", n, err)
	}
	if n, err := c.InvalidateTags(ctx, "use"); n != 2 || err != nil {
		t.Fatalf("InvalidateTags = %d %v", n, err)
	}
	st, err := c.Stats(ctx)
	if err != nil || st.Backend != "router" || st.Keys != 3 || len(st.Routes) != 4 || st.Routes[0].Route != "" || st.Routes[1].Route != "hot" {
		t.Fatalf("Stats = %+v %v", st, err)
	}
	if h := c.DetailedHealthCheck(ctx); h.Status != "healthy" || len(h.Routes) != 4 || h.Routes[3].Route != "session:admin" {
		t.Fatalf("health = %+v", h)
	}
	if err := c.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if st, _ := c.Stats(ctx); st.Keys != 0 {
		t.Fatalf("after Flush: %d", st.Keys)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	for _, s := range []*memory.Store{def, hot, sess} {
		if err := s.Ping(ctx); !errors.Is(err, backend.ErrClosed) {
			t.Fatalf("backend not closed: %v", err)
		}
	}
}

// A route given by URL is opened by New and closed by Close; a failure to
// open one closes the others opened so far.
func TestPrefixURLs(t *testing.T) {
	ctx := t.Context()
	c, err := yokedcache.New(yokedcache.Config{
		PrefixURLs:      map[string]string{"hot": "mem://?max_size=10"},
		RouteDefaultTTL: map[string]time.Duration{"hot": time.Minute},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if c.Backend() != "router" {
		t.Fatal(c.Backend())
	}
	for i := range 20 {
		_ = c.Set(ctx, "hot:"+string(rune('a'+i)), i)
	}
	st, _ := c.Stats(ctx)
	if st.Keys != 10 { // the hot route's max_size bounds it
		t.Fatalf("keys = %d", st.Keys)
	}
	if _, err := yokedcache.New(yokedcache.Config{PrefixURLs: map[string]string{"a": "mem://", "b": "mem://?bogus=1"}}); !errors.Is(err, yokedcache.ErrInvalidConfig) {
		t.Fatalf("bad route URL: %v", err)
	}
}
