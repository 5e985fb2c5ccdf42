package yokedcache

import (
	"context"
	"errors"
)

// Tracer starts a span for each Cache operation (Config.Tracer). Package
// otel implements it over an OpenTelemetry TracerProvider; this package
// defines only the hook, so that programs that do not trace do not link a
// tracing library.
//
// Every public operation (Get, GetBytes, GetView, Get[T], Set, Delete,
// Exists, TTL, Expire, Touch, Fetch, GetOrSet, GetMany, SetMany,
// DeleteMany, FetchMany, InvalidateTags, InvalidatePattern, Flush, Ping,
// FuzzySearch) calls Start once and ends the Span it returns with the
// operation's outcome. Keys, Stats and DetailedHealthCheck are not
// traced. Operations built on others nest: a Fetch span holds the span of
// its read, and the loader runs under the Fetch span's context.
//
// Batch and fan-out operations (OpInfo.FanOut) also call Start once per
// backend round trip, with the context of the operation's span and
// OpInfo.RoundTrip set: one child per backend that a GetMany, SetMany,
// DeleteMany, FetchMany, InvalidateTags, InvalidatePattern, Flush, Ping or
// FuzzySearch (its reads of values) reaches.
//
// The context Start returns is passed down to the backend, so that a
// backend's own instrumentation nests under the span. Start and End are
// called concurrently, from the goroutines of the callers (and of
// fan-outs).
//
// With a nil Config.Tracer the Cache does no tracing work: one branch per
// operation, no allocation.
type Tracer interface {
	// Start starts the span of op and returns the context the operation
	// continues with (normally ctx with the span in it) and the span,
	// never nil.
	Start(ctx context.Context, op OpInfo) (context.Context, Span)
}

// Span is an operation's span, started by Tracer.Start. End is called
// exactly once.
type Span interface {
	// End ends the span with the operation's outcome.
	End(o Outcome)
}

// OpInfo describes an operation to Tracer.Start.
type OpInfo struct {
	// Op is the operation's name, as in Error.Op: "get", "set",
	// "delete", "exists", "ttl", "expire", "touch", "fetch",
	// "get_or_set", "get_many", "set_many", "delete_many", "fetch_many",
	// "invalidate_tags", "invalidate_pattern", "flush", "ping",
	// "fuzzy_search". (GetBytes, GetView and Get[T] are "get".) A round
	// trip has its operation's name.
	Op string
	// Key is the user key of a single-key operation (without the
	// KeyPrefix); "" for other operations. It may hold personal data:
	// record it only when the user asked for it.
	Key string
	// Keys is the number of keys of a batch operation (GetMany, SetMany,
	// DeleteMany, FetchMany) or of the tags of InvalidateTags; 0
	// otherwise and for round trips.
	Keys int
	// Route is the prefix of the route serving the key (single-key
	// operations) or the first route the round trip's backend serves;
	// "" for the default route, a Cache without routes, and
	// the operation span of a fan-out.
	Route string
	// Backend is the backend's type name ("memory", "redis",
	// "memcached", "disk", "sqlite", "custom" for a backend without a
	// name), or Cache.Backend() ("router" with routes) for the
	// operation span of a fan-out.
	Backend string
	// Addr is the server's "host:port" (or Unix socket path) when the
	// backend reports it (backend.Addresser; with several servers, the
	// first one configured), else "". Set on single-key operations and
	// round trips.
	Addr string
	// FanOut marks an operation whose backend calls are reported as
	// children with RoundTrip set (batch and fan-out operations).
	FanOut bool
	// RoundTrip marks the call to one backend of a FanOut operation; its
	// span is a child of the operation's.
	RoundTrip bool
}

// Outcome is how an operation or round trip ended, given to Span.End.
type Outcome struct {
	// Err is the error the operation returned (for a round trip, the
	// backend's error), or nil. A miss is not a failure: Err is nil and
	// Miss is set.
	Err error
	// Miss reports that the operation returned an error matching
	// ErrNotFound: an absent or expired key, or stored bytes that do not
	// decode (ErrCorrupt, counted and logged as such).
	Miss bool
}

// outcome is the Outcome of an operation that returned err.
func outcome(err error) Outcome {
	if err != nil && errors.Is(err, ErrNotFound) {
		return Outcome{Miss: true}
	}
	return Outcome{Err: err}
}

// startOp starts the span of a single-key operation. The caller has
// checked that c.cfg.Tracer is not nil.
func (c *Cache) startOp(ctx context.Context, op, key string) (context.Context, Span) {
	r := c.rt.match(key)
	return c.cfg.Tracer.Start(ctx, OpInfo{Op: op, Key: key, Route: r.prefix, Backend: r.mem.name, Addr: r.mem.addr})
}

// fanOutKey is the context key of a traced fan-out operation's name: its
// round trips (routeTable.roundTrip) start child spans under it.
type fanOutKey struct{}

// startFanOut starts the span of a batch or fan-out operation on keys
// keys. The caller has checked that c.cfg.Tracer is not nil.
func (c *Cache) startFanOut(ctx context.Context, op string, keys int) (context.Context, Span) {
	ctx, sp := c.cfg.Tracer.Start(ctx, OpInfo{Op: op, Keys: keys, Backend: c.Backend(), FanOut: true})
	return context.WithValue(ctx, fanOutKey{}, op), sp
}

// tripSpan is a round trip's span, or nothing when the operation is not
// traced.
type tripSpan struct{ sp Span }

// end ends the round trip's span with the backend's error.
func (s tripSpan) end(err error) {
	if s.sp != nil {
		s.sp.End(Outcome{Err: err})
	}
}

// roundTrip starts the span of a call to member m when ctx is that of a
// traced fan-out operation (startFanOut).
func (t *routeTable) roundTrip(ctx context.Context, m *member) (context.Context, tripSpan) {
	if t.tracer == nil {
		return ctx, tripSpan{}
	}
	op, ok := ctx.Value(fanOutKey{}).(string)
	if !ok {
		return ctx, tripSpan{}
	}
	ctx, sp := t.tracer.Start(ctx, OpInfo{Op: op, Route: m.routes[0].prefix, Backend: m.name, Addr: m.addr, RoundTrip: true})
	return ctx, tripSpan{sp}
}
