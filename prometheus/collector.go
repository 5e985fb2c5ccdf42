// Package prometheus exports the statistics of yokedcache Caches as
// Prometheus metrics: a [Collector] reads [yokedcache.Cache.Stats] at each
// scrape, so the Cache's hot path does no Prometheus work at all.
//
// It is a package of its own so that programs that do not import it do not
// link github.com/prometheus/client_golang.
//
//	col := prometheus.NewCollector(prometheus.Options{})
//	if err := col.Add("sessions", cache); err != nil { ... }
//	registry.MustRegister(col)
//
// # Metrics
//
// Every metric has the label cache (the name given to Collector.Add); the
// per-route ones add route, the route's prefix ("" for the default route, or
// for the whole Cache when it has no routes). No key, tag or value ever
// becomes a label: the label values are the names you chose and the route
// prefixes of Config.Routes.
//
//	yokedcache_hits_total{cache,route}                     counter
//	yokedcache_misses_total{cache,route}                   counter
//	yokedcache_sets_total{cache,route}                     counter
//	yokedcache_deletes_total{cache,route}                  counter (keys that existed)
//	yokedcache_errors_total{cache,route}                   counter (backend errors)
//	yokedcache_corrupt_total{cache}                        counter (values that did not decode)
//	yokedcache_unauthenticated_total{cache}                counter (failed signature or decryption; also in corrupt)
//	yokedcache_invalidations_total{cache}                  counter (keys removed by tag or pattern)
//	yokedcache_loads_total{cache}                          counter (loader calls of Fetch/GetOrSet)
//	yokedcache_load_errors_total{cache}                    counter
//	yokedcache_operation_duration_seconds{cache,op}        histogram (sampled: 1 in 16 calls)
//	yokedcache_backend_up{cache,route,backend}             gauge: 1 if the backend answered Stats
//	yokedcache_keys{cache,route,backend}                   gauge (absent when unknown)
//	yokedcache_stored_bytes{cache,route,backend}           gauge (absent when unknown)
//	yokedcache_evictions_total{cache}                      counter, from the backend(s)
//	yokedcache_expirations_total{cache}                    counter, from the backend(s)
//	yokedcache_pool_connections{cache,route,backend}       gauge, connection pool (Redis)
//	yokedcache_pool_idle_connections{cache,route,backend}  gauge
//	yokedcache_pool_max_connections{cache,route,backend}   gauge (configured limit)
//	yokedcache_pool_hits_total{cache,route,backend}        counter (pooled connection reused)
//	yokedcache_pool_misses_total{cache,route,backend}      counter (connection dialled)
//	yokedcache_pool_timeouts_total{cache,route,backend}    counter
//	yokedcache_pool_dial_errors_total{cache,route,backend} counter
//	yokedcache_breaker_state{cache,route,backend}          gauge: 0 closed, 1 half-open, 2 open (network and disk backends)
//	yokedcache_breaker_opens_total{cache,route,backend}    counter
//	yokedcache_breaker_rejected_total{cache,route,backend} counter (calls failed at once with ErrUnavailable)
//	yokedcache_stale_served_total{cache}                   counter (stale-while-revalidate)
//	yokedcache_stale_if_error_total{cache}                 counter
//	yokedcache_negative_hits_total{cache}                  counter (cached misses, WithMissingTTL)
//	yokedcache_load_fallbacks_total{cache}                 counter (loads run because the backend failed)
//	yokedcache_write_back_errors_total{cache}              counter (loaded values not stored)
//
// A backend with a near-cache tier (yokedcache.Config.Near, Route.Near)
// adds, labelled like the breaker metrics:
//
//	yokedcache_near_hits_total{cache,route,backend}          counter (reads served by a local copy)
//	yokedcache_near_misses_total{cache,route,backend}        counter (reads that went to the backend)
//	yokedcache_near_fills_total{cache,route,backend}         counter (copies kept)
//	yokedcache_near_evictions_total{cache,route,backend}     counter (copies dropped for the bounds)
//	yokedcache_near_invalidations_total{cache,route,backend} counter (keys notified as changed)
//	yokedcache_near_resets_total{cache,route,backend}        counter (every copy dropped: notifications lost or resumed)
//	yokedcache_near_entries{cache,route,backend}             gauge (copies held)
//	yokedcache_near_bytes{cache,route,backend}               gauge (their keys and values)
//	yokedcache_near_max_entries{cache,route,backend}         gauge (the bound)
//	yokedcache_near_max_bytes{cache,route,backend}           gauge (the bound; absent without one)
//	yokedcache_near_live{cache,route,backend,mode}           gauge: 1 if copies are being kept; mode tracking, stream, ttl or "" (connecting)
//	yokedcache_near_lag_seconds{cache,route,backend}         gauge (delay of the last invalidation-stream event)
//
// The breaker and near-cache metrics carry the first route the backend
// serves (see yokedcache.BreakerStats and yokedcache.NearStats).
//
// The backend numbers (keys, bytes, evictions, expirations, pool) have the
// scope their backend gives them (see yokedcache.Stats): Redis' evictions
// and expirations are the whole server's, and routes served by one backend
// repeat its numbers, so aggregate them with max by (cache, backend), not
// sum. A number the backend does not report (-1 in Stats) is left out.
//
// See docs/observability.md for PromQL examples.
package prometheus

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/yokedcache/yokedcache"
	"github.com/yokedcache/yokedcache/internal/statsreg"
)

// DefaultTimeout is the Stats timeout of a Collector whose
// Options.Timeout is 0.
const DefaultTimeout = 5 * time.Second

// Options configures a Collector. The zero value is ready to use.
type Options struct {
	// Timeout bounds each Cache.Stats call of a scrape (Redis counts keys
	// with SCAN). Default DefaultTimeout. When it expires the counters are
	// still exported and yokedcache_backend_up is 0.
	Timeout time.Duration
}

// Collector is a prometheus.Collector for one or more Caches. Its methods
// are safe for concurrent use; Collect reads the Caches concurrently.
type Collector struct {
	reg *statsreg.Registry
}

var _ prometheus.Collector = (*Collector)(nil)

// NewCollector returns a Collector without Caches; add them with Add.
func NewCollector(opts Options) *Collector {
	t := opts.Timeout
	if t <= 0 {
		t = DefaultTimeout
	}
	return &Collector{reg: statsreg.New("yokedcache/prometheus", t)}
}

// Add exports c under the label cache=name. The name must be non-empty
// and not in use by another Cache of this Collector.
func (col *Collector) Add(name string, c *yokedcache.Cache) error { return col.reg.Add(name, c) }

// Remove stops exporting the Cache named name and reports whether there
// was one. Call it before closing a Cache that the program replaces.
func (col *Collector) Remove(name string) bool { return col.reg.Remove(name) }

const ns = "yokedcache"

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(prometheus.BuildFQName(ns, "", name), help, labels, nil)
}

var (
	cacheL   = []string{"cache"}
	routeL   = []string{"cache", "route"}
	backendL = []string{"cache", "route", "backend"}

	hitsDesc          = desc("hits_total", "Reads that found a value.", routeL...)
	missesDesc        = desc("misses_total", "Reads that found no value (including stored bytes that did not decode).", routeL...)
	setsDesc          = desc("sets_total", "Values written.", routeL...)
	deletesDesc       = desc("deletes_total", "Keys deleted that existed.", routeL...)
	errorsDesc        = desc("errors_total", "Operations that failed with a backend error.", routeL...)
	corruptDesc       = desc("corrupt_total", "Stored values that did not decode (bad bytes, or a type that does not fit the destination).", cacheL...)
	unauthDesc        = desc("unauthenticated_total", "Stored values that failed signature or decryption checks (counted in corrupt too).", cacheL...)
	invalidationsDesc = desc("invalidations_total", "Keys removed by tag or pattern invalidation.", cacheL...)
	loadsDesc         = desc("loads_total", "Loader calls made on misses by Fetch and GetOrSet.", cacheL...)
	loadErrorsDesc    = desc("load_errors_total", "Loader calls that returned an error.", cacheL...)
	durationDesc      = desc("operation_duration_seconds", "Duration of cache operations; 1 in 16 get, set, delete and batch calls is timed, every invalidation.", "cache", "op")
	upDesc            = desc("backend_up", "1 if the route's backend answered the last Stats call, else 0.", backendL...)
	keysDesc          = desc("keys", "Keys the backend holds in the scope it reports (see yokedcache.Stats.Scope).", backendL...)
	bytesDesc         = desc("stored_bytes", "Bytes the backend holds in the scope it reports.", backendL...)
	evictionsDesc     = desc("evictions_total", "Entries the backends evicted to make room (server-wide for Redis).", cacheL...)
	expirationsDesc   = desc("expirations_total", "Entries the backends removed on expiry (server-wide for Redis).", cacheL...)
	poolConnsDesc     = desc("pool_connections", "Open connections to the backend.", backendL...)
	poolIdleDesc      = desc("pool_idle_connections", "Open connections not in use.", backendL...)
	poolMaxDesc       = desc("pool_max_connections", "The configured limit of connections.", backendL...)
	poolHitsDesc      = desc("pool_hits_total", "Operations that reused a pooled connection.", backendL...)
	poolMissesDesc    = desc("pool_misses_total", "Connections dialled because none was free.", backendL...)
	poolTimeoutsDesc  = desc("pool_timeouts_total", "Operations that timed out waiting for the backend.", backendL...)
	poolDialErrsDesc  = desc("pool_dial_errors_total", "Failed connection attempts.", backendL...)
	breakerStateDesc  = desc("breaker_state", "Circuit breaker of the backend: 0 closed, 1 half-open, 2 open.", backendL...)
	breakerOpensDesc  = desc("breaker_opens_total", "Times the backend's circuit breaker opened.", backendL...)
	breakerRejDesc    = desc("breaker_rejected_total", "Calls failed at once by the open breaker (ErrUnavailable).", backendL...)
	staleServedDesc   = desc("stale_served_total", "Stale values returned at once by stale-while-revalidate.", cacheL...)
	staleIfErrorDesc  = desc("stale_if_error_total", "Stale values returned because a load failed.", cacheL...)
	negativeHitsDesc  = desc("negative_hits_total", "Reads answered by a cached miss.", cacheL...)
	fallbacksDesc     = desc("load_fallbacks_total", "Loads run because the backend could not be read (fail-open).", cacheL...)
	writeBackErrsDesc = desc("write_back_errors_total", "Loaded values that could not be stored.", cacheL...)

	nearHitsDesc       = desc("near_hits_total", "Reads served by the near cache's local copy.", backendL...)
	nearMissesDesc     = desc("near_misses_total", "Reads the near cache passed to the backend.", backendL...)
	nearFillsDesc      = desc("near_fills_total", "Local copies the near cache kept after a miss.", backendL...)
	nearEvictionsDesc  = desc("near_evictions_total", "Local copies the near cache dropped to respect its bounds.", backendL...)
	nearInvalDesc      = desc("near_invalidations_total", "Keys the near cache was notified had changed.", backendL...)
	nearResetsDesc     = desc("near_resets_total", "Times the near cache dropped every copy because notifications stopped or resumed.", backendL...)
	nearEntriesDesc    = desc("near_entries", "Local copies the near cache holds.", backendL...)
	nearBytesDesc      = desc("near_bytes", "Bytes of the keys and values of the near cache's copies.", backendL...)
	nearMaxEntriesDesc = desc("near_max_entries", "The near cache's bound on copies.", backendL...)
	nearMaxBytesDesc   = desc("near_max_bytes", "The near cache's bound on bytes (absent when unbounded).", backendL...)
	nearLiveDesc       = desc("near_live", "1 if the near cache keeps copies (its invalidations flow, or it is in ttl mode), else 0; mode is tracking, stream, ttl or empty while connecting.", "cache", "route", "backend", "mode")
	nearLagDesc        = desc("near_lag_seconds", "Delay of the last event of the near cache's invalidation stream.", backendL...)

	allDescs = []*prometheus.Desc{
		hitsDesc, missesDesc, setsDesc, deletesDesc, errorsDesc, corruptDesc, unauthDesc, invalidationsDesc,
		loadsDesc, loadErrorsDesc, durationDesc, upDesc, keysDesc, bytesDesc, evictionsDesc,
		expirationsDesc, poolConnsDesc, poolIdleDesc, poolMaxDesc, poolHitsDesc, poolMissesDesc,
		poolTimeoutsDesc, poolDialErrsDesc, breakerStateDesc, breakerOpensDesc, breakerRejDesc,
		staleServedDesc, staleIfErrorDesc, negativeHitsDesc, fallbacksDesc, writeBackErrsDesc,
		nearHitsDesc, nearMissesDesc, nearFillsDesc, nearEvictionsDesc, nearInvalDesc, nearResetsDesc,
		nearEntriesDesc, nearBytesDesc, nearMaxEntriesDesc, nearMaxBytesDesc, nearLiveDesc, nearLagDesc,
	}

	// poolMetrics maps the keys of a backend's Extra["connection_pool"]
	// (see backend/redis) to metrics.
	poolMetrics = []struct {
		key  string
		desc *prometheus.Desc
		typ  prometheus.ValueType
	}{
		{"total", poolConnsDesc, prometheus.GaugeValue},
		{"idle", poolIdleDesc, prometheus.GaugeValue},
		{"max_conns", poolMaxDesc, prometheus.GaugeValue},
		{"hits", poolHitsDesc, prometheus.CounterValue},
		{"misses", poolMissesDesc, prometheus.CounterValue},
		{"timeouts", poolTimeoutsDesc, prometheus.CounterValue},
		{"dial_errors", poolDialErrsDesc, prometheus.CounterValue},
	}

	// latencyBuckets are the histogram bounds in seconds.
	latencyBuckets = func() []float64 {
		b := yokedcache.LatencyBounds()
		s := make([]float64, len(b))
		for i, d := range b {
			s[i] = d.Seconds()
		}
		return s
	}()
)

// Describe sends the descriptors of every metric the Collector can export.
func (col *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range allDescs {
		ch <- d
	}
}

// Collect reads each Cache's Stats (concurrently, each under the
// Collector's timeout) and sends its metrics.
func (col *Collector) Collect(ch chan<- prometheus.Metric) {
	for _, sn := range col.reg.Stats(context.Background(), 0) {
		write(ch, sn.Name, sn.Stats, sn.Err)
	}
}

// write sends the metrics of one Cache's Stats, labelled cache=name; err
// is the error Stats returned with st (the backend numbers are then left
// out and yokedcache_backend_up is 0).
func write(ch chan<- prometheus.Metric, name string, st yokedcache.Stats, err error) {
	counter := func(d *prometheus.Desc, v int64, lv ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), lv...)
	}
	gauge := func(d *prometheus.Desc, v int64, lv ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, float64(v), lv...)
	}
	routes := st.PerRoute(err)
	for _, r := range routes {
		counter(hitsDesc, r.Hits, name, r.Route)
		counter(missesDesc, r.Misses, name, r.Route)
		counter(setsDesc, r.Sets, name, r.Route)
		counter(deletesDesc, r.Deletes, name, r.Route)
		counter(errorsDesc, r.Errors, name, r.Route)
		up := int64(1)
		if r.Error != "" || err != nil {
			up = 0
		}
		gauge(upDesc, up, name, r.Route, r.Backend)
		if up == 0 {
			continue
		}
		if r.Keys >= 0 {
			gauge(keysDesc, r.Keys, name, r.Route, r.Backend)
		}
		if r.Bytes >= 0 {
			gauge(bytesDesc, r.Bytes, name, r.Route, r.Backend)
		}
		if pool, ok := r.Extra["connection_pool"].(map[string]any); ok {
			for _, pm := range poolMetrics {
				if v, ok := poolNumber(pool[pm.key]); ok {
					ch <- prometheus.MustNewConstMetric(pm.desc, pm.typ, float64(v), name, r.Route, r.Backend)
				}
			}
		}
	}
	counter(corruptDesc, st.Corrupt, name)
	counter(unauthDesc, st.Unauthenticated, name)
	counter(invalidationsDesc, st.Invalidations, name)
	counter(loadsDesc, st.Loads, name)
	counter(loadErrorsDesc, st.LoadErrors, name)
	counter(staleServedDesc, st.StaleServed, name)
	counter(staleIfErrorDesc, st.StaleIfError, name)
	counter(negativeHitsDesc, st.NegativeHits, name)
	counter(fallbacksDesc, st.LoadFallbacks, name)
	counter(writeBackErrsDesc, st.WriteBackErrors, name)
	for _, b := range st.Breakers {
		state := int64(0)
		switch b.State {
		case yokedcache.BreakerHalfOpen:
			state = 1
		case yokedcache.BreakerOpen:
			state = 2
		}
		gauge(breakerStateDesc, state, name, b.Route, b.Backend)
		counter(breakerOpensDesc, b.Opens, name, b.Route, b.Backend)
		counter(breakerRejDesc, b.Rejected, name, b.Route, b.Backend)
	}
	for _, n := range st.Near {
		lv := []string{name, n.Route, n.Backend}
		counter(nearHitsDesc, n.Hits, lv...)
		counter(nearMissesDesc, n.Misses, lv...)
		counter(nearFillsDesc, n.Fills, lv...)
		counter(nearEvictionsDesc, n.Evictions, lv...)
		counter(nearInvalDesc, n.Invalidations, lv...)
		counter(nearResetsDesc, n.Resets, lv...)
		gauge(nearEntriesDesc, n.Entries, lv...)
		gauge(nearBytesDesc, n.Bytes, lv...)
		gauge(nearMaxEntriesDesc, int64(n.MaxEntries), lv...)
		if n.MaxBytes >= 0 {
			gauge(nearMaxBytesDesc, n.MaxBytes, lv...)
		}
		live := int64(0)
		if n.Live {
			live = 1
		}
		gauge(nearLiveDesc, live, name, n.Route, n.Backend, n.Mode)
		ch <- prometheus.MustNewConstMetric(nearLagDesc, prometheus.GaugeValue, n.LagSeconds, lv...)
	}
	if err == nil {
		counter(evictionsDesc, st.Evictions, name)
		counter(expirationsDesc, st.Expirations, name)
	}
	for op, l := range st.Latency {
		if len(l.Counts) != len(latencyBuckets)+1 {
			continue
		}
		buckets := make(map[float64]uint64, len(latencyBuckets))
		var cum uint64
		for i, le := range latencyBuckets {
			cum += uint64(l.Counts[i])
			buckets[le] = cum
		}
		cum += uint64(l.Counts[len(latencyBuckets)])
		ch <- prometheus.MustNewConstHistogram(durationDesc, cum, l.Sum.Seconds(), buckets, name, op)
	}
}

// poolNumber returns a connection-pool number of a backend's Extra: an
// integer, not negative (-1 means not counted).
func poolNumber(v any) (int64, bool) {
	switch n := v.(type) {
	case int64:
		return n, n >= 0
	case int:
		return int64(n), n >= 0
	}
	return 0, false
}
