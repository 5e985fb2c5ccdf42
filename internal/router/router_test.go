package router_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/yokedcache/yokedcache/backend"
	"github.com/yokedcache/yokedcache/backend/backendtest"
	"github.com/yokedcache/yokedcache/backend/memory"
	"github.com/yokedcache/yokedcache/internal/router"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func mem(t *testing.T) *memory.Store {
	t.Helper()
	s, err := memory.New(memory.Options{CleanupInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// minimal hides every optional capability, like a get/set/delete store.
type minimal struct{ b backend.Backend }

func (m minimal) Get(ctx context.Context, k string) ([]byte, error) { return m.b.Get(ctx, k) }
func (m minimal) Set(ctx context.Context, k string, v []byte, o backend.SetOptions) error {
	return m.b.Set(ctx, k, v, o)
}
func (m minimal) Delete(ctx context.Context, k string) (bool, error) { return m.b.Delete(ctx, k) }
func (m minimal) Close() error                                       { return m.b.Close() }
func (m minimal) Name() string                                       { return "minimal" }

// broken fails every operation with errDown, like an unreachable server.
type broken struct{ closes atomic.Int32 }

var errDown = errors.New("connection refused")

func (b *broken) Get(context.Context, string) ([]byte, error) { return nil, errDown }
func (b *broken) Set(context.Context, string, []byte, backend.SetOptions) error {
	return errDown
}
func (b *broken) Delete(context.Context, string) (bool, error) { return false, errDown }
func (b *broken) Close() error                                 { b.closes.Add(1); return nil }
func (b *broken) Name() string                                 { return "broken" }

// counting counts Close calls on a real store.
type counting struct {
	*memory.Store
	closes atomic.Int32
}

func (c *counting) Close() error { c.closes.Add(1); return c.Store.Close() }

func val(s string) []byte { return []byte(s) }

var opts = backend.SetOptions{TTL: time.Minute}

func TestRouteTable(t *testing.T) {
	def, hot, user, admin := mem(t), mem(t), mem(t), mem(t)
	r, err := router.New(router.Options{
		KeyPrefix: "app",
		Default:   def,
		Routes:    map[string]backend.Backend{"hot": hot, "user:": user, "user:admin": admin, "a:b:c": hot},
	})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct{ key, want string }{
		{"app:hot", "hot"},
		{"app:hot:x", "hot"},
		{"app:hot:x:y", "hot"},
		{"app:hotel:1", router.DefaultRoute},
		{"app:hot_x", router.DefaultRoute},
		{"app:ho", router.DefaultRoute},
		{"app:user", "user"},
		{"app:user:42", "user"},
		{"app:user:admin", "user:admin"},
		{"app:user:admin:7", "user:admin"},
		{"app:user:administrator", "user"},
		{"app:user:adminx:1", "user"},
		{"app:a:b", router.DefaultRoute},
		{"app:a:b:c:d", "a:b:c"},
		{"app:x:hot:1", router.DefaultRoute},
		{"app:\xffping", router.DefaultRoute},
		{"other:hot:1", router.DefaultRoute}, // not this cache's key
		{"hot:1", router.DefaultRoute},
	}
	for _, c := range cases {
		if got := r.Route(c.key); got != c.want {
			t.Errorf("Route(%q) = %q, want %q", c.key, got, c.want)
		}
	}
	if got := r.Routes(); !slices.Equal(got, []string{"a:b:c", "hot", "user", "user:admin"}) {
		t.Errorf("Routes() = %v", got)
	}
}

func TestRouteTableFirstSegmentPrefix(t *testing.T) {
	r, err := router.New(router.Options{Default: mem(t), Routes: map[string]backend.Backend{"hot": mem(t)}})
	if err != nil {
		t.Fatal(err)
	}
	for key, want := range map[string]string{
		"p1:hot:1": "hot", "p2:hot": "hot", "p1:hotel": router.DefaultRoute, "nocolon": router.DefaultRoute,
	} {
		if got := r.Route(key); got != want {
			t.Errorf("Route(%q) = %q, want %q", key, got, want)
		}
	}
}

func TestNewRejectsBadRoutes(t *testing.T) {
	m := mem(t)
	for name, o := range map[string]router.Options{
		"no default":     {Routes: map[string]backend.Backend{"a": m}},
		"empty prefix":   {Default: m, Routes: map[string]backend.Backend{"": m}},
		"only colons":    {Default: m, Routes: map[string]backend.Backend{"::": m}},
		"nil backend":    {Default: m, Routes: map[string]backend.Backend{"a": nil}},
		"duplicate":      {Default: m, Routes: map[string]backend.Backend{"a": m, "a:": m}},
		"invalid UTF-8":  {Default: m, Routes: map[string]backend.Backend{"a\xff": m}},
		"internal bytes": {Default: m, Routes: map[string]backend.Backend{"\xfftag": m}},
	} {
		if _, err := router.New(o); !errors.Is(err, backend.ErrInvalidConfig) {
			t.Errorf("%s: err = %v, want ErrInvalidConfig", name, err)
		}
	}
}

func has(t *testing.T, b backend.Backend, key string) bool {
	t.Helper()
	_, err := b.Get(t.Context(), key)
	if err != nil && !errors.Is(err, backend.ErrNotFound) {
		t.Fatal(err)
	}
	return err == nil
}

func TestEveryOperationIsRouted(t *testing.T) {
	ctx := t.Context()
	def, hot, sess := mem(t), mem(t), mem(t)
	r, err := router.New(router.Options{KeyPrefix: "app", Default: def,
		Routes: map[string]backend.Backend{"hot": hot, "session": sess}})
	if err != nil {
		t.Fatal(err)
	}
	// Set / Get / Exists / TTL / Expire / Delete.
	for key, b := range map[string]*memory.Store{"app:hot:config": hot, "app:session:abc123": sess, "app:user:42": def} {
		if err := r.Set(ctx, key, val(key), opts); err != nil {
			t.Fatal(err)
		}
		for _, other := range []*memory.Store{def, hot, sess} {
			if got := has(t, other, key); got != (other == b) {
				t.Fatalf("%s present in wrong backend", key)
			}
		}
		if v, err := r.Get(ctx, key); err != nil || string(v) != key {
			t.Fatalf("Get(%q) = %q, %v", key, v, err)
		}
		if ok, err := r.Exists(ctx, key); !ok || err != nil {
			t.Fatalf("Exists(%q) = %v, %v", key, ok, err)
		}
		if ok, err := r.Expire(ctx, key, time.Hour); !ok || err != nil {
			t.Fatalf("Expire(%q) = %v, %v", key, ok, err)
		}
		if d, err := b.TTL(ctx, key); err != nil || d <= time.Minute {
			t.Fatalf("Expire did not reach %q's backend: %v %v", key, d, err)
		}
		if d, err := r.TTL(ctx, key); err != nil || d <= time.Minute {
			t.Fatalf("TTL(%q) = %v, %v", key, d, err)
		}
	}
	if _, err := r.Get(ctx, "app:hot:nope"); !errors.Is(err, backend.ErrNotFound) {
		t.Fatalf("miss: %v", err)
	}
	if ok, err := r.Delete(ctx, "app:hot:config"); !ok || err != nil || has(t, hot, "app:hot:config") {
		t.Fatalf("Delete: %v %v", ok, err)
	}

	// SetMany / GetMany / DeleteMany split per backend, merged in order.
	keys := []string{"app:user:1", "app:hot:a", "app:session:s", "app:hot:b", "app:missing"}
	var items []backend.Item
	for _, k := range keys[:4] {
		items = append(items, backend.Item{Key: k, Value: val(k), SetOptions: opts})
	}
	if err := r.SetMany(ctx, items); err != nil {
		t.Fatal(err)
	}
	if !has(t, hot, "app:hot:a") || !has(t, hot, "app:hot:b") || !has(t, sess, "app:session:s") || !has(t, def, "app:user:1") || has(t, def, "app:hot:a") {
		t.Fatal("SetMany wrote to the wrong backends")
	}
	vals, err := r.GetMany(ctx, keys)
	if err != nil {
		t.Fatal(err)
	}
	for i, k := range keys[:4] {
		if string(vals[i]) != k {
			t.Fatalf("GetMany[%d] = %q, want %q", i, vals[i], k)
		}
	}
	if vals[4] != nil {
		t.Fatalf("GetMany miss = %q", vals[4])
	}
	if n, err := r.DeleteMany(ctx, []string{"app:hot:a", "app:session:s", "app:nope"}); n != 2 || err != nil {
		t.Fatalf("DeleteMany = %d, %v", n, err)
	}

	// Tags: invalidation reaches every backend.
	tag := "app:\xfftag:t"
	for _, k := range []string{"app:hot:t", "app:session:t", "app:user:t"} {
		if err := r.Set(ctx, k, val(k), backend.SetOptions{TTL: time.Minute, Tags: []string{tag}}); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := r.InvalidateTags(ctx, []string{tag}); n != 3 || err != nil {
		t.Fatalf("InvalidateTags = %d, %v", n, err)
	}

	// Scan: only matching routes, each key once, none from the wrong route.
	_ = r.Set(ctx, "app:hotel:1", val("x"), opts)
	_ = hot.Set(ctx, "app:user:stray", val("stray"), opts) // misplaced: not served by hot
	scan := func(pattern string) []string {
		var out []string
		for k, err := range r.Scan(ctx, pattern) {
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, k)
		}
		slices.Sort(out)
		return out
	}
	if got := scan("app:hot*"); !slices.Equal(got, []string{"app:hot:b", "app:hotel:1"}) {
		t.Fatalf("Scan(hot*) = %v", got)
	}
	if got := scan("app:hot:*"); !slices.Equal(got, []string{"app:hot:b"}) {
		t.Fatalf("Scan(hot:*) = %v", got)
	}
	if got := scan("app:*"); !slices.Equal(got, []string{"app:hot:b", "app:hotel:1", "app:session:abc123", "app:user:1", "app:user:42"}) {
		t.Fatalf("Scan(*) = %v", got)
	}
	// DeletePattern only touches the session route for "session:*".
	_ = r.Set(ctx, "app:session:x", val("x"), opts)
	if n, err := r.DeletePattern(ctx, "app:session:*"); n != 2 || err != nil {
		t.Fatalf("DeletePattern = %d, %v", n, err)
	}
	// Stats per route with totals.
	st, err := r.Stats(ctx, "app:")
	if err != nil {
		t.Fatal(err)
	}
	routes := st.Extra["routes"].(map[string]router.RouteStats)
	if len(routes) != 3 || routes["hot"].Keys != 2 || routes[router.DefaultRoute].Keys != 3 || routes["session"].Keys != 0 || st.Keys != 5 {
		t.Fatalf("Stats = %+v", st)
	}
	// Flush: every backend.
	if err := r.Flush(ctx, "app:"); err != nil {
		t.Fatal(err)
	}
	if st, _ := r.Stats(ctx, "app:"); st.Keys != 0 {
		t.Fatalf("after Flush: %d keys", st.Keys)
	}
	// Health per route.
	h, err := r.HealthDetails(ctx)
	if err != nil || h.Status != "healthy" || len(h.Details["routes"].(map[string]router.RouteHealth)) != 3 {
		t.Fatalf("HealthDetails = %+v, %v", h, err)
	}
	if err := r.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	if r.As(nil) || r.As(new(int)) {
		t.Fatal("As on memory backends")
	}
	if r.Name() != "router" {
		t.Fatal(r.Name())
	}
}

func TestScanAndDeletePatternNestedRoutes(t *testing.T) {
	ctx := t.Context()
	def, user, admin := mem(t), mem(t), mem(t)
	r, err := router.New(router.Options{KeyPrefix: "app", Default: def,
		Routes: map[string]backend.Backend{"user": user, "user:admin": admin}})
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"app:user:1", "app:user:admin:1", "app:user:admin", "app:users"} {
		if err := r.Set(ctx, k, val(k), opts); err != nil {
			t.Fatal(err)
		}
	}
	if !has(t, admin, "app:user:admin:1") || !has(t, admin, "app:user:admin") || !has(t, user, "app:user:1") || !has(t, def, "app:users") {
		t.Fatal("nested routing")
	}
	var got []string
	for k, err := range r.Scan(ctx, "app:user:*") {
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, k)
	}
	slices.Sort(got)
	if !slices.Equal(got, []string{"app:user:1", "app:user:admin", "app:user:admin:1"}) {
		t.Fatalf("Scan = %v", got)
	}
	if n, err := r.DeletePattern(ctx, "app:user:admin:*"); n != 1 || err != nil {
		t.Fatalf("DeletePattern = %d %v", n, err)
	}
	if n, err := r.DeletePattern(ctx, "app:user*"); n != 3 || err != nil {
		t.Fatalf("DeletePattern = %d %v", n, err)
	}
}

func TestMissingCapabilityPerRoute(t *testing.T) {
	ctx := t.Context()
	def := mem(t)
	r, err := router.New(router.Options{KeyPrefix: "app", Default: def,
		Routes: map[string]backend.Backend{"plain": minimal{mem(t)}}})
	if err != nil {
		t.Fatal(err)
	}
	// Single-key ops on the plain route: ErrUnsupported naming the route.
	_, err = r.TTL(ctx, "app:plain:1")
	if !errors.Is(err, backend.ErrUnsupported) || !strings.Contains(err.Error(), `route "plain"`) {
		t.Fatalf("TTL on plain route: %v", err)
	}
	if _, err := r.Expire(ctx, "app:plain:1", time.Second); !errors.Is(err, backend.ErrUnsupported) {
		t.Fatalf("Expire: %v", err)
	}
	tagged := backend.SetOptions{TTL: time.Minute, Tags: []string{"app:\xfftag:x"}}
	if err := r.Set(ctx, "app:plain:1", val("v"), tagged); !errors.Is(err, backend.ErrUnsupported) {
		t.Fatalf("tagged Set: %v", err)
	}
	// A batch with tags for the plain route writes nothing.
	err = r.SetMany(ctx, []backend.Item{{Key: "app:a", Value: val("a"), SetOptions: tagged}, {Key: "app:plain:2", Value: val("b"), SetOptions: tagged}})
	if !errors.Is(err, backend.ErrUnsupported) || has(t, def, "app:a") {
		t.Fatalf("tagged SetMany: %v", err)
	}
	// But the default route works, and plain ops on the plain route work.
	if err := r.Set(ctx, "app:user:1", val("u"), tagged); err != nil {
		t.Fatal(err)
	}
	if err := r.Set(ctx, "app:plain:1", val("p"), opts); err != nil {
		t.Fatal(err)
	}
	if ok, err := r.Exists(ctx, "app:plain:1"); err != nil || ok {
		// "p" is not an envelope: Exists without Exister decodes like the Cache.
		t.Fatalf("Exists of a non-envelope = %v, %v", ok, err)
	}
	if n, err := r.InvalidateTags(ctx, []string{"app:\xfftag:x"}); n != 1 || err != nil {
		t.Fatalf("InvalidateTags skips routes without tags: %d %v", n, err)
	}
	// Scan of everything: the default's keys, then ErrUnsupported for plain.
	_ = r.Set(ctx, "app:user:2", val("u"), opts)
	var keys []string
	var scanErr error
	for k, err := range r.Scan(ctx, "app:*") {
		if err != nil {
			scanErr = err
			continue
		}
		keys = append(keys, k)
	}
	if !slices.Equal(keys, []string{"app:user:2"}) || !errors.Is(scanErr, backend.ErrUnsupported) || !strings.Contains(scanErr.Error(), `route "plain"`) {
		t.Fatalf("Scan = %v, %v", keys, scanErr)
	}
	// A pattern the plain route cannot match does not touch it.
	for _, err := range r.Scan(ctx, "app:user:*") {
		if err != nil {
			t.Fatalf("Scan(user:*) reached the plain route: %v", err)
		}
	}
	n, err := r.DeletePattern(ctx, "app:*")
	if n != 1 || !errors.Is(err, backend.ErrUnsupported) {
		t.Fatalf("DeletePattern = %d, %v", n, err)
	}
	// The route is named once, not by both the error and the fan-out.
	if c := strings.Count(err.Error(), `route "plain"`); c != 1 {
		t.Fatalf("DeletePattern error names the route %d times: %v", c, err)
	}
	if err := r.Flush(ctx, "app:"); !errors.Is(err, backend.ErrUnsupported) {
		t.Fatalf("Flush: %v", err)
	}
	if err := r.Flush(ctx, "app:"); strings.Count(err.Error(), `route "plain"`) != 1 {
		t.Fatalf("Flush error names the route more than once: %v", err)
	}
	st, err := r.Stats(ctx, "app:")
	if err != nil || st.Keys != -1 || st.Extra["routes"].(map[string]router.RouteStats)["plain"].Error == "" {
		t.Fatalf("Stats = %+v %v", st, err)
	}
}

func TestFailingRouteIsolated(t *testing.T) {
	ctx := t.Context()
	def := mem(t)
	down := &broken{}
	r, err := router.New(router.Options{KeyPrefix: "app", Default: def,
		Routes: map[string]backend.Backend{"session": down}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = r.Get(ctx, "app:session:1")
	if !errors.Is(err, errDown) || !strings.Contains(err.Error(), `route "session" (broken)`) {
		t.Fatalf("Get on the down route: %v", err)
	}
	if err := r.Set(ctx, "app:user:1", val("u"), opts); err != nil {
		t.Fatalf("default route broken by another: %v", err)
	}
	vals, err := r.GetMany(ctx, []string{"app:user:1", "app:session:1"})
	if !errors.Is(err, errDown) || string(vals[0]) != "u" || vals[1] != nil {
		t.Fatalf("GetMany = %q, %v", vals, err)
	}
	err = r.SetMany(ctx, []backend.Item{{Key: "app:user:2", Value: val("2"), SetOptions: opts}, {Key: "app:session:2", Value: val("2"), SetOptions: opts}})
	if !errors.Is(err, errDown) || !has(t, def, "app:user:2") {
		t.Fatalf("SetMany: %v", err)
	}
	if pe, ok := errors.AsType[*backend.PartialError](err); !ok || pe.Done != 1 {
		t.Fatalf("SetMany with one route down = %#v; want a *backend.PartialError with Done 1", err)
	}
	if err := r.SetMany(ctx, []backend.Item{{Key: "app:session:3", Value: val("3"), SetOptions: opts}}); !errors.Is(err, errDown) {
		t.Fatalf("SetMany on the down route only: %v", err)
	} else if _, ok := errors.AsType[*backend.PartialError](err); ok {
		t.Fatalf("SetMany that stored nothing = %#v; want no PartialError", err)
	}
	n, err := r.DeleteMany(ctx, []string{"app:user:2", "app:session:2"})
	if n != 1 || !errors.Is(err, errDown) {
		t.Fatalf("DeleteMany = %d, %v", n, err)
	}
	if err := r.Ping(ctx); !errors.Is(err, errDown) || !strings.Contains(err.Error(), "session") {
		t.Fatalf("Ping: %v", err)
	}
	h, _ := r.HealthDetails(ctx)
	rh := h.Details["routes"].(map[string]router.RouteHealth)
	if h.Status != "degraded" || rh["session"].Status != "unhealthy" || rh[router.DefaultRoute].Status != "healthy" {
		t.Fatalf("HealthDetails = %+v", h)
	}
}

func TestCloseClosesEachBackendOnce(t *testing.T) {
	shared := &counting{Store: mem(t)}
	other := &counting{Store: mem(t)}
	down := &broken{}
	r, err := router.New(router.Options{KeyPrefix: "app", Default: shared,
		Routes: map[string]backend.Backend{"a": shared, "b": other, "c": other, "d": down, "e": down}})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if shared.closes.Load() != 1 || other.closes.Load() != 1 || down.closes.Load() != 1 {
		t.Fatalf("closes: %d %d %d", shared.closes.Load(), other.closes.Load(), down.closes.Load())
	}
	if err := r.Close(); !errors.Is(err, backend.ErrClosed) {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := r.Get(t.Context(), "app:a"); !errors.Is(err, backend.ErrClosed) {
		t.Fatalf("Get after Close: %v", err)
	}
}

// TestConformance runs the contract suite against a router over memory
// backends, with routes for keys the suite uses (nested and shared).
func TestConformance(t *testing.T) {
	backendtest.Run(t, backendtest.Harness{
		Name: "router",
		New: func(t *testing.T, clock backend.Clock) (backend.Backend, error) {
			var stores []backend.Backend
			for range 3 {
				s, err := memory.New(memory.Options{Clock: clock})
				if err != nil {
					return nil, err
				}
				stores = append(stores, s)
			}
			return router.New(router.Options{Default: stores[0], Routes: map[string]backend.Backend{
				"user": stores[1], "user:1": stores[2], "post": stores[1], "a": stores[2],
			}})
		},
	})
}

func BenchmarkRouterGet(b *testing.B) {
	ctx := context.Background()
	def, _ := memory.New(memory.Options{})
	hot, _ := memory.New(memory.Options{})
	r, _ := router.New(router.Options{KeyPrefix: "app", Default: def,
		Routes: map[string]backend.Backend{"hot": hot, "user:admin": hot, "session": hot}})
	defer r.Close()
	_ = r.Set(ctx, "app:user:42:profile", val("v"), opts)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := r.Get(ctx, "app:user:42:profile"); err != nil {
			b.Fatal(err)
		}
	}
}

// matchReference is the routing rule written the slow, obvious way: the
// longest route r with key == r or key starting with r+":".
func matchReference(routes []string, key string) (string, bool) {
	best, ok := "", false
	for _, r := range routes {
		if (key == r || strings.HasPrefix(key, r+":")) && len(r) >= len(best) {
			best, ok = r, true
		}
	}
	return best, ok
}

func FuzzMatch(f *testing.F) {
	f.Add("user:admin:7", "user", "user:admin")
	f.Add("hotel:1", "hot", "ho")
	f.Add("a::b", "a:", "a")
	f.Add(":", ":", "x")
	f.Fuzz(func(t *testing.T, key, r1, r2 string) {
		routes := map[string]int{}
		var list []string
		for _, r := range []string{r1, r2} {
			if p, ok := router.NormalizePrefix(r); ok {
				routes[p] = 0
				list = append(list, p)
			}
		}
		got, gok := router.Match(routes, key)
		want, wok := matchReference(list, key)
		if got != want || gok != wok {
			t.Fatalf("Match(%q, %q) = %q %v; reference %q %v", list, key, got, gok, want, wok)
		}
	})
}

// BenchmarkDirectGet is the same read without the router, for comparison.
func BenchmarkDirectGet(b *testing.B) {
	ctx := context.Background()
	def, _ := memory.New(memory.Options{})
	defer def.Close()
	_ = def.Set(ctx, "app:user:42:profile", val("v"), opts)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := def.Get(ctx, "app:user:42:profile"); err != nil {
			b.Fatal(err)
		}
	}
}

// copier is a memory store that says it copies Set's arguments.
type copier struct{ *memory.Store }

func (copier) SetCopies() bool { return true }

func TestSetCopiesOnlyWhenEveryRouteCopies(t *testing.T) {
	all, err := router.New(router.Options{Default: copier{mem(t)}, Routes: map[string]backend.Backend{"a:": copier{mem(t)}}})
	if err != nil {
		t.Fatal(err)
	}
	if !all.SetCopies() {
		t.Fatal("SetCopies = false with every route a copier")
	}
	mixed, err := router.New(router.Options{Default: copier{mem(t)}, Routes: map[string]backend.Backend{"a:": mem(t)}})
	if err != nil {
		t.Fatal(err)
	}
	if mixed.SetCopies() {
		t.Fatal("SetCopies = true with a memory route, which keeps Set's arguments")
	}
}
