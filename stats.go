package yokedcache

import (
	"context"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/yokedcache/yokedcache/backend"
)

// stripes spreads a counter over cache lines so that concurrent
// increments from different cores rarely touch the same line.
const stripes = 16

type paddedInt struct {
	n atomic.Int64
	_ [56]byte
}

// counter is a lock-free striped counter.
type counter struct{ s [stripes]paddedInt }

func (c *counter) add(n int64) { c.s[rand.Uint32()&(stripes-1)].n.Add(n) }

func (c *counter) load() int64 {
	var t int64
	for i := range c.s {
		t += c.s[i].n.Load()
	}
	return t
}

// Operations whose latency is sampled.
const (
	opGet = iota
	opSet
	opDelete
	opGetMany
	opSetMany
	opDeleteMany
	opInvalidate // InvalidateTags and InvalidatePattern, every call timed
	opCount
)

var opNames = [opCount]string{"get", "set", "delete", "get_many", "set_many", "delete_many", "invalidate"}

// latencySample is 1 in sampleEvery operations timed: timing every call
// would cost two clock reads on the hot path.
const sampleEvery = 16

type latency struct {
	count counter // sampled operations
	total counter // nanoseconds over sampled operations
	max   atomic.Int64
}

func (l *latency) record(d time.Duration) {
	l.count.add(1)
	l.total.add(int64(d))
	for {
		m := l.max.Load()
		if int64(d) <= m || l.max.CompareAndSwap(m, int64(d)) {
			return
		}
	}
}

type metrics struct {
	hits, misses, sets, deletes, invalidations, errors, corrupt, loads, loadErrors counter
	unauthenticated                                                                counter
	// Resilience: see the Stats fields of the same names.
	staleServed, staleIfError, negativeHits, negativeStores, loadFallbacks, writeBackErrors, refreshes, lockWaits, earlyRefreshes counter
	lat                                                                                                                           [opCount]latency
}

// sample reports whether this operation should be timed.
func sample() bool { return rand.Uint32()%sampleEvery == 0 }

// OpLatency is the sampled latency of one operation type.
type OpLatency struct {
	Samples int64         `json:"samples"`
	Avg     time.Duration `json:"avg_ns"`
	Max     time.Duration `json:"max_ns"`
}

// Stats is a snapshot of a Cache's counters and what its backend reports.
//
// The counters (Hits ... Loads) are this Cache value's own, since New.
// Keys, Bytes, Evictions and Expirations come from the backend; Scope says
// what they cover ("prefix": this cache's keys only; "backend": the whole
// store; "server": the whole server) and they are -1 when unknown.
type Stats struct {
	Backend       string  `json:"backend"`
	Hits          int64   `json:"hits"`
	Misses        int64   `json:"misses"`
	HitRate       float64 `json:"hit_rate"`
	Sets          int64   `json:"sets"`
	Deletes       int64   `json:"deletes"`
	Invalidations int64   `json:"invalidations"`
	Errors        int64   `json:"errors"`
	Corrupt       int64   `json:"corrupt"`
	// Unauthenticated counts values that failed signature or decryption
	// checks (Config.SigningKeys, EncryptionKeys); they count in Corrupt
	// too.
	Unauthenticated int64 `json:"unauthenticated"`
	Loads           int64 `json:"loads"`
	LoadErrors      int64 `json:"load_errors"`
	// StaleServed counts stale values returned at once by
	// stale-while-revalidate (WithStaleWhileRevalidate); Refreshes the
	// background loads that refreshed them.
	StaleServed int64 `json:"stale_served"`
	Refreshes   int64 `json:"refreshes"`
	// StaleIfError counts stale values returned because a load failed
	// (WithStaleIfError).
	StaleIfError int64 `json:"stale_if_error"`
	// NegativeHits counts reads answered by a cached miss; NegativeStores
	// the misses cached (WithMissingTTL).
	NegativeHits   int64 `json:"negative_hits"`
	NegativeStores int64 `json:"negative_stores"`
	// LoadFallbacks counts loads run because the backend could not be
	// read (fail-open loads; see Config.FailClosedLoads).
	LoadFallbacks int64 `json:"load_fallbacks"`
	// WriteBackErrors counts loaded values that could not be stored.
	WriteBackErrors int64 `json:"write_back_errors"`
	// EarlyRefreshes counts background refreshes of fresh entries
	// started by WithEarlyRefresh.
	EarlyRefreshes int64 `json:"early_refreshes"`
	// LockWaits counts loads answered by the value another process
	// stored while holding the load lock (WithLoadLock).
	LockWaits int64 `json:"lock_waits"`
	// Breakers has one entry per network or disk backend with a circuit
	// breaker (see Config.BreakerFailures), the default route's first.
	Breakers    []BreakerStats       `json:"breakers,omitempty"`
	Latency     map[string]OpLatency `json:"latency"`
	Keys        int64                `json:"keys"`
	Bytes       int64                `json:"bytes"`
	Evictions   int64                `json:"evictions"`
	Expirations int64                `json:"expirations"`
	Scope       string               `json:"scope"`
	Extra       map[string]any       `json:"extra,omitempty"`
	// Routes has one entry per route (the default first) when the Cache
	// has routes; Extra is then empty (each route carries its backend's).
	Routes []RouteStats `json:"routes,omitempty"`
}

// counters sums the Cache's counters over its routes.
func (c *Cache) counters() Stats {
	ms := make([]*metrics, 0, len(c.rt.all)+1)
	ms = append(ms, &c.m)
	for _, r := range c.rt.all {
		ms = append(ms, &r.m)
	}
	s := Stats{Backend: c.Backend(), Latency: make(map[string]OpLatency, opCount), Keys: -1, Bytes: -1}
	for _, m := range ms {
		s.Hits += m.hits.load()
		s.Misses += m.misses.load()
		s.Sets += m.sets.load()
		s.Deletes += m.deletes.load()
		s.Invalidations += m.invalidations.load()
		s.Errors += m.errors.load()
		s.Corrupt += m.corrupt.load()
		s.Unauthenticated += m.unauthenticated.load()
		s.Loads += m.loads.load()
		s.LoadErrors += m.loadErrors.load()
		s.StaleServed += m.staleServed.load()
		s.StaleIfError += m.staleIfError.load()
		s.NegativeHits += m.negativeHits.load()
		s.NegativeStores += m.negativeStores.load()
		s.LoadFallbacks += m.loadFallbacks.load()
		s.WriteBackErrors += m.writeBackErrors.load()
		s.Refreshes += m.refreshes.load()
		s.LockWaits += m.lockWaits.load()
		s.EarlyRefreshes += m.earlyRefreshes.load()
	}
	for _, mem := range c.rt.members {
		if mem.g != nil && mem.g.br != nil {
			bs := mem.g.br.stats()
			bs.Route, bs.Backend = mem.routes[0].prefix, mem.name
			s.Breakers = append(s.Breakers, bs)
		}
	}
	if t := s.Hits + s.Misses; t > 0 {
		s.HitRate = float64(s.Hits) / float64(t)
	}
	for i := range opCount {
		var n, total, mx int64
		for _, m := range ms {
			n += m.lat[i].count.load()
			total += m.lat[i].total.load()
			mx = max(mx, m.lat[i].max.Load())
		}
		if n == 0 {
			continue
		}
		s.Latency[opNames[i]] = OpLatency{Samples: n, Avg: time.Duration(total / n), Max: time.Duration(mx)}
	}
	return s
}

// Stats returns this Cache's counters and what the backends report about
// its keys (see Stats for what each number covers). With routes, Routes
// holds each route's counters and backend numbers, and the totals add up
// the distinct backends (-1 when any cannot tell).
func (c *Cache) Stats(ctx context.Context) (Stats, error) {
	s := c.counters()
	if err := c.check(ctx); err != nil {
		return s, opError("stats", "", err)
	}
	bs := make([]backend.Stats, len(c.rt.members))
	errs := make([]error, len(c.rt.members))
	var wg sync.WaitGroup
	for i, m := range c.rt.members {
		wg.Go(func() {
			if st, ok := m.b.(backend.Stater); ok {
				bs[i], errs[i] = guarded(ctx, m, kindBatch, func(ctx context.Context) (backend.Stats, error) {
					return st.Stats(ctx, c.prefix)
				})
			} else {
				bs[i] = backend.Stats{Keys: -1, Bytes: -1, Scope: "unknown"}
			}
		})
	}
	wg.Wait()
	if !c.rt.routed {
		if errs[0] != nil {
			return s, opError("stats", "", errs[0])
		}
		b := bs[0]
		s.Keys, s.Bytes, s.Evictions, s.Expirations, s.Scope, s.Extra = b.Keys, b.Bytes, b.Evictions, b.Expirations, b.Scope, b.Extra
		return s, nil
	}
	s.Keys, s.Bytes = 0, 0
	scopes := map[string]bool{}
	for i, b := range bs {
		if errs[i] != nil {
			b = backend.Stats{Keys: -1, Bytes: -1, Scope: "unknown"}
		}
		scopes[b.Scope] = true
		if b.Keys < 0 || s.Keys < 0 {
			s.Keys = -1
		} else {
			s.Keys += b.Keys
		}
		if b.Bytes < 0 || s.Bytes < 0 {
			s.Bytes = -1
		} else {
			s.Bytes += b.Bytes
		}
		s.Evictions += b.Evictions
		s.Expirations += b.Expirations
	}
	if len(scopes) == 1 {
		for sc := range scopes {
			s.Scope = sc
		}
	} else {
		s.Scope = "mixed"
	}
	for _, r := range c.rt.all {
		i := r.mem.idx
		b := bs[i]
		rs := RouteStats{
			Route: r.prefix, Backend: r.mem.name,
			Hits: r.m.hits.load(), Misses: r.m.misses.load(), Sets: r.m.sets.load(),
			Deletes: r.m.deletes.load(), Errors: r.m.errors.load(),
			Keys: b.Keys, Bytes: b.Bytes, Scope: b.Scope, Extra: b.Extra,
		}
		if g := r.mem.g; g != nil && g.br != nil {
			bs := g.br.stats()
			bs.Route, bs.Backend = r.mem.routes[0].prefix, r.mem.name
			rs.Breaker = &bs
		}
		if errs[i] != nil {
			rs.Keys, rs.Bytes, rs.Scope, rs.Extra = -1, -1, "unknown", nil
			rs.Error = errs[i].Error()
		}
		s.Routes = append(s.Routes, rs)
	}
	return s, nil
}
