// Package otel exports the statistics of yokedcache Caches as
// OpenTelemetry metrics, and traces their operations as OpenTelemetry
// spans. It is a package of its own so that programs that do not import
// it do not link OpenTelemetry.
//
// An [Observer] reads [yokedcache.Cache.Stats] when the SDK collects, so
// the Cache's hot path does no OpenTelemetry work:
//
//	obs := otel.NewObserver(otel.Options{})
//	if err := obs.Add("sessions", cache); err != nil { ... }
//	// Optional: the operation-duration histograms (see Observer.Produce).
//	reader := sdkmetric.NewPeriodicReader(exporter, sdkmetric.WithProducer(obs))
//	provider := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
//	reg, err := obs.Register(provider.Meter("github.com/yokedcache/yokedcache/otel"))
//
// # Instruments
//
// Register creates these instruments (attributes in braces; cache is the
// name given to Add, route the route's prefix, "" for the default route or
// a Cache without routes, backend the backend's type name). No key, tag or
// value is ever an attribute.
//
//	yokedcache.hits, .misses, .sets, .deletes, .errors  counters {cache, route}
//	yokedcache.corrupt, .unauthenticated, .invalidations, .loads, .load_errors  counters {cache}
//	yokedcache.evictions, .expirations                 counters {cache}, from the backends
//	yokedcache.backend.up                              gauge {cache, route, backend}: 1 if the backend answered Stats
//	yokedcache.keys, yokedcache.stored.size (By)        gauges {cache, route, backend}, when known
//	yokedcache.pool.connections, .idle_connections, .max_connections  gauges {cache, route, backend} (Redis)
//	yokedcache.pool.hits, .misses, .timeouts, .dial_errors  counters {cache, route, backend}
//	yokedcache.breaker.state                           gauge {cache, route, backend}: 0 closed, 1 half-open, 2 open
//	yokedcache.breaker.opens, .rejected                counters {cache, route, backend}
//	yokedcache.stale_served, .stale_if_error, .negative_hits, .load_fallbacks, .write_back_errors  counters {cache}
//	yokedcache.near.hits, .misses, .fills, .evictions, .invalidations, .resets  counters {cache, route, backend}
//	yokedcache.near.entries, .size (By), .max_entries, .max_size (By), .lag (s)  gauges {cache, route, backend}
//	yokedcache.near.live                               gauge {cache, route, backend, mode}: 1 while copies are kept
//
// The OpenTelemetry metric API has no asynchronous histogram, so the
// histogram yokedcache.operation.duration (s) {cache, op} comes from
// Observer.Produce, an sdk/metric Producer: pass the Observer to the
// reader with sdkmetric.WithProducer. Its buckets are
// yokedcache.LatencyBounds, and like Stats.Latency it covers the timed
// calls only (1 in 16 gets, sets, deletes and batch calls, every
// invalidation).
//
// # Spans
//
// NewTracer returns a yokedcache.Tracer for Config.Tracer:
//
//	cache, err := yokedcache.New(yokedcache.Config{
//		Tracer: otel.NewTracer(tracerProvider, otel.TracerOptions{}),
//	})
//
// Every operation is a span named after the operation (db.operation.name:
// "get", "set", "get_many", "invalidate_tags", ...; GetBytes, GetView and
// Get[T] are "get"), with the spans of the caller's context as parents.
// Single-key operations are client spans. Batch and fan-out operations
// (GetMany, SetMany, DeleteMany, FetchMany, InvalidateTags,
// InvalidatePattern, Flush, Ping, FuzzySearch) are internal spans with one
// client child span per backend round trip (one per backend the
// operation reaches; yokedcache.round_trip=true). Operations built on
// others nest: a Fetch span holds its read's span, and its loader runs
// under the Fetch span. Attributes, following the database semantic
// conventions:
//
//	db.system.name           redis, memcached, sqlite; yokedcache.memory, yokedcache.disk,
//	                         yokedcache.<name> for other backends; yokedcache.router for
//	                         the operation span of a fan-out over routes
//	db.operation.name        the operation
//	db.operation.batch.size  the keys of a batch (tags of InvalidateTags), when at least 2
//	server.address, server.port  the backend's server (the first configured), when known
//	yokedcache.route         the route's prefix; absent for the default route
//	yokedcache.miss          true when a read missed (a miss is not an error)
//	error.type               on failures, see ErrorType; the span status is then Error
//	yokedcache.key           the user key of single-key operations, only with
//	                         TracerOptions.RecordKeys
//
// Keys can hold personal data, so no key, tag or value is recorded unless
// TracerOptions.RecordKeys is set; without it the status description of a
// failed span is its error.type, not the error's message (which names the
// key), and no exception event is recorded.
//
// Cost: over a no-op TracerProvider NewTracer returns nil, and the Cache
// does no tracing work (one branch per operation). With an SDK
// provider every operation starts an SDK span, sampled or not: in
// bench/tracing_test.go a memory GetBytes hit with 1 % sampling took
// about three times as long as without a Tracer (three more allocations).
package otel

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/sdk/instrumentation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/yokedcache/yokedcache"
	"github.com/yokedcache/yokedcache/internal/statsreg"
)

// ScopeName is the instrumentation scope of the histograms Produce
// returns; use it as the Meter name given to Register too.
const ScopeName = "github.com/yokedcache/yokedcache/otel"

// DefaultTimeout is the Stats timeout of an Observer whose
// Options.Timeout is 0.
const DefaultTimeout = 5 * time.Second

// reuseFor is how long a Stats snapshot taken by the instruments' callback
// serves Produce: a reader runs the callbacks, then the producers, so one
// collection reads each Cache's Stats once.
const reuseFor = time.Second

// Options configures an Observer. The zero value is ready to use.
type Options struct {
	// Timeout bounds each Cache.Stats call of a collection (Redis counts
	// keys with SCAN). Default DefaultTimeout. When it expires the
	// counters are still reported and yokedcache.backend.up is 0.
	Timeout time.Duration
}

// Observer reports the Stats of one or more Caches to OpenTelemetry. Its
// methods are safe for concurrent use.
type Observer struct {
	start time.Time
	reg   *statsreg.Registry
}

var _ sdkmetric.Producer = (*Observer)(nil)

// NewObserver returns an Observer without Caches; add them with Add.
func NewObserver(opts Options) *Observer {
	t := opts.Timeout
	if t <= 0 {
		t = DefaultTimeout
	}
	return &Observer{start: time.Now(), reg: statsreg.New("yokedcache/otel", t)}
}

// Add reports c under the attribute cache=name. The name must be non-empty
// and not in use by another Cache of this Observer.
func (o *Observer) Add(name string, c *yokedcache.Cache) error { return o.reg.Add(name, c) }

// Remove stops reporting the Cache named name and reports whether there
// was one.
func (o *Observer) Remove(name string) bool { return o.reg.Remove(name) }

// instruments are the asynchronous instruments of Register.
type instruments struct {
	hits, misses, sets, deletes, errors                                    metric.Int64ObservableCounter
	corrupt, unauth, invalidations, loads, loadErrors, evictions, expirees metric.Int64ObservableCounter
	up, keys, size, poolConns, poolIdle, poolMax                           metric.Int64ObservableGauge
	poolHits, poolMisses, poolTimeouts, poolDialErrs                       metric.Int64ObservableCounter
	breakerState                                                           metric.Int64ObservableGauge
	breakerOpens, breakerRejected                                          metric.Int64ObservableCounter
	staleServed, staleIfError, negativeHits, fallbacks, writeBackErrs      metric.Int64ObservableCounter
	nearHits, nearMisses, nearFills, nearEvictions, nearInvals, nearResets metric.Int64ObservableCounter
	nearEntries, nearBytes, nearMaxEntries, nearMaxBytes, nearLive         metric.Int64ObservableGauge
	nearLag                                                                metric.Float64ObservableGauge
}

// Register creates the instruments on meter (see the package doc) and a
// callback that reports the Stats of the Observer's Caches at each
// collection. Call it once per MeterProvider; Unregister the returned
// Registration to stop.
func (o *Observer) Register(meter metric.Meter) (metric.Registration, error) {
	var in instruments
	var errs []error
	counter := func(name, unit, desc string) metric.Int64ObservableCounter {
		c, err := meter.Int64ObservableCounter(name, metric.WithUnit(unit), metric.WithDescription(desc))
		errs = append(errs, err)
		return c
	}
	gauge := func(name, unit, desc string) metric.Int64ObservableGauge {
		g, err := meter.Int64ObservableGauge(name, metric.WithUnit(unit), metric.WithDescription(desc))
		errs = append(errs, err)
		return g
	}
	in.hits = counter("yokedcache.hits", "{hit}", "Reads that found a value.")
	in.misses = counter("yokedcache.misses", "{miss}", "Reads that found no value (including stored bytes that did not decode).")
	in.sets = counter("yokedcache.sets", "{set}", "Values written.")
	in.deletes = counter("yokedcache.deletes", "{delete}", "Keys deleted that existed.")
	in.errors = counter("yokedcache.errors", "{error}", "Operations that failed with a backend error.")
	in.corrupt = counter("yokedcache.corrupt", "{value}", "Stored values that did not decode (bad bytes, or a type that does not fit the destination).")
	in.unauth = counter("yokedcache.unauthenticated", "{value}", "Stored values that failed signature or decryption checks (counted in corrupt too).")
	in.invalidations = counter("yokedcache.invalidations", "{key}", "Keys removed by tag or pattern invalidation.")
	in.loads = counter("yokedcache.loads", "{load}", "Loader calls made on misses by Fetch and GetOrSet.")
	in.loadErrors = counter("yokedcache.load_errors", "{load}", "Loader calls that returned an error.")
	in.evictions = counter("yokedcache.evictions", "{entry}", "Entries the backends evicted to make room (server-wide for Redis).")
	in.expirees = counter("yokedcache.expirations", "{entry}", "Entries the backends removed on expiry (server-wide for Redis).")
	in.up = gauge("yokedcache.backend.up", "1", "1 if the route's backend answered the last Stats call, else 0.")
	in.keys = gauge("yokedcache.keys", "{key}", "Keys the backend holds in the scope it reports (see yokedcache.Stats.Scope).")
	in.size = gauge("yokedcache.stored.size", "By", "Bytes the backend holds in the scope it reports.")
	in.poolConns = gauge("yokedcache.pool.connections", "{connection}", "Open connections to the backend.")
	in.poolIdle = gauge("yokedcache.pool.idle_connections", "{connection}", "Open connections not in use.")
	in.poolMax = gauge("yokedcache.pool.max_connections", "{connection}", "The configured limit of connections.")
	in.poolHits = counter("yokedcache.pool.hits", "{operation}", "Operations that reused a pooled connection.")
	in.poolMisses = counter("yokedcache.pool.misses", "{connection}", "Connections dialled because none was free.")
	in.poolTimeouts = counter("yokedcache.pool.timeouts", "{operation}", "Operations that timed out waiting for the backend.")
	in.poolDialErrs = counter("yokedcache.pool.dial_errors", "{connection}", "Failed connection attempts.")
	in.breakerState = gauge("yokedcache.breaker.state", "1", "Circuit breaker of the backend: 0 closed, 1 half-open, 2 open.")
	in.breakerOpens = counter("yokedcache.breaker.opens", "{transition}", "Times the backend's circuit breaker opened.")
	in.breakerRejected = counter("yokedcache.breaker.rejected", "{call}", "Calls failed at once by the open breaker (ErrUnavailable).")
	in.staleServed = counter("yokedcache.stale_served", "{value}", "Stale values returned at once by stale-while-revalidate.")
	in.staleIfError = counter("yokedcache.stale_if_error", "{value}", "Stale values returned because a load failed.")
	in.negativeHits = counter("yokedcache.negative_hits", "{read}", "Reads answered by a cached miss.")
	in.fallbacks = counter("yokedcache.load_fallbacks", "{load}", "Loads run because the backend could not be read (fail-open).")
	in.writeBackErrs = counter("yokedcache.write_back_errors", "{value}", "Loaded values that could not be stored.")
	in.nearHits = counter("yokedcache.near.hits", "{hit}", "Reads served by the near-cache tier's local copies.")
	in.nearMisses = counter("yokedcache.near.misses", "{miss}", "Reads the near-cache tier sent to the shared backend.")
	in.nearFills = counter("yokedcache.near.fills", "{entry}", "Copies the near-cache tier kept after a miss.")
	in.nearEvictions = counter("yokedcache.near.evictions", "{entry}", "Copies evicted to respect the tier's bounds.")
	in.nearInvals = counter("yokedcache.near.invalidations", "{key}", "Keys notified as changed by the shared backend (tracking or stream).")
	in.nearResets = counter("yokedcache.near.resets", "{reset}", "Times every copy was dropped because notifications stopped or resumed.")
	in.nearEntries = gauge("yokedcache.near.entries", "{entry}", "Copies the near-cache tier holds.")
	in.nearBytes = gauge("yokedcache.near.size", "By", "Bytes of keys and values the near-cache tier holds.")
	in.nearMaxEntries = gauge("yokedcache.near.max_entries", "{entry}", "The tier's entry bound.")
	in.nearMaxBytes = gauge("yokedcache.near.max_size", "By", "The tier's byte bound (-1: none).")
	in.nearLive = gauge("yokedcache.near.live", "1", "1 while the tier keeps copies (notifications flow, or mode ttl), else 0; attribute mode.")
	lag, err := meter.Float64ObservableGauge("yokedcache.near.lag", metric.WithUnit("s"), metric.WithDescription("Delay of the last invalidation-stream event (mode stream)."))
	errs = append(errs, err)
	in.nearLag = lag
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("yokedcache/otel: %w", err)
	}
	all := []metric.Observable{
		in.nearHits, in.nearMisses, in.nearFills, in.nearEvictions, in.nearInvals, in.nearResets,
		in.nearEntries, in.nearBytes, in.nearMaxEntries, in.nearMaxBytes, in.nearLive, in.nearLag,
		in.breakerState, in.breakerOpens, in.breakerRejected, in.staleServed, in.staleIfError, in.negativeHits,
		in.fallbacks, in.writeBackErrs,
		in.hits, in.misses, in.sets, in.deletes, in.errors, in.corrupt, in.unauth, in.invalidations, in.loads,
		in.loadErrors, in.evictions, in.expirees, in.up, in.keys, in.size, in.poolConns, in.poolIdle, in.poolMax,
		in.poolHits, in.poolMisses, in.poolTimeouts, in.poolDialErrs,
	}
	reg, err := meter.RegisterCallback(func(ctx context.Context, ob metric.Observer) error {
		for _, s := range o.reg.Stats(ctx, 0) {
			in.observe(ob, s)
		}
		return nil
	}, all...)
	if err != nil {
		return nil, fmt.Errorf("yokedcache/otel: %w", err)
	}
	return reg, nil
}

// observe reports one Cache's Stats.
func (in *instruments) observe(ob metric.Observer, s statsreg.Snapshot) {
	st := s.Stats
	cache := attribute.String("cache", s.Name)
	routes := st.PerRoute(s.Err)
	for _, r := range routes {
		ra := metric.WithAttributes(cache, attribute.String("route", r.Route))
		ob.ObserveInt64(in.hits, r.Hits, ra)
		ob.ObserveInt64(in.misses, r.Misses, ra)
		ob.ObserveInt64(in.sets, r.Sets, ra)
		ob.ObserveInt64(in.deletes, r.Deletes, ra)
		ob.ObserveInt64(in.errors, r.Errors, ra)
		ba := metric.WithAttributes(cache, attribute.String("route", r.Route), attribute.String("backend", r.Backend))
		if r.Error != "" || s.Err != nil {
			ob.ObserveInt64(in.up, 0, ba)
			continue
		}
		ob.ObserveInt64(in.up, 1, ba)
		if r.Keys >= 0 {
			ob.ObserveInt64(in.keys, r.Keys, ba)
		}
		if r.Bytes >= 0 {
			ob.ObserveInt64(in.size, r.Bytes, ba)
		}
		if pool, ok := r.Extra["connection_pool"].(map[string]any); ok {
			for key, inst := range map[string]metric.Int64Observable{
				"total": in.poolConns, "idle": in.poolIdle, "max_conns": in.poolMax, "hits": in.poolHits,
				"misses": in.poolMisses, "timeouts": in.poolTimeouts, "dial_errors": in.poolDialErrs,
			} {
				if v, ok := poolNumber(pool[key]); ok {
					ob.ObserveInt64(inst, v, ba)
				}
			}
		}
	}
	for _, n := range st.Near {
		na := metric.WithAttributes(cache, attribute.String("route", n.Route), attribute.String("backend", n.Backend))
		ob.ObserveInt64(in.nearHits, n.Hits, na)
		ob.ObserveInt64(in.nearMisses, n.Misses, na)
		ob.ObserveInt64(in.nearFills, n.Fills, na)
		ob.ObserveInt64(in.nearEvictions, n.Evictions, na)
		ob.ObserveInt64(in.nearInvals, n.Invalidations, na)
		ob.ObserveInt64(in.nearResets, n.Resets, na)
		ob.ObserveInt64(in.nearEntries, n.Entries, na)
		ob.ObserveInt64(in.nearBytes, n.Bytes, na)
		ob.ObserveInt64(in.nearMaxEntries, int64(n.MaxEntries), na)
		ob.ObserveInt64(in.nearMaxBytes, n.MaxBytes, na)
		ob.ObserveFloat64(in.nearLag, n.LagSeconds, na)
		live := int64(0)
		if n.Live {
			live = 1
		}
		ob.ObserveInt64(in.nearLive, live, metric.WithAttributes(cache, attribute.String("route", n.Route),
			attribute.String("backend", n.Backend), attribute.String("mode", n.Mode)))
	}
	ca := metric.WithAttributes(cache)
	ob.ObserveInt64(in.corrupt, st.Corrupt, ca)
	ob.ObserveInt64(in.unauth, st.Unauthenticated, ca)
	ob.ObserveInt64(in.invalidations, st.Invalidations, ca)
	ob.ObserveInt64(in.loads, st.Loads, ca)
	ob.ObserveInt64(in.loadErrors, st.LoadErrors, ca)
	ob.ObserveInt64(in.staleServed, st.StaleServed, ca)
	ob.ObserveInt64(in.staleIfError, st.StaleIfError, ca)
	ob.ObserveInt64(in.negativeHits, st.NegativeHits, ca)
	ob.ObserveInt64(in.fallbacks, st.LoadFallbacks, ca)
	ob.ObserveInt64(in.writeBackErrs, st.WriteBackErrors, ca)
	for _, b := range st.Breakers {
		ba := metric.WithAttributes(cache, attribute.String("route", b.Route), attribute.String("backend", b.Backend))
		state := int64(0)
		switch b.State {
		case yokedcache.BreakerHalfOpen:
			state = 1
		case yokedcache.BreakerOpen:
			state = 2
		}
		ob.ObserveInt64(in.breakerState, state, ba)
		ob.ObserveInt64(in.breakerOpens, b.Opens, ba)
		ob.ObserveInt64(in.breakerRejected, b.Rejected, ba)
	}
	if s.Err == nil {
		ob.ObserveInt64(in.evictions, st.Evictions, ca)
		ob.ObserveInt64(in.expirees, st.Expirations, ca)
	}
}

// bounds are the histogram bounds in seconds.
var bounds = func() []float64 {
	b := yokedcache.LatencyBounds()
	s := make([]float64, len(b))
	for i, d := range b {
		s[i] = d.Seconds()
	}
	return s
}()

// Produce returns the histogram yokedcache.operation.duration of every
// Cache, cumulative since NewObserver, under the scope ScopeName. It
// implements go.opentelemetry.io/otel/sdk/metric.Producer: pass the
// Observer to a reader with sdkmetric.WithProducer. It reuses the Stats
// that Register's callback read in the same collection.
func (o *Observer) Produce(ctx context.Context) ([]metricdata.ScopeMetrics, error) {
	snaps := o.reg.Stats(ctx, reuseFor)
	now := time.Now()
	var dps []metricdata.HistogramDataPoint[float64]
	for _, s := range snaps {
		ops := make([]string, 0, len(s.Stats.Latency))
		for op := range s.Stats.Latency {
			ops = append(ops, op)
		}
		slices.Sort(ops)
		for _, op := range ops {
			l := s.Stats.Latency[op]
			if len(l.Counts) != len(bounds)+1 {
				continue
			}
			counts := make([]uint64, len(l.Counts))
			var n uint64
			for i, c := range l.Counts {
				counts[i] = uint64(c)
				n += uint64(c)
			}
			dps = append(dps, metricdata.HistogramDataPoint[float64]{
				Attributes:   attribute.NewSet(attribute.String("cache", s.Name), attribute.String("op", op)),
				StartTime:    o.start,
				Time:         now,
				Count:        n,
				Bounds:       bounds,
				BucketCounts: counts,
				Max:          metricdata.NewExtrema(l.Max.Seconds()),
				Sum:          l.Sum.Seconds(),
			})
		}
	}
	if len(dps) == 0 {
		return nil, nil
	}
	return []metricdata.ScopeMetrics{{
		Scope: instrumentation.Scope{Name: ScopeName},
		Metrics: []metricdata.Metrics{{
			Name:        "yokedcache.operation.duration",
			Description: "Duration of cache operations; 1 in 16 get, set, delete and batch calls is timed, every invalidation.",
			Unit:        "s",
			Data:        metricdata.Histogram[float64]{DataPoints: dps, Temporality: metricdata.CumulativeTemporality},
		}},
	}}, nil
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
