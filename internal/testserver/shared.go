package testserver

import (
	"context"
	"fmt"
	"os"
	"sync"
	"testing"
)

// Shared servers: one per test binary, started on first use and stopped by
// Main. They are the only package-level state here.
var shared struct {
	mu        sync.Mutex
	redis     *Redis
	memcached *Memcached
	dirs      []string
}

func sharedFatalf(format string, args ...any) {
	panic(fmt.Sprintf("testserver: shared server: "+format, args...))
}

// SharedRedis returns a plain standalone Redis server shared by all tests
// of the test binary, starting it on first use. Tests must not stop,
// restart or reconfigure it, and should use unique key prefixes (they may
// run in parallel). Packages that use it must call Main from TestMain so
// the server is stopped and its directory removed; without Main the
// process still dies with the test binary (on Linux) but its temporary
// directory is left behind.
func SharedRedis(tb testing.TB) *Redis {
	tb.Helper()
	bin := RequireBinary(tb, "redis-server")
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if shared.redis != nil {
		return shared.redis
	}
	dir, err := os.MkdirTemp("", "testserver-redis-")
	if err != nil {
		tb.Fatal(err)
	}
	r, err := newRedisIn(dir, bin, "shared redis", RedisOptions{}, sharedFatalf)
	if err == nil {
		err = r.startNew(context.Background())
	}
	if err != nil {
		os.RemoveAll(dir)
		tb.Fatal(err)
	}
	shared.dirs = append(shared.dirs, dir)
	shared.redis = r
	return r
}

// SharedMemcached is SharedRedis for memcached (default options).
func SharedMemcached(tb testing.TB) *Memcached {
	tb.Helper()
	bin := RequireBinary(tb, "memcached")
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if shared.memcached != nil {
		return shared.memcached
	}
	dir, err := os.MkdirTemp("", "testserver-memcached-")
	if err != nil {
		tb.Fatal(err)
	}
	m := &Memcached{Dir: dir, bin: bin, fatalf: sharedFatalf}
	err = m.init(MemcachedOptions{})
	if err == nil {
		err = m.startNew(context.Background())
	}
	if err != nil {
		os.RemoveAll(dir)
		tb.Fatal(err)
	}
	shared.dirs = append(shared.dirs, dir)
	shared.memcached = m
	return m
}

// StopShared stops the shared servers and removes their directories. Main
// calls it; call it yourself from a custom TestMain instead of Main.
func StopShared() {
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if shared.redis != nil {
		shared.redis.Stop()
		shared.redis = nil
	}
	if shared.memcached != nil {
		shared.memcached.Stop()
		shared.memcached = nil
	}
	for _, d := range shared.dirs {
		os.RemoveAll(d)
	}
	shared.dirs = nil
}

// Main runs the tests, stops the shared servers and exits. Packages that
// use SharedRedis or SharedMemcached call it from TestMain:
//
//	func TestMain(m *testing.M) { testserver.Main(m) }
func Main(m *testing.M) {
	code := m.Run()
	StopShared()
	os.Exit(code)
}
