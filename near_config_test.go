package yokedcache_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/yokedcache/yokedcache"
	_ "github.com/yokedcache/yokedcache/backend/sqlite"
)

func TestFromEnvNear(t *testing.T) {
	cfg, err := yokedcache.FromEnvMap(envMap(map[string]string{
		"YOKEDCACHE_NEAR_CACHE":     "500",
		"YOKEDCACHE_NEAR_MAX_BYTES": "8MiB",
		"YOKEDCACHE_NEAR_TTL":       "2",
		"YOKEDCACHE_NEAR_MODE":      "TTL",
		"YOKEDCACHE_NEAR_POLICY":    "lru",
	}))
	if err != nil {
		t.Fatal(err)
	}
	want := yokedcache.NearOptions{MaxEntries: 500, MaxBytes: 8 << 20, TTL: 2 * time.Second, Mode: "ttl", LRU: true}
	if cfg.Near == nil || *cfg.Near != want {
		t.Fatalf("Near = %+v, want %+v", cfg.Near, want)
	}
	if s := cfg.String(); !strings.Contains(s, "Near: {MaxEntries: 500, MaxBytes: 8388608, TTL: 2s, Mode: ttl, LRU: true}") {
		t.Errorf("String = %s", s)
	}

	for _, on := range []string{"true", "on"} {
		cfg, err = yokedcache.FromEnvMap(envMap(map[string]string{"YOKEDCACHE_NEAR_CACHE": on}))
		if err != nil || cfg.Near == nil || *cfg.Near != (yokedcache.NearOptions{}) {
			t.Fatalf("NEAR_CACHE=%s: %+v, %v", on, cfg.Near, err)
		}
	}
	// Any near variable turns the tier on, as the URL parameters do.
	cfg, err = yokedcache.FromEnvMap(envMap(map[string]string{"YOKEDCACHE_NEAR_MAX_BYTES": "-1"}))
	if err != nil || cfg.Near == nil || cfg.Near.MaxBytes != -1 {
		t.Fatalf("NEAR_MAX_BYTES=-1: %+v, %v", cfg.Near, err)
	}
	cfg, err = yokedcache.FromEnvMap(envMap(map[string]string{"YOKEDCACHE_NEAR_CACHE": "false", "YOKEDCACHE_NEAR_TTL": "5s"}))
	if err != nil || cfg.Near != nil {
		t.Fatalf("NEAR_CACHE=false: %+v, %v", cfg.Near, err)
	}
	cfg, err = yokedcache.FromEnvMap(envMap(nil))
	if err != nil || cfg.Near != nil {
		t.Fatalf("unset: %+v, %v", cfg.Near, err)
	}
}

func TestFromEnvNearOverridesFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.yaml")
	if err := os.WriteFile(path, []byte("near_cache:\n  max_entries: 100\n  ttl: 3s\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := yokedcache.FromEnvMap(envMap(map[string]string{"YOKEDCACHE_CONFIG_FILE": path, "YOKEDCACHE_NEAR_TTL": "500ms"}))
	if err != nil {
		t.Fatal(err)
	}
	if want := (yokedcache.NearOptions{MaxEntries: 100, TTL: 500 * time.Millisecond}); cfg.Near == nil || *cfg.Near != want {
		t.Fatalf("Near = %+v, want %+v (environment over file, per field)", cfg.Near, want)
	}
	cfg, err = yokedcache.FromEnvMap(envMap(map[string]string{"YOKEDCACHE_CONFIG_FILE": path, "YOKEDCACHE_NEAR_CACHE": "false"}))
	if err != nil || cfg.Near != nil {
		t.Fatalf("NEAR_CACHE=false over the file: %+v, %v", cfg.Near, err)
	}
	cfg, err = yokedcache.FromEnvMap(envMap(map[string]string{"YOKEDCACHE_CONFIG_FILE": path}))
	if err != nil || cfg.Near == nil || cfg.Near.MaxEntries != 100 {
		t.Fatalf("file alone: %+v, %v", cfg.Near, err)
	}
}

func TestFromEnvNearInvalidNamesTheVariable(t *testing.T) {
	for name, v := range map[string]string{
		"YOKEDCACHE_NEAR_CACHE":     "lots",
		"YOKEDCACHE_NEAR_MAX_BYTES": "big",
		"YOKEDCACHE_NEAR_TTL":       "soon",
		"YOKEDCACHE_NEAR_MODE":      "psychic",
		"YOKEDCACHE_NEAR_POLICY":    "fifo",
	} {
		_, err := yokedcache.FromEnvMap(envMap(map[string]string{name: v}))
		if !errors.Is(err, yokedcache.ErrInvalidConfig) || !strings.Contains(err.Error(), name) {
			t.Errorf("%s=%s: %v", name, v, err)
			continue
		}
		if n := strings.Count(err.Error(), "invalid configuration"); n != 1 {
			t.Errorf("%s=%s: %q says invalid %d times", name, v, err, n)
		}
	}
}

func TestParseConfigNear(t *testing.T) {
	cfg, err := yokedcache.ParseConfig([]byte(`
url: sqlite:///tmp/x.db
near_cache:
  max_entries: 2000
  max_bytes: 16MiB
  ttl: 750ms
  mode: auto
  policy: lru
routes:
  hot:
    url: sqlite:///tmp/hot.db
    near_cache: true
  cold:
    url: sqlite:///tmp/cold.db
    near_cache:
      max_bytes: -1
  warm:
    url: sqlite:///tmp/warm.db
    near_cache: 300
  plain:
    url: sqlite:///tmp/plain.db
    near_cache: false
  zero:
    url: sqlite:///tmp/zero.db
    near_cache: 0
`))
	if err != nil {
		t.Fatal(err)
	}
	want := yokedcache.NearOptions{MaxEntries: 2000, MaxBytes: 16 << 20, TTL: 750 * time.Millisecond, Mode: "auto", LRU: true}
	if cfg.Near == nil || *cfg.Near != want {
		t.Fatalf("Near = %+v, want %+v", cfg.Near, want)
	}
	routes := map[string]*yokedcache.NearOptions{}
	for _, r := range cfg.Routes {
		routes[r.Prefix] = r.Near
	}
	if n := routes["hot"]; n == nil || *n != (yokedcache.NearOptions{}) {
		t.Errorf("hot: %+v", n)
	}
	if n := routes["cold"]; n == nil || *n != (yokedcache.NearOptions{MaxBytes: -1}) {
		t.Errorf("cold: %+v", n)
	}
	if n := routes["warm"]; n == nil || *n != (yokedcache.NearOptions{MaxEntries: 300}) {
		t.Errorf("warm: %+v", n)
	}
	if n := routes["plain"]; n != nil {
		t.Errorf("plain: %+v", n)
	}
	if n := routes["zero"]; n != nil {
		t.Errorf("zero (near_cache: 0 is off, as near_cache=0 in a URL): %+v", n)
	}

	// Round trip through the file form.
	out, err := yaml.Marshal(cfg.Redacted())
	if err != nil {
		t.Fatal(err)
	}
	back, err := yokedcache.ParseConfig(out)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if back.Near == nil || *back.Near != *cfg.Near {
		t.Fatalf("round trip Near = %+v, want %+v\n%s", back.Near, cfg.Near, out)
	}
	for _, r := range back.Routes {
		if got, want := r.Near, routes[r.Prefix]; (got == nil) != (want == nil) || got != nil && *got != *want {
			t.Errorf("round trip route %s Near = %+v, want %+v\n%s", r.Prefix, got, want, out)
		}
	}
	if s := cfg.String(); !strings.Contains(s, "Near: {MaxEntries: 2000") || !strings.Contains(s, `"hot": "sqlite:///tmp/hot.db" near {}`) {
		t.Errorf("String = %s", s)
	}
}

func TestParseConfigNearRejects(t *testing.T) {
	for _, tc := range []struct{ yaml, want string }{
		{"near_cache:\n  max_entires: 5\n", "max_entires"},
		{"near_cache:\n  max_entries: -5\n", "near_cache.max_entries"},
		{"near_cache:\n  max_bytes: huge\n", "near_cache.max_bytes"},
		{"near_cache:\n  max_bytes: -2\n", "near_cache.max_bytes"},
		{"near_cache:\n  ttl: -1s\n", `near_cache: "-1s" is negative`},
		{"near_cache:\n  mode: tracking\n", "near_cache.mode"},
		{"near_cache:\n  policy: fifo\n", "near_cache.policy"},
		{"near_cache: maybe\n", "near_cache"},
		{"near_cache: [1]\n", "near_cache"},
		{"routes:\n  hot:\n    default_ttl: 5s\n    near_cache: true\n", "routes.hot.near_cache"},
		{"routes:\n  hot:\n    url: sqlite:///tmp/h.db\n    near_cache:\n      mode: x\n", "routes.hot.near_cache.mode"},
	} {
		_, err := yokedcache.ParseConfig([]byte(tc.yaml))
		if !errors.Is(err, yokedcache.ErrInvalidConfig) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want an invalid-config error naming %s", tc.yaml, err, tc.want)
		}
	}
}

func TestMergeNear(t *testing.T) {
	base := yokedcache.Config{Near: &yokedcache.NearOptions{MaxEntries: 10}}
	if got := base.Merge(yokedcache.Config{KeyPrefix: "x"}); got.Near == nil || got.Near.MaxEntries != 10 {
		t.Fatalf("unset over kept %+v", got.Near)
	}
	over := yokedcache.Config{Near: &yokedcache.NearOptions{TTL: time.Second}}
	if got := base.Merge(over); got.Near != over.Near {
		t.Fatalf("over's Near should replace base's: %+v", got.Near)
	}
	if got := (yokedcache.Config{}).Merge(over); got.Near != over.Near {
		t.Fatalf("Near not taken: %+v", got.Near)
	}
}

// TestNearConfigEndToEnd opens Caches with a near tier configured each
// way (environment, file, Open's URL) on SQLite and sees the tier serve.
func TestNearConfigEndToEnd(t *testing.T) {
	dir := t.TempDir()
	db := "sqlite://" + filepath.ToSlash(filepath.Join(dir, "c.db"))
	file := filepath.Join(dir, "c.yaml")
	if err := os.WriteFile(file, []byte("url: "+db+"\nnear_cache:\n  max_entries: 64\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	open := map[string]func() (*yokedcache.Cache, error){
		"env": func() (*yokedcache.Cache, error) {
			cfg, err := yokedcache.FromEnvMap(envMap(map[string]string{"YOKEDCACHE_URL": db, "YOKEDCACHE_NEAR_CACHE": "64"}))
			if err != nil {
				return nil, err
			}
			return yokedcache.New(cfg)
		},
		"file": func() (*yokedcache.Cache, error) {
			cfg, err := yokedcache.LoadConfig(file)
			if err != nil {
				return nil, err
			}
			return yokedcache.New(cfg)
		},
		"open": func() (*yokedcache.Cache, error) {
			return yokedcache.Open(t.Context(), db+"?near_cache=64&near_ttl=5s")
		},
	}
	for name, f := range open {
		t.Run(name, func(t *testing.T) {
			c, err := f()
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			ctx := t.Context()
			if err := c.Set(ctx, "k", "v"); err != nil {
				t.Fatal(err)
			}
			for range 3 {
				var v string
				if err := c.Get(ctx, "k", &v); err != nil || v != "v" {
					t.Fatalf("Get = %q, %v", v, err)
				}
			}
			st, err := c.Stats(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if len(st.Near) != 1 || st.Near[0].MaxEntries != 64 || st.Near[0].Hits == 0 {
				t.Fatalf("Stats.Near = %+v", st.Near)
			}
		})
	}
	if _, err := yokedcache.Open(t.Context(), db+"?near_mode=psychic"); !errors.Is(err, yokedcache.ErrInvalidConfig) {
		t.Fatalf("Open with a bad near_mode: %v", err)
	}
}

// TestRedactedNearRoundTrip: Near settings made in Go survive the file
// form, and a Config without Near writes no near_cache section.
func TestRedactedNearRoundTrip(t *testing.T) {
	for _, o := range []yokedcache.NearOptions{
		{},
		{MaxEntries: 7, MaxBytes: 1536, TTL: 1500 * time.Millisecond, Mode: "ttl", LRU: true},
		{MaxBytes: 3 << 30},
		{MaxBytes: -1},
	} {
		cfg := yokedcache.Config{URL: "sqlite:///tmp/r.db", Near: &o}
		out, err := yaml.Marshal(cfg.Redacted())
		if err != nil {
			t.Fatal(err)
		}
		back, err := yokedcache.ParseConfig(out)
		if err != nil {
			t.Fatalf("%+v: %v\n%s", o, err, out)
		}
		if back.Near == nil || *back.Near != o {
			t.Errorf("round trip of %+v = %+v\n%s", o, back.Near, out)
		}
	}
	out, err := yaml.Marshal(yokedcache.Config{URL: "sqlite:///tmp/r.db"}.Redacted())
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(out), "near_cache") {
		t.Errorf("no Near, yet:\n%s", out)
	}
}
