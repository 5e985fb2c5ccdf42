package memcached_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/yokedcache/yokedcache"
	"github.com/yokedcache/yokedcache/backend/memcached"
	"github.com/yokedcache/yokedcache/internal/testserver"
)

// One of two servers killed: the Cache's health is degraded, keys on the
// live server keep working, and Fetch answers every key (keys of the dead
// server from the loader).
func TestResilienceOneServerDown(t *testing.T) {
	a := testserver.StartMemcached(t, testserver.MemcachedOptions{})
	b := testserver.StartMemcached(t, testserver.MemcachedOptions{})
	st, err := memcached.New(memcached.Options{Servers: []string{a.Addr, b.Addr}})
	if err != nil {
		t.Fatal(err)
	}
	c, err := yokedcache.New(yokedcache.Config{Backend: st, KeyPrefix: "half"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	keys := make([]string, 40)
	for i := range keys {
		keys[i] = fmt.Sprintf("k%d", i)
		if err := c.Set(ctx, keys[i], keys[i]); err != nil {
			t.Fatal(err)
		}
	}
	if h := c.DetailedHealthCheck(ctx); h.Status != "healthy" {
		t.Fatalf("both up: %s %v %v", h.Status, h.Warnings, h.Errors)
	}
	b.Kill()
	h := c.DetailedHealthCheck(ctx)
	if h.Status != "degraded" {
		t.Fatalf("one of two servers down: %s (warnings %v, errors %v); want degraded", h.Status, h.Warnings, h.Errors)
	}
	live := 0
	for _, k := range keys {
		if v, err := yokedcache.Get[string](ctx, c, k); err == nil && v == k {
			live++
		}
		v, err := yokedcache.Fetch(ctx, c, k, func(context.Context) (string, error) { return k, nil })
		if err != nil || v != k {
			t.Fatalf("Fetch %s with one server down = %q, %v", k, v, err)
		}
	}
	if live == 0 || live == len(keys) {
		t.Fatalf("%d of %d keys readable with one of two servers down; want some (the live server's)", live, len(keys))
	}
	t.Logf("%d of %d keys still readable from the live server", live, len(keys))
	a.Kill()
	if h := c.DetailedHealthCheck(ctx); h.Status != "unhealthy" {
		t.Fatalf("both down: %s; want unhealthy", h.Status)
	}
}

// WithLoadLock on memcached (add): two Caches missing the same key at
// once run the loader once between them.
func TestResilienceLoadLock(t *testing.T) {
	a := testserver.StartMemcached(t, testserver.MemcachedOptions{})
	var caches [2]*yokedcache.Cache
	for i := range caches {
		st, err := memcached.New(memcached.Options{Servers: []string{a.Addr}})
		if err != nil {
			t.Fatal(err)
		}
		c, err := yokedcache.New(yokedcache.Config{Backend: st, KeyPrefix: "lock"})
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
	var wg sync.WaitGroup
	errs := make([]error, 6)
	for i := range errs {
		wg.Go(func() {
			_, errs[i] = yokedcache.Fetch(context.Background(), caches[i%2], "k", loader, yokedcache.WithLoadLock(5*time.Second))
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("caller %d: %v", i, err)
		}
	}
	if n := loads.Load(); n != 1 {
		t.Fatalf("the loader ran %d times; want 1 across both processes", n)
	}
}

// One of two servers hung (SIGSTOP): calls for its keys end within the
// Store's per-step timeout (plus margin) and, once it is marked down,
// fail at once; the live server's keys keep working; health is degraded.
func TestResilienceOneServerHung(t *testing.T) {
	a := testserver.StartMemcached(t, testserver.MemcachedOptions{})
	b := testserver.StartMemcached(t, testserver.MemcachedOptions{})
	const stepTimeout = 200 * time.Millisecond
	// Strict namespace reads (-1): every Get reads its namespace version,
	// so which keys the live server can serve does not change when a
	// remembered version expires between rounds (a key on the live server
	// whose version lives on the hung one fails in every round).
	st, err := memcached.New(memcached.Options{Servers: []string{a.Addr, b.Addr}, Timeout: stepTimeout, ReadNamespaceTTL: -1})
	if err != nil {
		t.Fatal(err)
	}
	c, err := yokedcache.New(yokedcache.Config{Backend: st, KeyPrefix: "hung", HealthTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	keys := make([]string, 30)
	for i := range keys {
		keys[i] = fmt.Sprintf("k%d", i)
		if err := c.Set(ctx, keys[i], keys[i]); err != nil {
			t.Fatal(err)
		}
	}
	b.Pause()
	defer b.Resume()
	const margin = 2 * time.Second // a busy CI machine
	var worst time.Duration
	var served [3]int
	failedFast := 0
	for round := range 3 {
		for _, k := range keys {
			start := time.Now()
			v, err := yokedcache.Get[string](ctx, c, k)
			d := time.Since(start)
			worst = max(worst, d)
			if d > 4*stepTimeout+margin {
				t.Fatalf("Get %s on a hung server took %v; the per-step timeout is %v", k, d, stepTimeout)
			}
			switch {
			case err == nil && v == k:
				served[round]++
			case errors.Is(err, yokedcache.ErrUnavailable):
				failedFast++
			}
		}
	}
	// The live server's keys are served in every round; the hung one's
	// time out until it is marked down, then fail at once.
	if served[0] == 0 || served[0] == len(keys) || served[1] != served[0] || served[2] != served[0] || failedFast == 0 {
		t.Fatalf("served per round %v of %d keys, %d refused at once; want the live server's keys every round and some refusals", served, len(keys), failedFast)
	}
	start := time.Now()
	h := c.DetailedHealthCheck(ctx)
	if hd := time.Since(start); hd > time.Second+margin {
		t.Fatalf("DetailedHealthCheck took %v; the health timeout is 1s", hd)
	}
	if h.Status != "degraded" {
		t.Fatalf("health with one server hung = %s (%v %v); want degraded", h.Status, h.Warnings, h.Errors)
	}
	t.Logf("one of two servers hung: worst Get %v (step timeout %v); %d of %d keys served every round, %d calls refused at once", worst, stepTimeout, served[0], len(keys), failedFast)
}
