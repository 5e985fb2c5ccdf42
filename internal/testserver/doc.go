// Package testserver starts real redis-server and memcached processes on
// free loopback ports for tests, and stops them.
//
// Every server gets its own temporary directory (config, log,
// certificates), keeps no data on disk (no RDB, no AOF) and is killed by
// the test's cleanup. On Linux servers also get SIGKILL when the test
// binary dies, so none outlives a crashed run. Servers are waited for
// until they accept connections and answer (PING, memcached "version"),
// at most 10 s; a failure reports the server's log.
//
// # Binaries
//
// redis-server and memcached are looked up on PATH and in /usr/sbin,
// /usr/bin, /usr/local/bin and /usr/local/sbin. When one is missing the
// test is skipped, or fails when the environment variable CI is "true" or
// "1". Install them with
//
//	apt-get install -y redis-server memcached
//
// or run `make test`, which calls scripts/test-deps.sh.
//
// # Topologies
//
//   - StartRedis: standalone, optionally with requirepass, ACL users
//     and TLS (generated CA, server and client certificates).
//   - StartSentinel: a master, a replica and three sentinels.
//   - StartCluster: a Redis Cluster of N masters without replicas, slots
//     assigned, state ok on every node.
//   - StartMemcached: memcached on TCP only.
//   - SharedRedis, SharedMemcached: one server per test binary, for speed.
//     Packages using them must call Main from TestMain.
//
// Admin commands use a minimal built-in RESP client, so the package does
// not depend on any Redis client library.
package testserver
