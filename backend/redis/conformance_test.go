package redis_test

import (
	"testing"
	"time"

	"github.com/yokedcache/yokedcache/backend"
	"github.com/yokedcache/yokedcache/backend/backendtest"
	"github.com/yokedcache/yokedcache/backend/redis"
	"github.com/yokedcache/yokedcache/internal/testserver"
)

func harness(name string, opts func(t *testing.T) redis.Options) backendtest.Harness {
	return backendtest.Harness{
		Name: name,
		New: func(t *testing.T, _ backend.Clock) (backend.Backend, error) {
			return redis.New(opts(t))
		},
		ServerClock:    true,
		TTLGranularity: time.Millisecond,
		Shared:         true,
	}
}

func TestConformanceStandalone(t *testing.T) {
	srv := testserver.StartRedis(t, testserver.RedisOptions{})
	backendtest.Run(t, harness("redis standalone", func(t *testing.T) redis.Options {
		return redis.Options{Addrs: []string{srv.Addr}}
	}))
}

func TestConformanceSentinel(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: sentinel topology")
	}
	s := testserver.StartSentinel(t, testserver.SentinelOptions{})
	backendtest.Run(t, harness("redis sentinel", func(t *testing.T) redis.Options {
		return redis.Options{Mode: redis.Sentinel, Addrs: s.Addrs, MasterName: s.MasterName}
	}))
}

func TestConformanceCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: cluster topology")
	}
	c := testserver.StartCluster(t, 3)
	backendtest.Run(t, harness("redis cluster", func(t *testing.T) redis.Options {
		return redis.Options{Mode: redis.Cluster, Addrs: c.Addrs}
	}))
}
