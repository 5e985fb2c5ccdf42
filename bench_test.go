package yokedcache_test

import (
	"bytes"
	"context"
	"math/rand/v2"
	"strconv"
	"testing"
	"time"

	"github.com/yokedcache/yokedcache"
	"github.com/yokedcache/yokedcache/backend"
	"github.com/yokedcache/yokedcache/backend/memory"
	"github.com/yokedcache/yokedcache/codec"
	"github.com/yokedcache/yokedcache/internal/envelope"
)

// The memory benchmarks run the raw backend and the Cache API in one run so
// their ratio can be read directly:
//
//	go test -run '^$' -bench 'Memory' -benchmem -cpu 1,2 .

type benchUser struct {
	ID    int      `json:"id"`
	Name  string   `json:"name"`
	Email string   `json:"email"`
	Roles []string `json:"roles"`
}

const benchKeys = 1024

func benchCache(b *testing.B) (*yokedcache.Cache, *memory.Store) {
	b.Helper()
	st, err := memory.New(memory.Options{MaxSize: 100_000, CleanupInterval: -1})
	if err != nil {
		b.Fatal(err)
	}
	c, err := yokedcache.New(yokedcache.Config{Backend: st})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close() })
	return c, st
}

func keysN(n int) []string {
	ks := make([]string, n)
	for i := range ks {
		ks[i] = "user:" + strconv.Itoa(i)
	}
	return ks
}

func BenchmarkMemory(b *testing.B) {
	ctx := context.Background()
	val := bytes.Repeat([]byte{'v'}, 100)
	user := benchUser{ID: 42, Name: "Alice Example", Email: "alice@example.com", Roles: []string{"admin", "dev"}}
	keys := keysN(benchKeys)

	b.Run("raw/Get", func(b *testing.B) {
		_, st := benchCache(b)
		env, _ := envelope.Encode(codec.IDRaw, val, nil, envelope.EncodeOptions{})
		for _, k := range keys {
			st.Set(ctx, "yokedcache:"+k, env, backend.SetOptions{TTL: backend.NoExpiry})
		}
		sk := make([]string, len(keys))
		for i, k := range keys {
			sk[i] = "yokedcache:" + k
		}
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			if _, err := st.Get(ctx, sk[i&(benchKeys-1)]); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
	b.Run("raw/Set", func(b *testing.B) {
		_, st := benchCache(b)
		env, _ := envelope.Encode(codec.IDRaw, val, nil, envelope.EncodeOptions{})
		sk := make([]string, len(keys))
		for i, k := range keys {
			sk[i] = "yokedcache:" + k
		}
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			if err := st.Set(ctx, sk[i&(benchKeys-1)], env, backend.SetOptions{TTL: backend.NoExpiry}); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
	b.Run("raw/GetParallel", func(b *testing.B) {
		_, st := benchCache(b)
		env, _ := envelope.Encode(codec.IDRaw, val, nil, envelope.EncodeOptions{})
		sk := make([]string, len(keys))
		for i, k := range keys {
			sk[i] = "yokedcache:" + k
			st.Set(ctx, sk[i], env, backend.SetOptions{TTL: backend.NoExpiry})
		}
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			i := rand.IntN(benchKeys) // goroutines must not walk the keys in lockstep
			for pb.Next() {
				if _, err := st.Get(ctx, sk[i&(benchKeys-1)]); err != nil {
					b.Error(err)
					return
				}
				i++
			}
		})
	})

	b.Run("bytes/Get", func(b *testing.B) {
		c, _ := benchCache(b)
		for _, k := range keys {
			c.Set(ctx, k, val)
		}
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			if _, err := c.GetBytes(ctx, keys[i&(benchKeys-1)]); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
	// The default Cache: New opened the memory backend itself, so its
	// reads skip the envelope checksum (the path most programs take).
	b.Run("bytes/GetDefault", func(b *testing.B) {
		c, err := yokedcache.New(yokedcache.Config{})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { c.Close() })
		for _, k := range keys {
			c.Set(ctx, k, val)
		}
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			if _, err := c.GetBytes(ctx, keys[i&(benchKeys-1)]); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
	b.Run("bytes/GetViewDefault", func(b *testing.B) {
		c, err := yokedcache.New(yokedcache.Config{})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { c.Close() })
		for _, k := range keys {
			c.Set(ctx, k, val)
		}
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			if _, err := c.GetView(ctx, keys[i&(benchKeys-1)]); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
	b.Run("bytes/GetGeneric", func(b *testing.B) {
		c, _ := benchCache(b)
		for _, k := range keys {
			c.Set(ctx, k, val)
		}
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			if _, err := yokedcache.Get[[]byte](ctx, c, keys[i&(benchKeys-1)]); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
	b.Run("bytes/Set", func(b *testing.B) {
		c, _ := benchCache(b)
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			if err := c.Set(ctx, keys[i&(benchKeys-1)], val); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
	b.Run("bytes/GetOrSetHit", func(b *testing.B) {
		c, _ := benchCache(b)
		for _, k := range keys {
			c.Set(ctx, k, val)
		}
		loader := func(context.Context) ([]byte, error) { return val, nil }
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			if _, err := yokedcache.Fetch(ctx, c, keys[i&(benchKeys-1)], loader); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
	b.Run("bytes/GetMany100", func(b *testing.B) {
		c, _ := benchCache(b)
		for _, k := range keys {
			c.Set(ctx, k, val)
		}
		batch := keys[:100]
		b.ReportAllocs()
		for b.Loop() {
			m, err := c.GetMany(ctx, batch)
			if err != nil || len(m) != 100 {
				b.Fatal(err, len(m))
			}
		}
	})
	b.Run("bytes/GetParallel", func(b *testing.B) {
		c, _ := benchCache(b)
		for _, k := range keys {
			c.Set(ctx, k, val)
		}
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			i := rand.IntN(benchKeys) // goroutines must not walk the keys in lockstep
			for pb.Next() {
				if _, err := c.GetBytes(ctx, keys[i&(benchKeys-1)]); err != nil {
					b.Error(err)
					return
				}
				i++
			}
		})
	})

	b.Run("struct/Get", func(b *testing.B) {
		c, _ := benchCache(b)
		for _, k := range keys {
			c.Set(ctx, k, user)
		}
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			if _, err := yokedcache.Get[benchUser](ctx, c, keys[i&(benchKeys-1)]); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
	b.Run("struct/Set", func(b *testing.B) {
		c, _ := benchCache(b)
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			if err := c.Set(ctx, keys[i&(benchKeys-1)], user); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
	b.Run("struct/GetOrSetHit", func(b *testing.B) {
		c, _ := benchCache(b)
		for _, k := range keys {
			c.Set(ctx, k, user)
		}
		loader := func(context.Context) (benchUser, error) { return user, nil }
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			if _, err := yokedcache.Fetch(ctx, c, keys[i&(benchKeys-1)], loader); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
	b.Run("struct/GetMany100", func(b *testing.B) {
		c, _ := benchCache(b)
		for _, k := range keys {
			c.Set(ctx, k, user)
		}
		batch := keys[:100]
		b.ReportAllocs()
		for b.Loop() {
			m, err := yokedcache.GetMany[benchUser](ctx, c, batch)
			if err != nil || len(m) != 100 {
				b.Fatal(err, len(m))
			}
		}
	})
	b.Run("struct/GetParallel", func(b *testing.B) {
		c, _ := benchCache(b)
		for _, k := range keys {
			c.Set(ctx, k, user)
		}
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			i := rand.IntN(benchKeys) // goroutines must not walk the keys in lockstep
			for pb.Next() {
				if _, err := yokedcache.Get[benchUser](ctx, c, keys[i&(benchKeys-1)]); err != nil {
					b.Error(err)
					return
				}
				i++
			}
		})
	})
}

// netLike hides the memory store's in-process capabilities, so that the
// Cache treats it as a network backend and guards it (operation timeout
// and circuit breaker): the difference to memory/ is the guard's cost.
type netLike struct{ backend.Backend }

// The resilience layer's cost on a hit:
//
//	go test -run '^$' -bench 'Resilience' -benchmem .
//
// memory/ is the real memory backend (in-process: never guarded); guarded/
// and unguarded/ are the same store seen as a network backend with the
// breaker and timeouts on (defaults) and off.
func BenchmarkResilience(b *testing.B) {
	ctx := context.Background()
	val := bytes.Repeat([]byte{'v'}, 100)
	user := benchUser{ID: 42, Name: "Alice Example", Email: "alice@example.com", Roles: []string{"admin", "dev"}}
	keys := keysN(benchKeys)
	open := func(b *testing.B, wrap bool, cfg yokedcache.Config) *yokedcache.Cache {
		st, err := memory.New(memory.Options{MaxSize: 100_000, CleanupInterval: -1})
		if err != nil {
			b.Fatal(err)
		}
		cfg.Backend = st
		if wrap {
			cfg.Backend = netLike{st}
		}
		c, err := yokedcache.New(cfg)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { c.Close() })
		for _, k := range keys {
			if err := c.Set(ctx, k, val); err != nil {
				b.Fatal(err)
			}
			if err := c.Set(ctx, "u:"+k, user); err != nil {
				b.Fatal(err)
			}
		}
		return c
	}
	off := yokedcache.Config{OperationTimeout: -1, BatchTimeout: -1, BreakerFailures: -1}
	shapes := []struct {
		name string
		wrap bool
		cfg  yokedcache.Config
	}{
		{"memory", false, yokedcache.Config{}},
		{"unguarded", true, off},
		{"guarded", true, yokedcache.Config{}},
		{"breaker-only", true, yokedcache.Config{OperationTimeout: -1, BatchTimeout: -1}},
	}
	for _, s := range shapes {
		b.Run(s.name+"/GetBytes", func(b *testing.B) {
			c := open(b, s.wrap, s.cfg)
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				if _, err := c.GetBytes(ctx, keys[i&(benchKeys-1)]); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	}
	loader := func(context.Context) (benchUser, error) { return user, nil }
	for _, s := range shapes[:1] {
		c := open(b, s.wrap, s.cfg)
		b.Run(s.name+"/Get[T]", func(b *testing.B) {
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				if _, err := yokedcache.Get[benchUser](ctx, c, "u:"+keys[i&(benchKeys-1)]); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
		b.Run(s.name+"/Fetch-hit", func(b *testing.B) {
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				if _, err := yokedcache.Fetch(ctx, c, "u:"+keys[i&(benchKeys-1)], loader); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
		b.Run(s.name+"/Fetch-hit-SWR", func(b *testing.B) {
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				if _, err := yokedcache.Fetch(ctx, c, "u:"+keys[i&(benchKeys-1)], loader, yokedcache.WithStaleWhileRevalidate(time.Minute)); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	}
}
