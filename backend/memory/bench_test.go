package memory_test

import (
	"math/rand/v2"
	"strconv"
	"testing"
	"time"

	"github.com/yokedcache/yokedcache/backend"
	"github.com/yokedcache/yokedcache/backend/memory"
)

// The store's own benchmarks: a default store (MaxSize 10 000) holding
// 5 000 keys read in a random order, so that LRU promotion and the
// TinyLFU queues really move entries; misses; and Sets of new keys into a
// full store, so that every Set evicts. Each at one goroutine and in
// parallel:
//
//	go test -run '^$' -bench . -benchmem -cpu 1,2 ./backend/memory/
//
// On a shared machine compare policies or versions within one run
// (interleave A/B runs with -count), not against absolute numbers.

const (
	benchKeys  = 5_000
	benchOrder = 1 << 16 // length of the precomputed random access order
)

func benchKeyNames(prefix string, n int) []string {
	ks := make([]string, n)
	for i := range ks {
		ks[i] = prefix + strconv.Itoa(i)
	}
	return ks
}

// benchOrderOf returns a fixed pseudo-random sequence of indexes < n.
func benchOrderOf(n int) []int32 {
	r := rand.New(rand.NewPCG(1, 2))
	order := make([]int32, benchOrder)
	for i := range order {
		order[i] = int32(r.IntN(n))
	}
	return order
}

func benchStore(b *testing.B, p memory.Policy) *memory.Store {
	b.Helper()
	s, err := memory.New(memory.Options{Policy: p, CleanupInterval: -1})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = s.Close() })
	return s
}

func BenchmarkStore(b *testing.B) {
	val := make([]byte, 100)
	for _, p := range policies {
		for _, ttl := range []struct {
			name string
			ttl  time.Duration
		}{{"ttl", time.Hour}, {"noexpiry", backend.NoExpiry}} {
			b.Run(p.String()+"/GetHit/"+ttl.name, func(b *testing.B) {
				s := benchStore(b, p)
				keys := benchKeyNames("user:", benchKeys)
				for _, k := range keys {
					_ = s.Set(ctx, k, val, backend.SetOptions{TTL: ttl.ttl})
				}
				order := benchOrderOf(benchKeys)
				b.ReportAllocs()
				i := 0
				for b.Loop() {
					if _, err := s.Get(ctx, keys[order[i&(benchOrder-1)]]); err != nil {
						b.Fatal(err)
					}
					i++
				}
			})
			b.Run(p.String()+"/GetHitParallel/"+ttl.name, func(b *testing.B) {
				s := benchStore(b, p)
				keys := benchKeyNames("user:", benchKeys)
				for _, k := range keys {
					_ = s.Set(ctx, k, val, backend.SetOptions{TTL: ttl.ttl})
				}
				order := benchOrderOf(benchKeys)
				b.ReportAllocs()
				b.RunParallel(func(pb *testing.PB) {
					i := rand.IntN(benchOrder) // goroutines must not walk the keys in lockstep
					for pb.Next() {
						if _, err := s.Get(ctx, keys[order[i&(benchOrder-1)]]); err != nil {
							b.Error(err)
							return
						}
						i++
					}
				})
			})
		}
		b.Run(p.String()+"/GetMiss", func(b *testing.B) {
			s := benchStore(b, p)
			keys := benchKeyNames("user:", benchKeys)
			for _, k := range keys {
				_ = s.Set(ctx, k, val, backend.SetOptions{TTL: time.Hour})
			}
			missing := benchKeyNames("nobody:", benchKeys)
			order := benchOrderOf(benchKeys)
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				if _, err := s.Get(ctx, missing[order[i&(benchOrder-1)]]); err == nil {
					b.Fatal("hit")
				}
				i++
			}
		})
		b.Run(p.String()+"/SetEvict", func(b *testing.B) {
			s := benchStore(b, p)
			// Four times the store's size: every Set inserts a key the
			// full store does not hold, and evicts.
			keys := benchKeyNames("user:", 40_000)
			for _, k := range keys[:10_000] {
				_ = s.Set(ctx, k, val, backend.SetOptions{TTL: time.Hour})
			}
			b.ReportAllocs()
			i := 10_000
			for b.Loop() {
				if err := s.Set(ctx, keys[i%len(keys)], val, backend.SetOptions{TTL: time.Hour}); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
		b.Run(p.String()+"/SetEvictParallel", func(b *testing.B) {
			s := benchStore(b, p)
			keys := benchKeyNames("user:", 40_000)
			for _, k := range keys[:10_000] {
				_ = s.Set(ctx, k, val, backend.SetOptions{TTL: time.Hour})
			}
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				i := rand.IntN(len(keys))
				for pb.Next() {
					if err := s.Set(ctx, keys[i%len(keys)], val, backend.SetOptions{TTL: time.Hour}); err != nil {
						b.Error(err)
						return
					}
					i++
				}
			})
		})
		b.Run(p.String()+"/SetUpdate", func(b *testing.B) {
			s := benchStore(b, p)
			keys := benchKeyNames("user:", benchKeys)
			for _, k := range keys {
				_ = s.Set(ctx, k, val, backend.SetOptions{TTL: time.Hour})
			}
			order := benchOrderOf(benchKeys)
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				if err := s.Set(ctx, keys[order[i&(benchOrder-1)]], val, backend.SetOptions{TTL: time.Hour}); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	}
}
