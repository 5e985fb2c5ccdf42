package yokedcache_test

import (
	"context"
	"testing"

	"github.com/yokedcache/yokedcache"
	"github.com/yokedcache/yokedcache/backend/memory"
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

// TestGetManyPartial: with one route's backend down, GetMany still returns
// the other routes' hits, with an error naming the failure.
func TestGetManyPartial(t *testing.T) {
	ctx := context.Background()
	dead, err := memory.New(memory.Options{})
	if err != nil {
		t.Fatal(err)
	}
	c, err := yokedcache.New(yokedcache.Config{Routes: []yokedcache.Route{{Prefix: "dead:", Backend: dead}}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, k := range []string{"a", "b", "dead:x"} {
		if err := c.Set(ctx, k, "v-"+k); err != nil {
			t.Fatal(err)
		}
	}
	dead.Close() // the route's backend goes away
	m, err := c.GetMany(ctx, []string{"a", "dead:x", "b", "missing"})
	if err == nil {
		t.Fatal("GetMany with a dead route: no error")
	}
	str := func(v yokedcache.Value) string {
		var s string
		if err := v.Decode(&s); err != nil {
			return err.Error()
		}
		return s
	}
	if len(m) != 2 || str(m["a"]) != "v-a" || str(m["b"]) != "v-b" {
		t.Fatalf("GetMany with a dead route = %v; want the hits a and b from the live route", m)
	}
	typed, err := yokedcache.GetMany[string](ctx, c, []string{"a", "dead:x"})
	if err == nil || typed["a"] != "v-a" || len(typed) != 1 {
		t.Fatalf("GetMany[string] = %v, %v; want {a: v-a} and an error", typed, err)
	}
}
