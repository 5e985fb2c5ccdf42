package sqlite_test

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/yokedcache/yokedcache"
	"github.com/yokedcache/yokedcache/backend"
	"github.com/yokedcache/yokedcache/backend/sqlite"
)

// BenchmarkCache measures the Store through the Cache API with 100-byte
// values (and 16 KiB ones) on a WAL file (synchronous=NORMAL) and on :memory:, next to the
// raw driver (a prepared SELECT and upsert on the same table shape) in the
// same run.
//
//	go test -run '^$' -bench BenchmarkCache -benchtime 2s -count 3 ./backend/sqlite/
func BenchmarkCache(b *testing.B) {
	for _, mode := range []string{"file", "memory"} {
		b.Run(mode, func(b *testing.B) {
			path := sqlite.MemoryPath
			if mode == "file" {
				path = filepath.Join(b.TempDir(), "cache.db")
			}
			store, err := sqlite.New(sqlite.Options{Path: path})
			if err != nil {
				b.Fatal(err)
			}
			cache, err := yokedcache.New(yokedcache.Config{Backend: store, KeyPrefix: "bench"})
			if err != nil {
				b.Fatal(err)
			}
			defer cache.Close()
			benchCache(b, cache, store)
		})
	}
}

func benchCache(b *testing.B, cache *yokedcache.Cache, store *sqlite.Store) {
	ctx := context.Background()
	val := bytes.Repeat([]byte("v"), 100)
	keys := make([]string, 1000)
	for i := range keys {
		keys[i] = fmt.Sprintf("key:%d", i)
		if err := cache.Set(ctx, keys[i], val, yokedcache.WithTTL(time.Hour)); err != nil {
			b.Fatal(err)
		}
	}
	b.Run("Get/hit", func(b *testing.B) {
		i := 0
		for b.Loop() {
			if _, err := cache.GetBytes(ctx, keys[i%len(keys)]); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
	b.Run("Set", func(b *testing.B) {
		i := 0
		for b.Loop() {
			if err := cache.Set(ctx, keys[i%len(keys)], val, yokedcache.WithTTL(time.Hour)); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
	b.Run("Set/tagged", func(b *testing.B) {
		i := 0
		for b.Loop() {
			if err := cache.Set(ctx, keys[i%len(keys)], val, yokedcache.WithTTL(time.Hour),
				yokedcache.WithTags("t1", fmt.Sprintf("t%d", i%10))); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
	big := bytes.Repeat([]byte("b"), 16<<10)
	for i := range 100 {
		if err := cache.Set(ctx, fmt.Sprintf("big:%d", i), big, yokedcache.WithTTL(time.Hour)); err != nil {
			b.Fatal(err)
		}
	}
	b.Run("Get/16KiB", func(b *testing.B) {
		i := 0
		for b.Loop() {
			if _, err := cache.GetBytes(ctx, fmt.Sprintf("big:%d", i%100)); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
	b.Run("Set/16KiB", func(b *testing.B) {
		i := 0
		for b.Loop() {
			if err := cache.Set(ctx, fmt.Sprintf("big:%d", i%100), big, yokedcache.WithTTL(time.Hour)); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
	b.Run("GetMany100", func(b *testing.B) {
		i := 0
		for b.Loop() {
			start := (i * 100) % len(keys)
			m, err := cache.GetMany(ctx, keys[start:start+100])
			if err != nil || len(m) != 100 {
				b.Fatal(len(m), err)
			}
			i++
		}
	})
	b.Run("Get/parallel", func(b *testing.B) {
		b.RunParallel(func(pb *testing.PB) {
			i := 0
			for pb.Next() {
				if _, err := cache.GetBytes(ctx, keys[i%len(keys)]); err != nil {
					b.Error(err)
					return
				}
				i++
			}
		})
	})
	var db *sql.DB
	if !store.As(&db) {
		b.Fatal("As(**sql.DB) = false")
	}
	b.Run("raw/select", func(b *testing.B) {
		st, err := db.Prepare(`SELECT value, expires_at FROM yokedcache_entries WHERE key = ?`)
		if err != nil {
			b.Fatal(err)
		}
		defer st.Close()
		var v []byte
		var exp int64
		i := 0
		for b.Loop() {
			if err := st.QueryRow("bench:"+keys[i%len(keys)]).Scan(&v, &exp); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
	b.Run("raw/upsert", func(b *testing.B) {
		st, err := db.Prepare(`INSERT INTO yokedcache_entries (key, value, expires_at, size, ntags) VALUES (?, ?, ?, ?, 0)
			ON CONFLICT (key) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at, size = excluded.size, ntags = 0`)
		if err != nil {
			b.Fatal(err)
		}
		defer st.Close()
		i := 0
		for b.Loop() {
			if _, err := st.Exec("raw:"+keys[i%len(keys)], val, time.Now().Add(time.Hour).UnixNano(), 200); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
}

// BenchmarkStore measures the backend alone (no Cache) for comparison.
//
//	go test -run '^$' -bench BenchmarkStore -benchtime 2s ./backend/sqlite/
func BenchmarkStore(b *testing.B) {
	ctx := context.Background()
	store, err := sqlite.New(sqlite.Options{Path: filepath.Join(b.TempDir(), "cache.db")})
	if err != nil {
		b.Fatal(err)
	}
	defer store.Close()
	val := bytes.Repeat([]byte("v"), 100)
	if err := store.Set(ctx, "k", val, backend.SetOptions{TTL: time.Hour}); err != nil {
		b.Fatal(err)
	}
	b.Run("Get", func(b *testing.B) {
		for b.Loop() {
			if _, err := store.Get(ctx, "k"); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Set", func(b *testing.B) {
		for b.Loop() {
			if err := store.Set(ctx, "k", val, backend.SetOptions{TTL: time.Hour}); err != nil {
				b.Fatal(err)
			}
		}
	})
}
