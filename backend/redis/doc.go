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
//	compat                  python: share the cache with the Python original (Options.Compat; see "Python compatibility")
//	publish_invalidations   true|false, Options.PublishInvalidations (default false; see "Near cache support")
//
// Errors match backend.ErrInvalidConfig, name the problem and never
// contain a password; Options.String redacts passwords too.
//
// # Capabilities
//
// Store implements every optional interface of package backend:
// BatchGetter (MGET; one MGET per hash slot on Cluster, pipelined),
// BatchSetter (pipelined SET PX), BatchDeleter (pipelined UNLINK, with
// GETRANGE and PTTL to find tags), Expirer (PEXPIRE, PERSIST),
// Tagger, Scanner (SCAN MATCH
// on every master), PatternDeleter (SCAN + batched UNLINK, the glob
// applied exactly), Flusher (SCAN + UNLINK of the prefix; never FLUSHDB,
// FLUSHALL or KEYS), Stater, Pinger, HealthChecker, Aser, Namer,
// TTLReader (GET or MGET with PTTL, pipelined: one round trip) and
// Tracker (see "Near cache support").
//
// # Tags
//
// Per tag two sorted sets of member keys scored by their absolute expiry
// (ms): the tag identifier itself for entries stored in at most 512
// bytes, and the identifier followed by 0xFF and "L" for larger ones. A
// tagged entry's value is stored with its tag list in front (the byte
// 0xFE, the list's length as a uvarint, the list), which Get strips; an
// untagged value that starts with 0xFE gets an empty list, so every value
// reads back as written. Everything lives under the cache prefix, so the
// minimal ACL ~prefix:* covers it.
//
// A tagged Set with a TTL is one pipelined round trip (ordered pipelines on
// Cluster, where pipelines to different nodes are not ordered): per tag
// PEXPIREAT index at GT, ZADD index at key, PEXPIREAT index at NX (the
// index lives as long as its longest member) and ZREMRANGEBYSCORE index
// -inf (now-1s) (trims expired members), then SET key PXAT at: the index
// first, so a failed write never leaves an entry no index records.
// SetMany sends one ZADD of all its members per index. No MULTI, no Lua. "at" is
// computed from an estimate of the server's clock (PEXPIRETIME of a probe
// key, refreshed every minute). An untagged Set is one SET PX.
//
// InvalidateTags trims and reads the indexes (ZRANGE), then reads what
// each member holds now (MGET of the small-value index, GETRANGE of the
// first 128 bytes for the large one) and UNLINKs, in multi-key batches of
// 512 (per slot on Cluster), the members whose stored tag list still has
// the tag, in chunks with several pipelines in flight. The value and its
// tags are written by one SET, so re-setting a key replaces its tags
// without a read-modify-write in Set: the old memberships simply stop
// matching (and are trimmed when their score passes). A Set that
// completed before InvalidateTags started is always found. A Set racing
// the invalidation may be deleted too (a miss, which is safe). Expire
// changes the expiry, then records the entry as it is now in its tags'
// indexes.
//
// Entries without expiry (NoExpiry) are recorded in a plain set per tag
// (tag + 0xFF + "p"), written after the entry, and checked the same way.
// Delete, Expire and InvalidateTags (after its deletes) remove a
// membership, then read the key again and record it back if a concurrent
// Set stored it meanwhile. Writes of such entries also sample two random
// members per entry written (SRANDMEMBER), and a background sweep samples
// each set this Store wrote to every minute, dropping stale members (keys
// since re-set with a TTL, untagged or with other tags); Close stops it.
// Index scores only grow (ZADD GT), so a write based on an older read
// never lets a live member be trimmed.
//
// Bookkeeping is bounded: the sorted sets are trimmed on every tagged Set
// and expire with their last member, so after tagged entries expire the
// index is gone without any sweep; the sets of entries without expiry stay
// within about twice their live members under writes and lose their stale
// members within minutes without. Tags need Redis 7.0+
// (PEXPIRETIME, PEXPIREAT NX/GT).
//
// # Python compatibility
//
// With Options.Compat = CompatPython (URL parameter compat=python) the
// Store shares its keys with the Python original, YokedCache 1.0.2: it
// translates at its boundary, so the Cache above is unchanged. Set stores
// the value in Python's envelope (0x89 'Y' 'c' 0x01, method byte, JSON in
// orjson's canonical form; []byte as msgpack bin) and records tags in a
// Redis set per tag, "<prefix>:tags:<tag>", with Python's TTL rule (the
// latest tagged write's TTL + 60 s). Get and GetMany turn Python's JSON and
// msgpack values (and bare JSON) into the Cache's envelope; a stored null
// is a miss; a pickle is never interpreted: it is a miss matching
// ErrCorrupt, counted in Stats Extra["python_pickle_refused"] and logged
// once. Keys are cleaned as Python cleans them. InvalidateTags deletes the
// members of the tags' Python sets (and entries in this package's own
// layout); Scan and DeletePattern skip Python's tag sets; Flush removes
// them with everything else under the prefix. docs/python.md has the
// details, the guarantees of each mode and how to migrate a fleet.
//
// # Near cache support
//
// A near cache (package backend/near) keeps local copies of entries and
// needs to hear when they change. Store.Track(prefix, h) follows the
// keys beginning with prefix in a background goroutine; it never dials
// (the Store connects lazily inside it, retrying with a backoff of 50 ms
// doubling to 2 s, with jitter). Tracking.Status reports the mode,
// whether notifications flow (Live), the counts, the stream lag and the
// last error. Every time notifications stop or start again the handler's
// Reset is called first. Tracking.Stop and Store.Close stop it. Two modes:
//
// Mode "tracking" (preferred): a dedicated connection (one per master on
// Cluster, each with its own) runs CLIENT TRACKING ON BCAST PREFIX
// <prefix>, and the server pushes the names of the keys written, deleted,
// expired or evicted, by any client (redis-cli and other programs
// included), typically within milliseconds. FLUSHALL/FLUSHDB and a lost
// connection call Reset. The connections are PINGed every
// Options.TrackPingInterval (default 500 ms) with a timeout of
// Options.TrackPingTimeout (default 1 s), so a partition or a hung server
// is detected within about interval + timeout: Live turns false, Reset is
// called and the tracking reconnects. On Cluster a change of the node
// set (failover, resharding) reconnects too. Internal keys (0xFF) and
// keys outside the prefix are never delivered.
//
// Mode "stream": when the server refuses CLIENT TRACKING (NOPERM for the
// minimal ACL user below, an unknown command on a proxy or an old
// server), the tracking follows an invalidation stream instead, with
// XREAD BLOCK 1000 COUNT 512 on a dedicated connection (a read timing
// out after 1 s + TrackPingTimeout counts as a lost connection). The
// stream of a key is its first segment up to the first ':', then 0xFF
// and "near:stream" ("yokedcache:" 0xFF "near:stream" for the Cache's
// default prefix), so the minimal ACL's ~yokedcache:* covers it and it is
// an internal key: Scan skips it, DeletePattern and Flush keep it (a
// recreated stream would restart the entry IDs its readers follow; a
// reader that finds it deleted or recreated anyway calls Reset and reads
// the new stream from its start). Entries hold "k" fields
// (changed keys, up to 1000 per entry) or one "a" field (every key under
// that prefix may have changed: Flush, or a deletion of more than 1000
// keys), and the stream is capped with XADD MAXLEN ~ Options.StreamMaxLen
// (default 10 000). A reader that falls behind past the trimmed head, or
// sees the stream recreated, calls Reset. Lag is the age of the last
// entry read, by the server's clock (estimated, see "Tags") or this
// machine's.
//
// Only yokedcache writers that publish are seen in stream mode: a Store
// whose own Track fell back to the stream, or one opened with
// Options.PublishInvalidations (URL parameter publish_invalidations=true).
// Such a Store adds an XADD after every write (Set, SetMany, Delete,
// DeleteMany, Expire, InvalidateTags and DeletePattern with the keys they
// deleted, Flush with an "a" entry): in the same pipeline on one
// connection (executed in order, no extra round trip), in a second round
// trip on Cluster (a pipeline across nodes is not ordered). A Store that
// does not publish costs nothing (one atomic load per write). Changes by
// other clients, or by a writer whose XADD was lost with its connection,
// are bounded only by the near cache's local TTL. Every process of a
// fleet using stream mode should therefore set publish_invalidations.
//
// The mode is decided on the tracking's first connection and kept until
// Stop. Each tracking holds its own dedicated connections (one, or one
// per master on Cluster), taken from the pool Options.MaxConnections
// bounds.
//
// In compat mode (Options.Compat) Track returns an error matching
// backend.ErrUnsupported: Python's key cleaning would report keys the
// Cache does not know. GetTTL and GetManyTTL work in compat mode, with
// the same key mapping and value translation as Get.
//
// # Minimal ACL
//
// Every operation works for a user created with
//
//	ACL SETUSER yokedcache on >password ~yokedcache:* +@read +@write +del +expire
//
// The handshake is HELLO 3 AUTH only (no CLIENT SETNAME, SETINFO or
// TRACKING: client-side caching is off; a near cache follows the
// invalidation stream, which +@read +@write covers: XADD, XREAD, XRANGE). PING is refused for that user:
// Ping and the health check treat the NOPERM reply as proof that the
// server is reachable and the credentials work. INFO is refused: Stats
// then reports no server counters and the health check takes the server
// version and role from HELLO. SELECT is refused, so such a user must use
// db 0. Cluster mode additionally needs CLUSTER SLOTS (+cluster|slots).
//
// # As
//
// As fills a *rueidis.Client with the native client. To build the backend
// from an existing go-redis client, see package backend/goredis (its As
// also fills a *goredis.UniversalClient).
//
// # Limits
//
// Values up to Redis's proto-max-bulk-len (512 MB by default). New dials
// the server once (rueidis does) and fails when none answers; afterwards
// lost connections are re-established on the next operation. An existing
// client can be passed in Options.Client; the backend then does not close
// it.
package redis
