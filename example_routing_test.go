package yokedcache_test

import (
	"context"
	"fmt"
	"time"

	"github.com/yokedcache/yokedcache"
	"github.com/yokedcache/yokedcache/backend"
	"github.com/yokedcache/yokedcache/backend/memory"
)

// The reference guide's per-prefix routing example. In production the
// default, session and analytics backends would be Redis
// (redis.New / URLs such as "redis://redis:6379/0"); here every backend is
// an in-process memory store so that the example runs anywhere.
func ExampleRoute() {
	ctx := context.Background()
	newMemory := func(maxSize int) backend.Backend {
		b, err := memory.New(memory.Options{MaxSize: maxSize})
		if err != nil {
			panic(err)
		}
		return b
	}
	def := newMemory(0)       // redis://redis:6379/0 in production
	hot := newMemory(1000)    // "hot:*" keys in process memory
	session := newMemory(0)   // redis://session-redis:6379/0
	analytics := newMemory(0) // redis://redis:6379/1

	cache, err := yokedcache.New(yokedcache.Config{
		Backend: def, // the default route
		Routes: []yokedcache.Route{
			{Prefix: "hot", Backend: hot, DefaultTTL: time.Minute},
			{Prefix: "session", Backend: session},
			{Prefix: "analytics", Backend: analytics},
		},
	})
	if err != nil {
		panic(err)
	}
	defer cache.Close() // closes every backend once

	_ = cache.Set(ctx, "hot:config", map[string]bool{"dark_mode": true}, yokedcache.WithTTL(60*time.Second)) // → memory
	_ = cache.Set(ctx, "session:abc123", "session data", yokedcache.WithTTL(30*time.Minute))                 // → session store
	_ = cache.Set(ctx, "user:42", "user data", yokedcache.WithTTL(5*time.Minute))                            // → default

	// Where did each key land? Ask the backends directly (stored keys carry the prefix).
	for _, key := range []string{"hot:config", "session:abc123", "user:42"} {
		for name, b := range map[string]backend.Backend{"hot": hot, "session": session, "default": def} {
			if _, err := b.Get(ctx, "yokedcache:"+key); err == nil {
				fmt.Printf("%s → %s\n", key, name)
			}
		}
	}
	fmt.Println("backend:", cache.Backend())
	st, _ := cache.Stats(ctx)
	fmt.Println("keys across routes:", st.Keys)
	for _, r := range st.Routes {
		fmt.Printf("route %q (%s): %d keys\n", r.Route, r.Backend, r.Keys)
	}
	// Output:
	// hot:config → hot
	// session:abc123 → session
	// user:42 → default
	// backend: router
	// keys across routes: 3
	// route "" (memory): 1 keys
	// route "analytics" (memory): 0 keys
	// route "hot" (memory): 1 keys
	// route "session" (memory): 1 keys
}
