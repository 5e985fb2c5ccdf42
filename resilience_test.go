package yokedcache_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/yokedcache/yokedcache"
	"github.com/yokedcache/yokedcache/backend"
	"github.com/yokedcache/yokedcache/yokedcachetest"
)

// flakyBackend is a network-like backend (it keeps no objects, so the
// Cache guards it with timeouts and a breaker) whose failures a test
// switches on and off. hang makes calls block until their context ends.
type flakyBackend struct {
	mu    sync.Mutex
	data  map[string][]byte
	down  atomic.Bool
	hang  atomic.Bool
	calls atomic.Int64
}

var errDown = &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}

func newFlaky() *flakyBackend { return &flakyBackend{data: map[string][]byte{}} }

func (f *flakyBackend) fail(ctx context.Context) error {
	f.calls.Add(1)
	if f.hang.Load() {
		<-ctx.Done()
		return ctx.Err()
	}
	if f.down.Load() {
		return errDown
	}
	return nil
}

func (f *flakyBackend) Get(ctx context.Context, key string) ([]byte, error) {
	if err := f.fail(ctx); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	v, ok := f.data[key]
	if !ok {
		return nil, backend.ErrNotFound
	}
	return v, nil
}

func (f *flakyBackend) Set(ctx context.Context, key string, v []byte, _ backend.SetOptions) error {
	if err := f.fail(ctx); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.data[key] = slices.Clone(v)
	return nil
}

func (f *flakyBackend) Delete(ctx context.Context, key string) (bool, error) {
	if err := f.fail(ctx); err != nil {
		return false, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	_, ok := f.data[key]
	delete(f.data, key)
	return ok, nil
}

func (f *flakyBackend) Close() error { return nil }

func newFlakyCache(t *testing.T, f *flakyBackend, cfg yokedcache.Config) (*yokedcache.Cache, *yokedcachetest.Clock) {
	t.Helper()
	clock := yokedcachetest.NewClock(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	cfg.Backend = f
	cfg.Clock = clock
	cfg.TTLJitterPercent = yokedcache.NoJitter
	c, err := yokedcache.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c, clock
}

func breakerState(t *testing.T, c *yokedcache.Cache) yokedcache.BreakerStats {
	t.Helper()
	st, _ := c.Stats(context.Background())
	if len(st.Breakers) != 1 {
		t.Fatalf("Stats.Breakers = %+v; want one", st.Breakers)
	}
	return st.Breakers[0]
}

// The breaker opens after BreakerFailures consecutive failures, fails
// calls at once with ErrUnavailable (wrapping the cause) during the
// cool-down, lets one probe through after it and closes on its success.
// Misses and refused requests are successes; the caller's cancellation is
// neither.
func TestBreakerOpensAndCloses(t *testing.T) {
	ctx := context.Background()
	f := newFlaky()
	c, clock := newFlakyCache(t, f, yokedcache.Config{BreakerFailures: 3, BreakerCooldown: time.Second})

	// Misses are successes: many of them never open the breaker.
	for range 10 {
		if _, err := c.GetBytes(ctx, "absent"); !errors.Is(err, yokedcache.ErrNotFound) {
			t.Fatalf("GetBytes = %v; want ErrNotFound", err)
		}
	}
	// The caller's own cancellation is not a failure, before or during
	// the call.
	f.hang.Store(true)
	for range 5 {
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		_, _ = c.GetBytes(cctx, "k")
		cctx, cancel = context.WithCancel(ctx)
		go func() { time.Sleep(time.Millisecond); cancel() }()
		_, _ = c.GetBytes(cctx, "k")
	}
	if st := breakerState(t, c); st.State != yokedcache.BreakerClosed || st.ConsecutiveFailures != 0 {
		t.Fatalf("after misses and cancellations: %+v; want closed, no failures", st)
	}
	// The caller's deadline expiring while the backend hangs is a
	// failure (the backend was too slow for it); a success resets the
	// count.
	for i := range 2 {
		dctx, cancel := context.WithTimeout(ctx, time.Millisecond)
		_, _ = c.GetBytes(dctx, "k")
		cancel()
		if st := breakerState(t, c); st.ConsecutiveFailures != int64(i+1) {
			t.Fatalf("after %d expired deadlines: %+v; want %d failures", i+1, st, i+1)
		}
	}
	f.hang.Store(false)
	_, _ = c.GetBytes(ctx, "k")
	if st := breakerState(t, c); st.State != yokedcache.BreakerClosed || st.ConsecutiveFailures != 0 {
		t.Fatalf("after a success: %+v; want closed, no failures", st)
	}

	f.down.Store(true)
	for i := range 3 {
		_, err := c.GetBytes(ctx, "k")
		if errors.Is(err, yokedcache.ErrUnavailable) || !errors.Is(err, errDown) {
			t.Fatalf("failure %d = %v; want the backend's error", i, err)
		}
	}
	st := breakerState(t, c)
	if st.State != yokedcache.BreakerOpen || st.Opens != 1 {
		t.Fatalf("after 3 failures: %+v; want open", st)
	}
	before := f.calls.Load()
	for range 100 {
		_, err := c.GetBytes(ctx, "k")
		if !errors.Is(err, yokedcache.ErrUnavailable) {
			t.Fatalf("open breaker: %v; want ErrUnavailable", err)
		}
		var op *net.OpError
		if !errors.As(err, &op) {
			t.Fatalf("open breaker error %v does not wrap the cause", err)
		}
	}
	if n := f.calls.Load() - before; n != 0 {
		t.Fatalf("open breaker let %d calls through", n)
	}
	if st := breakerState(t, c); st.Rejected != 100 || st.LastError == "" {
		t.Fatalf("stats %+v; want 100 rejected and the last error", st)
	}
	// Health says degraded while the breaker is open, even once the
	// backend answers again (the probe has not run yet).
	f.down.Store(false)
	if h := c.DetailedHealthCheck(ctx); h.Status != "degraded" {
		t.Fatalf("health with an open breaker = %s %v %v; want degraded", h.Status, h.Warnings, h.Errors)
	}
	// After the cool-down one probe goes through and closes it.
	clock.Advance(time.Second)
	if _, err := c.GetBytes(ctx, "k"); !errors.Is(err, yokedcache.ErrNotFound) {
		t.Fatalf("probe = %v; want a miss", err)
	}
	if st := breakerState(t, c); st.State != yokedcache.BreakerClosed {
		t.Fatalf("after a good probe: %+v; want closed", st)
	}
	if h := c.DetailedHealthCheck(ctx); h.Status != "healthy" {
		t.Fatalf("health = %s %v %v; want healthy", h.Status, h.Warnings, h.Errors)
	}
	// A failed probe opens it again for another cool-down.
	f.down.Store(true)
	for range 3 {
		_, _ = c.GetBytes(ctx, "k")
	}
	clock.Advance(time.Second)
	if _, err := c.GetBytes(ctx, "k"); errors.Is(err, yokedcache.ErrUnavailable) {
		t.Fatalf("probe after the cool-down was rejected: %v", err)
	}
	if _, err := c.GetBytes(ctx, "k"); !errors.Is(err, yokedcache.ErrUnavailable) {
		t.Fatalf("after a failed probe = %v; want ErrUnavailable", err)
	}
	if st := breakerState(t, c); st.State != yokedcache.BreakerOpen || st.Opens != 3 {
		t.Fatalf("after a failed probe: %+v; want open, 3 opens", st)
	}
}

// A call without a deadline on a hung backend returns after the
// operation timeout.
func TestOperationTimeoutBoundsHungBackend(t *testing.T) {
	f := newFlaky()
	f.hang.Store(true)
	c, _ := newFlakyCache(t, f, yokedcache.Config{OperationTimeout: 50 * time.Millisecond, BreakerFailures: -1})
	start := time.Now()
	_, err := c.GetBytes(context.Background(), "k")
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("GetBytes on a hung backend = %v; want DeadlineExceeded", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("GetBytes took %v; the timeout is 50ms", d)
	}
	// An earlier caller deadline wins; a later one is cut to the timeout.
	ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
	defer cancel()
	if err := c.Set(ctx, "k", "v"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Set = %v; want DeadlineExceeded", err)
	}
	if ctx.Err() != nil {
		t.Fatal("the caller's context ended")
	}
	hctx, hcancel := context.WithCancel(context.Background())
	defer hcancel()
	if c.Health(hctx) {
		t.Fatal("Health of a hung backend = true")
	}
}

// Fetch and GetOrSet fail open: with the backend down the loader runs and
// its value is returned; the write-back failure is counted. With
// FailClosedLoads the backend's error is returned instead.
func TestFetchFailsOpen(t *testing.T) {
	ctx := context.Background()
	f := newFlaky()
	f.down.Store(true)
	c, _ := newFlakyCache(t, f, yokedcache.Config{})
	for i := range 20 {
		v, err := yokedcache.Fetch(ctx, c, "k", func(context.Context) (int, error) { return 42, nil })
		if err != nil || v != 42 {
			t.Fatalf("Fetch %d with the backend down = %v, %v; want 42", i, v, err)
		}
		var s string
		if err := c.GetOrSet(ctx, "s", &s, func(context.Context) (any, error) { return "x", nil }); err != nil || s != "x" {
			t.Fatalf("GetOrSet %d with the backend down = %q, %v", i, s, err)
		}
	}
	// After a failed read the write-back runs in the background (so a
	// failing backend costs one timeout, not three); Close waits for it.
	_ = c.Close()
	st, _ := c.Stats(ctx)
	if st.LoadFallbacks != 40 || st.WriteBackErrors != 40 || st.Loads != 40 {
		t.Fatalf("stats %+v; want 40 fallbacks, write-back errors and loads", st)
	}

	fc, _ := newFlakyCache(t, f, yokedcache.Config{FailClosedLoads: true})
	loads := 0
	_, err := yokedcache.Fetch(ctx, fc, "k", func(context.Context) (int, error) { loads++; return 1, nil })
	if err == nil || !errors.Is(err, errDown) || loads != 0 {
		t.Fatalf("fail-closed Fetch = %v after %d loads; want the backend error, no load", err, loads)
	}
}

// Stale-while-revalidate: 100 concurrent callers on a stale key get the
// stale value at once and the loader runs exactly once.
func TestStaleWhileRevalidate(t *testing.T) {
	ctx := context.Background()
	c, clock := yokedcachetest.New(t)
	opts := []yokedcache.SetOption{yokedcache.WithTTL(time.Minute), yokedcache.WithStaleWhileRevalidate(time.Hour)}
	v, err := yokedcache.Fetch(ctx, c, "k", func(context.Context) (string, error) { return "v1", nil }, opts...)
	if err != nil || v != "v1" {
		t.Fatal(v, err)
	}
	clock.Advance(2 * time.Minute) // stale, within the window
	if _, err := yokedcache.Get[string](ctx, c, "k"); !errors.Is(err, yokedcache.ErrNotFound) {
		t.Fatalf("plain Get of a stale entry = %v; want a miss", err)
	}
	var loads atomic.Int64
	release := make(chan struct{})
	loader := func(context.Context) (string, error) {
		loads.Add(1)
		<-release
		return "v2", nil
	}
	var wg sync.WaitGroup
	results := make([]string, 100)
	errs := make([]error, 100)
	for i := range 100 {
		wg.Go(func() { results[i], errs[i] = yokedcache.Fetch(ctx, c, "k", loader, opts...) })
	}
	wg.Wait() // every caller returned while the refresh is still blocked
	for i := range 100 {
		if errs[i] != nil || results[i] != "v1" {
			t.Fatalf("caller %d = %q, %v; want the stale v1 at once", i, results[i], errs[i])
		}
	}
	close(release)
	deadline := time.Now().Add(10 * time.Second)
	for {
		v, err := yokedcache.Get[string](ctx, c, "k")
		if err == nil && v == "v2" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the refresh never stored v2: %q %v", v, err)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if n := loads.Load(); n != 1 {
		t.Fatalf("loader ran %d times; want 1", n)
	}
	st, _ := c.Stats(ctx)
	if st.StaleServed != 100 || st.Refreshes != 1 {
		t.Fatalf("StaleServed = %d, Refreshes = %d; want 100 and 1", st.StaleServed, st.Refreshes)
	}
	// Past the window the entry is gone and the loader runs in line.
	clock.Advance(2 * time.Hour)
	v, err = yokedcache.Fetch(ctx, c, "k", func(context.Context) (string, error) { return "v3", nil }, opts...)
	if err != nil || v != "v3" {
		t.Fatalf("after the window = %q, %v; want v3", v, err)
	}
}

// Stale-if-error: a failing loader is answered by the stale value within
// the window, and its error after it.
func TestStaleIfError(t *testing.T) {
	ctx := context.Background()
	c, clock := yokedcachetest.New(t)
	opts := []yokedcache.SetOption{yokedcache.WithTTL(time.Minute), yokedcache.WithStaleIfError(10 * time.Minute)}
	if _, err := yokedcache.Fetch(ctx, c, "k", func(context.Context) (int, error) { return 1, nil }, opts...); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("database down")
	failing := func(context.Context) (int, error) { return 0, boom }
	clock.Advance(5 * time.Minute) // stale for 4 minutes: within
	v, err := yokedcache.Fetch(ctx, c, "k", failing, opts...)
	if err != nil || v != 1 {
		t.Fatalf("within the window = %v, %v; want the stale 1", v, err)
	}
	var dst int
	if err := c.GetOrSet(ctx, "k", &dst, func(context.Context) (any, error) { return nil, boom }, opts...); err != nil || dst != 1 {
		t.Fatalf("GetOrSet within the window = %v, %v; want the stale 1", dst, err)
	}
	st, _ := c.Stats(ctx)
	if st.StaleIfError != 2 {
		t.Fatalf("StaleIfError = %d; want 2", st.StaleIfError)
	}
	// A working loader replaces the stale value.
	v, err = yokedcache.Fetch(ctx, c, "k", func(context.Context) (int, error) { return 2, nil }, opts...)
	if err != nil || v != 2 {
		t.Fatalf("refresh within the window = %v, %v; want 2", v, err)
	}
	clock.Advance(12 * time.Minute) // past TTL + window
	if _, err := yokedcache.Fetch(ctx, c, "k", failing, opts...); !errors.Is(err, boom) {
		t.Fatalf("after the window = %v; want the loader's error", err)
	}
}

// Negative caching: a loader's ErrNotFound (or a named sentinel) is cached
// for the missing TTL; reads report ErrNotFound without the loader.
func TestMissingTTL(t *testing.T) {
	ctx := context.Background()
	c, clock := yokedcachetest.New(t)
	errNoUser := errors.New("no such user")
	loads := 0
	loader := func(context.Context) (string, error) { loads++; return "", fmt.Errorf("lookup: %w", errNoUser) }
	opt := yokedcache.WithMissingTTL(time.Minute, errNoUser)
	for range 5 {
		_, err := yokedcache.Fetch(ctx, c, "user:9", loader, opt)
		if !errors.Is(err, yokedcache.ErrNotFound) && !errors.Is(err, errNoUser) {
			t.Fatalf("Fetch = %v", err)
		}
	}
	if loads != 1 {
		t.Fatalf("loader ran %d times; want 1 (the miss is cached)", loads)
	}
	if _, err := yokedcache.Get[string](ctx, c, "user:9"); !errors.Is(err, yokedcache.ErrNotFound) {
		t.Fatalf("Get of a cached miss = %v; want ErrNotFound", err)
	}
	if ok, _ := c.Exists(ctx, "user:9"); ok {
		t.Fatal("Exists of a cached miss = true")
	}
	st, _ := c.Stats(ctx)
	if st.NegativeStores != 1 || st.NegativeHits != 5 {
		t.Fatalf("stats: %d negative stores, %d negative hits; want 1 and 5", st.NegativeStores, st.NegativeHits)
	}
	clock.Advance(2 * time.Minute)
	if _, err := yokedcache.Fetch(ctx, c, "user:9", loader, opt); err == nil || loads != 2 {
		t.Fatalf("after the missing TTL: %v, %d loads; want a new load", err, loads)
	}
	// Without the option a loader's not-found is not cached.
	other := 0
	for range 3 {
		_, _ = yokedcache.Fetch(ctx, c, "user:10", func(context.Context) (string, error) { other++; return "", yokedcache.ErrNotFound })
	}
	if other != 3 {
		t.Fatalf("loader without WithMissingTTL ran %d times; want 3", other)
	}
}

// FetchMany: one GetMany, one loader call for the missed keys, results in
// key order, per-key errors; two overlapping batches load each key once.
func TestFetchMany(t *testing.T) {
	ctx := context.Background()
	c, _ := yokedcachetest.New(t)
	if err := c.Set(ctx, "a", 1); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	loaded := map[string]int{}
	started := make(chan struct{}, 2)
	release := make(chan struct{})
	loader := func(_ context.Context, missing []string) (map[string]int, error) {
		mu.Lock()
		for _, k := range missing {
			loaded[k]++
		}
		mu.Unlock()
		started <- struct{}{}
		<-release
		out := map[string]int{}
		for _, k := range missing {
			if k != "nope" {
				out[k] = int(k[0])
			}
		}
		return out, nil
	}
	var wg sync.WaitGroup
	var r1, r2 []yokedcache.Fetched[int]
	var e1, e2 error
	wg.Go(func() { r1, e1 = yokedcache.FetchMany(ctx, c, []string{"a", "b", "c", "nope"}, loader) })
	<-started // the first batch owns b, c and nope
	wg.Go(func() { r2, e2 = yokedcache.FetchMany(ctx, c, []string{"c", "d", "b"}, loader) })
	<-started // the second owns only d
	close(release)
	wg.Wait()
	if e1 != nil || e2 != nil {
		t.Fatal(e1, e2)
	}
	want := map[string]int{"b": 1, "c": 1, "nope": 1, "d": 1}
	if !maps.Equal(loaded, want) {
		t.Fatalf("loaded %v; want each missed key once: %v", loaded, want)
	}
	check := func(rs []yokedcache.Fetched[int], keys []string) {
		t.Helper()
		for i, k := range keys {
			r := rs[i]
			if r.Key != k {
				t.Fatalf("result %d is %q; want %q (key order)", i, r.Key, k)
			}
			switch {
			case k == "nope":
				if !errors.Is(r.Err, yokedcache.ErrNotFound) {
					t.Fatalf("nope: %v; want ErrNotFound", r.Err)
				}
			case k == "a":
				if r.Err != nil || r.Value != 1 {
					t.Fatalf("a = %v, %v; want the stored 1", r.Value, r.Err)
				}
			default:
				if r.Err != nil || r.Value != int(k[0]) {
					t.Fatalf("%s = %v, %v", k, r.Value, r.Err)
				}
			}
		}
	}
	check(r1, []string{"a", "b", "c", "nope"})
	check(r2, []string{"c", "d", "b"})
	// The loaded values were stored.
	got, err := yokedcache.GetMany[int](ctx, c, []string{"b", "c", "d"})
	if err != nil || len(got) != 3 {
		t.Fatalf("GetMany after FetchMany = %v, %v", got, err)
	}
	// A loader error is each loading key's error.
	boom := errors.New("boom")
	rs, err := yokedcache.FetchMany(ctx, c, []string{"b", "x"}, func(context.Context, []string) (map[string]int, error) { return nil, boom })
	if err != nil || rs[0].Err != nil || !errors.Is(rs[1].Err, boom) {
		t.Fatalf("FetchMany with a failing loader = %+v, %v", rs, err)
	}
}

// New with WaitReady fails (ErrUnavailable) when a backend never answers
// within it, and succeeds without it.
func TestWaitReady(t *testing.T) {
	f := newFlaky()
	f.down.Store(true)
	_, err := yokedcache.New(yokedcache.Config{Backend: f, WaitReady: 200 * time.Millisecond})
	if !errors.Is(err, yokedcache.ErrUnavailable) || !errors.Is(err, errDown) {
		t.Fatalf("New with WaitReady and the backend down = %v; want ErrUnavailable and the cause", err)
	}
	c, err := yokedcache.New(yokedcache.Config{Backend: newFlaky(), WaitReady: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	_ = c.Close()
	for _, bad := range []yokedcache.Config{{OperationTimeout: -2}, {BreakerFailures: -2}, {WaitReady: -1}, {BreakerCooldown: -1}} {
		if _, err := yokedcache.New(bad); !errors.Is(err, yokedcache.ErrInvalidConfig) {
			t.Fatalf("New(%+v) = %v; want ErrInvalidConfig", bad, err)
		}
	}
}

// The resilience settings are read from URLs, the environment and YAML,
// with the same names; bad values are configuration errors.
func TestResilienceSettingsEverywhere(t *testing.T) {
	want := func(t *testing.T, cfg yokedcache.Config) {
		t.Helper()
		if cfg.OperationTimeout != 250*time.Millisecond || cfg.BatchTimeout != -1 || cfg.HealthTimeout != 3*time.Second ||
			cfg.BreakerFailures != 7 || cfg.BreakerCooldown != 2*time.Second || cfg.WaitReady != time.Second || !cfg.FailClosedLoads {
			t.Fatalf("settings = %v", cfg)
		}
	}
	env := map[string]string{
		"YOKEDCACHE_OPERATION_TIMEOUT": "250ms", "YOKEDCACHE_BATCH_TIMEOUT": "-1", "YOKEDCACHE_HEALTH_TIMEOUT": "3",
		"YOKEDCACHE_BREAKER_FAILURES": "7", "YOKEDCACHE_BREAKER_COOLDOWN": "2s", "YOKEDCACHE_WAIT_READY": "1s",
		"YOKEDCACHE_FAIL_CLOSED_LOADS": "true",
	}
	cfg, err := yokedcache.FromEnvMap(lookup(env))
	if err != nil {
		t.Fatal(err)
	}
	want(t, cfg)
	cfg, err = yokedcache.ParseConfig([]byte("operation_timeout: 250ms\nbatch_timeout: -1\nhealth_timeout: 3\nbreaker_failures: 7\nbreaker_cooldown: 2s\nwait_ready: 1s\nfail_closed_loads: true\n"))
	if err != nil {
		t.Fatal(err)
	}
	want(t, cfg)
	// A URL: the parameters configure the Cache, not the backend (which
	// would reject them as unknown).
	c, err := yokedcache.New(yokedcache.Config{URL: "mem://?operation_timeout=250ms&batch_timeout=-1&health_timeout=3&breaker_failures=7&breaker_cooldown=2s&wait_ready=1s&fail_closed_loads=true"})
	if err != nil {
		t.Fatal(err)
	}
	_ = c.Close()
	for _, bad := range []string{"mem://?operation_timeout=soon", "mem://?breaker_failures=-5", "mem://?fail_closed_loads=maybe", "mem://?wait_ready=-3s"} {
		if _, err := yokedcache.New(yokedcache.Config{URL: bad}); !errors.Is(err, yokedcache.ErrInvalidConfig) {
			t.Errorf("New(URL %s) = %v; want ErrInvalidConfig", bad, err)
		}
		if _, err := yokedcache.Open(context.Background(), bad); !errors.Is(err, yokedcache.ErrInvalidConfig) {
			t.Errorf("Open(%s) = %v; want ErrInvalidConfig", bad, err)
		}
	}
	if _, err := yokedcache.FromEnvMap(lookup(map[string]string{"YOKEDCACHE_BREAKER_FAILURES": "many"})); !errors.Is(err, yokedcache.ErrInvalidConfig) {
		t.Errorf("bad env = %v; want ErrInvalidConfig", err)
	}
}

func lookup(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

// Python YokedCache's switches map onto the breaker and fail-open loads.
func TestPythonResilienceSwitches(t *testing.T) {
	cfg, notes, err := yokedcache.FromEnvMapNotes(lookup(map[string]string{"YOKEDCACHE_ENABLE_CIRCUIT_BREAKER": "false", "YOKEDCACHE_FALLBACK_ENABLED": "false"}))
	if err != nil || cfg.BreakerFailures != -1 || !cfg.FailClosedLoads || len(notes) != 2 {
		t.Fatalf("switches off = %v, %v, %v; want the breaker off, loads failing closed, two notes", cfg, notes, err)
	}
	cfg, notes, err = yokedcache.FromEnvMapNotes(lookup(map[string]string{"YOKEDCACHE_ENABLE_CIRCUIT_BREAKER": "true", "YOKEDCACHE_FALLBACK_ENABLED": "1"}))
	if err != nil || cfg.BreakerFailures != 0 || cfg.FailClosedLoads || len(notes) != 2 {
		t.Fatalf("switches on = %v, %v, %v; want the defaults and two notes", cfg, notes, err)
	}
}

// Probabilistic early refresh (XFetch): with a large beta a hit of a
// fresh entry refreshes it in the background and returns the current
// value; with a tiny beta hits never refresh before the soft expiry.
func TestEarlyRefresh(t *testing.T) {
	ctx := context.Background()
	c, clock := yokedcachetest.New(t, yokedcache.Config{Rand: func() float64 { return 0.5 }})
	var loads atomic.Int64
	loader := func(context.Context) (int, error) { return int(loads.Add(1)), nil }
	never := []yokedcache.SetOption{yokedcache.WithTTL(time.Minute), yokedcache.WithEarlyRefresh(1e-9)}
	if v, err := yokedcache.Fetch(ctx, c, "calm", loader, never...); err != nil || v != 1 {
		t.Fatal(v, err)
	}
	clock.Advance(59 * time.Second)
	for range 20 {
		if v, err := yokedcache.Fetch(ctx, c, "calm", loader, never...); err != nil || v != 1 {
			t.Fatalf("Fetch with a tiny beta = %v, %v; want the stored 1", v, err)
		}
	}
	if n := loads.Load(); n != 1 {
		t.Fatalf("a tiny beta refreshed early: %d loads", n)
	}
	eager := []yokedcache.SetOption{yokedcache.WithTTL(time.Hour), yokedcache.WithEarlyRefresh(1e12)}
	if v, err := yokedcache.Fetch(ctx, c, "hot", loader, eager...); err != nil || v != 2 {
		t.Fatal(v, err)
	}
	if v, err := yokedcache.Fetch(ctx, c, "hot", loader, eager...); err != nil || v != 2 {
		t.Fatalf("an early-refreshing hit = %v, %v; want the current 2 at once", v, err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		v, err := yokedcache.Get[int](ctx, c, "hot")
		if err == nil && v == 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the early refresh never stored 3: %v, %v", v, err)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if st, _ := c.Stats(ctx); st.EarlyRefreshes < 1 {
		t.Fatalf("EarlyRefreshes = %d", st.EarlyRefreshes)
	}
}

// With routes, the breaker is per route's backend: one failing route's
// breaker opens (Stats.Routes[i].Breaker), the Cache is degraded, the
// other routes keep working and loads on the failing route fail open.
func TestBreakerPerRoute(t *testing.T) {
	ctx := context.Background()
	f := newFlaky()
	c, err := yokedcache.New(yokedcache.Config{Routes: []yokedcache.Route{{Prefix: "remote", Backend: f}}, BreakerFailures: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	f.down.Store(true)
	for range 3 {
		_, _ = c.GetBytes(ctx, "remote:1")
	}
	st, _ := c.Stats(ctx)
	if len(st.Routes) != 2 || st.Routes[0].Breaker != nil || st.Routes[1].Breaker == nil || st.Routes[1].Breaker.State != yokedcache.BreakerOpen {
		t.Fatalf("route stats %+v; want the remote route's breaker open and none on memory", st.Routes)
	}
	if _, err := c.GetBytes(ctx, "remote:1"); !errors.Is(err, yokedcache.ErrUnavailable) {
		t.Fatalf("GetBytes on the open route = %v; want ErrUnavailable", err)
	}
	var re *yokedcache.RouteError
	if _, err := c.GetBytes(ctx, "remote:1"); !errors.As(err, &re) || re.Route != "remote" {
		t.Fatalf("error %v does not name the route", err)
	}
	if err := c.Set(ctx, "local", "v"); err != nil {
		t.Fatalf("the memory route failed with the remote one: %v", err)
	}
	if v, err := yokedcache.Fetch(ctx, c, "remote:2", func(context.Context) (string, error) { return "x", nil }); err != nil || v != "x" {
		t.Fatalf("Fetch on the open route = %q, %v; want the loader's value", v, err)
	}
	h := c.DetailedHealthCheck(ctx)
	if h.Status != "degraded" || h.Routes[1].Status == "healthy" || h.Routes[0].Status != "healthy" {
		t.Fatalf("health %s, routes %+v; want degraded with the remote route not healthy", h.Status, h.Routes)
	}
}

// On a hung backend a fail-open Fetch costs about one operation timeout:
// the read times out, the loader runs, and the write-back goes on in the
// background instead of adding two more timeouts (a re-read and a write).
func TestFetchOnHungBackendCostsOneTimeout(t *testing.T) {
	f := newFlaky()
	f.hang.Store(true)
	const timeout = 300 * time.Millisecond
	c, _ := newFlakyCache(t, f, yokedcache.Config{OperationTimeout: timeout, BreakerFailures: -1})
	start := time.Now()
	v, err := yokedcache.Fetch(context.Background(), c, "k", func(context.Context) (int, error) { return 5, nil })
	d := time.Since(start)
	if err != nil || v != 5 {
		t.Fatalf("Fetch on a hung backend = %v, %v; want the loader's 5", v, err)
	}
	// Ordering, not wall-clock precision: well under the three timeouts
	// a read, a re-read and a write would cost in line.
	if d >= 2*timeout+timeout/2 {
		t.Fatalf("Fetch took %v; want about one operation timeout (%v)", d, timeout)
	}
	t.Logf("Fetch on a hung backend: %v (operation timeout %v)", d, timeout)
}

// FetchMany fails open too: with the backend hung the batch read times
// out, the loader answers, and the write-back goes on in the background.
func TestFetchManyOnHungBackend(t *testing.T) {
	f := newFlaky()
	f.hang.Store(true)
	const timeout = 300 * time.Millisecond
	c, _ := newFlakyCache(t, f, yokedcache.Config{BatchTimeout: timeout, OperationTimeout: timeout, BreakerFailures: -1})
	start := time.Now()
	rs, err := yokedcache.FetchMany(context.Background(), c, []string{"a", "b"}, func(_ context.Context, missing []string) (map[string]int, error) {
		out := map[string]int{}
		for i, k := range missing {
			out[k] = i + 1
		}
		return out, nil
	})
	d := time.Since(start)
	if err != nil || len(rs) != 2 || rs[0].Err != nil || rs[1].Err != nil || rs[0].Value != 1 || rs[1].Value != 2 {
		t.Fatalf("FetchMany on a hung backend = %+v, %v; want the loader's values", rs, err)
	}
	if d >= 2*timeout+timeout/2 {
		t.Fatalf("FetchMany took %v; want about one batch timeout (%v)", d, timeout)
	}
}

// ctxProbe records the context a backend call got.
type ctxProbe struct {
	*flakyBackend
	deadline time.Time
	value    any
}

type probeKey struct{}

func (p *ctxProbe) Get(ctx context.Context, key string) ([]byte, error) {
	p.deadline, _ = ctx.Deadline()
	p.value = ctx.Value(probeKey{})
	return p.flakyBackend.Get(ctx, key)
}

// Callers whose context never ends share one deadline per short window
// (no timer per call); the deadline is the operation timeout, at most
// 1/16 later, and the caller's values reach the backend.
func TestSharedDeadlines(t *testing.T) {
	p := &ctxProbe{flakyBackend: newFlaky()}
	const d = 800 * time.Millisecond
	c, err := yokedcache.New(yokedcache.Config{Backend: p, OperationTimeout: d, BreakerFailures: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, ctx := range []context.Context{
		context.Background(),
		context.TODO(),
		context.WithValue(context.Background(), probeKey{}, "v"),
		context.WithoutCancel(context.WithValue(context.Background(), probeKey{}, "v")),
	} {
		start := time.Now()
		_, _ = c.GetBytes(ctx, "k")
		if p.deadline.IsZero() {
			t.Fatalf("the backend call had no deadline")
		}
		if lo, hi := start.Add(d), time.Now().Add(d+d/16+time.Millisecond); p.deadline.Before(lo) || p.deadline.After(hi) {
			t.Fatalf("deadline %v from the call's start; want in [%v, %v]", p.deadline.Sub(start), d, d+d/16)
		}
		if ctx.Value(probeKey{}) != p.value {
			t.Fatalf("the backend saw value %v; want %v", p.value, ctx.Value(probeKey{}))
		}
	}
	if n := testing.AllocsPerRun(100, func() { _, _ = c.GetBytes(context.Background(), "k") }); n > 1 {
		t.Fatalf("a guarded miss allocates %v times; want at most 1", n)
	}
}
