package otel_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/yokedcache/yokedcache"
	"github.com/yokedcache/yokedcache/backend/memory"
	"github.com/yokedcache/yokedcache/backend/redis"
	"github.com/yokedcache/yokedcache/internal/testserver"
	yotel "github.com/yokedcache/yokedcache/otel"
)

func TestMain(m *testing.M) { testserver.Main(m) }

// secret is in every key the scripts use: no span may show it unless
// TracerOptions.RecordKeys.
const secret = "alice@example.com"

var (
	hitKey  = "user:" + secret
	missKey = "user:nobody-" + secret
)

// tracedCache returns a Cache over cfg whose spans go to the recorder.
func tracedCache(t *testing.T, cfg yokedcache.Config, opts yotel.TracerOptions) (*yokedcache.Cache, *tracetest.SpanRecorder) {
	t.Helper()
	sr := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(sr))
	t.Cleanup(func() { tp.Shutdown(context.Background()) })
	cfg.Tracer = yotel.NewTracer(tp, opts)
	if cfg.KeyPrefix == "" {
		cfg.KeyPrefix = "tr" + strconv.FormatInt(time.Now().UnixNano(), 36)
	}
	c, err := yokedcache.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c, sr
}

func memBackend(t *testing.T) *memory.Store {
	t.Helper()
	m, err := memory.New(memory.Options{CleanupInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// traceScript runs Set, a Get hit, a Get miss, GetMany and InvalidateTags,
// and returns the recorded spans, one slice per operation, children
// first (the order they end in).
func traceScript(t *testing.T, c *yokedcache.Cache, sr *tracetest.SpanRecorder, keys ...string) map[string][]sdktrace.ReadOnlySpan {
	t.Helper()
	ctx := context.Background()
	out := map[string][]sdktrace.ReadOnlySpan{}
	step := func(name string, f func() error) {
		t.Helper()
		before := len(sr.Ended())
		if err := f(); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		out[name] = sr.Ended()[before:]
	}
	step("set", func() error { return c.Set(ctx, hitKey, "v", yokedcache.WithTags("t1")) })
	step("get hit", func() error { var s string; return c.Get(ctx, hitKey, &s) })
	step("get miss", func() error {
		if _, err := c.GetBytes(ctx, missKey); !errors.Is(err, yokedcache.ErrNotFound) {
			return errors.New("not a miss: " + errString(err))
		}
		return nil
	})
	step("get_many", func() error {
		vals, err := c.GetMany(ctx, append([]string{hitKey, missKey}, keys...))
		if err == nil && len(vals) != 1 {
			t.Errorf("GetMany hits %d; want 1", len(vals))
		}
		return err
	})
	step("invalidate_tags", func() error {
		n, err := c.InvalidateTags(ctx, "t1")
		if err == nil && n != 1 {
			t.Errorf("InvalidateTags = %d; want 1", n)
		}
		return err
	})
	return out
}

func errString(err error) string {
	if err == nil {
		return "<nil>"
	}
	return err.Error()
}

func attrs(s sdktrace.ReadOnlySpan) map[attribute.Key]attribute.Value {
	m := map[attribute.Key]attribute.Value{}
	for _, kv := range s.Attributes() {
		m[kv.Key] = kv.Value
	}
	return m
}

// checkSpan checks a span's name, kind and attributes: want holds the
// attributes it must have (with these values); no other attribute is
// allowed except those named in may.
func checkSpan(t *testing.T, what string, s sdktrace.ReadOnlySpan, name string, kind trace.SpanKind, want []attribute.KeyValue, may ...attribute.Key) {
	t.Helper()
	if s.Name() != name || s.SpanKind() != kind {
		t.Errorf("%s: span %q kind %v; want %q %v", what, s.Name(), s.SpanKind(), name, kind)
	}
	got := attrs(s)
	for _, kv := range want {
		if v, ok := got[kv.Key]; !ok || v != kv.Value {
			t.Errorf("%s: %s = %v (present %v); want %v", what, kv.Key, v.String(), ok, kv.Value.String())
		}
		delete(got, kv.Key)
	}
	for _, k := range may {
		delete(got, k)
	}
	for k, v := range got {
		t.Errorf("%s: unexpected attribute %s = %v", what, k, v.String())
	}
	if s.Status().Code == codes.Error {
		t.Errorf("%s: status %v %q; want unset", what, s.Status().Code, s.Status().Description)
	}
}

// noSecret fails when any attribute, status or event of the spans shows
// the secret part of the keys.
func noSecret(t *testing.T, spans []sdktrace.ReadOnlySpan) {
	t.Helper()
	for _, s := range spans {
		for _, kv := range s.Attributes() {
			if strings.Contains(kv.Value.String(), secret) {
				t.Errorf("span %s: attribute %s shows the key: %q", s.Name(), kv.Key, kv.Value.String())
			}
		}
		if strings.Contains(s.Status().Description, secret) {
			t.Errorf("span %s: status shows the key: %q", s.Name(), s.Status().Description)
		}
		for _, e := range s.Events() {
			for _, kv := range e.Attributes {
				if strings.Contains(kv.Value.String(), secret) {
					t.Errorf("span %s: event %s shows the key: %q", s.Name(), e.Name, kv.Value.String())
				}
			}
		}
	}
}

// childOf checks that child is a child span of parent in one trace.
func childOf(t *testing.T, what string, child, parent sdktrace.ReadOnlySpan) {
	t.Helper()
	if child.Parent().SpanID() != parent.SpanContext().SpanID() || child.SpanContext().TraceID() != parent.SpanContext().TraceID() {
		t.Errorf("%s: span %s is not a child of %s", what, child.Name(), parent.Name())
	}
}

// checkScript checks the spans of traceScript on a Cache without routes
// over one backend: sys is its db.system.name and server its
// server.address and server.port attributes (none for memory).
func checkScript(t *testing.T, got map[string][]sdktrace.ReadOnlySpan, sys attribute.KeyValue, server ...attribute.KeyValue) {
	t.Helper()
	one := func(step string, n int) []sdktrace.ReadOnlySpan {
		t.Helper()
		if len(got[step]) != n {
			t.Fatalf("%s: %d spans; want %d", step, len(got[step]), n)
		}
		return got[step]
	}
	op := func(name string) attribute.KeyValue { return attribute.String("db.operation.name", name) }
	with := func(kvs ...attribute.KeyValue) []attribute.KeyValue { return append(kvs, server...) }
	client, internal := trace.SpanKindClient, trace.SpanKindInternal

	checkSpan(t, "Set", one("set", 1)[0], "set", client, with(sys, op("set")))
	checkSpan(t, "Get hit", one("get hit", 1)[0], "get", client, with(sys, op("get")))
	checkSpan(t, "Get miss", one("get miss", 1)[0], "get", client, with(sys, op("get"), attribute.Bool("yokedcache.miss", true)))

	gm := one("get_many", 2)
	checkSpan(t, "GetMany round trip", gm[0], "get_many", client, with(sys, op("get_many"), attribute.Bool("yokedcache.round_trip", true)))
	checkSpan(t, "GetMany", gm[1], "get_many", internal, []attribute.KeyValue{sys, op("get_many"), attribute.Int("db.operation.batch.size", 2)})
	childOf(t, "GetMany", gm[0], gm[1])

	it := one("invalidate_tags", 2)
	checkSpan(t, "InvalidateTags round trip", it[0], "invalidate_tags", client, with(sys, op("invalidate_tags"), attribute.Bool("yokedcache.round_trip", true)))
	checkSpan(t, "InvalidateTags", it[1], "invalidate_tags", internal, []attribute.KeyValue{sys, op("invalidate_tags")})
	childOf(t, "InvalidateTags", it[0], it[1])
}

func allSpans(m map[string][]sdktrace.ReadOnlySpan) []sdktrace.ReadOnlySpan {
	var out []sdktrace.ReadOnlySpan
	for _, s := range m {
		out = append(out, s...)
	}
	return out
}

func TestTracerMemory(t *testing.T) {
	c, sr := tracedCache(t, yokedcache.Config{Backend: memBackend(t)}, yotel.TracerOptions{})
	got := traceScript(t, c, sr)
	checkScript(t, got, attribute.String("db.system.name", "yokedcache.memory"))
	noSecret(t, allSpans(got))
}

func TestTracerRedis(t *testing.T) {
	srv := testserver.SharedRedis(t)
	rb, err := redis.New(redis.Options{Addrs: []string{srv.Addr}})
	if err != nil {
		t.Fatal(err)
	}
	c, sr := tracedCache(t, yokedcache.Config{Backend: rb}, yotel.TracerOptions{})
	got := traceScript(t, c, sr)
	checkScript(t, got, attribute.String("db.system.name", "redis"),
		attribute.String("server.address", "127.0.0.1"), attribute.Int("server.port", srv.Port()))
	noSecret(t, allSpans(got))

	// The metrics of the same operations.
	ms := collect(t, map[string]*yokedcache.Cache{"redis": c})
	for name, want := range map[string]int64{"yokedcache.hits": 2, "yokedcache.misses": 2, "yokedcache.sets": 1} {
		if v, ok := value(t, ms, name, attribute.String("cache", "redis"), attribute.String("route", "")); !ok || v != want {
			t.Errorf("%s = %d (present %v); want %d", name, v, ok, want)
		}
	}
}

// With routes, batch and fan-out operations have one round trip span
// per backend, named by route.
func TestTracerRoutes(t *testing.T) {
	srv := testserver.SharedRedis(t)
	rb, err := redis.New(redis.Options{Addrs: []string{srv.Addr}})
	if err != nil {
		t.Fatal(err)
	}
	c, sr := tracedCache(t, yokedcache.Config{
		Backend: memBackend(t),
		Routes:  []yokedcache.Route{{Prefix: "user", Backend: rb}},
	}, yotel.TracerOptions{})
	ctx := context.Background()
	if err := c.Set(ctx, hitKey, "v", yokedcache.WithTags("t1")); err != nil {
		t.Fatal(err)
	}
	if err := c.Set(ctx, "other:"+secret, "v", yokedcache.WithTags("t1")); err != nil {
		t.Fatal(err)
	}
	sets := sr.Ended()
	if len(sets) != 2 {
		t.Fatalf("%d spans for two Sets; want 2", len(sets))
	}
	server := []attribute.KeyValue{attribute.String("server.address", "127.0.0.1"), attribute.Int("server.port", srv.Port())}
	op := func(name string) attribute.KeyValue { return attribute.String("db.operation.name", name) }
	redisSys, memSys := attribute.String("db.system.name", "redis"), attribute.String("db.system.name", "yokedcache.memory")
	userRoute := attribute.String("yokedcache.route", "user")
	checkSpan(t, "Set user", sets[0], "set", trace.SpanKindClient, append([]attribute.KeyValue{redisSys, op("set"), userRoute}, server...))
	checkSpan(t, "Set other", sets[1], "set", trace.SpanKindClient, []attribute.KeyValue{memSys, op("set")})

	for _, step := range []struct {
		name string
		run  func() error
	}{
		{"get_many", func() error {
			vals, err := c.GetMany(ctx, []string{hitKey, "other:" + secret, missKey})
			if err == nil && len(vals) != 2 {
				t.Errorf("GetMany hits %d; want 2", len(vals))
			}
			return err
		}},
		{"invalidate_tags", func() error {
			n, err := c.InvalidateTags(ctx, "t1")
			if err == nil && n != 2 {
				t.Errorf("InvalidateTags = %d; want 2", n)
			}
			return err
		}},
	} {
		before := len(sr.Ended())
		if err := step.run(); err != nil {
			t.Fatalf("%s: %v", step.name, err)
		}
		spans := sr.Ended()[before:]
		noSecret(t, spans)
		if len(spans) != 3 {
			t.Fatalf("%s: %d spans; want 3 (two round trips, then the operation)", step.name, len(spans))
		}
		parent := spans[2]
		want := []attribute.KeyValue{attribute.String("db.system.name", "yokedcache.router"), op(step.name)}
		if step.name == "get_many" {
			want = append(want, attribute.Int("db.operation.batch.size", 3))
		}
		checkSpan(t, step.name, parent, step.name, trace.SpanKindInternal, want)
		var sawRedis, sawMem bool
		for _, s := range spans[:2] {
			childOf(t, step.name, s, parent)
			rt := attribute.Bool("yokedcache.round_trip", true)
			if attrs(s)["db.system.name"].AsString() == "redis" {
				sawRedis = true
				checkSpan(t, step.name+" redis round trip", s, step.name, trace.SpanKindClient, append([]attribute.KeyValue{redisSys, op(step.name), userRoute, rt}, server...))
			} else {
				sawMem = true
				checkSpan(t, step.name+" memory round trip", s, step.name, trace.SpanKindClient, []attribute.KeyValue{memSys, op(step.name), rt})
			}
		}
		if !sawRedis || !sawMem {
			t.Errorf("%s: round trips to redis %v, memory %v; want both", step.name, sawRedis, sawMem)
		}
	}
}

// A failing route's spans carry error.type and an error status; the
// failure's message (it names the key) is recorded only with RecordKeys.
func TestTracerError(t *testing.T) {
	for _, record := range []bool{false, true} {
		t.Run("RecordKeys="+strconv.FormatBool(record), func(t *testing.T) {
			c, sr := tracedCache(t, yokedcache.Config{
				Backend:          memBackend(t),
				Routes:           []yokedcache.Route{{Prefix: "user", URL: "redis://" + testserver.ClosedAddr(t)}},
				OperationTimeout: 200 * time.Millisecond,
				BatchTimeout:     200 * time.Millisecond,
				BreakerFailures:  -1,
			}, yotel.TracerOptions{RecordKeys: record})
			ctx := context.Background()
			err := c.Set(ctx, hitKey, "v")
			if err == nil {
				t.Fatal("Set on a closed port succeeded")
			}
			wantType := yotel.ErrorType(err)
			t.Logf("error.type %q of %v", wantType, err)
			if wantType == "" || wantType == "_OTHER" || strings.Contains(wantType, "yokedcache.Error") {
				t.Errorf("ErrorType(%v) = %q; want the backend's failure", err, wantType)
			}
			if _, err := c.GetMany(ctx, []string{hitKey, "other:1"}); err == nil {
				t.Fatal("GetMany with a closed route succeeded")
			}
			spans := sr.Ended()
			if len(spans) != 4 {
				t.Fatalf("%d spans; want 4 (Set, two GetMany round trips, GetMany)", len(spans))
			}
			failed := 0
			for _, s := range spans {
				et, ok := attrs(s)["error.type"]
				if !ok {
					if s.Status().Code == codes.Error {
						t.Errorf("span %s: error status without error.type", s.Name())
					}
					continue
				}
				failed++
				if s.Status().Code != codes.Error {
					t.Errorf("span %s: error.type %q with status %v", s.Name(), et.AsString(), s.Status().Code)
				}
				if et.AsString() != wantType {
					t.Errorf("span %s: error.type %q; want %q", s.Name(), et.AsString(), wantType)
				}
			}
			if failed != 3 {
				t.Errorf("%d failed spans; want 3 (Set, the user route's round trip, GetMany)", failed)
			}
			if !record {
				noSecret(t, spans)
				return
			}
			got := attrs(spans[0])["yokedcache.key"]
			if got.AsString() != hitKey {
				t.Errorf("Set span: yokedcache.key = %q; want %q", got.AsString(), hitKey)
			}
			if !strings.Contains(spans[0].Status().Description, secret) || len(spans[0].Events()) == 0 {
				t.Errorf("Set span: status %q, %d events; want the error's message and an exception event", spans[0].Status().Description, len(spans[0].Events()))
			}
		})
	}
}

// With RecordKeys the key of single-key operations is an attribute (and
// only of those).
func TestTracerRecordKeys(t *testing.T) {
	c, sr := tracedCache(t, yokedcache.Config{Backend: memBackend(t)}, yotel.TracerOptions{RecordKeys: true})
	got := traceScript(t, c, sr)
	for step, key := range map[string]string{"set": hitKey, "get hit": hitKey, "get miss": missKey} {
		if v := attrs(got[step][0])["yokedcache.key"]; v.AsString() != key {
			t.Errorf("%s: yokedcache.key = %q; want %q", step, v.AsString(), key)
		}
	}
	for _, step := range []string{"get_many", "invalidate_tags"} {
		for _, s := range got[step] {
			if _, ok := attrs(s)["yokedcache.key"]; ok {
				t.Errorf("%s: span %s records a key", step, s.Name())
			}
		}
	}
}

// Over a no-op TracerProvider the Tracer passes the context through.
func TestTracerNoop(t *testing.T) {
	// A no-op provider gives no Tracer: the Cache then does no tracing
	// work at all.
	if tr := yotel.NewTracer(noop.NewTracerProvider(), yotel.TracerOptions{}); tr != nil {
		t.Fatalf("NewTracer(noop) = %v; want nil", tr)
	}
	c, err := yokedcache.New(yokedcache.Config{Tracer: yotel.NewTracer(noop.NewTracerProvider(), yotel.TracerOptions{})})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Set(context.Background(), "k", "v"); err != nil {
		t.Fatal(err)
	}
}

// A Fetch span holds its read's span, and the loader's context carries
// the Fetch span.
func TestTracerFetchNests(t *testing.T) {
	c, sr := tracedCache(t, yokedcache.Config{Backend: memBackend(t)}, yotel.TracerOptions{})
	var loaderSpan trace.SpanContext
	_, err := yokedcache.Fetch(context.Background(), c, "k", func(ctx context.Context) (string, error) {
		loaderSpan = trace.SpanContextFromContext(ctx)
		return "v", nil
	})
	if err != nil {
		t.Fatal(err)
	}
	spans := sr.Ended()
	if len(spans) != 2 || spans[0].Name() != "get" || spans[1].Name() != "fetch" {
		t.Fatalf("spans %v; want get, fetch", names(spans))
	}
	childOf(t, "Fetch", spans[0], spans[1])
	if loaderSpan.SpanID() != spans[1].SpanContext().SpanID() {
		t.Errorf("the loader's context holds span %v; want the fetch span %v", loaderSpan.SpanID(), spans[1].SpanContext().SpanID())
	}
	if _, ok := attrs(spans[0])["yokedcache.miss"]; !ok {
		t.Error("the fetch's read is not a miss")
	}
}

func names(spans []sdktrace.ReadOnlySpan) []string {
	var out []string
	for _, s := range spans {
		out = append(out, s.Name())
	}
	return out
}

func TestErrorType(t *testing.T) {
	wrapped := func(err error) error {
		return &yokedcache.Error{Op: "get", Key: "k", Err: &yokedcache.RouteError{Route: "r", Backend: "redis", Err: err}}
	}
	for _, tc := range []struct {
		err  error
		want string
	}{
		{wrapped(context.DeadlineExceeded), "timeout"},
		{wrapped(os.ErrDeadlineExceeded), "timeout"},
		{wrapped(context.Canceled), "canceled"},
		{wrapped(fmt.Errorf("breaker open: %w (cause: %w)", yokedcache.ErrUnavailable, context.DeadlineExceeded)), "unavailable"},
		{wrapped(yokedcache.ErrClosed), "closed"},
		{wrapped(fmt.Errorf("bad bytes: %w", yokedcache.ErrCorrupt)), "corrupt"},
		{wrapped(yokedcache.ErrInvalidKey), "invalid_key"},
		{wrapped(yokedcache.ErrValueTooLarge), "value_too_large"},
		{wrapped(yokedcache.ErrUnsupported), "unsupported"},
		{wrapped(&net.OpError{Op: "dial", Err: errors.New("refused")}), "*net.OpError"},
		{errors.Join(wrapped(&net.DNSError{Err: "no such host"}), wrapped(errors.New("x"))), "*net.DNSError"},
	} {
		if got := yotel.ErrorType(tc.err); got != tc.want {
			t.Errorf("ErrorType(%v) = %q; want %q", tc.err, got, tc.want)
		}
	}
}
