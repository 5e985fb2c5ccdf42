// Package bench holds yokedcache's comparison benchmarks: the Cache
// against other Go caches and against the raw clients its backends are
// built on, measured in interleaved rounds in one process (see
// internal/rounds and docs/benchmarks.md).
//
// It is a separate module so that the peers it compares against never
// enter the library's go.mod. Run from this directory:
//
//	go test -run '^$' -bench . -benchtime 2s -rounds 7
//
// Redis and memcached groups start their own servers on free loopback
// ports (internal/testserver) and are skipped when redis-server or
// memcached is not installed.
package bench
