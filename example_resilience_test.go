package yokedcache_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/yokedcache/yokedcache"
	"github.com/yokedcache/yokedcache/yokedcachetest"
)

// FetchMany reads every key in one GetMany and calls the loader once
// with the keys that missed; results come back in key order, each with
// its own error.
func ExampleFetchMany() {
	ctx := context.Background()
	cache, err := yokedcache.New(yokedcache.Config{})
	if err != nil {
		panic(err)
	}
	defer cache.Close()
	_ = cache.Set(ctx, "user:1", Profile{ID: 1, Name: "Alice"})

	db := map[string]Profile{"user:2": {ID: 2, Name: "Bob"}}
	load := func(ctx context.Context, missing []string) (map[string]Profile, error) {
		fmt.Println("loading", missing)
		out := map[string]Profile{}
		for _, k := range missing {
			if p, ok := db[k]; ok {
				out[k] = p
			}
		}
		return out, nil
	}
	rs, err := yokedcache.FetchMany(ctx, cache, []string{"user:1", "user:2", "user:3"}, load)
	if err != nil {
		panic(err)
	}
	for _, r := range rs {
		fmt.Println(r.Key, r.Value.Name, errors.Is(r.Err, yokedcache.ErrNotFound))
	}
	// Output:
	// loading [user:2 user:3]
	// user:1 Alice false
	// user:2 Bob false
	// user:3  true
}

// With WithStaleWhileRevalidate a value past its TTL is served at once
// while one background load refreshes it.
func ExampleWithStaleWhileRevalidate() {
	ctx := context.Background()
	clock := yokedcachetest.NewClock(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)) // a fake clock, to skip time
	cache, err := yokedcache.New(yokedcache.Config{Clock: clock})
	if err != nil {
		panic(err)
	}
	defer cache.Close()
	version := 0
	load := func(context.Context) (int, error) { version++; return version, nil }
	opts := []yokedcache.SetOption{yokedcache.WithTTL(time.Minute), yokedcache.WithStaleWhileRevalidate(time.Hour)}

	v, _ := yokedcache.Fetch(ctx, cache, "config", load, opts...)
	fmt.Println("first:", v)
	clock.Advance(2 * time.Minute) // stale, within the window
	v, _ = yokedcache.Fetch(ctx, cache, "config", load, opts...)
	fmt.Println("stale, served at once:", v)
	// Output:
	// first: 1
	// stale, served at once: 1
}
