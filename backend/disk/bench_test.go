package disk_test

import (
	"bytes"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/yokedcache/yokedcache"
	"github.com/yokedcache/yokedcache/backend"
	"github.com/yokedcache/yokedcache/backend/disk"
)

// BenchmarkDisk measures the store directly and through the Cache API with
// 100-byte values over 10 000 keys (default options: no fsync per commit).
//
//	go test -run '^$' -bench BenchmarkDisk -benchtime 2s -count 3 ./backend/disk/
func BenchmarkDisk(b *testing.B) {
	const nkeys = 10000
	val := bytes.Repeat([]byte("v"), 100)
	s := open(b, disk.Options{Directory: b.TempDir()})
	store := open(b, disk.Options{Directory: b.TempDir()})
	cache, err := yokedcache.New(yokedcache.Config{Backend: s, KeyPrefix: "bench"})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = cache.Close() })
	keys := make([]string, nkeys)
	items := make(map[string]any, nkeys)
	for i := range keys {
		keys[i] = "k:" + strconv.Itoa(i)
		items[keys[i]] = val
		must(b, store.Set(ctx, "bench:"+keys[i], val, backend.SetOptions{TTL: time.Hour}))
	}
	must(b, cache.SetMany(ctx, items, yokedcache.WithTTL(time.Hour)))

	b.Run("Get/store", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			if _, err := store.Get(ctx, "bench:"+keys[i%nkeys]); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Get/cache", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			if _, err := cache.GetBytes(ctx, keys[i%nkeys]); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("GetParallel/cache", func(b *testing.B) {
		var n atomic.Int64
		b.RunParallel(func(pb *testing.PB) {
			i := int(n.Add(1)) * 7919
			for pb.Next() {
				i++
				if _, err := cache.GetBytes(ctx, keys[i%nkeys]); err != nil {
					b.Fatal(err)
				}
			}
		})
	})
	b.Run("GetMany100/cache", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			start := (i * 100) % (nkeys - 100)
			m, err := cache.GetMany(ctx, keys[start:start+100])
			if err != nil || len(m) != 100 {
				b.Fatalf("GetMany: %d hits, %v", len(m), err)
			}
		}
	})
	b.Run("Set/store", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			if err := store.Set(ctx, "bench:"+keys[i%nkeys], val, backend.SetOptions{TTL: time.Hour}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Set/cache", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			if err := cache.Set(ctx, keys[i%nkeys], val, yokedcache.WithTTL(time.Hour)); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("SetTagged/cache", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			if err := cache.Set(ctx, keys[i%nkeys], val, yokedcache.WithTTL(time.Hour), yokedcache.WithTags("t"+strconv.Itoa(i%10))); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("SetParallel/cache", func(b *testing.B) {
		var n atomic.Int64
		b.RunParallel(func(pb *testing.PB) {
			i := int(n.Add(1)) * 7919
			for pb.Next() {
				i++
				if err := cache.Set(ctx, keys[i%nkeys], val, yokedcache.WithTTL(time.Hour)); err != nil {
					b.Fatal(err)
				}
			}
		})
	})
}

// fillStore writes n 100-byte entries with a 1-hour TTL in batches.
func fillStore(b *testing.B, dir string, n int) {
	s := open(b, disk.Options{Directory: dir})
	val := bytes.Repeat([]byte("v"), 100)
	items := make([]backend.Item, 0, 1000)
	for i := range n {
		items = append(items, backend.Item{Key: "bench:k:" + strconv.Itoa(i), Value: val, SetOptions: backend.SetOptions{TTL: time.Hour}})
		if len(items) == cap(items) {
			must(b, s.SetMany(ctx, items))
			items = items[:0]
		}
	}
	must(b, s.Close())
}

// BenchmarkSweep is one sweep over 200 000 live entries (nothing expired):
// the periodic cost of the expiry sweep.
//
//	go test -run '^$' -bench 'BenchmarkSweep|BenchmarkOpen' ./backend/disk/
func BenchmarkSweep(b *testing.B) {
	dir := b.TempDir()
	fillStore(b, dir, 200_000)
	s := open(b, disk.Options{Directory: dir, CleanupInterval: -1})
	for b.Loop() {
		if n, err := s.Sweep(ctx); err != nil || n != 0 {
			b.Fatal(n, err)
		}
	}
}

// BenchmarkOpen opens and closes a store of 200 000 entries, with and
// without the page-by-page verification.
func BenchmarkOpen(b *testing.B) {
	dir := b.TempDir()
	fillStore(b, dir, 200_000)
	for _, skip := range []bool{false, true} {
		b.Run("SkipVerify="+strconv.FormatBool(skip), func(b *testing.B) {
			for b.Loop() {
				s, err := disk.New(disk.Options{Directory: dir, SkipVerify: skip, Logger: quietLogger()})
				must(b, err)
				must(b, s.Close())
			}
		})
	}
}
