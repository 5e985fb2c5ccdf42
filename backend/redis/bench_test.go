package redis_test

import (
	"context"
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"github.com/redis/rueidis"

	"github.com/yokedcache/yokedcache"
	"github.com/yokedcache/yokedcache/backend"
	"github.com/yokedcache/yokedcache/backend/redis"
	"github.com/yokedcache/yokedcache/internal/testserver"
)

// The benchmarks compare, on one local redis-server, the raw clients
// (go-redis default options, go-redis's experimental auto-pipelining,
// rueidis with auto-pipelining, with default options and as the backend
// configures it) with the Cache API on this backend, for a
// 100-byte value, sequentially and with 64 concurrent callers
// (RunParallel with SetParallelism(64/GOMAXPROCS)).
//
//	go test -run '^$' -bench . -benchtime 2s ./backend/redis/

const callers = 64

var value100 = make([]byte, 100)

func parallel(b *testing.B, f func()) {
	p := callers / runtime.GOMAXPROCS(0)
	if p < 1 {
		p = 1
	}
	b.SetParallelism(p)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			f()
		}
	})
}

func benchServer(b *testing.B) *testserver.Redis {
	return testserver.SharedRedis(b)
}

func BenchmarkRawClients(b *testing.B) {
	srv := benchServer(b)
	ctx := context.Background()
	gr := goredis.NewClient(&goredis.Options{Addr: srv.Addr})
	defer gr.Close()
	ap, err := gr.AutoPipeline()
	if err != nil {
		b.Fatal(err)
	}
	rc, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{srv.Addr}, DisableCache: true})
	if err != nil {
		b.Fatal(err)
	}
	defer rc.Close()
	// rd is rueidis configured as the backend configures it.
	rd, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{srv.Addr}, DisableCache: true, MaxFlushDelay: redis.DefaultFlushDelay})
	if err != nil {
		b.Fatal(err)
	}
	defer rd.Close()
	if err := gr.Set(ctx, "yokedcache:bench", value100, 0).Err(); err != nil {
		b.Fatal(err)
	}
	clients := []struct {
		name string
		get  func() error
		set  func() error
	}{
		{"goredis-default", func() error { return gr.Get(ctx, "yokedcache:bench").Err() },
			func() error { return gr.Set(ctx, "yokedcache:bench", value100, time.Hour).Err() }},
		{"goredis-autopipeline", func() error { return ap.Get(ctx, "yokedcache:bench").Err() },
			func() error { return ap.Set(ctx, "yokedcache:bench", value100, time.Hour).Err() }},
		{"rueidis", func() error { return rc.Do(ctx, rc.B().Get().Key("yokedcache:bench").Build()).Error() },
			func() error {
				return rc.Do(ctx, rc.B().Set().Key("yokedcache:bench").Value(rueidis.BinaryString(value100)).PxMilliseconds(3600_000).Build()).Error()
			}},
		{"rueidis-flush20us", func() error { return rd.Do(ctx, rd.B().Get().Key("yokedcache:bench").Build()).Error() },
			func() error {
				return rd.Do(ctx, rd.B().Set().Key("yokedcache:bench").Value(rueidis.BinaryString(value100)).PxMilliseconds(3600_000).Build()).Error()
			}},
	}
	for _, c := range clients {
		b.Run(c.name+"/Get", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := c.get(); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(c.name+"/Get64", func(b *testing.B) {
			b.ReportAllocs()
			parallel(b, func() {
				if err := c.get(); err != nil {
					b.Error(err)
				}
			})
		})
		b.Run(c.name+"/Set", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := c.set(); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(c.name+"/Set64", func(b *testing.B) {
			b.ReportAllocs()
			parallel(b, func() {
				if err := c.set(); err != nil {
					b.Error(err)
				}
			})
		})
	}
}

func benchCache(b *testing.B) *yokedcache.Cache {
	srv := benchServer(b)
	st, err := redis.New(redis.Options{Addrs: []string{srv.Addr}})
	if err != nil {
		b.Fatal(err)
	}
	c, err := yokedcache.New(yokedcache.Config{Backend: st, TTLJitterPercent: yokedcache.NoJitter})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close() })
	return c
}

func BenchmarkCache(b *testing.B) {
	c := benchCache(b)
	ctx := context.Background()
	if err := c.Set(ctx, "bench", value100); err != nil {
		b.Fatal(err)
	}
	b.Run("Get", func(b *testing.B) {
		b.ReportAllocs()
		var dst []byte
		for b.Loop() {
			if err := c.Get(ctx, "bench", &dst); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Get64", func(b *testing.B) {
		b.ReportAllocs()
		parallel(b, func() {
			var dst []byte
			if err := c.Get(ctx, "bench", &dst); err != nil {
				b.Error(err)
			}
		})
	})
	b.Run("Set", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if err := c.Set(ctx, "bench", value100, yokedcache.WithTTL(time.Hour)); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Set64", func(b *testing.B) {
		b.ReportAllocs()
		parallel(b, func() {
			if err := c.Set(ctx, "bench", value100, yokedcache.WithTTL(time.Hour)); err != nil {
				b.Error(err)
			}
		})
	})
	b.Run("SetTagged", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			i++
			if err := c.Set(ctx, fmt.Sprint("tagged:", i%1000), value100, yokedcache.WithTTL(time.Minute), yokedcache.WithTags("bench")); err != nil {
				b.Fatal(err)
			}
		}
	})
	keys := make([]string, 100)
	for i := range keys {
		keys[i] = fmt.Sprint("many:", i)
		if err := c.Set(ctx, keys[i], value100); err != nil {
			b.Fatal(err)
		}
	}
	b.Run("GetMany100", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			m, err := c.GetMany(ctx, keys)
			if err != nil || len(m) != 100 {
				b.Fatal(len(m), err)
			}
		}
	})
	b.Run("Get100Sequential", func(b *testing.B) {
		b.ReportAllocs()
		var dst []byte
		for b.Loop() {
			for _, k := range keys {
				if err := c.Get(ctx, k, &dst); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
	b.Run("InvalidateTags10000", func(b *testing.B) {
		const n = 10_000
		items := make(map[string]any, n)
		for i := range n {
			items[fmt.Sprint("inv:", i)] = value100
		}
		for b.Loop() {
			b.StopTimer()
			if err := c.SetMany(ctx, items, yokedcache.WithTTL(time.Minute), yokedcache.WithTags("big")); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
			got, err := c.InvalidateTags(ctx, "big")
			if err != nil || got != n {
				b.Fatalf("InvalidateTags = %d, %v", got, err)
			}
		}
	})
}

// BenchmarkRawUnlink10000 is the floor for InvalidateTags10000: deleting
// 10 000 known keys with pipelined multi-key UNLINKs of 512 keys, with
// rueidis.
func BenchmarkRawUnlink10000(b *testing.B) {
	srv := benchServer(b)
	ctx := context.Background()
	rc, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{srv.Addr}, DisableCache: true})
	if err != nil {
		b.Fatal(err)
	}
	defer rc.Close()
	keys := make([]string, 10_000)
	for i := range keys {
		keys[i] = fmt.Sprint("yokedcache:raw:", i)
	}
	for b.Loop() {
		b.StopTimer()
		cmds := make(rueidis.Commands, len(keys))
		for i, k := range keys {
			cmds[i] = rc.B().Set().Key(k).Value(rueidis.BinaryString(value100)).ExSeconds(60).Build()
		}
		rc.DoMulti(ctx, cmds...)
		b.StartTimer()
		var del rueidis.Commands
		for i := 0; i < len(keys); i += 512 {
			del = append(del, rc.B().Unlink().Key(keys[i:min(i+512, len(keys))]...).Build())
		}
		for _, r := range rc.DoMulti(ctx, del...) {
			if err := r.Error(); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// BenchmarkBackend is the backend alone (no Cache: no envelope, no
// stats), to separate its overhead from the Cache's.
func BenchmarkBackend(b *testing.B) {
	srv := benchServer(b)
	ctx := context.Background()
	st, err := redis.New(redis.Options{Addrs: []string{srv.Addr}})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	opts := backend.SetOptions{TTL: time.Hour}
	if err := st.Set(ctx, "yokedcache:bench", value100, opts); err != nil {
		b.Fatal(err)
	}
	b.Run("Get", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := st.Get(ctx, "yokedcache:bench"); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Get64", func(b *testing.B) {
		b.ReportAllocs()
		parallel(b, func() {
			if _, err := st.Get(ctx, "yokedcache:bench"); err != nil {
				b.Error(err)
			}
		})
	})
	b.Run("Set", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if err := st.Set(ctx, "yokedcache:bench", value100, opts); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Set64", func(b *testing.B) {
		b.ReportAllocs()
		parallel(b, func() {
			if err := st.Set(ctx, "yokedcache:bench", value100, opts); err != nil {
				b.Error(err)
			}
		})
	})
}

// BenchmarkOverhead measures the Cache API's cost over the rueidis client
// it is built on, in a way the machine's noise cannot fake: every
// iteration does one raw call and one Cache call (alternating which goes
// first) on the same client and connection, timing each, so both see the
// same server, load and pipeline. It reports each side's mean latency and
// their ratio "cache/raw" (1.10 = 10 % slower). With 64 callers the
// latency ratio is the inverse of the throughput ratio.
//
//	go test -run '^$' -bench Overhead -benchtime 3s ./backend/redis/
func BenchmarkOverhead(b *testing.B) {
	c := benchCache(b)
	ctx := context.Background()
	var rc rueidis.Client
	if !c.As(&rc) {
		b.Fatal("As(*rueidis.Client) = false")
	}
	// The raw side writes what the Cache writes (the same envelope, key
	// and PX TTL), so only the Cache's own work differs.
	if err := c.Set(ctx, "bench", value100, yokedcache.WithTTL(time.Hour)); err != nil {
		b.Fatal(err)
	}
	env, err := rc.Do(ctx, rc.B().Get().Key("yokedcache:bench").Build()).AsBytes()
	if err != nil {
		b.Fatal(err)
	}
	rawGet := func() error {
		_, err := rc.Do(ctx, rc.B().Get().Key("yokedcache:bench").Build()).AsBytes()
		return err
	}
	cacheGet := func() error {
		_, err := c.GetBytes(ctx, "bench")
		return err
	}
	rawSet := func() error {
		return rc.Do(ctx, rc.B().Set().Key("yokedcache:bench").Value(rueidis.BinaryString(env)).PxMilliseconds(3600_000).Build()).Error()
	}
	cacheSet := func() error {
		return c.Set(ctx, "bench", value100, yokedcache.WithTTL(time.Hour))
	}
	type pair struct{ raw, cache func() error }
	ops := []struct {
		name string
		p    pair
	}{{"Get", pair{rawGet, cacheGet}}, {"Set", pair{rawSet, cacheSet}}}
	for _, op := range ops {
		for _, n := range []int{1, callers} {
			b.Run(fmt.Sprintf("%s/callers=%d", op.name, n), func(b *testing.B) {
				var rawNs, cacheNs, count atomic.Int64
				one := func(first bool) error {
					f, g := op.p.raw, op.p.cache
					if !first {
						f, g = g, f
					}
					t0 := time.Now()
					if err := f(); err != nil {
						return err
					}
					t1 := time.Now()
					if err := g(); err != nil {
						return err
					}
					t2 := time.Now()
					if first {
						rawNs.Add(int64(t1.Sub(t0)))
						cacheNs.Add(int64(t2.Sub(t1)))
					} else {
						cacheNs.Add(int64(t1.Sub(t0)))
						rawNs.Add(int64(t2.Sub(t1)))
					}
					count.Add(1)
					return nil
				}
				if n == 1 {
					first := true
					for b.Loop() {
						if err := one(first); err != nil {
							b.Fatal(err)
						}
						first = !first
					}
				} else {
					b.SetParallelism(max(1, n/runtime.GOMAXPROCS(0)))
					b.RunParallel(func(pb *testing.PB) {
						first := true
						for pb.Next() {
							if err := one(first); err != nil {
								b.Error(err)
								return
							}
							first = !first
						}
					})
				}
				k := float64(count.Load())
				if k == 0 {
					return
				}
				b.ReportMetric(float64(rawNs.Load())/k, "raw-ns/op")
				b.ReportMetric(float64(cacheNs.Load())/k, "cache-ns/op")
				b.ReportMetric(float64(cacheNs.Load())/float64(rawNs.Load()), "cache/raw")
			})
		}
	}
}
