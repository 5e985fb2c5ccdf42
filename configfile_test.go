package yokedcache_test

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
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
		KeyPrefix: "e2e",
		Backend:   def,
		Routes:    []yokedcache.Route{{Prefix: "hot", Backend: hot}, {Prefix: "session", Backend: sess}, {Prefix: "session:admin", Backend: hot}},
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
func TestRouteURLs(t *testing.T) {
	ctx := t.Context()
	c, err := yokedcache.New(yokedcache.Config{
		Routes: []yokedcache.Route{{Prefix: "hot", URL: "mem://?max_size=10", DefaultTTL: time.Minute}},
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
	if _, err := yokedcache.New(yokedcache.Config{Routes: []yokedcache.Route{{Prefix: "a", URL: "mem://"}, {Prefix: "b", URL: "mem://?bogus=1"}}}); !errors.Is(err, yokedcache.ErrInvalidConfig) {
		t.Fatalf("bad route URL: %v", err)
	}
}

// TestParseConfigPythonKeys: the keys of Python YokedCache's
// configuration file are mapped onto the Go settings with a deprecation
// note each, and the Go file's keys still decode strictly.
func TestParseConfigPythonKeys(t *testing.T) {
	cfg, notes, err := yokedcache.ParseConfigNotes([]byte(`
redis: redis://cache:6379/2
ttl: 120
prefix: pyapp
max_connections: 7
enable_fuzzy: true
fuzzy_threshold: 80
enable_compression: false
batch_size: 50
log_level: WARNING
memory_max_size: 10
warm:
  items:
    - {key: a, value: b}
`))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.RedisURL != "redis://cache:6379/2?max_connections=7" || cfg.DefaultTTL != 120*time.Second || cfg.KeyPrefix != "pyapp" || cfg.Memory.MaxSize != 10 {
		t.Fatalf("cfg: %v", cfg)
	}
	joined := strings.Join(notes, "\n")
	for _, want := range []string{`"redis" is deprecated`, `use "redis_url"`, `"ttl" is deprecated`, `use "default_ttl"`, `"prefix" is deprecated`, `use "key_prefix"`,
		`"max_connections" is deprecated`, `"enable_fuzzy" has no effect`, `"fuzzy_threshold: 80"`, `"enable_compression: false"`, `"batch_size" has no effect`} {
		if !strings.Contains(joined, want) {
			t.Errorf("notes lack %q:\n%s", want, joined)
		}
	}
	if strings.Contains(joined, "warm") {
		t.Errorf("warm (the warm command's section) got a note:\n%s", joined)
	}
	// max_connections applies to a generic Redis url too, and is unused
	// (but validated) elsewhere.
	cfg, _, err = yokedcache.ParseConfigNotes([]byte("url: redis://cache:6379/0\nmax_connections: 3\n"))
	if err != nil || cfg.URL != "redis://cache:6379/0?max_connections=3" {
		t.Fatalf("url: %v %v", cfg.URL, err)
	}
	cfg, _, err = yokedcache.ParseConfigNotes([]byte("url: mem://\nmax_connections: 3\n"))
	if err != nil || cfg.URL != "mem://" {
		t.Fatalf("mem url: %v %v", cfg.URL, err)
	}
	// LoadConfig names the file in its notes.
	path := filepath.Join(t.TempDir(), "py.yaml")
	if err := os.WriteFile(path, []byte("prefix: p\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, notes, err = yokedcache.LoadConfigNotes(path)
	if err != nil || cfg.KeyPrefix != "p" || len(notes) != 1 || !strings.Contains(notes[0], path) {
		t.Fatalf("LoadConfigNotes: %v %q %v", cfg, notes, err)
	}
}

// TestParseConfigPythonKeysRefused: Python keys that Go cannot honour are
// errors matching ErrInvalidConfig that name the Go setting to use.
func TestParseConfigPythonKeysRefused(t *testing.T) {
	for _, tc := range []struct{ yaml, want string }{
		{"tables:\n  users:\n    ttl: 60\n", "routes"},
		{"invalidation_rules:\n  - table: users\n", "InvalidateTags"},
		{"enable_compression: true\n", "compression: s2"},
		{"enable_compression: maybe\n", "true or false"},
		{"fuzzy_threshold: 60\n", "--threshold"},
		{"enable_fuzzy: 3\n", "true or false"},
		{"max_connections: 0\n", "positive integer"},
		{"batch_size: lots\n", "positive integer"},
		{"redis: redis://a:6379/0\nredis_url: redis://a:6379/0\n", "keep redis_url"},
		{"ttl: 60\ndefault_ttl: 60\n", "keep default_ttl"},
		{"prefix: a\nkey_prefix: b\n", "keep key_prefix"},
		{"ttl: soon\n", "ttl"},
		{"redis: /var/cache\n", "redis_url"},
		{"prefix: a\nkey_prefx: typo\n", "key_prefx"}, // unknown keys stay errors
	} {
		_, err := yokedcache.ParseConfig([]byte(tc.yaml))
		if !errors.Is(err, yokedcache.ErrInvalidConfig) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want ErrInvalidConfig naming %q", tc.yaml, err, tc.want)
		}
	}
}
