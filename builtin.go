//go:build !yokedcache_noredis

package yokedcache

// The Redis backend is built in, so that Config.RedisURL, YOKEDCACHE_REDIS_URL
// and redis://, rediss://, redis+sentinel://, redis+cluster:// and unix://
// URLs work without importing backend/redis: switching from memory to
// Redis changes only the Config. The memory backend is built in too
// (cache.go). Memcached, disk and SQLite register their URL schemes when
// their packages are imported.
//
// A program that never uses Redis can drop it (and its client library,
// about 5 MB of binary) with the build tag yokedcache_noredis; it can
// still use Redis by importing backend/redis itself.
import _ "github.com/yokedcache/yokedcache/backend/redis"
