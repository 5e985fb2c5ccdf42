package yokedcache_test

import (
	"context"
	"testing"

	"github.com/yokedcache/yokedcache"
	"github.com/yokedcache/yokedcache/internal/testserver"
)

// TestRedisURLBuiltIn: Config.RedisURL works with nothing but the root
// package imported (this test package imports no backend).
func TestRedisURLBuiltIn(t *testing.T) {
	srv := testserver.SharedRedis(t)
	ctx := context.Background()
	c, err := yokedcache.New(yokedcache.Config{RedisURL: "redis://" + srv.Addr + "/0", KeyPrefix: "builtin"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if got := c.Backend(); got != "redis" {
		t.Fatalf("Backend() = %q, want redis", got)
	}
	if err := c.Set(ctx, "k", "v"); err != nil {
		t.Fatal(err)
	}
	if got, err := yokedcache.Get[string](ctx, c, "k"); err != nil || got != "v" {
		t.Fatalf("Get = %q, %v", got, err)
	}
	if err := c.Flush(ctx); err != nil {
		t.Fatal(err)
	}
}
