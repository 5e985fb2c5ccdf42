package prometheus_test

import (
	"context"
	"errors"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"

	"github.com/yokedcache/yokedcache"
	"github.com/yokedcache/yokedcache/backend"
	"github.com/yokedcache/yokedcache/backend/memory"
	"github.com/yokedcache/yokedcache/backend/redis"
	_ "github.com/yokedcache/yokedcache/backend/sqlite"
	"github.com/yokedcache/yokedcache/internal/testserver"
	yprom "github.com/yokedcache/yokedcache/prometheus"
)

func TestMain(m *testing.M) { testserver.Main(m) }

func newMemory(t *testing.T) *memory.Store {
	t.Helper()
	m, err := memory.New(memory.Options{CleanupInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// script runs a fixed sequence of operations: 3 sets, 2 hits, 2 misses,
// one corrupt read, 1 delete of an existing key and one of a missing key,
// a GetOrSet that loads, a failing GetOrSet, and an invalidation of 1 tagged key.
func script(t *testing.T, c *yokedcache.Cache, keys ...string) {
	t.Helper()
	ctx := context.Background()
	k := func(i int) string { return keys[i%len(keys)] + ":" + strconv.Itoa(i) }
	for i := range 3 {
		if err := c.Set(ctx, k(i), "v"+strconv.Itoa(i), yokedcache.WithTags("t"+strconv.Itoa(i))); err != nil {
			t.Fatal(err)
		}
	}
	for _, i := range []int{0, 1, 100, 101} {
		var s string
		if err := c.Get(ctx, k(i), &s); err != nil && !errors.Is(err, yokedcache.ErrNotFound) {
			t.Fatal(err)
		}
	}
	var n int
	if err := c.Get(ctx, k(2), &n); !errors.Is(err, yokedcache.ErrCorrupt) { // a string into an int
		t.Fatalf("Get of a string into *int = %v; want ErrCorrupt", err)
	}
	for _, i := range []int{1, 102} {
		if _, err := c.Delete(ctx, k(i)); err != nil {
			t.Fatal(err)
		}
	}
	var v string
	if err := c.GetOrSet(ctx, k(3), &v, func(context.Context) (any, error) { return "loaded", nil }); err != nil {
		t.Fatal(err)
	}
	errLoad := errors.New("load failed")
	if err := c.GetOrSet(ctx, k(4), &v, func(context.Context) (any, error) { return nil, errLoad }); !errors.Is(err, errLoad) {
		t.Fatalf("GetOrSet with a failing loader = %v", err)
	}
	if _, err := c.InvalidateTags(ctx, "t0"); err != nil {
		t.Fatal(err)
	}
}

// helps is the HELP text of the counters the golden files compare.
var helps = map[string]string{
	"yokedcache_corrupt_total":         "Stored values that did not decode (bad bytes, or a type that does not fit the destination).",
	"yokedcache_deletes_total":         "Keys deleted that existed.",
	"yokedcache_errors_total":          "Operations that failed with a backend error.",
	"yokedcache_hits_total":            "Reads that found a value.",
	"yokedcache_invalidations_total":   "Keys removed by tag or pattern invalidation.",
	"yokedcache_load_errors_total":     "Loader calls that returned an error.",
	"yokedcache_loads_total":           "Loader calls made on misses by Fetch and GetOrSet.",
	"yokedcache_misses_total":          "Reads that found no value (including stored bytes that did not decode).",
	"yokedcache_sets_total":            "Values written.",
	"yokedcache_unauthenticated_total": "Stored values that failed signature or decryption checks (counted in corrupt too).",
}

// golden returns the exposition of the counters: samples maps a metric
// name to its lines ("{labels} value").
func golden(samples map[string][]string) string {
	var b strings.Builder
	for _, m := range counterNames {
		b.WriteString("# HELP " + m + " " + helps[m] + "\n# TYPE " + m + " counter\n")
		for _, l := range samples[m] {
			b.WriteString(m + l + "\n")
		}
	}
	return b.String()
}

// scriptCounters are the counters of script on a Cache without routes
// named name: the Get of a string into *int reads a good envelope (a hit)
// whose value does not decode into dst (corrupt); GetOrSet's loads are
// misses, the successful one a set. Keys left: user:2 and user:3.
func scriptCounters(name string) map[string][]string {
	l := func(v int) []string { return []string{`{cache="` + name + `",route=""} ` + strconv.Itoa(v)} }
	c := func(v int) []string { return []string{`{cache="` + name + `"} ` + strconv.Itoa(v)} }
	return map[string][]string{
		"yokedcache_corrupt_total": c(1), "yokedcache_invalidations_total": c(1), "yokedcache_unauthenticated_total": c(0),
		"yokedcache_load_errors_total": c(1), "yokedcache_loads_total": c(2),
		"yokedcache_deletes_total": l(1), "yokedcache_errors_total": l(0), "yokedcache_hits_total": l(3),
		"yokedcache_misses_total": l(4), "yokedcache_sets_total": l(4),
	}
}

var counterNames = []string{
	"yokedcache_corrupt_total", "yokedcache_deletes_total", "yokedcache_errors_total", "yokedcache_hits_total",
	"yokedcache_invalidations_total", "yokedcache_load_errors_total", "yokedcache_loads_total",
	"yokedcache_misses_total", "yokedcache_sets_total", "yokedcache_unauthenticated_total",
}

func TestCollectorMemory(t *testing.T) {
	c, err := yokedcache.New(yokedcache.Config{Backend: newMemory(t), KeyPrefix: "app"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	script(t, c, "user")
	col := yprom.NewCollector(yprom.Options{})
	if err := col.Add("main", c); err != nil {
		t.Fatal(err)
	}
	if err := col.Add("main", c); err == nil {
		t.Error("Add of a name in use succeeded; want an error")
	}
	if err := testutil.CollectAndCompare(col, strings.NewReader(golden(scriptCounters("main"))), counterNames...); err != nil {
		t.Error(err)
	}
	backendGolden := `
# HELP yokedcache_backend_up 1 if the route's backend answered the last Stats call, else 0.
# TYPE yokedcache_backend_up gauge
yokedcache_backend_up{backend="memory",cache="main",route=""} 1
# HELP yokedcache_evictions_total Entries the backends evicted to make room (server-wide for Redis).
# TYPE yokedcache_evictions_total counter
yokedcache_evictions_total{cache="main"} 0
# HELP yokedcache_expirations_total Entries the backends removed on expiry (server-wide for Redis).
# TYPE yokedcache_expirations_total counter
yokedcache_expirations_total{cache="main"} 0
# HELP yokedcache_keys Keys the backend holds in the scope it reports (see yokedcache.Stats.Scope).
# TYPE yokedcache_keys gauge
yokedcache_keys{backend="memory",cache="main",route=""} 2
`
	if err := testutil.CollectAndCompare(col, strings.NewReader(backendGolden),
		"yokedcache_backend_up", "yokedcache_evictions_total", "yokedcache_expirations_total", "yokedcache_keys"); err != nil {
		t.Error(err)
	}
	checkHistograms(t, col, c)
	lint(t, col)
}

func TestCollectorRoutesAndTwoCaches(t *testing.T) {
	mk := func(prefix string) *yokedcache.Cache {
		c, err := yokedcache.New(yokedcache.Config{
			Backend: newMemory(t), KeyPrefix: prefix,
			Routes: []yokedcache.Route{{Prefix: "session", Backend: newMemory(t)}},
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	a, b := mk("a"), mk("b")
	script(t, a, "user", "session")
	col := yprom.NewCollector(yprom.Options{Timeout: time.Second})
	if err := col.Add("a", a); err != nil {
		t.Fatal(err)
	}
	if err := col.Add("b", b); err != nil {
		t.Fatal(err)
	}
	// Keys alternate user:i (even i, the default route) and session:i
	// (odd i): script's numbers split between the routes; b did nothing.
	rows := func(def, session int) []string {
		return []string{
			`{cache="a",route=""} ` + strconv.Itoa(def), `{cache="a",route="session"} ` + strconv.Itoa(session),
			`{cache="b",route=""} 0`, `{cache="b",route="session"} 0`,
		}
	}
	cacheRows := func(v int) []string { return []string{`{cache="a"} ` + strconv.Itoa(v), `{cache="b"} 0`} }
	want := map[string][]string{
		"yokedcache_corrupt_total": cacheRows(1), "yokedcache_invalidations_total": cacheRows(1), "yokedcache_unauthenticated_total": cacheRows(0),
		"yokedcache_load_errors_total": cacheRows(1), "yokedcache_loads_total": cacheRows(2),
		"yokedcache_deletes_total": rows(0, 1), "yokedcache_errors_total": rows(0, 0), "yokedcache_hits_total": rows(2, 1),
		"yokedcache_misses_total": rows(2, 2), "yokedcache_sets_total": rows(2, 2),
	}
	if err := testutil.CollectAndCompare(col, strings.NewReader(golden(want)), counterNames...); err != nil {
		t.Error(err)
	}
	if !col.Remove("b") || col.Remove("b") {
		t.Error("Remove(b) twice; want true then false")
	}
	lint(t, col)
}

func TestCollectorRedis(t *testing.T) {
	srv := testserver.SharedRedis(t)
	rb, err := redis.New(redis.Options{Addrs: []string{srv.Addr}})
	if err != nil {
		t.Fatal(err)
	}
	prefix := "prom" + strconv.FormatInt(time.Now().UnixNano(), 36)
	c, err := yokedcache.New(yokedcache.Config{Backend: rb, KeyPrefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	script(t, c, "user")
	col := yprom.NewCollector(yprom.Options{})
	if err := col.Add("redis", c); err != nil {
		t.Fatal(err)
	}
	if err := testutil.CollectAndCompare(col, strings.NewReader(golden(scriptCounters("redis"))), counterNames...); err != nil {
		t.Error(err)
	}
	backendGolden := `
# HELP yokedcache_backend_up 1 if the route's backend answered the last Stats call, else 0.
# TYPE yokedcache_backend_up gauge
yokedcache_backend_up{backend="redis",cache="redis",route=""} 1
# HELP yokedcache_keys Keys the backend holds in the scope it reports (see yokedcache.Stats.Scope).
# TYPE yokedcache_keys gauge
yokedcache_keys{backend="redis",cache="redis",route=""} 2
# HELP yokedcache_pool_dial_errors_total Failed connection attempts.
# TYPE yokedcache_pool_dial_errors_total counter
yokedcache_pool_dial_errors_total{backend="redis",cache="redis",route=""} 0
# HELP yokedcache_pool_timeouts_total Operations that timed out waiting for the backend.
# TYPE yokedcache_pool_timeouts_total counter
yokedcache_pool_timeouts_total{backend="redis",cache="redis",route=""} 0
`
	if err := testutil.CollectAndCompare(col, strings.NewReader(backendGolden), "yokedcache_backend_up", "yokedcache_keys",
		"yokedcache_pool_dial_errors_total", "yokedcache_pool_timeouts_total"); err != nil {
		t.Error(err)
	}
	// Numbers that depend on the server (shared by other tests) or on
	// connection timing: present, not compared.
	for _, m := range []string{"yokedcache_stored_bytes", "yokedcache_evictions_total", "yokedcache_expirations_total",
		"yokedcache_pool_connections", "yokedcache_pool_max_connections", "yokedcache_pool_misses_total"} {
		if n := testutil.CollectAndCount(col, m); n != 1 {
			t.Errorf("%s: %d series; want 1", m, n)
		}
	}
	if n := testutil.CollectAndCount(col, "yokedcache_pool_hits_total"); n != 0 {
		t.Errorf("yokedcache_pool_hits_total: %d series; want none (Redis reports -1: not counted)", n)
	}
	breakerGolden := `
# HELP yokedcache_breaker_opens_total Times the backend's circuit breaker opened.
# TYPE yokedcache_breaker_opens_total counter
yokedcache_breaker_opens_total{backend="redis",cache="redis",route=""} 0
# HELP yokedcache_breaker_state Circuit breaker of the backend: 0 closed, 1 half-open, 2 open.
# TYPE yokedcache_breaker_state gauge
yokedcache_breaker_state{backend="redis",cache="redis",route=""} 0
`
	if err := testutil.CollectAndCompare(col, strings.NewReader(breakerGolden), "yokedcache_breaker_state", "yokedcache_breaker_opens_total"); err != nil {
		t.Error(err)
	}
	checkHistograms(t, col, c)
	lint(t, col)

	// A backend that cannot answer: counters stay, backend_up is 0.
	srvDown := yprom.NewCollector(yprom.Options{Timeout: time.Nanosecond})
	if err := srvDown.Add("redis", c); err != nil {
		t.Fatal(err)
	}
	if err := testutil.CollectAndCompare(srvDown, strings.NewReader(`
# HELP yokedcache_backend_up 1 if the route's backend answered the last Stats call, else 0.
# TYPE yokedcache_backend_up gauge
yokedcache_backend_up{backend="redis",cache="redis",route=""} 0
`), "yokedcache_backend_up", "yokedcache_keys"); err != nil {
		t.Error(err)
	}
	if n := testutil.CollectAndCount(srvDown, "yokedcache_hits_total"); n != 1 {
		t.Errorf("hits_total with a timed-out Stats: %d series; want 1", n)
	}
}

// checkHistograms checks that each op's histogram agrees with Stats.
func checkHistograms(t *testing.T, col prometheus.Collector, c *yokedcache.Cache) {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(col)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	st, _ := c.Stats(context.Background())
	var found int
	for _, mf := range mfs {
		if mf.GetName() != "yokedcache_operation_duration_seconds" {
			continue
		}
		if mf.GetType() != dto.MetricType_HISTOGRAM {
			t.Fatalf("%s has type %v", mf.GetName(), mf.GetType())
		}
		for _, m := range mf.GetMetric() {
			var op string
			for _, lp := range m.GetLabel() {
				if lp.GetName() == "op" {
					op = lp.GetValue()
				}
			}
			h := m.GetHistogram()
			l := st.Latency[op]
			if int64(h.GetSampleCount()) != l.Samples || len(h.GetBucket()) != len(yokedcache.LatencyBounds()) {
				t.Errorf("op %q: histogram count %d with %d buckets; Stats says %d samples, %d bounds",
					op, h.GetSampleCount(), len(h.GetBucket()), l.Samples, len(yokedcache.LatencyBounds()))
			}
			found++
		}
	}
	// InvalidateTags is timed on every call.
	if _, ok := st.Latency["invalidate"]; !ok || found < 1 {
		t.Errorf("%d histograms, Stats.Latency %v; want at least the invalidate one", found, st.Latency)
	}
}

func lint(t *testing.T, col prometheus.Collector) {
	t.Helper()
	problems, err := testutil.CollectAndLint(col)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("promlint: %s: %s", p.Metric, p.Text)
	}
}

// statsDown is a memory backend whose Stats fails.
type statsDown struct{ *memory.Store }

func (statsDown) Stats(context.Context, string) (backend.Stats, error) {
	return backend.Stats{}, errors.New("stats refused")
}

// A route whose backend cannot answer Stats is backend_up 0 without keys;
// the other routes and every counter are still exported.
func TestCollectorRouteDown(t *testing.T) {
	c, err := yokedcache.New(yokedcache.Config{
		Backend: newMemory(t),
		Routes:  []yokedcache.Route{{Prefix: "session", Backend: statsDown{newMemory(t)}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Set(context.Background(), "session:1", "x"); err != nil {
		t.Fatal(err)
	}
	col := yprom.NewCollector(yprom.Options{})
	if err := col.Add("r", c); err != nil {
		t.Fatal(err)
	}
	want := `
# HELP yokedcache_backend_up 1 if the route's backend answered the last Stats call, else 0.
# TYPE yokedcache_backend_up gauge
yokedcache_backend_up{backend="memory",cache="r",route=""} 1
yokedcache_backend_up{backend="memory",cache="r",route="session"} 0
# HELP yokedcache_keys Keys the backend holds in the scope it reports (see yokedcache.Stats.Scope).
# TYPE yokedcache_keys gauge
yokedcache_keys{backend="memory",cache="r",route=""} 0
# HELP yokedcache_sets_total Values written.
# TYPE yokedcache_sets_total counter
yokedcache_sets_total{cache="r",route=""} 0
yokedcache_sets_total{cache="r",route="session"} 1
`
	if err := testutil.CollectAndCompare(col, strings.NewReader(want), "yokedcache_backend_up", "yokedcache_keys", "yokedcache_sets_total"); err != nil {
		t.Error(err)
	}
	lint(t, col)
}

// A near-cache tier exports its numbers labelled by its first route and
// backend.
func TestCollectorNear(t *testing.T) {
	ctx := context.Background()
	c, err := yokedcache.New(yokedcache.Config{
		KeyPrefix: "app",
		URL:       "sqlite://" + filepath.ToSlash(filepath.Join(t.TempDir(), "c.db")),
		Near:      &yokedcache.NearOptions{MaxEntries: 100, TTL: time.Minute},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Set(ctx, "k", "v"); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		var s string
		if err := c.Get(ctx, "k", &s); err != nil {
			t.Fatal(err)
		}
	}
	var s string
	if err := c.Get(ctx, "missing", &s); !errors.Is(err, yokedcache.ErrNotFound) {
		t.Fatalf("Get(missing) = %v", err)
	}
	col := yprom.NewCollector(yprom.Options{})
	if err := col.Add("n", c); err != nil {
		t.Fatal(err)
	}
	want := `
# HELP yokedcache_near_entries Local copies the near cache holds.
# TYPE yokedcache_near_entries gauge
yokedcache_near_entries{backend="sqlite",cache="n",route=""} 1
# HELP yokedcache_near_evictions_total Local copies the near cache dropped to respect its bounds.
# TYPE yokedcache_near_evictions_total counter
yokedcache_near_evictions_total{backend="sqlite",cache="n",route=""} 0
# HELP yokedcache_near_fills_total Local copies the near cache kept after a miss.
# TYPE yokedcache_near_fills_total counter
yokedcache_near_fills_total{backend="sqlite",cache="n",route=""} 1
# HELP yokedcache_near_hits_total Reads served by the near cache's local copy.
# TYPE yokedcache_near_hits_total counter
yokedcache_near_hits_total{backend="sqlite",cache="n",route=""} 2
# HELP yokedcache_near_invalidations_total Keys the near cache was notified had changed.
# TYPE yokedcache_near_invalidations_total counter
yokedcache_near_invalidations_total{backend="sqlite",cache="n",route=""} 0
# HELP yokedcache_near_live 1 if the near cache keeps copies (its invalidations flow, or it is in ttl mode), else 0; mode is tracking, stream, ttl or empty while connecting.
# TYPE yokedcache_near_live gauge
yokedcache_near_live{backend="sqlite",cache="n",mode="ttl",route=""} 1
# HELP yokedcache_near_max_bytes The near cache's bound on bytes (absent when unbounded).
# TYPE yokedcache_near_max_bytes gauge
yokedcache_near_max_bytes{backend="sqlite",cache="n",route=""} 6.7108864e+07
# HELP yokedcache_near_max_entries The near cache's bound on copies.
# TYPE yokedcache_near_max_entries gauge
yokedcache_near_max_entries{backend="sqlite",cache="n",route=""} 100
# HELP yokedcache_near_misses_total Reads the near cache passed to the backend.
# TYPE yokedcache_near_misses_total counter
yokedcache_near_misses_total{backend="sqlite",cache="n",route=""} 2
# HELP yokedcache_near_resets_total Times the near cache dropped every copy because notifications stopped or resumed.
# TYPE yokedcache_near_resets_total counter
yokedcache_near_resets_total{backend="sqlite",cache="n",route=""} 0
`
	names := []string{"yokedcache_near_entries", "yokedcache_near_evictions_total", "yokedcache_near_fills_total",
		"yokedcache_near_hits_total", "yokedcache_near_invalidations_total", "yokedcache_near_live",
		"yokedcache_near_max_bytes", "yokedcache_near_max_entries", "yokedcache_near_misses_total", "yokedcache_near_resets_total"}
	if err := testutil.CollectAndCompare(col, strings.NewReader(want), names...); err != nil {
		t.Error(err)
	}
	// Sizes depend on the envelope: present, not compared.
	for _, m := range []string{"yokedcache_near_bytes", "yokedcache_near_lag_seconds"} {
		if n := testutil.CollectAndCount(col, m); n != 1 {
			t.Errorf("%s: %d series; want 1", m, n)
		}
	}
	lint(t, col)

	// Without a tier there are no near metrics.
	plain, err := yokedcache.New(yokedcache.Config{Backend: newMemory(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	col2 := yprom.NewCollector(yprom.Options{})
	if err := col2.Add("p", plain); err != nil {
		t.Fatal(err)
	}
	if n := testutil.CollectAndCount(col2, names...); n != 0 {
		t.Errorf("near metrics without a tier: %d series", n)
	}
}
