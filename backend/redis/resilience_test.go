package redis_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/yokedcache/yokedcache"
	"github.com/yokedcache/yokedcache/internal/testserver"
)

// New with the server down succeeds; Health is false; operations work
// once the server starts, through the same Cache value.
func TestResilienceNewWithoutServer(t *testing.T) {
	srv := testserver.StartRedis(t, testserver.RedisOptions{})
	srv.Stop()
	start := time.Now()
	c, err := yokedcache.New(yokedcache.Config{RedisURL: srv.URL(), KeyPrefix: "lazy"})
	if err != nil {
		t.Fatalf("New with Redis down: %v; want success", err)
	}
	defer c.Close()
	t.Logf("New with Redis down returned in %v", time.Since(start))
	if c.Health(context.Background()) {
		t.Fatal("Health = true with Redis down")
	}
	if h := c.DetailedHealthCheck(context.Background()); h.Status != "unhealthy" {
		t.Fatalf("DetailedHealthCheck = %s; want unhealthy", h.Status)
	}
	// A Fetch with a working loader still answers.
	v, err := yokedcache.Fetch(context.Background(), c, "k", func(context.Context) (string, error) { return "loaded", nil })
	if err != nil || v != "loaded" {
		t.Fatalf("Fetch with Redis down = %q, %v; want the loader's value", v, err)
	}
	srv.Start()
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := c.Set(context.Background(), "k", "v")
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Set still fails 10 s after the server started: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if v, err := yokedcache.Get[string](context.Background(), c, "k"); err != nil || v != "v" {
		t.Fatalf("Get after the server started = %q, %v", v, err)
	}
	if !c.Health(context.Background()) {
		t.Fatal("Health = false after the server started")
	}
}

// WaitReady makes New wait for the server, and fail when it does not come.
func TestResilienceWaitReady(t *testing.T) {
	srv := testserver.StartRedis(t, testserver.RedisOptions{})
	srv.Stop()
	_, err := yokedcache.New(yokedcache.Config{RedisURL: srv.URL(), WaitReady: 300 * time.Millisecond})
	if !errors.Is(err, yokedcache.ErrUnavailable) {
		t.Fatalf("New with WaitReady and Redis down = %v; want ErrUnavailable", err)
	}
	srv.Start()
	c, err := yokedcache.New(yokedcache.Config{RedisURL: srv.URL() + "?wait_ready=5s"})
	if err != nil {
		t.Fatalf("New with wait_ready=5s and Redis up: %v", err)
	}
	_ = c.Close()
}

// Redis killed (SIGKILL) for 5 s while 8 goroutines call Fetch with a
// working loader: no caller sees an error; once the breaker is open the
// p99 latency is small; after the restart the same Cache value writes
// again within about a second.
func TestResilienceRedisKilled(t *testing.T) {
	if testing.Short() {
		t.Skip("kills a server for 5 s; skipped with -short")
	}
	srv := testserver.StartRedis(t, testserver.RedisOptions{})
	c, err := yokedcache.New(yokedcache.Config{RedisURL: srv.URL(), KeyPrefix: "killed"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	if err := c.Set(ctx, "warm", "x"); err != nil {
		t.Fatal(err)
	}
	var (
		stop    atomic.Bool
		errs    atomic.Int64
		mu      sync.Mutex
		lat     []time.Duration
		opened  atomic.Bool
		calls   atomic.Int64
		firstEr atomic.Value
	)
	loader := func(context.Context) (int, error) { return 7, nil }
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			var mine []time.Duration
			for i := 0; !stop.Load(); i++ {
				key := fmt.Sprintf("k%d:%d", g, i%50)
				open := opened.Load()
				start := time.Now()
				v, err := yokedcache.Fetch(ctx, c, key, loader)
				d := time.Since(start)
				calls.Add(1)
				if err != nil || v != 7 {
					errs.Add(1)
					firstEr.CompareAndSwap(nil, fmt.Sprint(err))
				}
				if open {
					mine = append(mine, d)
				}
				time.Sleep(time.Millisecond)
			}
			mu.Lock()
			lat = append(lat, mine...)
			mu.Unlock()
		})
	}
	time.Sleep(200 * time.Millisecond)
	srv.Kill()
	killedAt := time.Now()
	// Wait until the breaker has opened, then measure.
	for time.Since(killedAt) < 5*time.Second {
		st, _ := c.Stats(ctx)
		if len(st.Breakers) == 1 && st.Breakers[0].Opens > 0 {
			opened.Store(true)
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if !opened.Load() {
		t.Fatal("the breaker did not open within 5 s of the kill")
	}
	openedAfter := time.Since(killedAt)
	time.Sleep(5*time.Second - time.Since(killedAt))
	srv.Start()
	backAt := time.Now()
	var firstOK time.Duration
	for {
		if err := c.Set(ctx, "back", "y"); err == nil {
			firstOK = time.Since(backAt)
			break
		}
		if time.Since(backAt) > 10*time.Second {
			t.Fatal("no successful Set within 10 s of the restart")
		}
		time.Sleep(5 * time.Millisecond)
	}
	stop.Store(true)
	wg.Wait()
	slices.Sort(lat)
	if len(lat) == 0 {
		t.Fatal("no Fetch measured while the breaker was open")
	}
	p99 := lat[len(lat)*99/100]
	t.Logf("breaker opened %v after the kill; %d Fetch calls, %d measured with the breaker open: p50 %v, p99 %v, max %v; first Set %v after the restart",
		openedAfter, calls.Load(), len(lat), lat[len(lat)/2], p99, lat[len(lat)-1], firstOK)
	if n := errs.Load(); n != 0 {
		t.Fatalf("%d Fetch calls failed during the outage (first: %v); want 0", n, firstEr.Load())
	}
	if p99 > 50*time.Millisecond {
		t.Errorf("p99 Fetch latency with the breaker open = %v; want <= 50ms", p99)
	}
	// Within a second of the server answering (breaker cool-down 500 ms,
	// redial every 100 ms); the margin is for a busy CI machine.
	if firstOK > 3*time.Second {
		t.Errorf("first success %v after the restart; want about 1 s", firstOK)
	}
}

// Redis hung (SIGSTOP): no call without a caller deadline returns later
// than its operation timeout plus a margin; Health returns within its own
// timeout.
func TestResilienceRedisHung(t *testing.T) {
	if testing.Short() {
		t.Skip("hangs a server for seconds; skipped with -short")
	}
	srv := testserver.StartRedis(t, testserver.RedisOptions{})
	const opTimeout = 300 * time.Millisecond
	const batchTimeout = 600 * time.Millisecond
	const healthTimeout = 500 * time.Millisecond
	c, err := yokedcache.New(yokedcache.Config{RedisURL: srv.URL(), KeyPrefix: "hung", OperationTimeout: opTimeout, BatchTimeout: batchTimeout, HealthTimeout: healthTimeout})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	if err := c.Set(ctx, "k", "v"); err != nil {
		t.Fatal(err)
	}
	srv.Pause()
	defer srv.Resume()
	const margin = 2 * time.Second // a busy 2-core CI machine
	var worst, worstBatch time.Duration
	hangStart := time.Now()
	for i := 0; time.Since(hangStart) < 4*time.Second; i++ {
		start := time.Now()
		switch i % 4 {
		case 0:
			_, err = c.GetBytes(ctx, "k")
		case 1:
			err = c.Set(ctx, "k", "v2")
		case 2:
			_, err = c.Delete(ctx, "other")
		case 3:
			_, err = c.GetMany(ctx, []string{"k", "j"})
		}
		d := time.Since(start)
		if i%4 == 3 {
			worstBatch = max(worstBatch, d)
		} else {
			worst = max(worst, d)
		}
		if err == nil {
			t.Fatalf("call %d succeeded on a hung server", i)
		}
		limit := opTimeout
		if i%4 == 3 {
			limit = batchTimeout
		}
		if d > limit+margin {
			t.Fatalf("call %d took %v on a hung server; the operation timeout is %v: %v", i, d, limit, err)
		}
	}
	start := time.Now()
	if c.Health(ctx) {
		t.Fatal("Health = true on a hung server")
	}
	h := c.DetailedHealthCheck(ctx)
	hd := time.Since(start)
	if h.Status == "healthy" {
		t.Fatalf("DetailedHealthCheck = healthy on a hung server")
	}
	if hd > 2*(healthTimeout+margin) {
		t.Fatalf("Health + DetailedHealthCheck took %v; the health timeout is %v", hd, healthTimeout)
	}
	// Fetch with a working loader still answers.
	v, err := yokedcache.Fetch(ctx, c, "f", func(context.Context) (string, error) { return "ok", nil })
	if err != nil || v != "ok" {
		t.Fatalf("Fetch on a hung server = %q, %v", v, err)
	}
	t.Logf("on the hung server: worst single-key call %v (timeout %v), worst GetMany %v (timeout %v); Health + DetailedHealthCheck %v (%s; timeout %v each)",
		worst, opTimeout, worstBatch, batchTimeout, hd, h.Status, healthTimeout)
	srv.Resume()
	deadline := time.Now().Add(10 * time.Second)
	for c.Set(ctx, "k", "v3") != nil {
		if time.Now().After(deadline) {
			t.Fatal("Set still fails 10 s after the server resumed")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// WithLoadLock: two processes (two Caches on one Redis) missing the same
// key at once run the loader once between them.
func TestResilienceLoadLock(t *testing.T) {
	srv := testserver.SharedRedis(t)
	prefix := fmt.Sprintf("lock%d", time.Now().UnixNano())
	var caches [2]*yokedcache.Cache
	for i := range caches {
		c, err := yokedcache.New(yokedcache.Config{RedisURL: srv.URL(), KeyPrefix: prefix})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		caches[i] = c
	}
	var loads atomic.Int64
	loader := func(context.Context) (string, error) {
		loads.Add(1)
		time.Sleep(300 * time.Millisecond)
		return "v", nil
	}
	for round := range 3 {
		key := fmt.Sprintf("k%d", round)
		var wg sync.WaitGroup
		errs := make([]error, 8)
		for i := range errs {
			wg.Go(func() {
				v, err := yokedcache.Fetch(context.Background(), caches[i%2], key, loader, yokedcache.WithLoadLock(5*time.Second))
				if err == nil && v != "v" {
					err = fmt.Errorf("got %q", v)
				}
				errs[i] = err
			})
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Fatalf("round %d caller %d: %v", round, i, err)
			}
		}
		if n := loads.Load(); n != int64(round+1) {
			t.Fatalf("round %d: the loader ran %d times in all; want %d (once per key across both processes)", round, n, round+1)
		}
	}
	st, _ := caches[0].Stats(context.Background())
	st1, _ := caches[1].Stats(context.Background())
	if st.LockWaits+st1.LockWaits != 3 {
		t.Fatalf("LockWaits = %d + %d; want 3 (one process waited per key)", st.LockWaits, st1.LockWaits)
	}
}
