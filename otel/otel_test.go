package otel_test

import (
	"context"
	"errors"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/yokedcache/yokedcache"
	"github.com/yokedcache/yokedcache/backend/memory"
	"github.com/yokedcache/yokedcache/backend/sqlite"
	yotel "github.com/yokedcache/yokedcache/otel"
)

func newCache(t *testing.T, routes ...yokedcache.Route) *yokedcache.Cache {
	t.Helper()
	m, err := memory.New(memory.Options{CleanupInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	c, err := yokedcache.New(yokedcache.Config{Backend: m, Routes: routes})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// collect sets up an Observer of the caches behind a ManualReader and
// returns one collection, indexed by metric name.
func collect(t *testing.T, caches map[string]*yokedcache.Cache) map[string]metricdata.Metrics {
	t.Helper()
	obs := yotel.NewObserver(yotel.Options{})
	for n, c := range caches {
		if err := obs.Add(n, c); err != nil {
			t.Fatal(err)
		}
	}
	reader := sdkmetric.NewManualReader(sdkmetric.WithProducer(obs))
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	t.Cleanup(func() { mp.Shutdown(context.Background()) })
	reg, err := obs.Register(mp.Meter(yotel.ScopeName))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { reg.Unregister() })
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	out := map[string]metricdata.Metrics{}
	for _, sm := range rm.ScopeMetrics {
		if sm.Scope.Name != yotel.ScopeName {
			t.Errorf("scope %q; want %q", sm.Scope.Name, yotel.ScopeName)
		}
		for _, m := range sm.Metrics {
			if _, dup := out[m.Name]; dup {
				t.Errorf("metric %s reported twice", m.Name)
			}
			out[m.Name] = m
		}
	}
	return out
}

// value returns the int64 point of a Sum or Gauge with the given attributes.
func value(t *testing.T, ms map[string]metricdata.Metrics, name string, attrs ...attribute.KeyValue) (int64, bool) {
	t.Helper()
	want := attribute.NewSet(attrs...)
	var dps []metricdata.DataPoint[int64]
	switch d := ms[name].Data.(type) {
	case metricdata.Sum[int64]:
		if !d.IsMonotonic || d.Temporality != metricdata.CumulativeTemporality {
			t.Errorf("%s: a non-monotonic or delta sum", name)
		}
		dps = d.DataPoints
	case metricdata.Gauge[int64]:
		dps = d.DataPoints
	case nil:
		return 0, false
	default:
		t.Fatalf("%s: data %T", name, d)
	}
	for _, dp := range dps {
		if dp.Attributes.Equals(&want) {
			return dp.Value, true
		}
	}
	return 0, false
}

func TestObserver(t *testing.T) {
	ctx := context.Background()
	plain := newCache(t)
	routed := newCache(t, yokedcache.Route{Prefix: "session", Backend: mustMemory(t)})
	for i := range 3 {
		if err := plain.Set(ctx, "k:"+strconv.Itoa(i), "v"); err != nil {
			t.Fatal(err)
		}
	}
	var s string
	_ = plain.Get(ctx, "k:0", &s)
	_ = plain.Get(ctx, "k:9", &s)
	var n int
	_ = plain.Get(ctx, "k:1", &n) // corrupt: a string into *int
	if _, err := plain.Delete(ctx, "k:2"); err != nil {
		t.Fatal(err)
	}
	errLoad := errors.New("no")
	_ = plain.GetOrSet(ctx, "k:7", &s, func(context.Context) (any, error) { return nil, errLoad })
	if err := routed.Set(ctx, "session:1", "x"); err != nil {
		t.Fatal(err)
	}
	_ = routed.Get(ctx, "session:1", &s)
	_ = routed.Get(ctx, "user:1", &s)
	for range 200 { // some timed operations for the histogram
		_ = plain.Get(ctx, "k:0", &s)
	}

	ms := collect(t, map[string]*yokedcache.Cache{"plain": plain, "routed": routed})
	cache := func(n string) attribute.KeyValue { return attribute.String("cache", n) }
	route := func(r string) attribute.KeyValue { return attribute.String("route", r) }
	mem := attribute.String("backend", "memory")
	for _, c := range []struct {
		name  string
		attrs []attribute.KeyValue
		want  int64
	}{
		{"yokedcache.hits", []attribute.KeyValue{cache("plain"), route("")}, 202},
		{"yokedcache.misses", []attribute.KeyValue{cache("plain"), route("")}, 2},
		{"yokedcache.sets", []attribute.KeyValue{cache("plain"), route("")}, 3},
		{"yokedcache.deletes", []attribute.KeyValue{cache("plain"), route("")}, 1},
		{"yokedcache.errors", []attribute.KeyValue{cache("plain"), route("")}, 0},
		{"yokedcache.corrupt", []attribute.KeyValue{cache("plain")}, 1},
		{"yokedcache.unauthenticated", []attribute.KeyValue{cache("plain")}, 0},
		{"yokedcache.loads", []attribute.KeyValue{cache("plain")}, 1},
		{"yokedcache.load_errors", []attribute.KeyValue{cache("plain")}, 1},
		{"yokedcache.invalidations", []attribute.KeyValue{cache("plain")}, 0},
		{"yokedcache.evictions", []attribute.KeyValue{cache("plain")}, 0},
		{"yokedcache.keys", []attribute.KeyValue{cache("plain"), route(""), mem}, 2},
		{"yokedcache.backend.up", []attribute.KeyValue{cache("plain"), route(""), mem}, 1},
		{"yokedcache.hits", []attribute.KeyValue{cache("routed"), route("session")}, 1},
		{"yokedcache.misses", []attribute.KeyValue{cache("routed"), route("")}, 1},
		{"yokedcache.hits", []attribute.KeyValue{cache("routed"), route("")}, 0},
		{"yokedcache.keys", []attribute.KeyValue{cache("routed"), route("session"), mem}, 1},
		{"yokedcache.keys", []attribute.KeyValue{cache("routed"), route(""), mem}, 0},
	} {
		got, ok := value(t, ms, c.name, c.attrs...)
		if !ok || got != c.want {
			t.Errorf("%s%v = %d (reported: %v); want %d", c.name, c.attrs, got, ok, c.want)
		}
	}
	if _, ok := value(t, ms, "yokedcache.stored.size", cache("plain"), route(""), mem); !ok {
		t.Error("yokedcache.stored.size not reported for the memory backend")
	}

	h, ok := ms["yokedcache.operation.duration"].Data.(metricdata.Histogram[float64])
	if !ok {
		t.Fatalf("yokedcache.operation.duration: %T; want a float64 histogram", ms["yokedcache.operation.duration"].Data)
	}
	st, err := plain.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := attribute.NewSet(cache("plain"), attribute.String("op", "get"))
	var found bool
	for _, dp := range h.DataPoints {
		if !dp.Attributes.Equals(&want) {
			continue
		}
		found = true
		l := st.Latency["get"]
		if int64(dp.Count) != l.Samples || len(dp.BucketCounts) != len(dp.Bounds)+1 || len(dp.Bounds) != len(yokedcache.LatencyBounds()) {
			t.Errorf("get histogram: count %d, %d bounds, %d buckets; Stats: %d samples", dp.Count, len(dp.Bounds), len(dp.BucketCounts), l.Samples)
		}
		if dp.Bounds[0] != 256e-9 {
			t.Errorf("first bound %v s; want 256ns", dp.Bounds[0])
		}
	}
	if !found && st.Latency["get"].Samples > 0 {
		t.Errorf("no get histogram for cache plain, though Stats has %d samples", st.Latency["get"].Samples)
	}
}

func mustMemory(t *testing.T) *memory.Store {
	t.Helper()
	m, err := memory.New(memory.Options{CleanupInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestObserverAddRemove(t *testing.T) {
	obs := yotel.NewObserver(yotel.Options{Timeout: time.Second})
	c := newCache(t)
	if err := obs.Add("a", c); err != nil {
		t.Fatal(err)
	}
	if err := obs.Add("a", c); err == nil {
		t.Error("Add of a name in use succeeded")
	}
	if err := obs.Add("", c); err == nil {
		t.Error("Add without a name succeeded")
	}
	if !obs.Remove("a") || obs.Remove("a") {
		t.Error("Remove twice: want true, then false")
	}
	sms, err := obs.Produce(context.Background())
	if err != nil || len(sms) != 0 {
		t.Errorf("Produce without Caches = %v, %v; want nothing", sms, err)
	}
}

func TestObserverNear(t *testing.T) {
	s, err := sqlite.New(sqlite.Options{Path: filepath.Join(t.TempDir(), "c.db")})
	if err != nil {
		t.Fatal(err)
	}
	c, err := yokedcache.New(yokedcache.Config{Backend: s, Near: &yokedcache.NearOptions{MaxEntries: 50}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	if err := c.Set(ctx, "k", "v"); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if _, err := c.GetBytes(ctx, "k"); err != nil {
			t.Fatal(err)
		}
	}
	ms := collect(t, map[string]*yokedcache.Cache{"n": c})
	na := []attribute.KeyValue{attribute.String("cache", "n"), attribute.String("route", ""), attribute.String("backend", "sqlite")}
	for name, want := range map[string]int64{
		"yokedcache.near.hits": 2, "yokedcache.near.misses": 1, "yokedcache.near.fills": 1,
		"yokedcache.near.entries": 1, "yokedcache.near.max_entries": 50,
	} {
		if got, ok := value(t, ms, name, na...); !ok || got != want {
			t.Errorf("%s = %d (reported %v); want %d", name, got, ok, want)
		}
	}
	if got, ok := value(t, ms, "yokedcache.near.live", append(na, attribute.String("mode", "ttl"))...); !ok || got != 1 {
		t.Errorf("yokedcache.near.live{mode=ttl} = %d (reported %v); want 1", got, ok)
	}
}
