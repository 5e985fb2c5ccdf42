package memcached_test

import (
	"testing"
	"time"

	"github.com/yokedcache/yokedcache/backend"
	"github.com/yokedcache/yokedcache/backend/backendtest"
	"github.com/yokedcache/yokedcache/backend/memcached"
	"github.com/yokedcache/yokedcache/internal/testserver"
)

func harness(name string, servers []string) backendtest.Harness {
	return backendtest.Harness{
		Name: name,
		New: func(t *testing.T, _ backend.Clock) (backend.Backend, error) {
			return memcached.New(memcached.Options{Servers: servers, Timeout: testTimeout})
		},
		Unsupported: map[backendtest.Feature]string{
			backendtest.FeatureScan: "memcached cannot enumerate keys (no SCAN/KEYS), so Keys, InvalidatePattern and FuzzySearch are impossible",
		},
		ServerClock:     true,
		TTLGranularity:  time.Second,
		MaxValueSize:    memcached.DefaultMaxItemSize,
		TagCountUnknown: true,
		Shared:          true,
		// The default Options.ReadNamespaceTTL.
		FlushVisibleAfter: memcached.DefaultReadNamespaceTTL,
	}
}

func TestConformanceOneServer(t *testing.T) {
	addr := testserver.SharedMemcached(t).Addr
	backendtest.Run(t, harness("memcached", []string{addr}))
}

func TestConformanceThreeServers(t *testing.T) {
	var addrs []string
	for range 3 {
		addrs = append(addrs, testserver.StartMemcached(t, testserver.MemcachedOptions{}).Addr)
	}
	backendtest.Run(t, harness("memcached-3", addrs))
}
