package goredis_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/yokedcache/yokedcache"
	"github.com/yokedcache/yokedcache/backend"
	ycgoredis "github.com/yokedcache/yokedcache/backend/goredis"
	"github.com/yokedcache/yokedcache/backend/redis"
	"github.com/yokedcache/yokedcache/internal/testserver"
)

const aclUser = "yokedcache on >password ~yokedcache:* +@read +@write +del +expire"

func TestNew(t *testing.T) {
	srv := testserver.StartRedis(t, testserver.RedisOptions{Users: []string{aclUser}})
	gr := goredis.NewClient(&goredis.Options{Addr: srv.Addr, Username: "yokedcache", Password: "password", DialTimeout: time.Second})
	defer gr.Close()
	b, err := ycgoredis.New(gr, redis.Options{})
	if err != nil {
		t.Fatal(err)
	}
	c, err := yokedcache.New(yokedcache.Config{Backend: b})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Set(t.Context(), "k", "v", yokedcache.WithTags("t")); err != nil {
		t.Fatal(err)
	}
	// The value is visible through the caller's go-redis client.
	if n, err := gr.Exists(t.Context(), "yokedcache:k").Result(); err != nil || n != 1 {
		t.Fatalf("go-redis EXISTS = %d, %v", n, err)
	}
	var u goredis.UniversalClient
	if !c.As(&u) || u != gr {
		t.Fatal("As(*goredis.UniversalClient) did not return the caller's client")
	}
	ring := goredis.NewRing(&goredis.RingOptions{Addrs: map[string]string{"a": srv.Addr}})
	defer ring.Close()
	if _, err := ycgoredis.New(ring, redis.Options{}); !errors.Is(err, backend.ErrInvalidConfig) {
		t.Fatalf("ring = %v; want ErrInvalidConfig", err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if err := gr.Ping(t.Context()).Err(); err != nil && !strings.Contains(err.Error(), "NOPERM") {
		t.Fatalf("the caller's client was closed: %v", err)
	}
}
