package yokedcache_test

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/yokedcache/yokedcache"
	"github.com/yokedcache/yokedcache/backend"
	"github.com/yokedcache/yokedcache/backend/near"
	"github.com/yokedcache/yokedcache/backend/sqlite"
)

func sqliteStore(t *testing.T) *sqlite.Store {
	t.Helper()
	s, err := sqlite.New(sqlite.Options{Path: filepath.Join(t.TempDir(), "c.db")})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestNearTierServesRepeatedReads(t *testing.T) {
	ctx := context.Background()
	c, err := yokedcache.New(yokedcache.Config{Backend: sqliteStore(t), Near: &yokedcache.NearOptions{MaxEntries: 100}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Set(ctx, "k", "v"); err != nil {
		t.Fatal(err)
	}
	for range 5 {
		var got string
		if err := c.Get(ctx, "k", &got); err != nil || got != "v" {
			t.Fatalf("Get = %q, %v", got, err)
		}
	}
	st, err := c.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Near) != 1 {
		t.Fatalf("Stats.Near = %+v; want one tier", st.Near)
	}
	n := st.Near[0]
	if n.Hits != 4 || n.Misses != 1 || n.Mode != "ttl" || !n.Live || n.MaxEntries != 100 || n.Backend != "sqlite" {
		t.Fatalf("near stats = %+v; want 4 hits, 1 miss, ttl mode, 100 entries max, sqlite", n)
	}
	if st.Hits != 5 || st.Backend != "sqlite" {
		t.Fatalf("cache stats: %d hits, backend %q; want 5 hits, sqlite", st.Hits, st.Backend)
	}
	if pr := st.PerRoute(nil); pr[0].Near == nil || pr[0].Near.Hits != 4 {
		t.Fatalf("PerRoute near = %+v", pr[0].Near)
	}
	// Own writes and deletes are seen at once.
	if err := c.Set(ctx, "k", "w"); err != nil {
		t.Fatal(err)
	}
	var got string
	if err := c.Get(ctx, "k", &got); err != nil || got != "w" {
		t.Fatalf("Get after Set = %q, %v", got, err)
	}
	if _, err := c.Delete(ctx, "k"); err != nil {
		t.Fatal(err)
	}
	if err := c.Get(ctx, "k", &got); !errors.Is(err, yokedcache.ErrNotFound) {
		t.Fatalf("Get after Delete = %v; want a miss", err)
	}
	// The Cache finds the tier and the shared backend with As.
	var ns *near.Store
	var db *sql.DB
	if !c.As(&ns) || !c.As(&db) {
		t.Fatalf("As(*near.Store) %v, As(*sql.DB) %v; want both", c.As(&ns), c.As(&db))
	}
}

func TestNearTierCapabilitiesAreTheBackends(t *testing.T) {
	// Tags work through the tier because SQLite has them; health reports
	// the tier.
	ctx := context.Background()
	c, err := yokedcache.New(yokedcache.Config{Backend: sqliteStore(t), Near: &yokedcache.NearOptions{}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Set(ctx, "k", "v", yokedcache.WithTags("t")); err != nil {
		t.Fatal(err)
	}
	var got string
	_ = c.Get(ctx, "k", &got)
	if n, err := c.InvalidateTags(ctx, "t"); err != nil || n != 1 {
		t.Fatalf("InvalidateTags = %d, %v", n, err)
	}
	if err := c.Get(ctx, "k", &got); !errors.Is(err, yokedcache.ErrNotFound) {
		t.Fatalf("Get after InvalidateTags = %q, %v; want a miss", got, err)
	}
	rep := c.DetailedHealthCheck(ctx)
	if rep.Status != "healthy" || rep.Details["near_mode"] != "ttl" {
		t.Fatalf("health = %+v; want healthy with the tier's mode", rep)
	}
}

func TestNearConfigErrors(t *testing.T) {
	bad := []struct {
		name string
		cfg  func(t *testing.T) yokedcache.Config
		want string
	}{
		{"in-process memory", func(*testing.T) yokedcache.Config {
			return yokedcache.Config{Near: &yokedcache.NearOptions{}}
		}, "in-process"},
		{"negative entries", func(t *testing.T) yokedcache.Config {
			return yokedcache.Config{Backend: sqliteStore(t), Near: &yokedcache.NearOptions{MaxEntries: -1}}
		}, "MaxEntries"},
		{"unknown mode", func(t *testing.T) yokedcache.Config {
			return yokedcache.Config{Backend: sqliteStore(t), Near: &yokedcache.NearOptions{Mode: "push"}}
		}, "Mode"},
		{"route without its own backend", func(t *testing.T) yokedcache.Config {
			return yokedcache.Config{Backend: sqliteStore(t), Routes: []yokedcache.Route{{Prefix: "a", DefaultTTL: time.Minute, Near: &yokedcache.NearOptions{}}}}
		}, "own Backend or URL"},
		{"routes disagree on one backend", func(t *testing.T) yokedcache.Config {
			s := sqliteStore(t)
			return yokedcache.Config{Routes: []yokedcache.Route{
				{Prefix: "a", Backend: s, Near: &yokedcache.NearOptions{}},
				{Prefix: "b", Backend: s},
			}}
		}, "near-cache setting"},
		{"bad URL parameter", func(t *testing.T) yokedcache.Config {
			return yokedcache.Config{URL: "sqlite://" + filepath.Join(t.TempDir(), "x.db") + "?near_cache=lots"}
		}, "near_cache"},
		{"bad URL ttl", func(t *testing.T) yokedcache.Config {
			return yokedcache.Config{URL: "sqlite://" + filepath.Join(t.TempDir(), "x.db") + "?near_ttl=-3s"}
		}, "near_ttl"},
		{"mem URL", func(*testing.T) yokedcache.Config {
			return yokedcache.Config{URL: "mem://?near_cache=10"}
		}, "in-process"},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			c, err := yokedcache.New(tc.cfg(t))
			if err == nil {
				c.Close()
				t.Fatal("New succeeded")
			}
			if !errors.Is(err, yokedcache.ErrInvalidConfig) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("New = %v; want ErrInvalidConfig mentioning %q", err, tc.want)
			}
		})
	}
}

func TestNearFromURL(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	c, err := yokedcache.New(yokedcache.Config{
		URL: "sqlite://" + filepath.Join(dir, "d.db") + "?near_cache=50&near_max_bytes=1MiB&near_ttl=2s&near_policy=lru",
		Routes: []yokedcache.Route{
			{Prefix: "r", URL: "sqlite://" + filepath.Join(dir, "r.db") + "?near_cache=true"},
			{Prefix: "off", URL: "sqlite://" + filepath.Join(dir, "o.db") + "?near_cache=off"},
			{Prefix: "m", URL: "mem://"},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	st, err := c.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Near) != 2 {
		t.Fatalf("Stats.Near = %+v; want the default route's and route r's", st.Near)
	}
	if d := st.Near[0]; d.Route != "" || d.MaxEntries != 50 || d.MaxBytes != 1<<20 {
		t.Fatalf("default tier = %+v", d)
	}
	if r := st.Near[1]; r.Route != "r" || r.MaxEntries != near.DefaultMaxEntries || r.MaxBytes != near.DefaultMaxBytes {
		t.Fatalf("route r tier = %+v", r)
	}
	for _, rs := range st.Routes {
		if hasTier := rs.Near != nil; hasTier != (rs.Route == "" || rs.Route == "r") {
			t.Fatalf("route %q: Near = %+v", rs.Route, rs.Near)
		}
	}
	// The URL the backend saw has no near_* parameters: it opened.
	if err := c.Set(ctx, "r:k", "v"); err != nil {
		t.Fatal(err)
	}
}

// A copy whose bytes do not decode is dropped: the next read asks the
// shared backend, which by then holds a good value.
func TestNearDropsCorruptCopy(t *testing.T) {
	ctx := context.Background()
	s := sqliteStore(t)
	c, err := yokedcache.New(yokedcache.Config{Backend: s, Near: &yokedcache.NearOptions{}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// Bytes that are no envelope, written behind the Cache's back.
	if err := s.Set(ctx, "yokedcache:k", []byte("not an envelope"), backend.SetOptions{TTL: time.Minute}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.GetBytes(ctx, "k"); !errors.Is(err, yokedcache.ErrCorrupt) {
		t.Fatalf("Get of bad bytes = %v; want ErrCorrupt", err)
	}
	var ns *near.Store
	c.As(&ns)
	if ns.Local().Contains("yokedcache:k") {
		t.Fatal("the tier kept a copy that does not decode")
	}
}
