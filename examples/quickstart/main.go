// Command quickstart shows the main yokedcache flows on the zero-setup
// in-process memory backend: set and get, typed reads, get-or-load with
// stampede protection, tags, patterns, fuzzy search, stats and health.
//
//	go run ./examples/quickstart
//
// Set YOKEDCACHE_REDIS_URL (or YOKEDCACHE_URL) to run the same code on
// another backend: only the configuration changes.
package main

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/yokedcache/yokedcache"
)

type User struct {
	ID    int    `json:"id"`
	Name  string `json:"name"`
	Email string `json:"email"`
}

func main() {
	if err := run(context.Background()); err != nil {
		log.Fatal(err)
	}
}

func run(ctx context.Context) error {
	cfg := yokedcache.Config{
		KeyPrefix: "quickstart",
		URL:       os.Getenv("YOKEDCACHE_URL"),
		RedisURL:  os.Getenv("YOKEDCACHE_REDIS_URL"),
	}
	cache, err := yokedcache.New(cfg)
	if err != nil {
		return err
	}
	defer cache.Close()
	fmt.Printf("backend: %s\n", cache.Backend())

	// Set and Get, with a TTL and tags.
	alice := User{ID: 1, Name: "Alice", Email: "alice@example.com"}
	if err := cache.Set(ctx, "user:1", alice, yokedcache.WithTTL(10*time.Minute), yokedcache.WithTags("users", "team:blue")); err != nil {
		return err
	}
	u, err := yokedcache.Get[User](ctx, cache, "user:1")
	if err != nil {
		return err
	}
	fmt.Printf("get user:1 -> %+v\n", u)

	// A miss is an error matching ErrNotFound.
	if _, err := yokedcache.Get[User](ctx, cache, "user:404"); errors.Is(err, yokedcache.ErrNotFound) {
		fmt.Println("get user:404 -> miss")
	}

	// Get-or-load: 20 concurrent callers, one load.
	var loads atomic.Int32
	var wg sync.WaitGroup
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := yokedcache.Fetch(ctx, cache, "user:2", func(ctx context.Context) (User, error) {
				loads.Add(1)
				time.Sleep(50 * time.Millisecond) // a slow database query
				return User{ID: 2, Name: "Bob", Email: "bob@example.com"}, nil
			}, yokedcache.WithTags("users"))
			if err != nil {
				log.Print(err)
			}
		}()
	}
	wg.Wait()
	fmt.Printf("fetch user:2 by 20 callers -> loader ran %d time(s)\n", loads.Load())

	// Batch operations.
	if err := cache.SetMany(ctx, map[string]any{
		"product:1": "keyboard", "product:2": "mouse", "product:3": "monitor",
	}, yokedcache.WithTags("products")); err != nil {
		return err
	}
	products, err := yokedcache.GetMany[string](ctx, cache, []string{"product:1", "product:2", "product:9"})
	if err != nil {
		return err
	}
	fmt.Printf("get many -> %d hits: %s, %s\n", len(products), products["product:1"], products["product:2"])

	// Fuzzy search over keys.
	results, err := cache.FuzzySearch(ctx, "prodct", yokedcache.WithThreshold(70), yokedcache.WithMaxResults(3))
	if err != nil {
		return err
	}
	for _, r := range results {
		var v string
		_ = r.Decode(&v)
		fmt.Printf("search 'prodct' -> %s (score %d) = %s\n", r.Key, r.Score, v)
	}

	// Invalidate by tag and by pattern.
	n, err := cache.InvalidateTags(ctx, "users")
	if err != nil {
		return err
	}
	fmt.Printf("invalidate tag users -> %d entries\n", n)
	n, err = cache.InvalidatePattern(ctx, "product:[12]")
	if err != nil {
		return err
	}
	fmt.Printf("invalidate pattern product:[12] -> %d entries\n", n)
	for k, err := range cache.Keys(ctx, "*") {
		if err != nil {
			return err
		}
		fmt.Printf("remaining key: %s\n", k)
	}

	st, err := cache.Stats(ctx)
	if err != nil {
		return err
	}
	fmt.Printf("stats: hits=%d misses=%d sets=%d keys=%d (%s)\n", st.Hits, st.Misses, st.Sets, st.Keys, st.Scope)
	h := cache.DetailedHealthCheck(ctx)
	fmt.Printf("health: %s (%s, probe %v)\n", h.Status, h.Backend, h.Latency.Round(time.Microsecond))
	return cache.Flush(ctx)
}
