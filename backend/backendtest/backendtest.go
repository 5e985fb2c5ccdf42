// Package backendtest is the conformance suite every yokedcache backend
// runs: the contract of the project's SEMANTICS page, turned into tests.
//
// A backend package calls [Run] from its own external test package with a
// small [Harness]:
//
//	func TestConformance(t *testing.T) {
//		backendtest.Run(t, backendtest.Harness{
//			Name: "memory",
//			New: func(t *testing.T, clock backend.Clock) (backend.Backend, error) {
//				return memory.New(memory.Options{Clock: clock})
//			},
//		})
//	}
//
// Run drives the backend through the real [yokedcache.Cache], testing what
// users see, and calls the Backend directly where a rule is about the
// backend itself (stored key layout, internal keys, behaviour after
// Close). Subtests follow the contract's headings (Keys/, Values/, TTL/,
// Tags/, Patterns/, Search/, GetOrLoad/, Batch/, Stats/, Health/, Errors/,
// Close/); each leaf is named after a clause and its failures quote it.
//
// Every leaf gets a fresh backend from Harness.New and its own random key
// prefix, so leaves run in parallel, also against one shared server. Every
// prefix the suite uses begins with "bt" and it touches no other keys, so a
// server user restricted to keys "bt*" (a Redis ACL ~bt*) can run it.
//
// # Unsupported features
//
// A harness declares what its backend cannot honour in
// Harness.Unsupported, with a reason. For a declared feature the suite
// asserts that the operation fails with an error matching
// yokedcache.ErrUnsupported, then skips with the reason. An undeclared
// feature must work: the suite never infers "unsupported" from an error.
//
// # Clocks
//
// Backends that expire entries themselves get a fake clock
// ([yokedcachetest.Clock]) and TTL tests run instantly. Backends that
// expire by a server's clock (Harness.ServerClock) get short real TTLs
// (at least 50 ms, or two TTLGranularity units) and the suite polls for
// expiry with a deadline.
//
// # Running part of the suite
//
// Leaves are ordinary subtests, so -run selects them, for example
//
//	go test -run 'TestConformance/Tags/' ./backend/memory/
//	go test -run 'TestConformance/TTL/Expire_changes_the_TTL' ./backend/memory/
//
// The suite itself is tested against the memory backend in three shapes:
// with every optional feature hidden and declared unsupported, on the
// real clock (the ServerClock paths) and with instances sharing a store.
package backendtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/yokedcache/yokedcache"
	"github.com/yokedcache/yokedcache/backend"
	"github.com/yokedcache/yokedcache/yokedcachetest"
)

// Feature names an optional part of the contract that a backend may be
// unable to honour.
type Feature string

// The features a harness may declare unsupported.
const (
	// FeatureTags: Set with WithTags and InvalidateTags (backend.Tagger).
	FeatureTags Feature = "tags"
	// FeatureScan: Keys, InvalidatePattern and FuzzySearch
	// (backend.Scanner), and Flush unless the backend implements
	// backend.Flusher.
	FeatureScan Feature = "scan"
	// FeatureTTL: TTL, Expire and Touch (backend.Expirer). Expiry itself
	// is never optional.
	FeatureTTL Feature = "ttl"
	// FeatureStats: a backend-reported key count (backend.Stater). When
	// declared, Cache.Stats must either fail with ErrUnsupported or report
	// Keys == -1; when not declared it must report Keys >= 0.
	FeatureStats Feature = "stats"
)

var knownFeatures = []Feature{FeatureTags, FeatureScan, FeatureTTL, FeatureStats}

// Harness describes a backend to the suite. Zero values of the optional
// fields describe a full-featured local backend.
type Harness struct {
	// Name names the backend in failure messages.
	Name string
	// New returns a NEW backend instance, which the suite closes. Instances
	// may share one server: the suite gives every subtest its own unique
	// key prefix. clock is the fake clock of the subtest (a real clock when
	// ServerClock is true); backends that expire entries themselves must
	// use it.
	New func(t *testing.T, clock backend.Clock) (backend.Backend, error)
	// Unsupported maps each feature the backend cannot honour to the
	// reason. Declared features must fail with ErrUnsupported.
	Unsupported map[Feature]string
	// ServerClock is true when entries expire by a server's clock, which
	// the fake clock cannot move. TTL tests then use short real TTLs.
	ServerClock bool
	// TTLGranularity is the resolution of the backend's TTLs, e.g.
	// time.Second for Memcached, time.Millisecond for Redis. 0 means 1 ms.
	TTLGranularity time.Duration
	// MaxValueSize is the largest item the backend stores, in bytes. 0
	// means at least the 5 MiB the suite stores. When set, the suite
	// stores values up to half of it and expects an error matching
	// ErrValueTooLarge (not a silent miss) above it.
	MaxValueSize int
	// TagCountUnknown is true when InvalidateTags cannot count the entries
	// it invalidated and returns -1.
	TagCountUnknown bool
	// Shared is true when two instances returned by New share one
	// underlying store (a server, a database file), so that one instance
	// sees another's writes and invalidations.
	Shared bool
	// FlushVisibleAfter is how long after one instance's Flush another
	// instance sharing the store may still see the flushed entries (the
	// memcached backend trusts a namespace version it has read for
	// Options.ReadNamespaceTTL). 0: at once. Tag invalidations and deletes
	// are always seen at once. The suite waits this long in real time.
	FlushVisibleAfter time.Duration
	// CrossInstanceLag is how long after a write, delete or invalidation
	// by one instance another instance sharing the store may still return
	// a value it read before (a near-cache tier: the time an invalidation
	// takes to arrive, or its local TTL where none arrives). 0: at once.
	// The suite waits this long (on the fake clock when there is one)
	// before it checks the other instance.
	CrossInstanceLag time.Duration
}

func (h *Harness) gran() time.Duration {
	if h.TTLGranularity <= 0 {
		return time.Millisecond
	}
	return h.TTLGranularity
}

// section is one SEMANTICS.md heading.
type section struct {
	name   string
	leaves []leaf
}

// leaf is one clause of the contract.
type leaf struct {
	name   string                   // subtest name
	clause string                   // the contract sentence it checks
	cfg    func(*yokedcache.Config) // optional Cache configuration
	run    func(e *env)
}

// Run runs the conformance suite against the backend h describes.
func Run(t *testing.T, h Harness) {
	t.Helper()
	if h.New == nil {
		t.Fatal("backendtest: Harness.New is nil")
	}
	if h.Name == "" {
		h.Name = "backend"
	}
	for f, why := range h.Unsupported {
		if !slices.Contains(knownFeatures, f) {
			t.Fatalf("backendtest: Harness.Unsupported names unknown feature %q (known: %v)", f, knownFeatures)
		}
		if strings.TrimSpace(why) == "" {
			t.Fatalf("backendtest: Harness.Unsupported[%q] needs a reason", f)
		}
	}
	sections := []section{
		{"Keys", keysLeaves()},
		{"Values", valuesLeaves()},
		{"TTL", ttlLeaves()},
		{"Tags", tagsLeaves()},
		{"Patterns", patternsLeaves()},
		{"Search", searchLeaves()},
		{"GetOrLoad", getOrLoadLeaves()},
		{"Stale", staleLeaves()},
		{"Batch", batchLeaves()},
		{"Stats", statsLeaves()},
		{"Health", healthLeaves()},
		{"Errors", errorsLeaves()},
		{"Close", closeLeaves()},
	}
	for _, s := range sections {
		t.Run(s.name, func(t *testing.T) {
			for _, l := range s.leaves {
				t.Run(l.name, func(t *testing.T) {
					t.Parallel()
					e := newEnv(t, h, l.clause, l.cfg, false)
					l.run(e)
				})
			}
		})
	}
	// The same clauses through routing: the backend serves the default
	// route of a Cache that also routes DecoyRoute to another instance, so
	// every operation goes through the route table, its fan-outs and its
	// per-route errors, stats and health.
	t.Run("Routed", func(t *testing.T) {
		for _, s := range sections {
			t.Run(s.name, func(t *testing.T) {
				for _, l := range s.leaves {
					t.Run(l.name, func(t *testing.T) {
						t.Parallel()
						e := newEnv(t, h, l.clause, l.cfg, true)
						l.run(e)
					})
				}
			})
		}
	})
}

// DecoyRoute is the route prefix that the Routed shape of the suite sends
// to a second instance of the backend. The suite never uses keys under it.
const DecoyRoute = "zz-decoy-route"

// env is the world of one leaf: a fresh backend, a Cache over it with a
// unique prefix, and the clock.
type env struct {
	t      *testing.T
	h      Harness
	clause string
	b      backend.Backend
	c      *yokedcache.Cache
	clock  *yokedcachetest.Clock // nil with ServerClock
	prefix string
	ctx    context.Context
	cfgMod func(*yokedcache.Config)
	logs   *countingHandler // receives the Caches' log records
	routed bool             // the Routed shape: b serves the default route
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func newEnv(t *testing.T, h Harness, clause string, mod func(*yokedcache.Config), routed bool) *env {
	t.Helper()
	e := &env{t: t, h: h, clause: clause, prefix: "bt" + randomHex(6), ctx: t.Context(), cfgMod: mod, logs: &countingHandler{}, routed: routed}
	var clock backend.Clock = backend.SystemClock{}
	if !h.ServerClock {
		e.clock = yokedcachetest.NewClock(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
		clock = e.clock
	}
	e.b = e.newBackend(clock)
	e.c = e.newCache(e.b, e.prefix, mod)
	c := e.c
	t.Cleanup(func() {
		// Leave nothing behind on shared servers.
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = c.Flush(ctx)
		_ = c.Close()
	})
	return e
}

// newBackend returns another instance from the harness, closed at the end
// of the leaf at the latest.
func (e *env) newBackend(clock backend.Clock) backend.Backend {
	e.t.Helper()
	b, err := e.h.New(e.t, clock)
	if err != nil {
		e.t.Fatalf("%s: Harness.New: %v", e.h.Name, err)
	}
	if b == nil {
		e.t.Fatalf("%s: Harness.New returned a nil backend", e.h.Name)
	}
	// Closed by its Cache or the leaf; this covers leaves that fail early
	// (a second Close returns ErrClosed, which is ignored).
	e.t.Cleanup(func() { _ = b.Close() })
	return b
}

// clockOrSystem is what backends of this env are given.
func (e *env) backendClock() backend.Clock {
	if e.clock != nil {
		return e.clock
	}
	return backend.SystemClock{}
}

// newCache builds a Cache on b with the suite's base configuration. The
// caller closes it (or not, when b is shared with another Cache of this
// env).
func (e *env) newCache(b backend.Backend, prefix string, mod func(*yokedcache.Config)) *yokedcache.Cache {
	e.t.Helper()
	cfg := yokedcache.Config{
		Backend:          b,
		KeyPrefix:        prefix,
		TTLJitterPercent: yokedcache.NoJitter,
		Clock:            e.backendClock(),
		DefaultTTL:       10 * time.Minute,
		Logger:           slog.New(e.logs),
	}
	if mod != nil {
		mod(&cfg)
	}
	if e.routed {
		cfg.Routes = append(cfg.Routes, yokedcache.Route{Prefix: DecoyRoute, Backend: e.newBackend(e.backendClock())})
	}
	c, err := yokedcache.New(cfg)
	if err != nil {
		e.t.Fatalf("yokedcache.New: %v", err)
	}
	return c
}

// secondCache returns another Cache on the same backend instance with
// another prefix. It is not closed (closing it would close e.b).
func (e *env) secondCache(prefix string) *yokedcache.Cache {
	return e.newCache(e.b, prefix, e.cfgMod)
}

// stats returns c's Stats as seen by the backend under test: in the
// Routed shape the backend numbers are the default route's (a decoy on a
// shared server reports the same keys again).
func (e *env) stats(c *yokedcache.Cache) (yokedcache.Stats, error) {
	st, err := c.Stats(e.ctx)
	if err != nil || !e.routed {
		return st, err
	}
	if len(st.Routes) != 2 || st.Routes[0].Route != "" || st.Routes[1].Route != DecoyRoute {
		return st, fmt.Errorf("routed Stats.Routes = %+v; want the default route and %q", st.Routes, DecoyRoute)
	}
	if st.Routes[0].Error != "" {
		return st, errors.New(st.Routes[0].Error)
	}
	d := st.Routes[0]
	st.Keys, st.Bytes, st.Scope, st.Extra = d.Keys, d.Bytes, d.Scope, d.Extra
	return st, nil
}

// backendName is the backend name a Cache of this env reports.
func (e *env) backendName() string {
	if e.routed {
		return "router"
	}
	return backend.Name(e.b)
}

// skey is the stored key of user key k.
func (e *env) skey(k string) string { return e.prefix + ":" + k }

func (e *env) msg(format string, args ...any) string {
	return fmt.Sprintf("%s: %s\n\tclause: %q", e.h.Name, fmt.Sprintf(format, args...), e.clause)
}

// Fatalf fails the leaf, quoting its clause.
func (e *env) Fatalf(format string, args ...any) {
	e.t.Helper()
	e.t.Fatal(e.msg(format, args...))
}

// Errorf reports a failure of the leaf, quoting its clause.
func (e *env) Errorf(format string, args ...any) {
	e.t.Helper()
	e.t.Error(e.msg(format, args...))
}

// must fails on a non-nil error.
func (e *env) must(err error, what string) {
	e.t.Helper()
	if err != nil {
		e.Fatalf("%s: unexpected error: %v", what, err)
	}
}

// supports reports whether f is not declared unsupported.
func (e *env) supports(f Feature) bool {
	_, ok := e.h.Unsupported[f]
	return !ok
}

// requireFeature skips the leaf when f is declared unsupported, after
// asserting that try fails with an error matching ErrUnsupported. An
// undeclared feature returns and the leaf asserts that it works.
func (e *env) requireFeature(f Feature, try func() error) {
	e.t.Helper()
	why, ok := e.h.Unsupported[f]
	if !ok {
		return
	}
	err := try()
	if !errors.Is(err, yokedcache.ErrUnsupported) {
		e.Fatalf("feature %q is declared unsupported (%s) but the operation returned %v; want an error matching ErrUnsupported", f, why, err)
	}
	if !errors.Is(err, errors.ErrUnsupported) {
		e.Fatalf("ErrUnsupported error %v does not match errors.ErrUnsupported", err)
	}
	e.t.Skipf("%s: feature %q unsupported: %s", e.h.Name, f, why)
}

// Feature probes, for requireFeature.

func (e *env) tryTags() error {
	return e.c.Set(e.ctx, "probe", "v", yokedcache.WithTags("probe"))
}

func (e *env) tryTagsInvalidate() error {
	_, err := e.c.InvalidateTags(e.ctx, "probe")
	return err
}

func (e *env) tryScan() error {
	for _, err := range e.c.Keys(e.ctx, "*") {
		if err != nil {
			return err
		}
	}
	return nil
}

func (e *env) tryTTL() error {
	e.must(e.c.Set(e.ctx, "probe", "v"), "Set")
	_, err := e.c.TTL(e.ctx, "probe")
	return err
}

// needTags, needScan, needTTL skip the leaf (after checking
// ErrUnsupported) when the feature is declared unsupported.
func (e *env) needTags() {
	e.t.Helper()
	e.requireFeature(FeatureTags, func() error {
		if err := e.tryTags(); !errors.Is(err, yokedcache.ErrUnsupported) {
			return err
		}
		return e.tryTagsInvalidate()
	})
}

func (e *env) needScan() {
	e.t.Helper()
	e.requireFeature(FeatureScan, e.tryScan)
}

func (e *env) needTTL() {
	e.t.Helper()
	e.requireFeature(FeatureTTL, e.tryTTL)
}

// canFlush reports whether Flush must work: the backend flushes a prefix
// itself (backend.Flusher) or can enumerate keys.
func (e *env) canFlush() bool {
	if _, ok := e.b.(backend.Flusher); ok {
		return true
	}
	return e.supports(FeatureScan)
}

// needFlush skips the leaf when Flush cannot work: no backend.Flusher and
// scanning declared unsupported. Flush must then fail with ErrUnsupported.
func (e *env) needFlush() {
	e.t.Helper()
	if _, ok := e.b.(backend.Flusher); ok {
		return
	}
	e.requireFeature(FeatureScan, func() error { return e.c.Flush(e.ctx) })
}

// ---- clock helpers ----

// shortTTL is a TTL the suite can wait out: 10 s on a fake clock; with a
// server clock, two granularity units and at least 50 ms.
func (e *env) shortTTL() time.Duration {
	if e.clock != nil {
		return 10 * time.Second
	}
	d := 2 * e.h.gran()
	if d < 50*time.Millisecond {
		d = 50 * time.Millisecond
	}
	return d
}

// tolerance is how far a reported TTL may be from the expected one.
func (e *env) tolerance() time.Duration {
	if e.clock != nil {
		return e.h.gran()
	}
	// Round trips and the server's own resolution.
	return e.h.gran() + time.Second
}

// advance moves the fake clock; with a server clock it sleeps.
func (e *env) advance(d time.Duration) {
	if e.clock != nil {
		e.clock.Advance(d)
		return
	}
	time.Sleep(d)
}

// expiryDeadline is how long after a TTL a server-clock backend may still
// serve the entry before the suite fails.
func (e *env) expiryDeadline(ttl time.Duration) time.Duration {
	return ttl + 2*e.h.gran() + 2*time.Second
}

// waitExpired makes ttl pass for key (set with ttl just before) and
// asserts that Get then misses. On a fake clock it advances past the TTL;
// with a server clock it polls Get (every poll is a read: were reads to
// extend TTLs, the entry would never expire) until a miss or the deadline.
func (e *env) waitExpired(key string, ttl time.Duration) {
	e.t.Helper()
	e.waitExpiredReading(key, ttl, nil)
}

// waitExpiredReading is waitExpired that also calls read before every Get
// while polling a server clock.
func (e *env) waitExpiredReading(key string, ttl time.Duration, read func()) {
	e.t.Helper()
	if e.clock != nil {
		e.clock.Advance(ttl + e.h.gran())
		var s string
		if err := e.c.Get(e.ctx, key, &s); !errors.Is(err, yokedcache.ErrNotFound) {
			e.Fatalf("Get(%q) %v after its TTL %v passed = %v; want ErrNotFound", key, ttl+e.h.gran(), ttl, err)
		}
		return
	}
	start := time.Now()
	deadline := start.Add(e.expiryDeadline(ttl))
	for {
		if read != nil {
			read()
		}
		var s string
		err := e.c.Get(e.ctx, key, &s)
		if errors.Is(err, yokedcache.ErrNotFound) {
			return
		}
		if err != nil {
			e.Fatalf("Get(%q) while waiting for expiry: %v", key, err)
		}
		if time.Now().After(deadline) {
			e.Fatalf("Get(%q) still hits %v after being set with TTL %v (read every 10ms)", key, time.Since(start), ttl)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// wantHitSince asserts key holds want, except that with a server clock a
// miss is accepted once ttl has passed since setAt (a loaded machine may
// stall that long between the write and the read).
func (e *env) wantHitSince(c *yokedcache.Cache, key, want string, setAt time.Time, ttl time.Duration) {
	e.t.Helper()
	got, ok := e.getString(c, key)
	if !ok && e.clock == nil && time.Since(setAt) >= ttl {
		e.t.Logf("%s: Get(%q) missed, but %v passed since it was set with TTL %v; hit check skipped", e.h.Name, key, time.Since(setAt), ttl)
		return
	}
	if !ok {
		e.Fatalf("Get(%q) missed %v after it was set with TTL %v; want hit %q", key, time.Since(setAt), ttl, want)
	}
	if got != want {
		e.Fatalf("Get(%q) = %q; want %q", key, got, want)
	}
}

// ---- value helpers ----

// getString reads a string value; ok is false on a miss.
func (e *env) getString(c *yokedcache.Cache, key string) (string, bool) {
	e.t.Helper()
	var s string
	err := c.Get(e.ctx, key, &s)
	if errors.Is(err, yokedcache.ErrNotFound) {
		return "", false
	}
	if err != nil {
		e.Fatalf("Get(%q): %v", key, err)
	}
	return s, true
}

// wantHit asserts key holds the string want.
// waitCrossInstance lets Harness.CrossInstanceLag pass, so that another
// instance sees this one's changes.
func (e *env) waitCrossInstance() {
	d := e.h.CrossInstanceLag
	if d <= 0 {
		return
	}
	d += d / 10
	if e.clock != nil {
		e.clock.Advance(d)
		return
	}
	time.Sleep(d)
}

func (e *env) wantHit(c *yokedcache.Cache, key, want string) {
	e.t.Helper()
	got, ok := e.getString(c, key)
	if !ok {
		e.Fatalf("Get(%q) missed; want hit %q", key, want)
	}
	if got != want {
		e.Fatalf("Get(%q) = %q; want %q", key, got, want)
	}
}

// wantMiss asserts key is a miss on Get and Exists.
func (e *env) wantMiss(c *yokedcache.Cache, key string) {
	e.t.Helper()
	if got, ok := e.getString(c, key); ok {
		e.Fatalf("Get(%q) = %q; want a miss (ErrNotFound)", key, got)
	}
	ok, err := c.Exists(e.ctx, key)
	if err != nil {
		e.Fatalf("Exists(%q): %v", key, err)
	}
	if ok {
		e.Fatalf("Exists(%q) = true; want false", key)
	}
}

// set stores a string value.
func (e *env) set(c *yokedcache.Cache, key, val string, opts ...yokedcache.SetOption) {
	e.t.Helper()
	if err := c.Set(e.ctx, key, val, opts...); err != nil {
		e.Fatalf("Set(%q): %v", key, err)
	}
}

// keys lists the user keys matching pattern, sorted.
func (e *env) keys(c *yokedcache.Cache, pattern string) []string {
	e.t.Helper()
	var out []string
	for k, err := range c.Keys(e.ctx, pattern) {
		if err != nil {
			e.Fatalf("Keys(%q): %v", pattern, err)
		}
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// sorted returns a sorted copy.
func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	if s == nil {
		s = []string{}
	}
	return s
}

func orEmpty(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// wantKeys asserts Keys(pattern) lists exactly want (when scanning is
// supported; otherwise it does nothing).
func (e *env) wantKeys(c *yokedcache.Cache, pattern string, want []string) {
	e.t.Helper()
	if !e.supports(FeatureScan) {
		return
	}
	got := orEmpty(e.keys(c, pattern))
	if w := sorted(want); !slices.Equal(got, w) {
		e.Fatalf("Keys(%q) = %q; want %q", pattern, got, w)
	}
}

// asYError asserts err is a *yokedcache.Error with the given op and key.
func (e *env) asYError(err error, op, key string) *yokedcache.Error {
	e.t.Helper()
	var ye *yokedcache.Error
	if !errors.As(err, &ye) {
		e.Fatalf("%s error %v (%T) is not a *yokedcache.Error", op, err, err)
	}
	if ye.Op != op {
		e.Fatalf("error %v has Op %q; want %q", err, ye.Op, op)
	}
	if ye.Key != key {
		e.Fatalf("error %v has Key %q; want %q", err, ye.Key, key)
	}
	return ye
}

// contextT shortens loader signatures.
type contextT = context.Context

// countingHandler is a slog.Handler that counts warnings and drops every
// record, keeping test output quiet.
type countingHandler struct{ warnings atomic.Int64 }

func (h *countingHandler) Enabled(context.Context, slog.Level) bool { return true }

func (h *countingHandler) Handle(_ context.Context, r slog.Record) error {
	if r.Level >= slog.LevelWarn {
		h.warnings.Add(1)
	}
	return nil
}

func (h *countingHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *countingHandler) WithGroup(string) slog.Handler      { return h }
