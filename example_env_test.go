package yokedcache_test

import (
	"fmt"
	"os"

	"github.com/yokedcache/yokedcache"
)

// Environment-based backend selection: Redis when YOKEDCACHE_REDIS_URL is
// set (export YOKEDCACHE_REDIS_URL=redis://localhost:6379/0), the memory
// backend otherwise.
func ExampleFromEnv() {
	cfg, err := yokedcache.FromEnv()
	if err != nil {
		panic(err) // a malformed YOKEDCACHE_* value, named in the error
	}
	cache, err := yokedcache.New(cfg)
	if err != nil {
		panic(err)
	}
	defer cache.Close()
	fmt.Println(cache.Backend())
	// Output: memory
}

// The "more explicit" variant: choose by deployment environment in code.
func ExampleConfig_environment() {
	env := os.Getenv("APP_ENV")
	if env == "" {
		env = "development"
	}
	cfg := yokedcache.Config{KeyPrefix: env + "_myapp"}
	if env == "production" {
		cfg.RedisURL = "redis://redis:6379/0"
	}
	cache, err := yokedcache.New(cfg)
	if err != nil {
		panic(err)
	}
	defer cache.Close()
	fmt.Println(cache.Backend(), cache.KeyPrefix())
	// Output: memory development_myapp
}
