package near_test

import (
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/yokedcache/yokedcache/backend"
	"github.com/yokedcache/yokedcache/backend/backendtest"
	"github.com/yokedcache/yokedcache/backend/memcached"
	"github.com/yokedcache/yokedcache/backend/memory"
	"github.com/yokedcache/yokedcache/backend/near"
	"github.com/yokedcache/yokedcache/backend/redis"
	"github.com/yokedcache/yokedcache/backend/sqlite"
	"github.com/yokedcache/yokedcache/internal/testserver"
)

// suiteTTL is the tier's local TTL in the suite: the cross-instance lag
// of the modes without notifications.
const suiteTTL = 200 * time.Millisecond

// tier wraps a backend from open in a near cache tracking the suite's
// prefixes (they all begin with "bt").
func tier(t *testing.T, clock backend.Clock, b backend.Backend, err error) (backend.Backend, error) {
	if err != nil {
		return nil, err
	}
	n, err := near.New(b, near.Options{TTL: suiteTTL, Prefix: "bt", Clock: clock})
	if err != nil {
		_ = b.Close()
		return nil, err
	}
	return n, nil
}

// The suite runs over the tier on every shared backend: each operation
// keeps its contract with local copies in front.
func TestConformanceMemory(t *testing.T) {
	backendtest.Run(t, backendtest.Harness{
		Name: "near over memory",
		New: func(t *testing.T, clock backend.Clock) (backend.Backend, error) {
			b, err := memory.New(memory.Options{Clock: clock})
			return tier(t, clock, b, err)
		},
	})
}

func TestConformanceSQLite(t *testing.T) {
	var (
		mu    sync.Mutex
		paths = map[*testing.T]string{}
	)
	backendtest.Run(t, backendtest.Harness{
		Name:             "near over sqlite shared file",
		Shared:           true,
		CrossInstanceLag: suiteTTL,
		New: func(t *testing.T, clock backend.Clock) (backend.Backend, error) {
			mu.Lock()
			p, ok := paths[t]
			if !ok {
				p = filepath.Join(t.TempDir(), "cache.db")
				paths[t] = p
				t.Cleanup(func() { mu.Lock(); delete(paths, t); mu.Unlock() })
			}
			mu.Unlock()
			b, err := sqlite.New(sqlite.Options{Path: p, Clock: clock})
			return tier(t, clock, b, err)
		},
	})
}

func TestConformanceMemcached(t *testing.T) {
	addr := testserver.SharedMemcached(t).Addr
	backendtest.Run(t, backendtest.Harness{
		Name: "near over memcached",
		New: func(t *testing.T, clock backend.Clock) (backend.Backend, error) {
			b, err := memcached.New(memcached.Options{Servers: []string{addr}, Timeout: 5 * time.Second})
			return tier(t, clock, b, err)
		},
		Unsupported: map[backendtest.Feature]string{
			backendtest.FeatureScan: "memcached cannot enumerate keys",
		},
		ServerClock:       true,
		TTLGranularity:    time.Second,
		MaxValueSize:      memcached.DefaultMaxItemSize,
		TagCountUnknown:   true,
		Shared:            true,
		FlushVisibleAfter: memcached.DefaultReadNamespaceTTL,
		CrossInstanceLag:  suiteTTL,
	})
}

func redisHarness(name string, opts func() redis.Options) backendtest.Harness {
	return backendtest.Harness{
		Name: name,
		New: func(t *testing.T, clock backend.Clock) (backend.Backend, error) {
			b, err := redis.New(opts())
			return tier(t, clock, b, err)
		},
		ServerClock:    true,
		TTLGranularity: time.Millisecond,
		Shared:         true,
		// Notifications arrive within milliseconds (tracking), or the
		// local TTL bounds the copies (before tracking is live).
		CrossInstanceLag: suiteTTL,
	}
}

func TestConformanceRedis(t *testing.T) {
	srv := testserver.StartRedis(t, testserver.RedisOptions{})
	backendtest.Run(t, redisHarness("near over redis", func() redis.Options {
		return redis.Options{Addrs: []string{srv.Addr}}
	}))
}

func TestConformanceRedisCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: cluster topology")
	}
	c := testserver.StartCluster(t, 3)
	backendtest.Run(t, redisHarness("near over redis cluster", func() redis.Options {
		return redis.Options{Mode: redis.Cluster, Addrs: c.Addrs}
	}))
}
