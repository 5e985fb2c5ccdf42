package backendtest_test

import (
	"context"
	"iter"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/yokedcache/yokedcache/backend"
	"github.com/yokedcache/yokedcache/backend/backendtest"
	"github.com/yokedcache/yokedcache/backend/memory"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// minimal hides every optional capability of a backend but the name, like
// a store that can only get, set and delete.
type minimal struct{ b backend.Backend }

func (m minimal) Get(ctx context.Context, k string) ([]byte, error) { return m.b.Get(ctx, k) }
func (m minimal) Set(ctx context.Context, k string, v []byte, o backend.SetOptions) error {
	return m.b.Set(ctx, k, v, o)
}
func (m minimal) Delete(ctx context.Context, k string) (bool, error) { return m.b.Delete(ctx, k) }
func (m minimal) Close() error                                       { return m.b.Close() }
func (m minimal) Name() string                                       { return "minimal" }

// TestMinimalBackend runs the suite against a backend with only the base
// interface: every optional feature is declared unsupported, so the suite
// must assert ErrUnsupported for each and skip with the reason, and
// everything else (keys, values, expiry, batches through the fallbacks,
// get-or-load, stats counters, health, errors, Close) must still pass.
func TestMinimalBackend(t *testing.T) {
	backendtest.Run(t, backendtest.Harness{
		Name: "minimal",
		New: func(t *testing.T, clock backend.Clock) (backend.Backend, error) {
			s, err := memory.New(memory.Options{Clock: clock})
			if err != nil {
				return nil, err
			}
			return minimal{s}, nil
		},
		Unsupported: map[backendtest.Feature]string{
			backendtest.FeatureTags:  "the minimal backend keeps no tags",
			backendtest.FeatureScan:  "the minimal backend cannot enumerate keys",
			backendtest.FeatureTTL:   "the minimal backend cannot read TTLs",
			backendtest.FeatureStats: "the minimal backend reports no key count",
		},
	})
}

// TestServerClockMode runs the suite's real-time TTL paths (short TTLs and
// polling, as for Redis and Memcached) against the memory backend on the
// system clock, so they are exercised without a server.
func TestServerClockMode(t *testing.T) {
	if testing.Short() {
		t.Skip("real-time TTL paths take a few seconds; skipped with -short")
	}
	backendtest.Run(t, backendtest.Harness{
		Name: "memory/realclock",
		New: func(t *testing.T, _ backend.Clock) (backend.Backend, error) {
			return memory.New(memory.Options{Clock: backend.SystemClock{}, CleanupInterval: 20 * time.Millisecond})
		},
		ServerClock:    true,
		TTLGranularity: time.Millisecond,
	})
}

// view is one "instance" over a memory store shared by every view of a
// test, as two clients share one server. Closing a view closes only it.
type view struct {
	*memory.Store
	closed atomic.Bool
}

func (v *view) check() error {
	if v.closed.Load() {
		return backend.ErrClosed
	}
	return nil
}

func (v *view) Get(ctx context.Context, k string) ([]byte, error) {
	if err := v.check(); err != nil {
		return nil, err
	}
	return v.Store.Get(ctx, k)
}

func (v *view) Set(ctx context.Context, k string, val []byte, o backend.SetOptions) error {
	if err := v.check(); err != nil {
		return err
	}
	return v.Store.Set(ctx, k, val, o)
}

func (v *view) Delete(ctx context.Context, k string) (bool, error) {
	if err := v.check(); err != nil {
		return false, err
	}
	return v.Store.Delete(ctx, k)
}

func (v *view) GetMany(ctx context.Context, ks []string) ([][]byte, error) {
	if err := v.check(); err != nil {
		return nil, err
	}
	return v.Store.GetMany(ctx, ks)
}

func (v *view) TTL(ctx context.Context, k string) (time.Duration, error) {
	if err := v.check(); err != nil {
		return 0, err
	}
	return v.Store.TTL(ctx, k)
}

func (v *view) InvalidateTags(ctx context.Context, tags []string) (int64, error) {
	if err := v.check(); err != nil {
		return 0, err
	}
	return v.Store.InvalidateTags(ctx, tags)
}

func (v *view) Scan(ctx context.Context, p string) iter.Seq2[string, error] {
	if err := v.check(); err != nil {
		return func(yield func(string, error) bool) { yield("", err) }
	}
	return v.Store.Scan(ctx, p)
}

func (v *view) Ping(ctx context.Context) error {
	if err := v.check(); err != nil {
		return err
	}
	return v.Store.Ping(ctx)
}

func (v *view) Close() error {
	if !v.closed.CompareAndSwap(false, true) {
		return backend.ErrClosed
	}
	return nil
}

// TestSharedStore runs the suite with Shared set: instances from New are
// views of one store per test, so the cross-instance clauses run.
func TestSharedStore(t *testing.T) {
	var (
		mu     sync.Mutex
		stores = map[*testing.T]*memory.Store{}
	)
	backendtest.Run(t, backendtest.Harness{
		Name:   "memory/shared",
		Shared: true,
		New: func(t *testing.T, clock backend.Clock) (backend.Backend, error) {
			mu.Lock()
			defer mu.Unlock()
			s := stores[t]
			if s == nil {
				var err error
				if s, err = memory.New(memory.Options{Clock: clock}); err != nil {
					return nil, err
				}
				stores[t] = s
				t.Cleanup(func() {
					_ = s.Close()
					mu.Lock()
					delete(stores, t)
					mu.Unlock()
				})
			}
			return &view{Store: s}, nil
		},
	})
}
