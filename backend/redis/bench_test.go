package redis_test

import (
	"context"
	"fmt"
	"runtime"
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
