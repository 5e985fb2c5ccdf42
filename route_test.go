package yokedcache_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/yokedcache/yokedcache"
	"github.com/yokedcache/yokedcache/backend/memory"
)

func newStore(t *testing.T) *memory.Store {
	t.Helper()
	s, err := memory.New(memory.Options{CleanupInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// A route's failure names the route once, as a *RouteError, and keeps
// the cause for errors.Is.
func TestRouteErrorNamesTheRouteOnce(t *testing.T) {
	ctx := context.Background()
	def, users := newStore(t), newStore(t)
	c, err := yokedcache.New(yokedcache.Config{Backend: def, Routes: []yokedcache.Route{{Prefix: "user", Backend: users}}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = users.Close() // the route's backend goes away under the Cache
	err = c.Set(ctx, "user:1", "v")
	if !errors.Is(err, yokedcache.ErrClosed) {
		t.Fatalf("Set = %v; want ErrClosed", err)
	}
	re, ok := errors.AsType[*yokedcache.RouteError](err)
	if !ok || re.Route != "user" || re.Backend != "memory" {
		t.Fatalf("Set = %v; want a *RouteError for route user (memory)", err)
	}
	if got, want := err.Error(), `yokedcache: set "user:1": route "user" (memory): `; !strings.HasPrefix(got, want) || strings.Count(got, "yokedcache") != 1 {
		t.Fatalf("error text %q; want it to start with %q and say yokedcache once", got, want)
	}
	// The default route still works; batch reads return its hits with the
	// failure.
	if err := c.Set(ctx, "other", "v"); err != nil {
		t.Fatal(err)
	}
	vals, err := c.GetMany(ctx, []string{"other", "user:1"})
	if len(vals) != 1 || !errors.Is(err, yokedcache.ErrClosed) {
		t.Fatalf("GetMany = %v, %v; want the default route's hit and ErrClosed", vals, err)
	}
	if h := c.DetailedHealthCheck(ctx); h.Status != "degraded" || len(h.Routes) != 2 || h.Routes[1].Status != "unhealthy" {
		t.Fatalf("health = %q %+v; want degraded with route user unhealthy", h.Status, h.Routes)
	}
	st, err := c.Stats(ctx)
	if err != nil || len(st.Routes) != 2 || st.Routes[1].Error == "" || st.Routes[0].Sets != 1 || st.Routes[1].Errors != 1 {
		t.Fatalf("Stats = %+v, %v; want per-route counters and the failed route's error", st.Routes, err)
	}
}

func TestRoutesConfig(t *testing.T) {
	ctx := context.Background()
	bad := map[string][]yokedcache.Route{
		"empty prefix":         {{Prefix: "", DefaultTTL: time.Minute}},
		"only colons":          {{Prefix: "::", DefaultTTL: time.Minute}},
		"both backend and url": {{Prefix: "a", Backend: newStore(t), URL: "mem://"}},
		"nothing to do":        {{Prefix: "a"}},
		"same route twice":     {{Prefix: "a", DefaultTTL: time.Minute}, {Prefix: "a:", DefaultTTL: time.Hour}},
		"negative ttl":         {{Prefix: "a", DefaultTTL: -2 * time.Second}},
		"ttl over max":         {{Prefix: "a", DefaultTTL: yokedcache.MaxTTL + time.Hour}},
		"bad url":              {{Prefix: "a", URL: "nope://x"}},
	}
	for name, routes := range bad {
		if _, err := yokedcache.New(yokedcache.Config{Routes: routes}); !errors.Is(err, yokedcache.ErrInvalidConfig) {
			t.Errorf("%s: New = %v; want ErrInvalidConfig", name, err)
		}
	}
	// A TTL-only route keeps its keys on the default backend.
	c, err := yokedcache.New(yokedcache.Config{TTLJitterPercent: yokedcache.NoJitter, Routes: []yokedcache.Route{
		{Prefix: "short:", DefaultTTL: time.Minute},
		{Prefix: "mem", URL: "mem://", DefaultTTL: time.Hour},
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for key, want := range map[string]time.Duration{"short:1": time.Minute, "mem:1": time.Hour, "other": yokedcache.DefaultTTL} {
		if err := c.Set(ctx, key, "v"); err != nil {
			t.Fatal(err)
		}
		if d, err := c.TTL(ctx, key); err != nil || d > want || d < want-time.Second {
			t.Errorf("TTL(%s) = %v, %v; want %v", key, d, err, want)
		}
	}
	if st, _ := c.Stats(ctx); len(st.Routes) != 3 || st.Routes[1].Route != "mem" || st.Routes[2].Route != "short" || st.Backend != "router" {
		t.Fatalf("routes %+v", st.Routes)
	}
}

// A route can carry a backend and a default TTL at once.
func TestRouteBackendAndTTL(t *testing.T) {
	ctx := context.Background()
	hot := newStore(t)
	c, err := yokedcache.New(yokedcache.Config{
		Backend: newStore(t),
		Routes: []yokedcache.Route{
			{Prefix: "hot", Backend: hot, DefaultTTL: time.Minute},
			{Prefix: "mem", URL: "mem://"},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Set(ctx, "hot:1", "v", yokedcache.WithExactTTL()); err != nil {
		t.Fatal(err)
	}
	if _, err := hot.Get(ctx, "yokedcache:hot:1"); err != nil {
		t.Fatalf("hot:1 not on the hot backend: %v", err)
	}
	if d, _ := c.TTL(ctx, "hot:1"); d > time.Minute {
		t.Fatalf("TTL = %v; want the route's minute", d)
	}
}

// Error messages shorten long keys; Error.Key keeps them whole.
func TestLongKeyShortenedInErrors(t *testing.T) {
	c, err := yokedcache.New(yokedcache.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	key := strings.Repeat("k", 2000)
	err = c.Set(context.Background(), key, "v")
	if !errors.Is(err, yokedcache.ErrInvalidKey) {
		t.Fatalf("Set = %v", err)
	}
	if msg := err.Error(); len(msg) > 300 || !strings.Contains(msg, "(2000 bytes)") {
		t.Fatalf("message of %d bytes: %q", len(msg), msg)
	}
	if ye, ok := errors.AsType[*yokedcache.Error](err); !ok || ye.Key != key {
		t.Fatal("Error.Key does not hold the whole key")
	}
}
