package bench_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/maypok86/otter/v2"
	"github.com/viccon/sturdyc"

	"github.com/yokedcache/yokedcache"
	"github.com/yokedcache/yokedcache/backend"
	"github.com/yokedcache/yokedcache/backend/memory"
	"github.com/yokedcache/yokedcache/bench/internal/rounds"
)

// Memory group: the Cache on its default memory backend against in-process
// Go caches with the same capacity (10 000 entries).
//
//	go test -run '^$' -bench 'Memory' -benchtime 2s -rounds 7
const (
	memCapacity = 10_000 // the Cache's default memory size (memory.DefaultMaxSize)
	memHitKeys  = 5_000  // keys read by the Get groups (all present)
	memSetKeys  = 20_000 // keyspace of the Set groups: twice the capacity
	defaultTTL  = 5 * time.Minute
)

// errMiss reports a miss where the benchmark expects a hit.
var errMiss = errors.New("miss")

// memPeers holds one instance of every in-process cache, each with
// capacity memCapacity, closed by the benchmark's cleanup.
type memPeers struct {
	cache  *yokedcache.Cache
	store  *memory.Store // the raw memory backend, default options
	otter  *otter.Cache[string, []byte]
	sturdy *sturdyc.Client[[]byte]
	lru    *lru.Cache[string, []byte]
	keys   []string
	skeys  []string // keys with the Cache's prefix, for store
	ctx    context.Context
}

// newMemPeers builds the caches and fills each with the first n keys of
// keyspace (100-byte values). The Cache is yokedcache.New(Config{}), the
// default memory backend; the raw store is memory.New(Options{}), the same
// defaults, holding the prefixed keys as the Cache stores them.
func newMemPeers(b *testing.B, keyspace, n int) *memPeers {
	b.Helper()
	p := &memPeers{ctx: context.Background()}
	p.keys, p.skeys = keyNames(keyspace)
	var err error
	if p.cache, err = yokedcache.New(yokedcache.Config{}); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { p.cache.Close() })
	if p.store, err = memory.New(memory.Options{}); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { p.store.Close() })
	if p.otter, err = otter.New(&otter.Options[string, []byte]{MaximumSize: memCapacity}); err != nil {
		b.Fatal(err)
	}
	// sturdyc needs shards, a TTL and an eviction percentage: 10 shards
	// (its README's example), the Cache's default TTL, 10 %.
	p.sturdy = sturdyc.New[[]byte](memCapacity, 10, defaultTTL, 10)
	if p.lru, err = lru.New[string, []byte](memCapacity); err != nil {
		b.Fatal(err)
	}
	for i := range n {
		if err := p.cache.Set(p.ctx, p.keys[i], value100); err != nil {
			b.Fatal(err)
		}
		if err := p.store.Set(p.ctx, p.skeys[i], value100, backend.SetOptions{TTL: defaultTTL}); err != nil {
			b.Fatal(err)
		}
		p.otter.Set(p.keys[i], value100)
		p.sturdy.Set(p.keys[i], value100)
		p.lru.Add(p.keys[i], value100)
	}
	return p
}

// hit returns errMiss unless ok.
func hit(ok bool) error {
	if !ok {
		return errMiss
	}
	return nil
}

func BenchmarkMemoryGet(b *testing.B) {
	for _, g := range []int{1, 2} {
		b.Run(fmt.Sprintf("goroutines=%d", g), func(b *testing.B) {
			p := newMemPeers(b, memHitKeys, memHitKeys)
			rounds.Run(b, rounds.Group{
				Title: fmt.Sprintf("Get hit: %d keys of 100 B, random reads, capacity %d (Cache: yokedcache.New(Config{}))",
					memHitKeys, memCapacity),
				Goroutines: g,
				Notes: []string{
					"Cache.GetBytes returns a copy (1 alloc); otter, sturdyc and golang-lru return the stored slice",
					"memory backend = backend/memory Store.Get on \"yokedcache:<k>\" (shared slice, no envelope check)",
					"otter: GetIfPresent (v2's Get takes a loader)",
				},
				Contenders: []rounds.Contender{
					{Name: "Cache.GetBytes", Op: func(w *rounds.Worker) error {
						_, err := p.cache.GetBytes(p.ctx, p.keys[w.Intn(memHitKeys)])
						return err
					}},
					{Name: "otter", Op: func(w *rounds.Worker) error {
						_, ok := p.otter.GetIfPresent(p.keys[w.Intn(memHitKeys)])
						return hit(ok)
					}},
					{Name: "sturdyc", Op: func(w *rounds.Worker) error {
						_, ok := p.sturdy.Get(p.keys[w.Intn(memHitKeys)])
						return hit(ok)
					}},
					{Name: "golang-lru", Op: func(w *rounds.Worker) error {
						_, ok := p.lru.Get(p.keys[w.Intn(memHitKeys)])
						return hit(ok)
					}},
					{Name: "memory-backend", Op: func(w *rounds.Worker) error {
						_, err := p.store.Get(p.ctx, p.skeys[w.Intn(memHitKeys)])
						return err
					}},
				},
			})
		})
	}
}

func BenchmarkMemorySet(b *testing.B) {
	for _, g := range []int{1, 2} {
		b.Run(fmt.Sprintf("goroutines=%d", g), func(b *testing.B) {
			p := newMemPeers(b, memSetKeys, memCapacity)
			rounds.Run(b, rounds.Group{
				Title: fmt.Sprintf("Set: 100 B values, random keys over %d in caches of %d entries (filled), so every other Set evicts",
					memSetKeys, memCapacity),
				Goroutines: g,
				Notes: []string{
					"Cache.Set: default TTL (5 min, jittered); otter and golang-lru: no expiry; sturdyc: 5 min TTL",
				},
				Contenders: []rounds.Contender{
					{Name: "Cache.Set", Op: func(w *rounds.Worker) error {
						return p.cache.Set(p.ctx, p.keys[w.Intn(memSetKeys)], value100)
					}},
					{Name: "otter", Op: func(w *rounds.Worker) error {
						p.otter.Set(p.keys[w.Intn(memSetKeys)], value100)
						return nil
					}},
					{Name: "sturdyc", Op: func(w *rounds.Worker) error {
						p.sturdy.Set(p.keys[w.Intn(memSetKeys)], value100)
						return nil
					}},
					{Name: "golang-lru", Op: func(w *rounds.Worker) error {
						p.lru.Add(p.keys[w.Intn(memSetKeys)], value100)
						return nil
					}},
					{Name: "memory-backend", Op: func(w *rounds.Worker) error {
						return p.store.Set(p.ctx, p.skeys[w.Intn(memSetKeys)], value100, backend.SetOptions{TTL: defaultTTL})
					}},
				},
			})
		})
	}
}
