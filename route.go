package yokedcache

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/yokedcache/yokedcache/backend"
	"github.com/yokedcache/yokedcache/backend/memory"
	"github.com/yokedcache/yokedcache/backend/near"
)

// Route sends the user keys under a prefix to their own backend, gives
// them their own default TTL, or both (see Config.Routes).
//
// Prefix "hot" serves the key "hot" and every key starting with "hot:",
// never "hotel:1"; a trailing ':' is ignored. The longest matching route
// wins: with routes "user" and "user:admin", "user:admin:7" goes to
// "user:admin", "user:42" to "user".
type Route struct {
	// Prefix is the user-key prefix the route serves. Required: non-empty
	// UTF-8.
	Prefix string
	// Backend serves the route's keys. The Cache owns it: Close closes it
	// (once, even when several routes share it).
	Backend backend.Backend
	// URL names the route's backend instead of Backend; New opens it.
	// With neither Backend nor URL the route's keys stay on the default
	// backend and only DefaultTTL applies.
	URL string
	// DefaultTTL applies to the route's writes without WithTTL, instead of
	// Config.DefaultTTL: in (0, MaxTTL], or NoExpiry. 0 means
	// Config.DefaultTTL.
	DefaultTTL time.Duration
	// Near puts a near-cache tier in front of the route's Backend or URL
	// (Config.Near covers the default backend). Routes sharing one
	// Backend must agree on it. nil: no tier.
	Near *NearOptions
}

// RouteError is a failure of one route's backend, reported by a Cache
// that has routes (Config.Routes). It is wrapped in the *Error the Cache
// returns; fan-out operations join one per failing route.
type RouteError struct {
	// Route is the route's prefix, or "" for the default route.
	Route string
	// Backend is the backend's type name ("memory", "redis", ...).
	Backend string
	Err     error
}

func (e *RouteError) Error() string {
	msg := trimOwnPrefix(e.Err.Error())
	if e.Route == "" {
		return fmt.Sprintf("default route (%s): %s", e.Backend, msg)
	}
	return fmt.Sprintf("route %q (%s): %s", e.Route, e.Backend, msg)
}

// Unwrap returns the backend's error.
func (e *RouteError) Unwrap() error { return e.Err }

// member is one distinct backend of a Cache, with its capabilities found
// once by type assertion, and the routes it serves.
type member struct {
	b      backend.Backend
	name   string // backend type name
	addr   string // the server's address (backend.Addresser), for spans
	idx    int
	routes []*route

	bg     backend.BatchGetter
	ok     backend.ObjectKeeper
	exp    backend.Expirer
	tg     backend.Tagger
	sc     backend.Scanner
	copies bool // a backend.SetCopier that copies
	// inproc: the backend lives in this process (the memory backend,
	// which keeps objects): no timeouts, no breaker.
	inproc bool
	// local: an in-process backend that New opened itself, so nothing but
	// this Cache writes to it: it holds the very envelopes the Cache
	// encoded, and reads skip their checksum. A backend the caller passed
	// in may be written directly, so its reads are checked.
	local bool
	// g is the member's timeouts and circuit breaker (resilience.go);
	// nil for in-process members.
	g *guard
	// nr is the member's near-cache tier (b is then the tier), or nil.
	nr *near.Store
	// store is b itself when b is a *memory.Store (not wrapped), for
	// reads that call it directly with a key built on the stack
	// (Cache.memGet); nil otherwise.
	store *memory.Store
}

func newMember(b backend.Backend, idx int) *member {
	m := &member{idx: idx}
	m.setBackend(b)
	return m
}

// setBackend makes b the member's backend. Capabilities are those of the
// backend at the bottom of b's wrappers (backend.Base), called through b.
func (m *member) setBackend(b backend.Backend) {
	m.b, m.name = b, backend.Name(b)
	m.store, _ = b.(*memory.Store)
	base := backend.Base(b)
	_, inproc := base.(backend.ObjectKeeper)
	m.inproc = inproc
	m.bg, m.exp, m.tg, m.sc, m.ok = nil, nil, nil, nil, nil
	if _, ok := base.(backend.BatchGetter); ok {
		m.bg, _ = b.(backend.BatchGetter)
	}
	if inproc {
		// A near-cache tier keeps objects too, but only its copies:
		// getKept asks it through member.nr, never with a round trip.
		m.ok, _ = b.(backend.ObjectKeeper)
	}
	if _, ok := base.(backend.Expirer); ok {
		m.exp, _ = b.(backend.Expirer)
	}
	if _, ok := base.(backend.Tagger); ok {
		m.tg, _ = b.(backend.Tagger)
	}
	if _, ok := base.(backend.Scanner); ok {
		m.sc, _ = b.(backend.Scanner)
	}
	m.addr = ""
	if a, ok := base.(backend.Addresser); ok {
		m.addr = a.Addr()
	}
	m.copies = false
	if sc, ok := b.(backend.SetCopier); ok {
		m.copies = sc.SetCopies()
	}
}

// has reports whether member m's backend really has capability T (not
// only a wrapper forwarding it), and returns it through the wrapper.
func has[T any](m *member) (T, bool) {
	var zero T
	if _, ok := backend.Base(m.b).(T); !ok {
		return zero, false
	}
	t, ok := m.b.(T)
	return t, ok
}

// route is one entry of the route table.
type route struct {
	prefix string // "" for the default route
	mem    *member
	ttl    time.Duration // default TTL of writes without WithTTL
	m      metrics       // this route's counters
}

// routeTable maps user keys to routes. Without routes it holds only the
// default route and matching costs one branch.
type routeTable struct {
	def      *route
	byPrefix map[string]*route // nil without routes
	all      []*route          // the default first, then by prefix
	members  []*member         // the default route's first
	routed   bool
	tracer   Tracer // Config.Tracer: round trips of fan-outs (trace.go)
}

// match returns the route of a user key: the longest route prefix that
// is the key or a ':'-segment prefix of it, else the default route.
func (t *routeTable) match(key string) *route {
	if t.byPrefix == nil {
		return t.def
	}
	if r, ok := t.byPrefix[key]; ok {
		return r
	}
	for i := len(key) - 1; i > 0; i-- {
		if key[i] == ':' {
			if r, ok := t.byPrefix[key[:i]]; ok {
				return r
			}
		}
	}
	return t.def
}

// fail wraps a backend error of r's member with the route's name when the
// Cache has routes.
func (t *routeTable) fail(r *route, err error) error {
	if err == nil || !t.routed {
		return err
	}
	return &RouteError{Route: r.prefix, Backend: r.mem.name, Err: err}
}

// failMember wraps an error of a member serving several routes: it names
// the first route it serves (the default when it serves it).
func (t *routeTable) failMember(m *member, err error) error {
	return t.fail(m.routes[0], err)
}

// normalizeRoutePrefix returns a route prefix without trailing ':'s and
// reports whether it is usable: non-empty, valid UTF-8, no 0xFF byte.
func normalizeRoutePrefix(p string) (string, bool) {
	p = strings.TrimRight(p, ":")
	if p == "" || !utf8.ValidString(p) || backend.IsInternalKey(p) {
		return "", false
	}
	return p, true
}

// buildRoutes builds the route table over def and the routes of cfg
// (normalized), opening the routes' URLs. On error it closes what it
// opened, but not def or the caller's backends.
func buildRoutes(cfg *Config, def backend.Backend, defOpened bool) (*routeTable, error) {
	t := &routeTable{}
	byBackend := map[backend.Backend]*member{}
	memberOf := func(b backend.Backend) *member {
		m := byBackend[b]
		if m == nil {
			m = newMember(b, len(t.members))
			byBackend[b] = m
			t.members = append(t.members, m)
		}
		return m
	}
	t.def = &route{mem: memberOf(def), ttl: cfg.DefaultTTL}
	t.def.mem.local = defOpened && t.def.mem.inproc
	t.all = append(t.all, t.def)
	var opened []backend.Backend
	fail := func(err error) (*routeTable, error) {
		for _, b := range opened {
			_ = b.Close()
		}
		return nil, err
	}
	if len(cfg.Routes) > 0 {
		t.byPrefix = make(map[string]*route, len(cfg.Routes))
		t.routed = true
	}
	// nearOf is each member's near-cache setting, and who set it.
	type nearSetting struct {
		o     *NearOptions
		where string
	}
	nearOf := map[*member]nearSetting{t.def.mem: {cfg.Near, "Config.Near"}}
	setNear := func(m *member, o *NearOptions, where string) error {
		prev, ok := nearOf[m]
		if !ok {
			nearOf[m] = nearSetting{o, where}
			return nil
		}
		if (prev.o == nil) != (o == nil) || (o != nil && *prev.o != *o) {
			return fmt.Errorf("%s and %s share a backend but not its near-cache setting: %w", prev.where, where, ErrInvalidConfig)
		}
		return nil
	}
	for _, rc := range cfg.Routes { // validated and sorted by normalize
		b := rc.Backend
		rnear := rc.Near
		if rc.URL != "" {
			raw, err := stripNear(rc.URL, &rnear)
			if err != nil {
				return fail(fmt.Errorf("route %q: %w", rc.Prefix, err))
			}
			b, err = openURL(cfg, raw, memory.Options{})
			if err != nil {
				return fail(fmt.Errorf("route %q: %w", rc.Prefix, err))
			}
			opened = append(opened, b)
			m := memberOf(b)
			m.local = m.inproc
		}
		if b == nil {
			if rnear != nil {
				return fail(fmt.Errorf("route %q: Near needs the route's own Backend or URL (Config.Near covers the default backend): %w", rc.Prefix, ErrInvalidConfig))
			}
			b = def
		} else if err := setNear(memberOf(b), rnear, fmt.Sprintf("route %q", rc.Prefix)); err != nil {
			return fail(err)
		}
		ttl := rc.DefaultTTL
		if ttl == 0 {
			ttl = cfg.DefaultTTL
		}
		r := &route{prefix: rc.Prefix, mem: memberOf(b), ttl: ttl}
		t.byPrefix[rc.Prefix] = r
		t.all = append(t.all, r)
	}
	for _, r := range t.all {
		r.mem.routes = append(r.mem.routes, r)
		r.m.corruptLog = corruptLogLimit()
	}
	for _, m := range t.members {
		if ns := nearOf[m]; ns.o != nil {
			if err := m.addNear(cfg, *ns.o); err != nil {
				for _, m := range t.members {
					if m.nr != nil {
						_ = m.nr.Close()
					}
				}
				return fail(fmt.Errorf("%s: %w", ns.where, err))
			}
		}
		m.g = newGuard(cfg, m)
	}
	if !t.routed {
		t.byPrefix = nil
	}
	// A table whose routes all stay on the default backend only sets
	// TTLs: it reports as one backend.
	if len(t.members) == 1 {
		t.routed = false
	}
	return t, nil
}

// normalizeRoutes validates Config.Routes and sorts a copy by prefix, so
// that the Cache never shares the caller's slice.
func (cfg *Config) normalizeRoutes() error {
	out := make([]Route, 0, len(cfg.Routes))
	raw := map[string]string{}
	for _, r := range cfg.Routes {
		p, ok := normalizeRoutePrefix(r.Prefix)
		if !ok {
			return fmt.Errorf("route prefix %q must be non-empty UTF-8: %w", r.Prefix, ErrInvalidConfig)
		}
		if prev, dup := raw[p]; dup {
			return fmt.Errorf("routes %q and %q are the same route %q (a trailing ':' is ignored): %w", prev, r.Prefix, p, ErrInvalidConfig)
		}
		if r.Backend != nil && r.URL != "" {
			return fmt.Errorf("route %q has both Backend and URL; use one: %w", p, ErrInvalidConfig)
		}
		if r.Backend == nil && r.URL == "" && r.DefaultTTL == 0 {
			return fmt.Errorf("route %q sets neither Backend, URL nor DefaultTTL: %w", p, ErrInvalidConfig)
		}
		if err := validRouteTTL(p, r.DefaultTTL); err != nil {
			return err
		}
		raw[p] = r.Prefix
		r.Prefix = p
		out = append(out, r)
	}
	slices.SortFunc(out, func(a, b Route) int { return strings.Compare(a.Prefix, b.Prefix) })
	if len(out) == 0 {
		out = nil
	}
	cfg.Routes = out
	return nil
}

func validRouteTTL(p string, d time.Duration) error {
	if (d < 0 && d != NoExpiry) || d > MaxTTL {
		return fmt.Errorf("route %q DefaultTTL %v must be in (0, MaxTTL %v] or NoExpiry: %w", p, d, MaxTTL, ErrInvalidConfig)
	}
	return nil
}

// candidates returns the members whose routes can hold user keys that
// start with lit (the literal prefix of a user-key pattern).
func (t *routeTable) candidates(lit string) []*member {
	if !t.routed {
		return t.members
	}
	mark := make([]bool, len(t.members))
	// The route owning every key that starts with lit...
	owner := t.def
	for i := len(lit) - 1; i > 0; i-- {
		if lit[i] == ':' {
			if r, ok := t.byPrefix[lit[:i]]; ok {
				owner = r
				break
			}
		}
	}
	mark[owner.mem.idx] = true
	// ...and the routes nested in it whose keys can start with lit.
	for p, r := range t.byPrefix {
		if strings.HasPrefix(p+":", lit) || strings.HasPrefix(p, lit) {
			mark[r.mem.idx] = true
		}
	}
	var out []*member
	for i, m := range t.members {
		if mark[i] {
			out = append(out, m)
		}
	}
	return out
}

// fanOut runs f for each member, concurrently when there are several,
// and joins their errors, each naming its route.
func (t *routeTable) fanOut(ms []*member, f func(m *member) error) error {
	if len(ms) == 1 {
		return t.failMember(ms[0], f(ms[0]))
	}
	errs := make([]error, len(ms))
	var wg sync.WaitGroup
	for i, m := range ms {
		wg.Go(func() { errs[i] = t.failMember(m, f(m)) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// fanOutBatch is fanOut for backend calls: each member's call runs under
// its batch timeout and circuit breaker (resilience.go).
func (t *routeTable) fanOutBatch(ctx context.Context, ms []*member, f func(ctx context.Context, m *member) error) error {
	return t.fanOutKind(ctx, kindBatch, ms, f)
}

// fanOutKind is fanOutBatch with the kind of timeout (kindStream: the
// breaker only, for work proportional to the keyspace).
func (t *routeTable) fanOutKind(ctx context.Context, kind opKind, ms []*member, f func(ctx context.Context, m *member) error) error {
	return t.fanOut(ms, func(m *member) error {
		ctx, sp := t.roundTrip(ctx, m)
		_, err := guarded(ctx, m, kind, func(ctx context.Context) (struct{}, error) {
			return struct{}{}, f(ctx, m)
		})
		sp.end(err)
		return err
	})
}

// groupKeys splits the indexes 0..n-1 by the member serving keyAt(i).
func (t *routeTable) groupKeys(n int, keyAt func(int) string) (groups [][]int, active []*member) {
	if len(t.members) == 1 {
		idx := make([]int, n)
		for i := range idx {
			idx[i] = i
		}
		return [][]int{idx}, t.members
	}
	groups = make([][]int, len(t.members))
	for i := range n {
		m := t.match(keyAt(i)).mem
		groups[m.idx] = append(groups[m.idx], i)
	}
	for i, g := range groups {
		if len(g) > 0 {
			active = append(active, t.members[i])
		}
	}
	return groups, active
}

// RouteStats is one route's part of Stats.Routes.
type RouteStats struct {
	// Route is the route's prefix, or "" for the default route.
	Route string `json:"route"`
	// Backend is the type name of the route's backend.
	Backend string `json:"backend"`
	// The route's own counters.
	Hits    int64 `json:"hits"`
	Misses  int64 `json:"misses"`
	Sets    int64 `json:"sets"`
	Deletes int64 `json:"deletes"`
	Errors  int64 `json:"errors"`
	// Keys, Bytes and Scope are what the route's backend reports. Routes
	// sharing one backend report the same numbers (its whole content under
	// the cache's prefix). -1: unknown.
	Keys  int64  `json:"keys"`
	Bytes int64  `json:"bytes"`
	Scope string `json:"scope"`
	// Extra is the backend's own numbers (server counters, pools).
	Extra map[string]any `json:"extra,omitempty"`
	// Breaker is the state of the route's backend's circuit breaker
	// (shared by the routes of one backend); nil for in-process backends.
	Breaker *BreakerStats `json:"breaker,omitempty"`
	// Near is the route's backend's near-cache tier (shared by the routes
	// of one backend), or nil.
	Near *NearStats `json:"near,omitempty"`
	// Error says why the backend's numbers are missing.
	Error string `json:"error,omitempty"`
}

// RouteHealth is one route's part of HealthReport.Routes.
type RouteHealth struct {
	// Route is the route's prefix, or "" for the default route.
	Route   string `json:"route"`
	Backend string `json:"backend"`
	// Status is "healthy", "degraded" or "unhealthy".
	Status   string         `json:"status"`
	Latency  time.Duration  `json:"latency_ns"`
	Details  map[string]any `json:"details,omitempty"`
	Warnings []string       `json:"warnings,omitempty"`
	Error    string         `json:"error,omitempty"`
}
