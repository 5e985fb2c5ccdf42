package yokedcache

import (
	"context"
	"math/bits"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/yokedcache/yokedcache/backend"
	"github.com/yokedcache/yokedcache/internal/loglimit"
	"github.com/yokedcache/yokedcache/internal/stripe"
)

// counter is a lock-free striped counter.
type counter struct{ c stripe.Counter }

func (c *counter) add(n int64) { c.c.Add(n) }

// addAt is add on the stripe picked by r, a random number (see draw).
func (c *counter) addAt(n int64, r uint32) { c.c.AddAt(n, r) }

func (c *counter) load() int64 { return c.c.Load() }

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

// sampleEvery: 1 in sampleEvery get, set, delete and batch operations,
// chosen at random, is timed (the funnel calls sample); timing every call
// would cost two clock reads on the hot path. Invalidations are all timed.
// The counters (hits, misses, sets, ...) count every operation exactly;
// only the latency figures come from the sample.
const sampleEvery = 16

// The latency histogram has log-linear buckets: subBuckets per power of
// two from 2^minOctave ns up to 2^maxOctave ns, with one bucket below and
// one above. A bucket holds durations d with lo < d <= hi (Prometheus'
// "le"), its width a quarter of its octave (at most 25% of lo), so a
// percentile read from it, interpolated within the bucket, is off by less
// than 25% and usually far less.
const (
	minOctave   = 8  // 256ns: everything at or below is bucket 0
	maxOctave   = 35 // ~34.4s: everything above is the last bucket
	subBits     = 2
	subBuckets  = 1 << subBits
	histBuckets = 1 + (maxOctave-minOctave)*subBuckets + 1
)

// bucketOf returns the histogram bucket of a duration.
func bucketOf(d time.Duration) int {
	if d <= 1<<minOctave {
		return 0
	}
	x := uint64(d - 1) // (lo, hi] buckets over integers: lo <= x < hi
	k := bits.Len64(x) - 1
	if k >= maxOctave {
		return histBuckets - 1
	}
	sub := int(x>>(k-subBits)) & (subBuckets - 1)
	return 1 + (k-minOctave)*subBuckets + sub
}

// bucketUpper returns the inclusive upper bound of bucket i < histBuckets-1.
func bucketUpper(i int) time.Duration {
	if i == 0 {
		return 1 << minOctave
	}
	k := minOctave + (i-1)/subBuckets
	j := (i-1)%subBuckets + 1
	return time.Duration(1)<<k + time.Duration(j)<<(k-subBits)
}

// latencyBounds are the exported bucket bounds: the powers of two from
// 2^minOctave to 2^maxOctave ns. Each is a bound of the finer internal
// buckets, so the exported counts are exact sums of them.
var latencyBounds = func() []time.Duration {
	b := make([]time.Duration, 0, maxOctave-minOctave+1)
	for k := minOctave; k <= maxOctave; k++ {
		b = append(b, time.Duration(1)<<k)
	}
	return b
}()

// LatencyBounds returns the upper bounds (inclusive) of the latency
// histogram buckets that OpLatency.Counts reports: 28 powers of two from
// 256ns to about 34.4s. Exporters (packages prometheus and otel) turn them
// into histogram buckets. The slice is a copy.
func LatencyBounds() []time.Duration { return slices.Clone(latencyBounds) }

// latency is one operation type's sampled timings: a histogram of atomic
// counters, lock-free. Only sampled operations reach it (1 in sampleEvery,
// or every invalidation), so per-bucket atomics see little contention.
type latency struct {
	count   counter // timed operations
	total   counter // nanoseconds over timed operations
	max     atomic.Int64
	buckets [histBuckets]atomic.Int64
}

func (l *latency) record(d time.Duration) {
	d = max(d, 0)
	l.count.add(1)
	l.total.add(int64(d))
	l.buckets[bucketOf(d)].Add(1)
	for {
		m := l.max.Load()
		if int64(d) <= m || l.max.CompareAndSwap(m, int64(d)) {
			return
		}
	}
}

// hist is a histogram summed over routes.
type hist struct {
	n, total, max int64
	b             [histBuckets]int64
}

func (h *hist) add(l *latency) {
	h.n += l.count.load()
	h.total += l.total.load()
	h.max = max(h.max, l.max.Load())
	for i := range l.buckets {
		h.b[i] += l.buckets[i].Load()
	}
}

// quantile returns the q-quantile (0 < q <= 1), interpolated linearly in
// its bucket and never above the largest timing. The buckets and the
// count are read at slightly different moments by concurrent records, so
// the rank is taken against the buckets' own sum.
func (h *hist) quantile(q float64) time.Duration {
	var n int64
	for _, c := range h.b {
		n += c
	}
	if n == 0 {
		return 0
	}
	rank := q * float64(n)
	var cum int64
	for i, c := range h.b {
		if c == 0 || float64(cum+c) < rank {
			cum += c
			continue
		}
		if i == histBuckets-1 {
			return time.Duration(h.max)
		}
		var lo time.Duration
		if i > 0 {
			lo = bucketUpper(i - 1)
		}
		hi := bucketUpper(i)
		v := lo + time.Duration(float64(hi-lo)*(rank-float64(cum))/float64(c))
		return min(v, time.Duration(h.max))
	}
	return time.Duration(h.max)
}

// opLatency summarizes the histogram.
func (h *hist) opLatency() OpLatency {
	l := OpLatency{
		Samples: h.n, Avg: time.Duration(h.total / h.n), Max: time.Duration(h.max), Sum: time.Duration(h.total),
		P50: h.quantile(0.50), P90: h.quantile(0.90), P99: h.quantile(0.99),
		Counts: make([]int64, len(latencyBounds)+1),
	}
	// Internal bucket i ends at bucketUpper(i); the exported bucket e ends
	// at latencyBounds[e] = 2^(minOctave+e): bucket 0 maps to 0, and each
	// octave's subBuckets to the bound at its top.
	for i, c := range h.b {
		e := len(latencyBounds)
		if i == 0 {
			e = 0
		} else if i < histBuckets-1 {
			e = (i-1)/subBuckets + 1
		}
		l.Counts[e] += c
	}
	return l
}

type metrics struct {
	hits, misses, sets, deletes, invalidations, errors, corrupt, loads, loadErrors counter
	unauthenticated                                                                counter
	// Resilience: see the Stats fields of the same names.
	staleServed, staleIfError, negativeHits, negativeStores, loadFallbacks, writeBackErrors, refreshes, lockWaits, earlyRefreshes counter
	lat                                                                                                                           [opCount]latency
	// corruptLog rate-limits the route's "does not decode" lines (set
	// by buildRoutes: corruptLogLimit).
	corruptLog *loglimit.Limiter
}

// sample reports whether this operation should be timed.
func sample() bool { return rand.Uint32()%sampleEvery == 0 }

// draw is sample for an operation that also bumps one counter: it
// returns whether to time the operation and a random number, independent
// of that choice, for counter.addAt (one draw instead of two).
func draw() (timed bool, r uint32) {
	x := rand.Uint32()
	return x%sampleEvery == 0, x / sampleEvery
}

// OpLatency is the sampled latency of one operation type, summed over
// the routes. Get, set, delete and the batch operations are timed on 1 in
// 16 calls chosen at random (timing every call would cost two clock reads
// on the hot path); invalidations are all timed. Every figure here is over
// the timed calls: Samples counts them, so it is about 1/16 of the calls
// (Stats' Hits, Misses, Sets ... count every call exactly).
//
// P50, P90 and P99 come from a histogram with four buckets per power of
// two (256ns to 34s), interpolated within a bucket: each is within 25% of
// the exact percentile of the timed calls, usually much closer.
type OpLatency struct {
	// Samples is the number of timed operations.
	Samples int64 `json:"samples"`
	// Avg and Max are the mean and the largest timing.
	Avg time.Duration `json:"avg_ns"`
	Max time.Duration `json:"max_ns"`
	// P50, P90 and P99 are the median, 90th and 99th percentiles.
	P50 time.Duration `json:"p50_ns"`
	P90 time.Duration `json:"p90_ns"`
	P99 time.Duration `json:"p99_ns"`
	// Sum is the total of the timings (Avg = Sum / Samples).
	Sum time.Duration `json:"sum_ns"`
	// Counts is the histogram for exporters: Counts[i] is the number of
	// timings in (LatencyBounds()[i-1], LatencyBounds()[i]] (from 0 for
	// i = 0), and the last element counts those above the last bound.
	// It has len(LatencyBounds())+1 elements and sums to Samples, up to
	// operations recorded while the snapshot was taken.
	Counts []int64 `json:"counts"`
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
	Breakers []BreakerStats `json:"breakers,omitempty"`
	// Near has one entry per backend with a near-cache tier (Config.Near,
	// Route.Near), the default route's first.
	Near        []NearStats          `json:"near,omitempty"`
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
		if ns := mem.nearStats(); ns != nil {
			s.Near = append(s.Near, *ns)
		}
	}
	if t := s.Hits + s.Misses; t > 0 {
		s.HitRate = float64(s.Hits) / float64(t)
	}
	var h hist
	for i := range opCount {
		h = hist{}
		for _, m := range ms {
			h.add(&m.lat[i])
		}
		if h.n == 0 {
			continue
		}
		s.Latency[opNames[i]] = h.opLatency()
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
			if st, ok := has[backend.Stater](m); ok {
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
		rs.Near = r.mem.nearStats()
		if errs[i] != nil {
			rs.Keys, rs.Bytes, rs.Scope, rs.Extra = -1, -1, "unknown", nil
			rs.Error = errs[i].Error()
		}
		s.Routes = append(s.Routes, rs)
	}
	return s, nil
}

// PerRoute returns the per-route view of s: Routes when the Cache has
// routes, else one entry for the default route carrying the totals (its
// Error set from err, the error Stats returned with s, if any). Exporters
// label every number by route this way.
func (s Stats) PerRoute(err error) []RouteStats {
	if len(s.Routes) > 0 {
		return s.Routes
	}
	rs := RouteStats{
		Backend: s.Backend, Hits: s.Hits, Misses: s.Misses, Sets: s.Sets, Deletes: s.Deletes,
		Errors: s.Errors, Keys: s.Keys, Bytes: s.Bytes, Scope: s.Scope, Extra: s.Extra,
	}
	if len(s.Near) > 0 {
		rs.Near = &s.Near[0]
	}
	if err != nil {
		rs.Error = err.Error()
	}
	return []RouteStats{rs}
}

// corruptLogLimit is the rate limit of one route's "does not decode" WARN
// lines: at most 100 per 10 s, the next one carrying the number not
// logged. A burst keeps rare events fully logged while a storm (a corrupt
// key read 10 000 times a second) costs at most 10 lines a second.
func corruptLogLimit() *loglimit.Limiter {
	return &loglimit.Limiter{Every: 10 * time.Second, Burst: 100}
}
