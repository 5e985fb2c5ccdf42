package otel

import (
	"context"
	"errors"
	"net"
	"os"
	"strconv"
	"sync"

	gotel "go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/yokedcache/yokedcache"
)

// The attributes of spans that the database semantic conventions do not
// define.
const (
	// RouteKey is the prefix of the route serving the operation (absent
	// for the default route and a Cache without routes).
	RouteKey = attribute.Key("yokedcache.route")
	// KeyKey is the user key of a single-key operation, recorded only
	// with TracerOptions.RecordKeys.
	KeyKey = attribute.Key("yokedcache.key")
	// MissKey is true on the span of an operation that missed (its error
	// matched yokedcache.ErrNotFound); absent otherwise.
	MissKey = attribute.Key("yokedcache.miss")
	// RoundTripKey is true on the span of one backend's call within a
	// batch or fan-out operation.
	RoundTripKey = attribute.Key("yokedcache.round_trip")
)

// TracerOptions configures the Tracer of NewTracer. The zero value
// records no keys.
type TracerOptions struct {
	// RecordKeys records the user key of single-key operations as the
	// attribute yokedcache.key, and failures' messages (which name the
	// key) as the span status description and an exception event. Keys
	// can hold personal data: leave it false unless they cannot.
	RecordKeys bool
}

// NewTracer returns a yokedcache.Tracer (for Config.Tracer) that starts
// OpenTelemetry spans from tp (nil: the global TracerProvider), with the
// instrumentation scope ScopeName. See the package documentation for the
// spans and their attributes.
//
// Over a no-op TracerProvider (go.opentelemetry.io/otel/trace/noop) it
// returns nil, so a Cache given it does no tracing work at all: such a
// provider never records, and the spans of the caller's context already
// propagate.
func NewTracer(tp trace.TracerProvider, opts TracerOptions) yokedcache.Tracer {
	if tp == nil {
		tp = gotel.GetTracerProvider()
	}
	t := &tracer{t: tp.Tracer(ScopeName), keys: opts.RecordKeys}
	if _, ok := t.t.(noop.Tracer); ok {
		return nil
	}
	return t
}

type tracer struct {
	t      trace.Tracer
	keys   bool
	addrs  sync.Map // OpInfo.Addr -> []attribute.KeyValue
	shapes sync.Map // shape -> []trace.SpanStartOption
}

// nopSpan is the Span of an operation that is not recorded.
type nopSpan struct{}

func (nopSpan) End(yokedcache.Outcome) {}

// Start implements yokedcache.Tracer.
func (t *tracer) Start(ctx context.Context, op yokedcache.OpInfo) (context.Context, yokedcache.Span) {
	opts := t.startOptions(op)
	var extra []attribute.KeyValue
	if op.Keys >= 2 {
		extra = append(extra, semconv.DBOperationBatchSize(op.Keys))
	}
	if t.keys && op.Key != "" {
		extra = append(extra, KeyKey.String(op.Key))
	}
	if extra != nil {
		opts = append(opts[:len(opts):len(opts)], trace.WithAttributes(extra...))
	}
	ctx, s := t.t.Start(ctx, op.Op, opts...)
	if !s.IsRecording() {
		return ctx, nopSpan{}
	}
	return ctx, &span{s: s, keys: t.keys}
}

// shape is what the start options of a span depend on, but for the batch
// size and the key: a few values per Cache.
type shape struct {
	op, backend, addr, route string
	fanOut, roundTrip        bool
}

// startOptions returns the span kind and the attributes of op's shape,
// built once per shape.
func (t *tracer) startOptions(op yokedcache.OpInfo) []trace.SpanStartOption {
	k := shape{op.Op, op.Backend, op.Addr, op.Route, op.FanOut, op.RoundTrip}
	if v, ok := t.shapes.Load(k); ok {
		return v.([]trace.SpanStartOption)
	}
	kind := trace.SpanKindClient
	if op.FanOut {
		// The backend calls are the client spans, its children.
		kind = trace.SpanKindInternal
	}
	attrs := []attribute.KeyValue{systemName(op.Backend), semconv.DBOperationName(op.Op)}
	attrs = append(attrs, t.addrAttrs(op.Addr)...)
	if op.Route != "" {
		attrs = append(attrs, RouteKey.String(op.Route))
	}
	if op.RoundTrip {
		attrs = append(attrs, RoundTripKey.Bool(true))
	}
	opts := []trace.SpanStartOption{trace.WithSpanKind(kind), trace.WithAttributes(attrs...)}
	t.shapes.Store(k, opts)
	return opts
}

// span is a recording span.
type span struct {
	s    trace.Span
	keys bool
}

// End implements yokedcache.Span.
func (s *span) End(o yokedcache.Outcome) {
	switch {
	case o.Err != nil:
		et := ErrorType(o.Err)
		s.s.SetAttributes(semconv.ErrorTypeKey.String(et))
		if s.keys {
			s.s.RecordError(o.Err)
			s.s.SetStatus(codes.Error, o.Err.Error())
		} else {
			s.s.SetStatus(codes.Error, et)
		}
	case o.Miss:
		s.s.SetAttributes(MissKey.Bool(true))
	}
	s.s.End()
}

// systemName is the db.system.name of a backend type name: redis,
// memcached and sqlite are the conventions' values; others are
// "yokedcache.<name>" (yokedcache.memory, yokedcache.disk,
// yokedcache.router for the operation span of a fan-out over routes,
// yokedcache.custom).
func systemName(backend string) attribute.KeyValue {
	switch backend {
	case "redis", "goredis":
		return semconv.DBSystemNameRedis
	case "memcached":
		return semconv.DBSystemNameMemcached
	case "sqlite":
		return semconv.DBSystemNameSQLite
	case "memory":
		return sysMemory
	case "disk":
		return sysDisk
	case "router":
		return sysRouter
	}
	return semconv.DBSystemNameKey.String("yokedcache." + backend)
}

var (
	sysMemory = semconv.DBSystemNameKey.String("yokedcache.memory")
	sysDisk   = semconv.DBSystemNameKey.String("yokedcache.disk")
	sysRouter = semconv.DBSystemNameKey.String("yokedcache.router")
)

// addrAttrs returns server.address and server.port for a backend's
// address ("host:port", or a Unix socket path: the address alone).
func (t *tracer) addrAttrs(addr string) []attribute.KeyValue {
	if addr == "" {
		return nil
	}
	if v, ok := t.addrs.Load(addr); ok {
		return v.([]attribute.KeyValue)
	}
	var kv []attribute.KeyValue
	if host, port, err := net.SplitHostPort(addr); err == nil && host != "" {
		kv = append(kv, semconv.ServerAddress(host))
		if p, err := strconv.Atoi(port); err == nil {
			kv = append(kv, semconv.ServerPort(p))
		}
	} else {
		kv = append(kv, semconv.ServerAddress(addr))
	}
	t.addrs.Store(addr, kv)
	return kv
}

// ErrorType is the error.type the Tracer of NewTracer records for a
// failed operation or round trip: "timeout" (a deadline passed: the
// caller's, Config.OperationTimeout or a socket timeout), "canceled",
// "unavailable" (an open circuit breaker), "closed", "corrupt",
// "invalid_key", "invalid_ttl", "invalid_value", "value_too_large",
// "unsupported", "invalid_config"; for other errors, the fully qualified
// type of the backend's error (as semconv.ErrorType derives it), after
// unwrapping the yokedcache.Error and yokedcache.RouteError around it
// (the first of several joined failures).
func ErrorType(err error) string {
	var ne net.Error
	switch {
	case errors.Is(err, yokedcache.ErrUnavailable):
		// First: it wraps the failure that opened the breaker.
		return "unavailable"
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded),
		errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	case errors.Is(err, context.Canceled):
		return "canceled"
	case errors.Is(err, yokedcache.ErrClosed):
		return "closed"
	case errors.Is(err, yokedcache.ErrCorrupt):
		return "corrupt"
	case errors.Is(err, yokedcache.ErrInvalidKey):
		return "invalid_key"
	case errors.Is(err, yokedcache.ErrInvalidTTL):
		return "invalid_ttl"
	case errors.Is(err, yokedcache.ErrInvalidValue):
		return "invalid_value"
	case errors.Is(err, yokedcache.ErrValueTooLarge):
		return "value_too_large"
	case errors.Is(err, yokedcache.ErrUnsupported):
		return "unsupported"
	case errors.Is(err, yokedcache.ErrInvalidConfig):
		return "invalid_config"
	}
	return semconv.ErrorType(cause(err)).Value.AsString()
}

// cause unwraps the Cache's own wrappers around a backend's error.
func cause(err error) error {
	for {
		switch e := err.(type) {
		case *yokedcache.Error:
			err = e.Err
		case *yokedcache.RouteError:
			err = e.Err
		case interface{ Unwrap() []error }:
			errs := e.Unwrap()
			if len(errs) == 0 {
				return err
			}
			err = errs[0]
		default:
			return err
		}
	}
}
