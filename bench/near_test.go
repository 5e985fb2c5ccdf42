package bench_test

import (
	"context"
	"fmt"
	"math/rand"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	grcache "github.com/go-redis/cache/v9"
	goredis "github.com/redis/go-redis/v9"

	"github.com/yokedcache/yokedcache"
	"github.com/yokedcache/yokedcache/backend"
	"github.com/yokedcache/yokedcache/backend/memory"
	"github.com/yokedcache/yokedcache/backend/near"
	"github.com/yokedcache/yokedcache/bench/internal/rounds"
	"github.com/yokedcache/yokedcache/internal/testserver"
)

// Near group: the near-cache tier in front of Redis against the Cache on
// Redis alone, the Cache on its memory backend, and go-redis/cache with
// its TinyLFU local cache, on one local redis-server.
//
//	go test -run '^$' -bench 'Near' -benchtime 1x -slice 300ms -rounds 7
const (
	nearHotKeys  = 1_000     // keys of the hot-key group: all fit the tier
	nearTier     = 10_000    // entries of every local tier
	zipfKeys     = 1_000_000 // keyspace of the Zipf group
	zipfTrace    = 1 << 21   // requests of the Zipf trace
	zipfS        = 1.1
	grcacheTTL   = time.Minute // go-redis/cache's local TTL
	nearValueLen = 32          // value size of the Zipf group
)

// countingLocal counts the hits of go-redis/cache's local cache.
type countingLocal struct {
	grcache.LocalCache
	gets, hits atomic.Int64
}

func (c *countingLocal) Get(key string) ([]byte, bool) {
	b, ok := c.LocalCache.Get(key)
	c.gets.Add(1)
	if ok {
		c.hits.Add(1)
	}
	return b, ok
}

type nearPeers struct {
	srv   *testserver.Redis
	near  *yokedcache.Cache // Redis with a near tier of nearTier entries
	redis *yokedcache.Cache // Redis alone
	mem   *yokedcache.Cache // the memory backend
	gr    *goredis.Client
	grc   *grcache.Cache
	local *countingLocal
}

func newNearPeers(b *testing.B) *nearPeers {
	b.Helper()
	srv := testserver.SharedRedis(b)
	if err := srv.FlushAll(b.Context()); err != nil {
		b.Fatal(err)
	}
	p := &nearPeers{srv: srv}
	var err error
	if p.near, err = yokedcache.New(yokedcache.Config{RedisURL: srv.URL(), Near: &yokedcache.NearOptions{MaxEntries: nearTier}}); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { p.near.Close() })
	if p.redis, err = yokedcache.New(yokedcache.Config{RedisURL: srv.URL()}); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { p.redis.Close() })
	if p.mem, err = yokedcache.New(yokedcache.Config{}); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { p.mem.Close() })
	p.gr = goredis.NewClient(&goredis.Options{Addr: srv.Addr})
	b.Cleanup(func() { p.gr.Close() })
	p.local = &countingLocal{LocalCache: grcache.NewTinyLFU(nearTier, grcacheTTL)}
	p.grc = grcache.New(&grcache.Options{Redis: p.gr, LocalCache: p.local})
	return p
}

// fill stores keys (values of size n) through the Caches and, under
// "grc:"+key, go-redis/cache's raw []byte format.
func (p *nearPeers) fill(b *testing.B, keys []string, n int) {
	b.Helper()
	ctx := b.Context()
	val := make([]byte, n)
	for i := 0; i < len(keys); i += 1000 {
		chunk := keys[i:min(i+1000, len(keys))]
		items := make(map[string]any, len(chunk))
		pipe := p.gr.Pipeline()
		for _, k := range chunk {
			items[k] = val
			pipe.Set(ctx, "grc:"+k, val, time.Hour)
		}
		if err := p.redis.SetMany(ctx, items, yokedcache.WithTTL(time.Hour)); err != nil {
			b.Fatal(err)
		}
		if _, err := pipe.Exec(ctx); err != nil {
			b.Fatal(err)
		}
	}
	for _, k := range keys[:min(len(keys), memCapacity)] {
		if err := p.mem.Set(ctx, k, val); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkNearHotGet(b *testing.B) {
	for _, g := range []int{1, callers} {
		b.Run(fmt.Sprintf("callers=%d", g), func(b *testing.B) {
			p := newNearPeers(b)
			keys, _ := keyNames(nearHotKeys)
			p.fill(b, keys, len(value100))
			ctx := context.Background()
			for _, k := range keys { // warm the local tiers
				if _, err := p.near.GetBytes(ctx, k); err != nil {
					b.Fatal(err)
				}
				var v []byte
				if err := p.grc.Get(ctx, "grc:"+k, &v); err != nil {
					b.Fatal(err)
				}
			}
			rounds.Run(b, rounds.Group{
				Title:      fmt.Sprintf("hot-key Get: %d keys of 100 B, all held by the local tiers, random reads", nearHotKeys),
				Goroutines: g,
				Notes: []string{
					"near: Config{RedisURL, Near: {MaxEntries: 10 000}} (W-TinyLFU; tracking when the server allows it)",
					"go-redis/cache v9: LocalCache NewTinyLFU(10 000, 1 min), go-redis default options; Get into *[]byte",
				},
				Contenders: []rounds.Contender{
					{Name: "near Cache.GetBytes", Op: func(w *rounds.Worker) error {
						_, err := p.near.GetBytes(ctx, keys[w.Intn(nearHotKeys)])
						return err
					}},
					{Name: "Redis Cache.GetBytes", Op: func(w *rounds.Worker) error {
						_, err := p.redis.GetBytes(ctx, keys[w.Intn(nearHotKeys)])
						return err
					}},
					{Name: "memory Cache.GetBytes", Op: func(w *rounds.Worker) error {
						_, err := p.mem.GetBytes(ctx, keys[w.Intn(nearHotKeys)])
						return err
					}},
					{Name: "go-redis/cache", Op: func(w *rounds.Worker) error {
						var v []byte
						return p.grc.Get(ctx, "grc:"+keys[w.Intn(nearHotKeys)], &v)
					}},
				},
			})
		})
	}
}

// zipfTraceOf returns n requests over keys drawn from Zipf(s), the most
// frequent keys spread over the keyspace.
func zipfTraceOf(keys, n int, s float64) []int {
	r := rand.New(rand.NewSource(42))
	z := rand.NewZipf(r, s, 1, uint64(keys-1))
	perm := r.Perm(keys)
	out := make([]int, n)
	for i := range out {
		out[i] = perm[z.Uint64()]
	}
	return out
}

func BenchmarkNearZipf(b *testing.B) {
	p := newNearPeers(b)
	keys, _ := keyNames(zipfKeys)
	p.fill(b, keys, nearValueLen)
	trace := zipfTraceOf(zipfKeys, zipfTrace, zipfS)
	ctx := context.Background()
	// Hit ratios: one pass over the trace warms, a second one measures.
	nearRatio := func() float64 {
		for _, i := range trace {
			_, _ = p.near.GetBytes(ctx, keys[i])
		}
		st, _ := p.near.Stats(ctx)
		h0, m0 := st.Near[0].Hits, st.Near[0].Misses
		for _, i := range trace {
			_, _ = p.near.GetBytes(ctx, keys[i])
		}
		st, _ = p.near.Stats(ctx)
		return float64(st.Near[0].Hits-h0) / float64(st.Near[0].Hits-h0+st.Near[0].Misses-m0)
	}()
	grcRatio := func() float64 {
		var v []byte
		for _, i := range trace {
			_ = p.grc.Get(ctx, "grc:"+keys[i], &v)
		}
		g0, h0 := p.local.gets.Load(), p.local.hits.Load()
		for _, i := range trace {
			_ = p.grc.Get(ctx, "grc:"+keys[i], &v)
		}
		return float64(p.local.hits.Load()-h0) / float64(p.local.gets.Load()-g0)
	}()
	op := func(get func(k string) error) func(w *rounds.Worker) error {
		return func(w *rounds.Worker) error {
			return get(keys[trace[(w.ID*7919+w.I)%len(trace)]])
		}
	}
	rounds.Run(b, rounds.Group{
		Title:      fmt.Sprintf("Zipf(%.1f) reads over %d keys of %d B with %d-entry local tiers, %d callers", zipfS, zipfKeys, nearValueLen, nearTier, callers),
		Goroutines: callers,
		Notes: []string{
			fmt.Sprintf("local hit ratio on a %d-request trace (second pass): near tier %.1f %%, go-redis/cache TinyLFU %.1f %%", len(trace), 100*nearRatio, 100*grcRatio),
			"every key is in Redis: a local miss is one GET",
		},
		Contenders: []rounds.Contender{
			{Name: "near Cache.GetBytes", Op: op(func(k string) error { _, err := p.near.GetBytes(ctx, k); return err })},
			{Name: "Redis Cache.GetBytes", Op: op(func(k string) error { _, err := p.redis.GetBytes(ctx, k); return err })},
			{Name: "go-redis/cache", Op: op(func(k string) error { var v []byte; return p.grc.Get(ctx, "grc:"+k, &v) })},
		},
	})
}

// BenchmarkNearByteBound streams 1 M distinct keys through a tier bounded
// to 8 MiB and reports the most its copies ever held and the heap after.
func BenchmarkNearByteBound(b *testing.B) {
	const bound = 8 << 20
	shared, err := memory.New(memory.Options{MaxSize: -1})
	if err != nil {
		b.Fatal(err)
	}
	defer shared.Close()
	n, err := near.New(shared, near.Options{MaxEntries: 1 << 20, MaxBytes: bound})
	if err != nil {
		b.Fatal(err)
	}
	defer n.Close()
	ctx := context.Background()
	var peak int64
	for i := range 1_000_000 {
		k := fmt.Sprint("yokedcache:s:", i)
		if err := shared.Set(ctx, k, value100, backend.SetOptions{TTL: time.Minute}); err != nil {
			b.Fatal(err)
		}
		if _, err := n.Get(ctx, k); err != nil {
			b.Fatal(err)
		}
		if _, err := shared.Delete(ctx, k); err != nil { // keep only the tier's copies
			b.Fatal(err)
		}
		if i%4096 == 0 {
			peak = max(peak, n.NearStats().Bytes)
		}
	}
	st := n.NearStats()
	peak = max(peak, st.Bytes)
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	b.ReportMetric(float64(peak), "peak-bytes")
	b.ReportMetric(float64(bound), "bound-bytes")
	b.ReportMetric(float64(st.Entries), "entries")
	b.ReportMetric(float64(ms.HeapInuse)/(1<<20), "heap-MiB")
	if peak > bound {
		b.Fatalf("copies held %d bytes; bound %d", peak, bound)
	}
}
