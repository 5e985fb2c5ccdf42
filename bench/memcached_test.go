package bench_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/bradfitz/gomemcache/memcache"

	"github.com/yokedcache/yokedcache"
	"github.com/yokedcache/yokedcache/backend/memcached"
	"github.com/yokedcache/yokedcache/bench/internal/rounds"
	"github.com/yokedcache/yokedcache/internal/testserver"
)

// Memcached group: the Cache on the memcached backend against the raw
// gomemcache client on one local memcached (started by the benchmark,
// shared by the process), for 100-byte values.
//
//	go test -run '^$' -bench 'Memcached' -benchtime 2s -rounds 7

// mcTimeout replaces the 500 ms default timeout on both sides: a load
// spike on a shared machine can exceed it and fail a run. It changes no
// fast path.
const mcTimeout = 5 * time.Second

// mcPeers are the Cache on its own memcached Store and a raw gomemcache
// client with the same Timeout and MaxIdleConns.
type mcPeers struct {
	cache *yokedcache.Cache
	raw   *memcache.Client
}

// newMcPeers connects both to the process's shared memcached (stopped by
// TestMain), after emptying it.
func newMcPeers(b *testing.B) *mcPeers {
	b.Helper()
	srv := testserver.SharedMemcached(b)
	if err := srv.FlushAll(b.Context()); err != nil {
		b.Fatal(err)
	}
	store, err := memcached.New(memcached.Options{Servers: []string{srv.Addr}, Timeout: mcTimeout})
	if err != nil {
		b.Fatal(err)
	}
	p := &mcPeers{}
	if p.cache, err = yokedcache.New(yokedcache.Config{Backend: store}); err != nil {
		store.Close()
		b.Fatal(err)
	}
	b.Cleanup(func() { p.cache.Close() })
	o := store.Options()
	p.raw = memcache.New(srv.Addr)
	p.raw.Timeout, p.raw.MaxIdleConns = o.Timeout, o.MaxIdleConns
	b.Cleanup(func() { p.raw.Close() })
	return p
}

// fill stores redisKeys 100-byte values through the Cache (default TTL)
// and returns the keys, the memcached keys (the backend keeps printable
// ASCII keys such as "yokedcache:k:1" as they are) and the stored items'
// bytes (the backend's header and the Cache's envelope), which the raw
// client writes back so that both sides send the same bytes and the
// entries stay readable.
func (p *mcPeers) fill(b *testing.B) (keys, mkeys []string, stored [][]byte) {
	b.Helper()
	ctx := b.Context()
	keys, mkeys = keyNames(redisKeys)
	items := make(map[string]any, len(keys))
	for _, k := range keys {
		items[k] = value100
	}
	if err := p.cache.SetMany(ctx, items); err != nil {
		b.Fatal(err)
	}
	stored = make([][]byte, len(mkeys))
	for i, mk := range mkeys {
		it, err := p.raw.Get(mk)
		if err != nil {
			b.Fatalf("raw Get of the Cache's entry %q: %v", mk, err)
		}
		stored[i] = it.Value
	}
	return keys, mkeys, stored
}

func BenchmarkMemcachedGet(b *testing.B) {
	for _, g := range []int{1, callers} {
		b.Run(fmt.Sprintf("callers=%d", g), func(b *testing.B) {
			p := newMcPeers(b)
			keys, mkeys, stored := p.fill(b)
			ctx := context.Background()
			rounds.Run(b, rounds.Group{
				Title: fmt.Sprintf("Get hit: %d keys of 100 B (%d B stored with header and envelope), random reads; ns/op = wall time / all callers' ops",
					redisKeys, len(stored[0])),
				Goroutines: g,
				Notes: []string{
					"gomemcache Get of the Cache's memcached keys (\"yokedcache:k:<i>\", kept verbatim), so the same bytes travel",
					fmt.Sprintf("both: Timeout %v, MaxIdleConns %d (the backend's default)", mcTimeout, memcached.DefaultMaxIdleConns),
				},
				Contenders: []rounds.Contender{
					{Name: "Cache.GetBytes", Op: func(w *rounds.Worker) error {
						_, err := p.cache.GetBytes(ctx, keys[w.Intn(redisKeys)])
						return err
					}},
					{Name: "gomemcache", Op: func(w *rounds.Worker) error {
						_, err := p.raw.Get(mkeys[w.Intn(redisKeys)])
						return err
					}},
				},
			})
		})
	}
}

func BenchmarkMemcachedSet(b *testing.B) {
	for _, g := range []int{1, callers} {
		b.Run(fmt.Sprintf("callers=%d", g), func(b *testing.B) {
			p := newMcPeers(b)
			keys, mkeys, stored := p.fill(b)
			ctx := context.Background()
			exp := int32(defaultTTL / time.Second)
			rounds.Run(b, rounds.Group{
				Title:      fmt.Sprintf("Set: 100 B values, random keys over %d, TTL 5 min; ns/op = wall time / all callers' ops", redisKeys),
				Goroutines: g,
				Notes: []string{
					"gomemcache Set writes the Cache's stored item bytes back under the same key, Expiration 300 s",
				},
				Contenders: []rounds.Contender{
					{Name: "Cache.Set", Op: func(w *rounds.Worker) error {
						return p.cache.Set(ctx, keys[w.Intn(redisKeys)], value100)
					}},
					{Name: "gomemcache", Op: func(w *rounds.Worker) error {
						i := w.Intn(redisKeys)
						return p.raw.Set(&memcache.Item{Key: mkeys[i], Value: stored[i], Expiration: exp})
					}},
				},
			})
		})
	}
}

func BenchmarkMemcachedGetMany(b *testing.B) {
	for _, g := range []int{1, callers} {
		b.Run(fmt.Sprintf("callers=%d", g), func(b *testing.B) {
			p := newMcPeers(b)
			keys, mkeys, _ := p.fill(b)
			ctx := context.Background()
			const windows = redisKeys - getManyKeys
			rounds.Run(b, rounds.Group{
				Title: fmt.Sprintf("GetMany(%d): %d consecutive keys from a random offset, all hits; ns/op = per call of %d keys",
					getManyKeys, getManyKeys, getManyKeys),
				Goroutines: g,
				Notes: []string{
					"gomemcache GetMulti of the same memcached keys; the Cache returns map[string]Value",
				},
				Contenders: []rounds.Contender{
					{Name: "Cache.GetMany", Op: func(w *rounds.Worker) error {
						j := w.Intn(windows)
						m, err := p.cache.GetMany(ctx, keys[j:j+getManyKeys])
						if err == nil && len(m) != getManyKeys {
							err = fmt.Errorf("GetMany returned %d of %d", len(m), getManyKeys)
						}
						return err
					}},
					{Name: "gomemcache.GetMulti", Op: func(w *rounds.Worker) error {
						j := w.Intn(windows)
						m, err := p.raw.GetMulti(mkeys[j : j+getManyKeys])
						if err == nil && len(m) != getManyKeys {
							err = fmt.Errorf("GetMulti returned %d of %d", len(m), getManyKeys)
						}
						return err
					}},
				},
			})
		})
	}
}
