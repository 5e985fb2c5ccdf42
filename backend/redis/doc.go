// Package redis is the Redis backend of yokedcache: standalone servers,
// Sentinel and Redis Cluster, over the rueidis client with auto-pipelining
// (see docs/redis.md for the client measurement).
//
// Create it with New(Options{...}) or from a URL with ParseURL / the
// registered URLOpener; package yokedcache opens it for Config.RedisURL.
//
// # URLs
//
//	redis://host:6379/0                        standalone, db 0 (default port 6379)
//	redis://:password@host:6379/0              password (the "default" user)
//	redis://user:password@host:6379/0          ACL user
//	rediss://host:6380/0                       TLS, certificate and host name verified
//	redis+sentinel://s1:26379,s2:26379/mymaster/0   Sentinel: sentinels, master name, db
//	rediss+sentinel://...                      Sentinel with TLS
//	redis+cluster://h1:7000,h2:7001            Cluster seed nodes (also ?addr=h3:7002, repeatable)
//	rediss+cluster://...                       Cluster with TLS
//	unix:///path/to/redis.sock?db=0            Unix socket
//
// User info in the URL authenticates with the data nodes (masters). Query
// parameters (snake_case, as the reference guide's pool options; durations
// are seconds or Go durations such as "1.5s"; unknown parameters are
// errors):
//
//	db                      database number (alternative to the path)
//	max_connections         Options.MaxConnections (default 50)
//	socket_connect_timeout  Options.ConnectTimeout (default 5s)
//	socket_timeout          Options.SocketTimeout (default 5s)
//	socket_keepalive        true|false, Options.DisableKeepAlive inverted (default true)
//	retry_on_timeout        true|false, Options.DisableRetry inverted (default true)
//	health_check_interval   Options.HealthCheckInterval (default 30s)
//	stats_scan_limit        Options.StatsScanLimit (default 100000)
//	flush_delay             Options.FlushDelay (default 20µs; 0 disables)
//	sentinel_username       Options.SentinelUsername (Sentinel URLs)
//	sentinel_password       Options.SentinelPassword (Sentinel URLs)
//	ssl_ca_certs, ca_file   PEM file of trusted CAs (default: system roots)
//	ssl_certfile, ssl_keyfile  client certificate and key (mutual TLS)
//	ssl_cert_reqs           required (default) | none: "none" skips verification, only when given explicitly
//	ssl_check_hostname      true (default) | false: verify the chain but not the host name
//	ssl_server_name         name to verify instead of the URL's host
//
// Errors match backend.ErrInvalidConfig, name the problem and never
// contain a password; Options.String redacts passwords too.
//
// # Capabilities
//
// Store implements every optional interface of package backend:
// BatchGetter (MGET; one MGET per hash slot on Cluster, pipelined),
// BatchSetter (pipelined SET PXAT), BatchDeleter (pipelined UNLINK),
// Exister, Expirer (PTTL, PEXPIRE, PERSIST), Tagger, Scanner (SCAN MATCH
// on every master), PatternDeleter (SCAN + batched UNLINK, the glob
// applied exactly), Flusher (SCAN + UNLINK of the prefix; never FLUSHDB,
// FLUSHALL or KEYS), Stater, Pinger, HealthChecker, Aser and Namer.
//
// # Tags
//
// A tag index: per tag a sorted set of the member keys scored by their
// absolute expiry (ms), plus per tagged entry a tag record (the entry key
// followed by the byte 0xFF and "t") listing its tags. Both live under the
// cache prefix, so the minimal ACL ~prefix:* covers them.
//
// A tagged Set with a TTL is one pipelined round trip (two on Cluster,
// where pipelines to different nodes are not ordered): SET key PXAT at,
// SET record PXAT at, and per tag ZADD tag at key, PEXPIREAT tag at NX,
// PEXPIREAT tag at GT (the index lives as long as its longest member) and
// ZREMRANGEBYSCORE tag -inf now (trims expired members); SetMany sends one
// ZADD of all its members per tag. No MULTI, no Lua.
// The absolute expiry "at" is the entry's identity. Every expiry the
// backend writes, with or without tags, is such an absolute time, unique
// per key within a process and computed from an estimate of the server's
// clock (PEXPIRETIME of a probe key, refreshed every minute), so TTLs stay
// right even when the clocks differ.
//
// InvalidateTags reads the indexes (ZRANGE), checks each member's
// PEXPIRETIME against the recorded score and UNLINKs, in multi-key batches
// of 512 (per slot on Cluster), only the members that are still the entry
// the index recorded: three pipelined round trips whatever the number of
// keys. So re-setting a key replaces its tags without a read-modify-write
// in Set: the old memberships simply stop matching (and are trimmed when
// their score passes), and an untagged Set costs one SET as without tags.
// A Set that completed before InvalidateTags started is always found: its
// ZADD followed its SET. A Set racing the invalidation may be deleted too
// (a miss, which is safe). Expire moves a tagged entry's identity in the
// same pipeline (index first, entry last).
//
// Entries without expiry (NoExpiry) have no expiry to identify them: their
// tags go to a plain set per tag (tag + 0xFF + "p"), and their tag record
// is checked instead; an untagged Set without expiry deletes the record.
// Delete and InvalidateTags remove those memberships.
//
// Bookkeeping is bounded: the tag records expire with their entries, the
// sorted sets are trimmed on every tagged Set and expire with their last
// member, so after tagged entries expire the index is gone without any
// sweep. Limits: tags need Redis 7.0+ (PEXPIRETIME, PEXPIREAT NX/GT);
// two processes re-setting one key within the same millisecond with the
// same TTL and different tags can over-invalidate that key (a miss); a
// Set with tags and no expiry overwritten by an untagged Set with a TTL
// leaves its record until the tag is invalidated or the prefix flushed.
//
// # Minimal ACL
//
// Every operation works for a user created with
//
//	ACL SETUSER yokedcache on >password ~yokedcache:* +@read +@write +del +expire
//
// The handshake is HELLO 3 AUTH only (no CLIENT SETNAME, SETINFO or
// TRACKING: client-side caching is off). PING is refused for that user:
// Ping and the health check treat the NOPERM reply as proof that the
// server is reachable and the credentials work. INFO is refused: Stats
// then reports no server counters and the health check takes the server
// version and role from HELLO. SELECT is refused, so such a user must use
// db 0. Cluster mode additionally needs CLUSTER SLOTS (+cluster|slots).
//
// # As
//
// As fills a *rueidis.Client with the native client, and a
// *goredis.UniversalClient (github.com/redis/go-redis/v9) with the client
// given to NewFromGoRedis.
//
// # Limits
//
// Values up to Redis's proto-max-bulk-len (512 MB by default). New dials
// the server once (rueidis does) and fails when none answers; afterwards
// lost connections are re-established on the next operation. An existing
// client can be passed in Options.Client; the backend then does not close
// it.
package redis
