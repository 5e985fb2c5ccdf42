// Package yokedcache is one cache API over pluggable backends: in-process
// memory, Redis (standalone, TLS, ACL users, Sentinel, Cluster), Memcached,
// a local disk store and SQLite. It adds TTLs with jitter, tags, glob
// invalidation, fuzzy key search, get-or-load with stampede protection,
// batches, statistics, health checks and per-prefix routing.
//
// Every backend behaves the same (package backend/backendtest is the
// conformance suite each one runs), so switching from the memory backend
// to Redis changes the [Config], never the application code.
//
// # Getting started
//
// The zero Config is an in-process memory cache:
//
//	cache, err := yokedcache.New(yokedcache.Config{})
//	defer cache.Close()
//	err = cache.Set(ctx, "user:1", u, yokedcache.WithTTL(time.Minute), yokedcache.WithTags("users"))
//	u, err := yokedcache.Get[User](ctx, cache, "user:1")
//	u, err = yokedcache.Fetch(ctx, cache, "user:2", loadUser) // get-or-load
//
// Config.URL or Config.RedisURL selects another backend, and [FromEnv] and
// [LoadConfig] build a Config from YOKEDCACHE_* variables or a YAML file.
// Package yokedcachetest gives tests a memory cache on a fake clock.
//
// # Keys
//
// A key is any non-empty UTF-8 string of at most [MaxKeyLength] bytes. It
// is stored as "<KeyPrefix>:<key>" (default prefix "yokedcache"), and no
// two keys map to the same stored key on any backend.
//
// # Values
//
// []byte and string values are stored verbatim; other values are encoded
// with Config.Codec (JSON by default). Stored bytes carry a versioned,
// checksummed envelope (package codec). A cached nil or zero value is a
// hit. Bytes that do not decode are a miss: reads return an error matching
// both [ErrNotFound] and [ErrCorrupt], count it in Stats.Corrupt and log
// it; [Fetch] and [Cache.GetOrSet] reload such an entry. Reads decode into
// a non-nil pointer; anything else is [ErrInvalidValue].
//
// # TTLs
//
// Every entry has a TTL: WithTTL(0) or none means Config.DefaultTTL (5
// minutes), [NoExpiry] is an entry that never expires, and a negative TTL
// or one above [MaxTTL] (365 days, what every backend can honour) is
// [ErrInvalidTTL]. Expiries are spread by ±Config.TTLJitterPercent (10 %)
// unless [WithExactTTL] or [NoJitter] asks for exact TTLs. Reads never
// extend a TTL; [Cache.Expire] and [Cache.Touch] do, when asked.
//
// # Tags
//
// [WithTags] associates tags with an entry; [Cache.InvalidateTags] makes
// every entry carrying any of the tags a miss, for every process sharing
// the backend, before it returns.
//
// # Patterns
//
// [Cache.Keys], [Cache.InvalidatePattern] and the CLI take glob patterns.
// A pattern is matched against the whole user key (without the key
// prefix), rune by rune, with the same rules on every backend:
//
//	pattern  matches
//	*        any sequence of runes, including none and including ':'
//	?        exactly one rune
//	[abc]    one rune of the set; ranges like [a-z]; [!abc] or [^abc] negates
//	\x       the rune x literally (so \*, \?, \[, \\ match themselves)
//
// A ']' right after '[' (or after "[!" or "[^") is a literal member, as is
// a '-' first or last in a set. "" and "*" match every key. A malformed
// pattern (an unclosed '[', a trailing '\', an inverted range such as
// [z-a], invalid UTF-8) is an error matching [ErrInvalidKey]. Keys are
// streamed from the backend in chunks, never loaded all at once; backends
// that cannot list keys (Memcached) return [ErrUnsupported].
//
// [Cache.FuzzySearch] scores keys like fuzzywuzzy's partial_ratio (0-100)
// and returns those at or above a threshold (default 80), best first.
//
// # Get-or-load
//
// [Fetch] and [Cache.GetOrSet] run the loader once for concurrent misses
// of a key in one process; every waiter gets its result or its error. One
// caller's cancelled context never cancels the shared load. Loader errors
// are not cached (unless [WithMissingTTL] asks). [FetchMany] loads the
// misses of many keys with one loader call.
//
// # Failure
//
// A cache never makes the service fail (docs/resilience.md). [New] fails
// only for configuration errors: servers are dialled on first use. Every
// call to a network or disk backend is bounded by Config.OperationTimeout
// (BatchTimeout for batches, HealthTimeout for health checks) when the
// caller's context has no earlier deadline, and a circuit breaker per
// backend (per server for Memcached) fails calls at once with
// [ErrUnavailable] after repeated failures. Fetch, GetOrSet and FetchMany
// fail open: when the backend cannot be read the loader runs and its
// value is returned. [WithStaleWhileRevalidate], [WithStaleIfError] and
// [WithEarlyRefresh] keep serving from a soft expiry stored in the value's
// envelope; [WithLoadLock] extends stampede protection across processes.
//
// # Errors
//
// Every error a Cache method returns is an [*Error] carrying the operation
// and the key, and matches one of the sentinels ([ErrNotFound],
// [ErrInvalidKey], [ErrInvalidTTL], [ErrInvalidValue], [ErrCorrupt],
// [ErrValueTooLarge], [ErrUnsupported], [ErrClosed], [ErrInvalidConfig],
// [ErrUnavailable]) or a context error, with errors.Is.
//
// # Routing
//
// Config.Routes send keys by prefix to other backends and give them their
// own default TTLs ("hot" serves "hot" and "hot:*", never "hotel:1"). The
// route table is matched once per operation, on the user key; a failing
// route's errors are [*RouteError] values, and Stats and
// DetailedHealthCheck report each route; see docs/routing.md.
package yokedcache
