package yokedcache_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/yokedcache/yokedcache"
)

type Profile struct {
	ID   int    `json:"id"`
	Name string `json:"name"`
}

// The zero Config gives an in-process memory cache.
func Example() {
	ctx := context.Background()
	cache, err := yokedcache.New(yokedcache.Config{})
	if err != nil {
		panic(err)
	}
	defer cache.Close()

	_ = cache.Set(ctx, "user:1", Profile{ID: 1, Name: "Alice"}, yokedcache.WithTTL(time.Minute))
	p, err := yokedcache.Get[Profile](ctx, cache, "user:1")
	fmt.Println(p.Name, err)

	_, err = yokedcache.Get[Profile](ctx, cache, "user:2")
	fmt.Println(errors.Is(err, yokedcache.ErrNotFound))
	// Output:
	// Alice <nil>
	// true
}

func ExampleFetch() {
	ctx := context.Background()
	cache, _ := yokedcache.New(yokedcache.Config{})
	defer cache.Close()

	loads := 0
	load := func(ctx context.Context) (Profile, error) {
		loads++
		return Profile{ID: 7, Name: "Grace"}, nil
	}
	for range 3 {
		p, err := yokedcache.Fetch(ctx, cache, "user:7", load, yokedcache.WithTTL(time.Minute))
		fmt.Println(p.Name, err)
	}
	fmt.Println("loads:", loads)
	// Output:
	// Grace <nil>
	// Grace <nil>
	// Grace <nil>
	// loads: 1
}

func ExampleCache_InvalidateTags() {
	ctx := context.Background()
	cache, _ := yokedcache.New(yokedcache.Config{})
	defer cache.Close()

	_ = cache.Set(ctx, "user:1", "Alice", yokedcache.WithTags("users"))
	_ = cache.Set(ctx, "user:2", "Bob", yokedcache.WithTags("users", "admins"))
	_ = cache.Set(ctx, "config", "v1")

	n, _ := cache.InvalidateTags(ctx, "users")
	fmt.Println("invalidated:", n)
	ok, _ := cache.Exists(ctx, "config")
	fmt.Println("config still cached:", ok)
	// Output:
	// invalidated: 2
	// config still cached: true
}

func ExampleCache_InvalidatePattern() {
	ctx := context.Background()
	cache, _ := yokedcache.New(yokedcache.Config{})
	defer cache.Close()

	for _, k := range []string{"page:1", "page:2", "page:10", "user:1"} {
		_ = cache.Set(ctx, k, "x")
	}
	n, _ := cache.InvalidatePattern(ctx, "page:?")
	fmt.Println("deleted:", n)
	for k := range cache.Keys(ctx, "page:*") {
		fmt.Println("left:", k)
	}
	// Output:
	// deleted: 2
	// left: page:10
}

func ExampleCache_FuzzySearch() {
	ctx := context.Background()
	cache, _ := yokedcache.New(yokedcache.Config{})
	defer cache.Close()

	_ = cache.Set(ctx, "product:keyboard", 49)
	_ = cache.Set(ctx, "product:mouse", 19)
	_ = cache.Set(ctx, "user:alice", 1)

	results, _ := cache.FuzzySearch(ctx, "keybord", yokedcache.WithThreshold(80))
	for _, r := range results {
		var price int
		_ = r.Decode(&price)
		fmt.Println(r.Key, r.Score, price)
	}
	// Output:
	// product:keyboard 86 49
}

// The README's search: "usr" scores 67 against "user:1", so it needs a
// threshold below the default 80.
func ExampleWithThreshold() {
	ctx := context.Background()
	cache, _ := yokedcache.New(yokedcache.Config{})
	defer cache.Close()

	_ = cache.Set(ctx, "user:1", "Alice")
	_ = cache.Set(ctx, "user:2", "Bob")

	results, _ := cache.FuzzySearch(ctx, "usr")
	fmt.Println(len(results))
	results, _ = cache.FuzzySearch(ctx, "usr", yokedcache.WithThreshold(60))
	for _, r := range results {
		fmt.Println(r.Key, r.Score)
	}
	// Output:
	// 0
	// user:1 67
	// user:2 67
}

func ExampleCache_GetMany() {
	ctx := context.Background()
	cache, _ := yokedcache.New(yokedcache.Config{})
	defer cache.Close()

	_ = cache.SetMany(ctx, map[string]any{"a": 1, "b": 2})
	got, _ := yokedcache.GetMany[int](ctx, cache, []string{"a", "b", "c"})
	fmt.Println(len(got), got["a"], got["b"])
	// Output:
	// 2 1 2
}

func ExampleCache_DetailedHealthCheck() {
	ctx := context.Background()
	cache, _ := yokedcache.New(yokedcache.Config{})
	defer cache.Close()

	h := cache.DetailedHealthCheck(ctx)
	fmt.Println(h.Status, h.Backend)
	// Output:
	// healthy memory
}
