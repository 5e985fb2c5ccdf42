package memcached_test

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/bradfitz/gomemcache/memcache"

	"github.com/yokedcache/yokedcache"
	"github.com/yokedcache/yokedcache/backend"
	"github.com/yokedcache/yokedcache/backend/memcached"
	"github.com/yokedcache/yokedcache/internal/testserver"
)

// Benchmarks use testTimeout on both sides: load spikes on a shared machine
// can exceed the 500 ms default and fail a run.

// BenchmarkMemcached compares, in one run against one server, the raw
// gomemcache client with the Store (value header, namespace version
// check) and with the Cache on top (envelope, prefix, stats), for
// 100-byte values, and GetMany of 100 keys with 100 single Gets.
//
//	go test -run '^$' -bench BenchmarkMemcached -benchtime 2s -count 3 ./backend/memcached/
//
// benchClients returns, for the server at addr, the raw gomemcache client,
// a default Store and a Cache (on its own default Store) with prefix.
func benchClients(b *testing.B, addr, prefix string) (*memcache.Client, *memcached.Store, *yokedcache.Cache) {
	raw := memcache.New(addr)
	raw.Timeout, raw.MaxIdleConns = testTimeout, memcached.DefaultMaxIdleConns
	b.Cleanup(func() { raw.Close() })
	store := newStore(b, memcached.Options{Servers: []string{addr}, Timeout: testTimeout})
	cache, err := yokedcache.New(yokedcache.Config{Backend: newStore(b, memcached.Options{Servers: []string{addr}, Timeout: testTimeout}), KeyPrefix: prefix})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { cache.Close() })
	return raw, store, cache
}

func BenchmarkMemcached(b *testing.B) {
	addr := testserver.SharedMemcached(b).Addr
	ctx := context.Background()
	val := bytes.Repeat([]byte("v"), 100)

	raw, store, cache := benchClients(b, addr, "bench")

	if err := raw.Set(&memcache.Item{Key: "raw:k", Value: val, Expiration: 3600}); err != nil {
		b.Fatal(err)
	}
	if err := store.Set(ctx, "bench:k", val, backend.SetOptions{TTL: time.Hour}); err != nil {
		b.Fatal(err)
	}
	if err := cache.Set(ctx, "c", val, yokedcache.WithTTL(time.Hour)); err != nil {
		b.Fatal(err)
	}

	b.Run("Get/raw", func(b *testing.B) {
		for b.Loop() {
			if _, err := raw.Get("raw:k"); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Get/store", func(b *testing.B) {
		for b.Loop() {
			if _, err := store.Get(ctx, "bench:k"); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Get/cache", func(b *testing.B) {
		for b.Loop() {
			if _, err := cache.GetBytes(ctx, "c"); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Set/raw", func(b *testing.B) {
		for b.Loop() {
			if err := raw.Set(&memcache.Item{Key: "raw:k", Value: val, Expiration: 3600}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Set/store", func(b *testing.B) {
		for b.Loop() {
			if err := store.Set(ctx, "bench:k", val, backend.SetOptions{TTL: time.Hour}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Set/cache", func(b *testing.B) {
		for b.Loop() {
			if err := cache.Set(ctx, "c", val, yokedcache.WithTTL(time.Hour)); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("GetParallel/raw", func(b *testing.B) {
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := raw.Get("raw:k"); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
	b.Run("GetParallel/store", func(b *testing.B) {
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := store.Get(ctx, "bench:k"); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})

	keys := make([]string, 100)
	rawKeys := make([]string, 100)
	for i := range keys {
		keys[i] = fmt.Sprintf("bench:m:%d", i)
		rawKeys[i] = fmt.Sprintf("raw:m:%d", i)
		if err := store.Set(ctx, keys[i], val, backend.SetOptions{TTL: time.Hour}); err != nil {
			b.Fatal(err)
		}
		if err := raw.Set(&memcache.Item{Key: rawKeys[i], Value: val, Expiration: 3600}); err != nil {
			b.Fatal(err)
		}
	}
	b.Run("Batch100/raw-GetMulti", func(b *testing.B) {
		for b.Loop() {
			m, err := raw.GetMulti(rawKeys)
			if err != nil || len(m) != 100 {
				b.Fatal(len(m), err)
			}
		}
	})
	b.Run("Batch100/store-GetMany", func(b *testing.B) {
		for b.Loop() {
			vs, err := store.GetMany(ctx, keys)
			if err != nil || vs[99] == nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Batch100/store-100-Gets", func(b *testing.B) {
		for b.Loop() {
			for _, k := range keys {
				if _, err := store.Get(ctx, k); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
}

// BenchmarkMemcachedAB interleaves raw gomemcache and Store operations in
// one loop, timing each separately, so that load drift on a shared machine
// hits both sides alike. It reports raw-ns/op, store-ns/op and
// store/raw (the overhead ratio; 1.10 = 10 % slower). The Cache* cases put
// the Cache API (envelope, prefix, stats) on the "store" side.
//
//	go test -run '^$' -bench BenchmarkMemcachedAB -benchtime 50000x -count 5 ./backend/memcached/
func BenchmarkMemcachedAB(b *testing.B) {
	addr := testserver.SharedMemcached(b).Addr
	ctx := context.Background()
	val := bytes.Repeat([]byte("v"), 100)
	raw, store, cache := benchClients(b, addr, "abc")
	strict := newStore(b, memcached.Options{Servers: []string{addr}, ReadNamespaceTTL: -1, Timeout: testTimeout})
	if err := cache.Set(ctx, "k", val, yokedcache.WithTTL(time.Hour)); err != nil {
		b.Fatal(err)
	}
	rawItem := func() *memcache.Item { return &memcache.Item{Key: "rawab:k", Value: val, Expiration: 3600} }
	if err := raw.Set(rawItem()); err != nil {
		b.Fatal(err)
	}
	if err := store.Set(ctx, "ab:k", val, backend.SetOptions{TTL: time.Hour}); err != nil {
		b.Fatal(err)
	}
	ab := func(b *testing.B, rawOp, storeOp func() error) {
		var tr, ts time.Duration
		for i := 0; b.Loop(); i++ {
			// Alternate which side goes first.
			first, second := rawOp, storeOp
			if i%2 == 1 {
				first, second = storeOp, rawOp
			}
			t0 := time.Now()
			if err := first(); err != nil {
				b.Fatal(err)
			}
			t1 := time.Now()
			if err := second(); err != nil {
				b.Fatal(err)
			}
			t2 := time.Now()
			if i%2 == 0 {
				tr += t1.Sub(t0)
				ts += t2.Sub(t1)
			} else {
				ts += t1.Sub(t0)
				tr += t2.Sub(t1)
			}
		}
		b.ReportMetric(float64(tr.Nanoseconds())/float64(b.N), "raw-ns/op")
		b.ReportMetric(float64(ts.Nanoseconds())/float64(b.N), "store-ns/op")
		b.ReportMetric(float64(ts)/float64(tr), "store/raw")
	}
	b.Run("Get", func(b *testing.B) {
		ab(b, func() error { _, err := raw.Get("rawab:k"); return err },
			func() error { _, err := store.Get(ctx, "ab:k"); return err })
	})
	// ReadNamespaceTTL -1: the namespace version is read with every value.
	b.Run("Get-strict", func(b *testing.B) {
		ab(b, func() error { _, err := raw.Get("rawab:k"); return err },
			func() error { _, err := strict.Get(ctx, "ab:k"); return err })
	})
	b.Run("Set", func(b *testing.B) {
		ab(b, func() error { return raw.Set(rawItem()) },
			func() error { return store.Set(ctx, "ab:k", val, backend.SetOptions{TTL: time.Hour}) })
	})
	// What a strict Get costs at bottom: raw GetMulti of two keys on the
	// "store" side (reported as store-ns/op).
	b.Run("RawGetMulti2", func(b *testing.B) {
		pair := []string{"rawab:k", "rawab:n"}
		if err := raw.Set(&memcache.Item{Key: "rawab:n", Value: []byte("1234567890123456789")}); err != nil {
			b.Fatal(err)
		}
		ab(b, func() error { _, err := raw.Get("rawab:k"); return err },
			func() error { _, err := raw.GetMulti(pair); return err })
	})
	// Through the Cache API (envelope, prefix, stats) on a default Store.
	b.Run("CacheGet", func(b *testing.B) {
		ab(b, func() error { _, err := raw.Get("rawab:k"); return err },
			func() error { _, err := cache.GetBytes(ctx, "k"); return err })
	})
	b.Run("CacheSet", func(b *testing.B) {
		ab(b, func() error { return raw.Set(rawItem()) },
			func() error { return cache.Set(ctx, "k", val, yokedcache.WithTTL(time.Hour)) })
	})
}
