// Package router implements yokedcache's per-prefix routing: a
// [backend.Backend] that sends each key to the backend of the longest
// matching key prefix, and everything else to a default backend.
//
// # Matching
//
// Stored keys arrive as "<KeyPrefix>:<user key>". The router strips the
// cache's key prefix and matches the user key at ':' segment boundaries:
// the route "hot" serves "hot" and "hot:x" (and "hot:x:y"), never
// "hotel:1". The longest matching route wins, so with routes "user" and
// "user:admin", "user:admin:7" goes to "user:admin", "user:42" and
// "user:administrator" to "user". A trailing ':' in a route prefix is
// ignored ("user:" is the route "user"). Keys that match no route, and the
// Cache's internal keys (probes), go to the default backend.
//
// # Operations
//
// Every capability of package backend is implemented:
//
//   - Single-key operations (Get, Set, Delete, Exists, TTL, Expire) go to
//     the key's route. If that route's backend lacks the capability (TTL
//     on a backend without backend.Expirer, a Set with tags on a backend
//     without backend.Tagger) the error matches ErrUnsupported and names
//     the route.
//   - Batch operations split the keys per backend, run the backends
//     concurrently, and merge the results in the caller's order.
//   - InvalidateTags goes to every backend that keeps tags (a backend
//     without tags can hold no tagged entry, so it is skipped). Flush goes
//     to every backend.
//   - Scan and DeletePattern go only to the backends whose routes can hold
//     keys matching the pattern, judged by the pattern's literal prefix
//     ("session:*" touches only the session route and routes nested
//     in it; "*" touches all). A Scan of a backend yields only the keys
//     that route to it.
//   - Stats and HealthDetails report each backend ("routes" in
//     Stats.Extra and HealthDetails.Details) and totals.
//   - Ping pings every backend and fails if any fails.
//   - Close closes each distinct backend once, even when several prefixes
//     share it.
//
// A backend shared by several routes is called once per operation, not
// once per route.
//
// # Failures
//
// A route's error is wrapped with the route's name ("route \"session\"
// (redis): ..." or "default route (memory): ..."), keeping the cause for
// errors.Is. A failing route does not stop the others: fan-out and batch
// operations finish the work on every other backend and return their
// results together with the failures joined by errors.Join. A fan-out
// operation that reaches a backend lacking the capability (Scan on
// Memcached) reports ErrUnsupported for that route after the other
// routes' results.
package router

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/yokedcache/yokedcache/backend"
	"github.com/yokedcache/yokedcache/codec"
	"github.com/yokedcache/yokedcache/internal/glob"
)

// DefaultRoute is the name of the default route in errors, stats and
// health output.
const DefaultRoute = "(default)"

// Options configures a Router.
type Options struct {
	// KeyPrefix is the Cache's key prefix (without the ':'). Stored keys
	// "<KeyPrefix>:<user key>" are routed on the user key. Empty means the
	// prefix is everything up to the first ':' of each stored key, which
	// lets one Router serve Caches with different (colon-free) prefixes.
	KeyPrefix string
	// Default serves every key that matches no route. Required.
	Default backend.Backend
	// Routes maps user-key prefixes to backends. A backend may serve
	// several prefixes and may also be Default.
	Routes map[string]backend.Backend
}

// member is one distinct backend and the routes it serves.
type member struct {
	b      backend.Backend
	name   string   // backend type name
	routes []string // route names it serves, sorted; DefaultRoute first
	label  string   // "route \"hot\" (memory)"
	key    string   // routes joined with ",", for stats/health maps
	idx    int
}

// Router is a backend.Backend that routes by key prefix.
type Router struct {
	prefix  string // "<KeyPrefix>:" or "" (first segment)
	def     *member
	routes  map[string]*member // user-key prefix -> member
	members []*member          // default's member first
	closed  atomic.Bool
}

// Compile-time checks: the Router implements every capability.
var (
	_ backend.Backend        = (*Router)(nil)
	_ backend.BatchGetter    = (*Router)(nil)
	_ backend.BatchSetter    = (*Router)(nil)
	_ backend.BatchDeleter   = (*Router)(nil)
	_ backend.Exister        = (*Router)(nil)
	_ backend.Expirer        = (*Router)(nil)
	_ backend.Tagger         = (*Router)(nil)
	_ backend.Scanner        = (*Router)(nil)
	_ backend.PatternDeleter = (*Router)(nil)
	_ backend.Flusher        = (*Router)(nil)
	_ backend.Stater         = (*Router)(nil)
	_ backend.Pinger         = (*Router)(nil)
	_ backend.HealthChecker  = (*Router)(nil)
	_ backend.Aser           = (*Router)(nil)
	_ backend.Namer          = (*Router)(nil)
	_ backend.SetCopier      = (*Router)(nil)
)

// SetCopies reports whether every route's backend is a backend.SetCopier
// that copies.
func (r *Router) SetCopies() bool {
	for _, m := range r.members {
		if sc, ok := m.b.(backend.SetCopier); !ok || !sc.SetCopies() {
			return false
		}
	}
	return true
}

// NormalizePrefix returns a route prefix without its trailing ':'s and
// reports whether it is usable: non-empty, valid UTF-8, not an internal
// key.
func NormalizePrefix(p string) (string, bool) {
	p = strings.TrimRight(p, ":")
	if p == "" || !utf8.ValidString(p) || backend.IsInternalKey(p) {
		return "", false
	}
	return p, true
}

// New returns a Router. It does not take ownership until it succeeds:
// on error the caller still owns the backends.
func New(o Options) (*Router, error) {
	if o.Default == nil {
		return nil, fmt.Errorf("router: a default backend is required: %w", backend.ErrInvalidConfig)
	}
	r := &Router{routes: make(map[string]*member, len(o.Routes))}
	if o.KeyPrefix != "" {
		r.prefix = o.KeyPrefix + ":"
	}
	byBackend := map[backend.Backend]*member{}
	add := func(b backend.Backend, route string) *member {
		m := byBackend[b]
		if m == nil {
			m = &member{b: b, name: backend.Name(b), idx: len(r.members)}
			byBackend[b] = m
			r.members = append(r.members, m)
		}
		m.routes = append(m.routes, route)
		return m
	}
	r.def = add(o.Default, DefaultRoute)
	prefixes := slices.Sorted(maps.Keys(o.Routes))
	for _, raw := range prefixes {
		b := o.Routes[raw]
		p, ok := NormalizePrefix(raw)
		if !ok {
			return nil, fmt.Errorf("router: route prefix %q must be non-empty UTF-8: %w", raw, backend.ErrInvalidConfig)
		}
		if b == nil {
			return nil, fmt.Errorf("router: route %q has a nil backend: %w", p, backend.ErrInvalidConfig)
		}
		if _, dup := r.routes[p]; dup {
			return nil, fmt.Errorf("router: route %q is given twice (a trailing ':' is ignored): %w", p, backend.ErrInvalidConfig)
		}
		r.routes[p] = add(b, p)
	}
	for _, m := range r.members {
		quoted := make([]string, len(m.routes))
		for i, rt := range m.routes {
			if rt == DefaultRoute {
				quoted[i] = "default route"
			} else {
				quoted[i] = fmt.Sprintf("route %q", rt)
			}
		}
		m.label = fmt.Sprintf("%s (%s)", strings.Join(quoted, ", "), m.name)
		m.key = strings.Join(m.routes, ",")
	}
	return r, nil
}

// Name returns "router".
func (r *Router) Name() string { return "router" }

// Routes returns the route prefixes (without the default), sorted.
func (r *Router) Routes() []string { return slices.Sorted(maps.Keys(r.routes)) }

// userKey extracts the user key of a stored key; ok is false for keys
// outside the cache's prefix.
func (r *Router) userKey(skey string) (string, bool) {
	if r.prefix != "" {
		if !strings.HasPrefix(skey, r.prefix) {
			return "", false
		}
		return skey[len(r.prefix):], true
	}
	i := strings.IndexByte(skey, ':')
	if i < 0 {
		return "", false
	}
	return skey[i+1:], true
}

// Match returns the longest route prefix among routes that serves the user
// key, or "" when none does. It is the matching rule of the Router,
// exported for configuration that follows routes (per-route TTLs).
func Match[V any](routes map[string]V, userKey string) (string, bool) {
	if len(routes) == 0 {
		return "", false
	}
	if _, ok := routes[userKey]; ok {
		return userKey, true
	}
	for i := len(userKey) - 1; i > 0; i-- {
		if userKey[i] == ':' {
			if _, ok := routes[userKey[:i]]; ok {
				return userKey[:i], true
			}
		}
	}
	return "", false
}

// Route returns the name of the route serving a stored key: a route
// prefix, or DefaultRoute.
func (r *Router) Route(skey string) string {
	m := r.lookup(skey)
	if m == r.def {
		return DefaultRoute
	}
	uk, _ := r.userKey(skey)
	p, _ := Match(r.routes, uk)
	return p
}

func (r *Router) lookup(skey string) *member {
	if len(r.routes) == 0 {
		return r.def
	}
	uk, ok := r.userKey(skey)
	if !ok || uk == "" || uk[0] == 0xFF {
		return r.def
	}
	if p, ok := Match(r.routes, uk); ok {
		return r.routes[p]
	}
	return r.def
}

// wrap wraps a backend error with the route's name, unless the error
// already names it (m.unsupported).
func (m *member) wrap(err error) error {
	if err == nil {
		return nil
	}
	if _, ok := err.(labelled); ok {
		return err
	}
	return fmt.Errorf("router: %s: %w", m.label, err)
}

// labelled is an error whose text already names its route.
type labelled struct{ error }

func (e labelled) Unwrap() error { return e.error }

func (m *member) unsupported(feature, why string) error {
	return labelled{backend.Unsupported("router: "+m.label, feature, why)}
}

func (r *Router) check() error {
	if r.closed.Load() {
		return fmt.Errorf("router: %w", backend.ErrClosed)
	}
	return nil
}

// ---- single keys ----

// Get reads key from its route.
func (r *Router) Get(ctx context.Context, key string) ([]byte, error) {
	if err := r.check(); err != nil {
		return nil, err
	}
	m := r.lookup(key)
	v, err := m.b.Get(ctx, key)
	if err != nil && !errors.Is(err, backend.ErrNotFound) {
		return nil, m.wrap(err)
	}
	return v, err
}

// Set writes key to its route.
func (r *Router) Set(ctx context.Context, key string, value []byte, opts backend.SetOptions) error {
	if err := r.check(); err != nil {
		return err
	}
	m := r.lookup(key)
	if len(opts.Tags) > 0 {
		if _, ok := m.b.(backend.Tagger); !ok {
			return m.unsupported("tags", "the backend does not keep tags")
		}
	}
	return m.wrap(m.b.Set(ctx, key, value, opts))
}

// Delete removes key from its route.
func (r *Router) Delete(ctx context.Context, key string) (bool, error) {
	if err := r.check(); err != nil {
		return false, err
	}
	m := r.lookup(key)
	ok, err := m.b.Delete(ctx, key)
	return ok, m.wrap(err)
}

// Exists asks key's route; without backend.Exister it reads the value and
// checks that it decodes.
func (r *Router) Exists(ctx context.Context, key string) (bool, error) {
	if err := r.check(); err != nil {
		return false, err
	}
	m := r.lookup(key)
	if ex, ok := m.b.(backend.Exister); ok {
		found, err := ex.Exists(ctx, key)
		return found, m.wrap(err)
	}
	raw, err := m.b.Get(ctx, key)
	if errors.Is(err, backend.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, m.wrap(err)
	}
	_, derr := codec.Decode(raw, 0)
	return derr == nil, nil
}

// TTL asks key's route.
func (r *Router) TTL(ctx context.Context, key string) (time.Duration, error) {
	if err := r.check(); err != nil {
		return 0, err
	}
	m := r.lookup(key)
	e, ok := m.b.(backend.Expirer)
	if !ok {
		return 0, m.unsupported("ttl", "the backend cannot report TTLs")
	}
	d, err := e.TTL(ctx, key)
	if err != nil && !errors.Is(err, backend.ErrNotFound) {
		return 0, m.wrap(err)
	}
	return d, err
}

// Expire changes key's TTL on its route.
func (r *Router) Expire(ctx context.Context, key string, ttl time.Duration) (bool, error) {
	if err := r.check(); err != nil {
		return false, err
	}
	m := r.lookup(key)
	e, ok := m.b.(backend.Expirer)
	if !ok {
		return false, m.unsupported("expire", "the backend cannot change TTLs")
	}
	found, err := e.Expire(ctx, key, ttl)
	return found, m.wrap(err)
}

// ---- batches ----

// group splits indexes of keys per member, in member order.
func (r *Router) group(n int, keyAt func(int) string) [][]int {
	groups := make([][]int, len(r.members))
	for i := 0; i < n; i++ {
		m := r.lookup(keyAt(i))
		groups[m.idx] = append(groups[m.idx], i)
	}
	return groups
}

// fanOut runs f for every member with a non-empty group, concurrently
// when there are several, and joins the errors.
func (r *Router) fanOut(groups [][]int, f func(m *member, idx []int) error) error {
	var active []int
	for i, g := range groups {
		if len(g) > 0 {
			active = append(active, i)
		}
	}
	if len(active) == 1 {
		m := r.members[active[0]]
		return m.wrap(f(m, groups[active[0]]))
	}
	errs := make([]error, len(r.members))
	var wg sync.WaitGroup
	for _, i := range active {
		wg.Go(func() {
			m := r.members[i]
			errs[i] = m.wrap(f(m, groups[i]))
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// GetMany reads keys from their routes, one batch per backend. On a
// route's failure the other routes' values are still returned (the failed
// keys' slots are nil) with the error.
func (r *Router) GetMany(ctx context.Context, keys []string) ([][]byte, error) {
	if err := r.check(); err != nil {
		return nil, err
	}
	out := make([][]byte, len(keys))
	groups := r.group(len(keys), func(i int) string { return keys[i] })
	err := r.fanOut(groups, func(m *member, idx []int) error {
		sub := make([]string, len(idx))
		for j, i := range idx {
			sub[j] = keys[i]
		}
		if bg, ok := m.b.(backend.BatchGetter); ok {
			vals, err := bg.GetMany(ctx, sub)
			if err != nil {
				return err
			}
			if len(vals) != len(sub) {
				return fmt.Errorf("GetMany returned %d values for %d keys", len(vals), len(sub))
			}
			for j, i := range idx {
				out[i] = vals[j]
			}
			return nil
		}
		for j, i := range idx {
			v, err := m.b.Get(ctx, sub[j])
			if errors.Is(err, backend.ErrNotFound) {
				continue
			}
			if err != nil {
				return err
			}
			out[i] = v
		}
		return nil
	})
	return out, err
}

// SetMany writes items to their routes, one batch per backend. Tags on a
// route without tag support fail the whole call before anything is
// written. When some routes fail and others store their items, the error
// is a *backend.PartialError counting the stored items.
func (r *Router) SetMany(ctx context.Context, items []backend.Item) error {
	if err := r.check(); err != nil {
		return err
	}
	groups := r.group(len(items), func(i int) string { return items[i].Key })
	for mi, g := range groups {
		m := r.members[mi]
		if _, ok := m.b.(backend.Tagger); ok {
			continue
		}
		for _, i := range g {
			if len(items[i].Tags) > 0 {
				return m.unsupported("tags", "the backend does not keep tags")
			}
		}
	}
	var done atomic.Int64 // items stored, for a *backend.PartialError
	err := r.fanOut(groups, func(m *member, idx []int) error {
		sub := make([]backend.Item, len(idx))
		for j, i := range idx {
			sub[j] = items[i]
		}
		if bs, ok := m.b.(backend.BatchSetter); ok {
			err := bs.SetMany(ctx, sub)
			if err == nil {
				done.Add(int64(len(sub)))
			} else if pe, ok := errors.AsType[*backend.PartialError](err); ok {
				done.Add(pe.Done)
			}
			return err
		}
		var errs []error
		for _, it := range sub {
			if err := m.b.Set(ctx, it.Key, it.Value, it.SetOptions); err != nil {
				errs = append(errs, err)
				if ctx.Err() != nil {
					break
				}
			} else {
				done.Add(1)
			}
		}
		return errors.Join(errs...)
	})
	if err != nil && done.Load() > 0 {
		return &backend.PartialError{Done: done.Load(), Err: err}
	}
	return err
}

// DeleteMany removes keys from their routes and returns how many existed.
func (r *Router) DeleteMany(ctx context.Context, keys []string) (int64, error) {
	if err := r.check(); err != nil {
		return 0, err
	}
	var total atomic.Int64
	groups := r.group(len(keys), func(i int) string { return keys[i] })
	err := r.fanOut(groups, func(m *member, idx []int) error {
		sub := make([]string, len(idx))
		for j, i := range idx {
			sub[j] = keys[i]
		}
		n, err := deleteKeys(ctx, m.b, sub)
		total.Add(n)
		return err
	})
	return total.Load(), err
}

func deleteKeys(ctx context.Context, b backend.Backend, keys []string) (int64, error) {
	if len(keys) == 0 {
		return 0, nil
	}
	if bd, ok := b.(backend.BatchDeleter); ok {
		return bd.DeleteMany(ctx, keys)
	}
	var n int64
	for _, k := range keys {
		ok, err := b.Delete(ctx, k)
		if err != nil {
			return n, err
		}
		if ok {
			n++
		}
	}
	return n, nil
}

// ---- fan-out ----

// all returns one group per member (the group content is unused).
func (r *Router) all() [][]int {
	g := make([][]int, len(r.members))
	for i := range g {
		g[i] = []int{i}
	}
	return g
}

// InvalidateTags invalidates tags on every backend that keeps tags. It
// returns the total count, or -1 when any backend cannot count.
func (r *Router) InvalidateTags(ctx context.Context, tags []string) (int64, error) {
	if err := r.check(); err != nil {
		return 0, err
	}
	var total atomic.Int64
	var unknown atomic.Bool
	groups := r.all()
	for i, m := range r.members {
		if _, ok := m.b.(backend.Tagger); !ok {
			groups[i] = nil // holds no tagged entries: Set refuses tags there
		}
	}
	err := r.fanOut(groups, func(m *member, _ []int) error {
		n, err := m.b.(backend.Tagger).InvalidateTags(ctx, tags)
		if n < 0 {
			unknown.Store(true)
		} else {
			total.Add(n)
		}
		return err
	})
	if unknown.Load() {
		return -1, err
	}
	return total.Load(), err
}

// candidates returns, per member, whether its routes can hold stored keys
// matching the stored-key glob pattern.
func (r *Router) candidates(pattern string) [][]int {
	groups := make([][]int, len(r.members))
	mark := func(m *member) { groups[m.idx] = []int{m.idx} }
	if len(r.routes) == 0 {
		mark(r.def)
		return groups
	}
	p, err := glob.Compile(pattern)
	if err != nil {
		// Let every backend report the bad pattern.
		return r.all()
	}
	lit := p.Prefix()
	var user string // literal prefix of the matching user keys
	if r.prefix != "" {
		if strings.HasPrefix(lit, r.prefix) {
			user = lit[len(r.prefix):]
		} else if !strings.HasPrefix(r.prefix, lit) {
			// Outside this cache's keys: only strays on the default.
			mark(r.def)
			return groups
		}
	} else if i := strings.IndexByte(lit, ':'); i >= 0 {
		user = lit[i+1:]
	}
	// The route owning every key that starts with user...
	owner := r.def
	for i := len(user) - 1; i > 0; i-- {
		if user[i] == ':' {
			if m, ok := r.routes[user[:i]]; ok {
				owner = m
				break
			}
		}
	}
	mark(owner)
	// ...and the routes (nested in it) whose keys can start with user.
	for rp, m := range r.routes {
		if strings.HasPrefix(rp+":", user) {
			mark(m)
		}
	}
	return groups
}

// Scan streams the stored keys matching pattern from every backend whose
// routes can hold them; each backend contributes only the keys that route
// to it. Failing or unsupported routes are reported after the other
// routes' keys, as one joined error.
func (r *Router) Scan(ctx context.Context, pattern string) iter.Seq2[string, error] {
	return func(yield func(string, error) bool) {
		if err := r.check(); err != nil {
			yield("", err)
			return
		}
		groups := r.candidates(pattern)
		var errs []error
		for mi, g := range groups {
			if len(g) == 0 {
				continue
			}
			m := r.members[mi]
			sc, ok := m.b.(backend.Scanner)
			if !ok {
				errs = append(errs, m.unsupported("key listing", "the backend cannot enumerate keys"))
				continue
			}
			for k, err := range sc.Scan(ctx, pattern) {
				if err != nil {
					errs = append(errs, m.wrap(err))
					break
				}
				if r.lookup(k) != m {
					continue
				}
				if !yield(k, nil) {
					return
				}
			}
			if ctx.Err() != nil {
				break
			}
		}
		if err := errors.Join(errs...); err != nil {
			yield("", err)
		}
	}
}

// DeletePattern deletes the keys matching pattern on every backend whose
// routes can hold them, with the backend's PatternDeleter or by scanning.
func (r *Router) DeletePattern(ctx context.Context, pattern string) (int64, error) {
	if err := r.check(); err != nil {
		return 0, err
	}
	p, err := glob.Compile(pattern)
	if err != nil {
		return 0, fmt.Errorf("router: pattern %q: %v: %w", pattern, err, backend.ErrInvalidKey)
	}
	var total atomic.Int64
	err = r.fanOut(r.candidates(pattern), func(m *member, _ []int) error {
		n, err := deletePattern(ctx, m, pattern, p)
		total.Add(n)
		return err
	})
	return total.Load(), err
}

func deletePattern(ctx context.Context, m *member, pattern string, p *glob.Pattern) (int64, error) {
	if pd, ok := m.b.(backend.PatternDeleter); ok {
		return pd.DeletePattern(ctx, pattern)
	}
	sc, ok := m.b.(backend.Scanner)
	if !ok {
		return 0, m.unsupported("pattern invalidation", "the backend cannot enumerate keys")
	}
	var total int64
	batch := make([]string, 0, 256)
	flush := func() error {
		n, err := deleteKeys(ctx, m.b, batch)
		total += n
		batch = batch[:0]
		return err
	}
	for k, err := range sc.Scan(ctx, pattern) {
		if err != nil {
			return total, err
		}
		if backend.IsInternalKey(k) || !p.Match(k) {
			continue
		}
		batch = append(batch, k)
		if len(batch) == cap(batch) {
			if err := flush(); err != nil {
				return total, err
			}
		}
	}
	return total, flush()
}

// Flush removes every key under prefix on every backend.
func (r *Router) Flush(ctx context.Context, prefix string) error {
	if err := r.check(); err != nil {
		return err
	}
	pattern := glob.Escape(prefix) + "*"
	p, err := glob.Compile(pattern)
	if err != nil {
		return fmt.Errorf("router: flush %q: %v: %w", prefix, err, backend.ErrInvalidKey)
	}
	return r.fanOut(r.all(), func(m *member, _ []int) error {
		if fl, ok := m.b.(backend.Flusher); ok {
			return fl.Flush(ctx, prefix)
		}
		if _, ok := m.b.(backend.PatternDeleter); !ok {
			if _, ok := m.b.(backend.Scanner); !ok {
				return m.unsupported("flush", "the backend can neither flush a prefix nor enumerate keys")
			}
		}
		_, err := deletePattern(ctx, m, pattern, p)
		return err
	})
}

// ---- stats, health ----

// RouteStats is one backend's entry in Stats.Extra["routes"].
type RouteStats struct {
	Routes  []string       `json:"routes"`
	Backend string         `json:"backend"`
	Keys    int64          `json:"keys"`
	Bytes   int64          `json:"bytes"`
	Scope   string         `json:"scope"`
	Extra   map[string]any `json:"extra,omitempty"`
	Error   string         `json:"error,omitempty"`
}

// Stats reports each backend under Extra["routes"] (a map from the routes
// it serves, joined with ',', to a RouteStats) and the totals. When a
// backend cannot report (no backend.Stater, or an error), its entry says
// so and the totals are -1 (unknown); the call itself does not fail.
func (r *Router) Stats(ctx context.Context, prefix string) (backend.Stats, error) {
	if err := r.check(); err != nil {
		return backend.Stats{}, err
	}
	per := make([]RouteStats, len(r.members))
	raw := make([]backend.Stats, len(r.members))
	_ = r.fanOut(r.all(), func(m *member, _ []int) error {
		rs := RouteStats{Routes: m.routes, Backend: m.name, Keys: -1, Bytes: -1, Scope: "unknown"}
		if st, ok := m.b.(backend.Stater); ok {
			s, err := st.Stats(ctx, prefix)
			if err != nil {
				rs.Error = m.wrap(err).Error()
			} else {
				raw[m.idx] = s
				rs.Keys, rs.Bytes, rs.Scope, rs.Extra = s.Keys, s.Bytes, s.Scope, s.Extra
			}
		} else {
			rs.Error = "the backend reports no stats"
		}
		per[m.idx] = rs
		return nil
	})
	out := backend.Stats{Extra: map[string]any{}}
	routes := make(map[string]RouteStats, len(per))
	scopes := map[string]bool{}
	var unknownKeys, unknownBytes bool
	for i, rs := range per {
		routes[r.members[i].key] = rs
		scopes[rs.Scope] = true
		if rs.Keys < 0 {
			unknownKeys = true
		} else {
			out.Keys += rs.Keys
		}
		if rs.Bytes < 0 {
			unknownBytes = true
		} else {
			out.Bytes += rs.Bytes
		}
		out.Evictions += raw[i].Evictions
		out.Expirations += raw[i].Expirations
	}
	if unknownKeys {
		out.Keys = -1
	}
	if unknownBytes {
		out.Bytes = -1
	}
	if len(scopes) == 1 {
		out.Scope = per[0].Scope
	} else {
		out.Scope = "mixed"
	}
	out.Extra["routes"] = routes
	return out, nil
}

// Ping pings every backend (backend.Pinger, or a read of an internal key)
// and fails if any fails, naming each failing route.
func (r *Router) Ping(ctx context.Context) error {
	if err := r.check(); err != nil {
		return err
	}
	return r.fanOut(r.all(), func(m *member, _ []int) error {
		return r.pingMember(ctx, m)
	})
}

func (r *Router) pingMember(ctx context.Context, m *member) error {
	if p, ok := m.b.(backend.Pinger); ok {
		return p.Ping(ctx)
	}
	_, err := m.b.Get(ctx, r.prefix+"\xffping")
	if errors.Is(err, backend.ErrNotFound) {
		return nil
	}
	return err
}

// RouteHealth is one backend's entry in HealthDetails.Details["routes"].
type RouteHealth struct {
	Routes    []string       `json:"routes"`
	Backend   string         `json:"backend"`
	Status    string         `json:"status"`
	LatencyMS float64        `json:"latency_ms"`
	Details   map[string]any `json:"details,omitempty"`
	Warnings  []string       `json:"warnings,omitempty"`
	Error     string         `json:"error,omitempty"`
}

// HealthDetails pings every backend and collects its own details under
// Details["routes"] (a map from the routes it serves, joined with ',', to
// a RouteHealth). The status is "healthy" when every backend is,
// "unhealthy" when none is, and "degraded" otherwise.
func (r *Router) HealthDetails(ctx context.Context) (backend.HealthDetails, error) {
	if err := r.check(); err != nil {
		return backend.HealthDetails{Status: "unhealthy"}, err
	}
	per := make([]RouteHealth, len(r.members))
	_ = r.fanOut(r.all(), func(m *member, _ []int) error {
		h := RouteHealth{Routes: m.routes, Backend: m.name, Status: "healthy"}
		start := time.Now()
		err := r.pingMember(ctx, m)
		h.LatencyMS = float64(time.Since(start).Microseconds()) / 1000
		if err != nil {
			h.Status, h.Error = "unhealthy", m.wrap(err).Error()
		}
		if hc, ok := m.b.(backend.HealthChecker); ok {
			d, derr := hc.HealthDetails(ctx)
			h.Details, h.Warnings = d.Details, d.Warnings
			switch {
			case derr != nil:
				h.Status = "unhealthy"
				if h.Error == "" {
					h.Error = m.wrap(derr).Error()
				}
			case d.Status == "unhealthy":
				h.Status = "unhealthy"
			case d.Status == "degraded" && h.Status == "healthy":
				h.Status = "degraded"
			}
		}
		per[m.idx] = h
		return nil
	})
	out := backend.HealthDetails{Details: map[string]any{}}
	routes := make(map[string]RouteHealth, len(per))
	healthy, unhealthy := 0, 0
	for i, h := range per {
		routes[r.members[i].key] = h
		switch h.Status {
		case "healthy":
			healthy++
		case "unhealthy":
			unhealthy++
			msg := h.Error
			if msg == "" {
				msg = "router: " + r.members[i].label + ": reports unhealthy"
			}
			out.Warnings = append(out.Warnings, msg)
		default:
			out.Warnings = append(out.Warnings, "router: "+r.members[i].label+": degraded")
		}
		for _, w := range h.Warnings {
			out.Warnings = append(out.Warnings, "router: "+r.members[i].label+": "+w)
		}
	}
	switch {
	case healthy == len(per):
		out.Status = "healthy"
	case unhealthy == len(per):
		out.Status = "unhealthy"
	default:
		out.Status = "degraded"
	}
	out.Details["routes"] = routes
	return out, nil
}

// ---- native access, lifecycle ----

// As fills target from the first backend (the default first, then the
// routes in prefix order) that can.
func (r *Router) As(target any) bool {
	if target == nil {
		return false
	}
	for _, m := range r.members {
		if a, ok := m.b.(backend.Aser); ok && a.As(target) {
			return true
		}
	}
	return false
}

// Close closes each distinct backend once and joins their errors. Later
// calls return ErrClosed.
func (r *Router) Close() error {
	if !r.closed.CompareAndSwap(false, true) {
		return fmt.Errorf("router: %w", backend.ErrClosed)
	}
	var errs []error
	for _, m := range r.members {
		errs = append(errs, m.wrap(m.b.Close()))
	}
	return errors.Join(errs...)
}
