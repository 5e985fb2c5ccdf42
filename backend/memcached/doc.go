// Package memcached is yokedcache's Memcached backend, on
// github.com/bradfitz/gomemcache.
//
//	b, err := memcached.New(memcached.Options{
//		Servers: []string{"cache1:11211", "cache2:11211"},
//	})
//	cache, err := yokedcache.New(yokedcache.Config{Backend: b})
//
// # Servers and consistent hashing
//
// Keys are spread over Options.Servers with libketama's consistent
// hashing by default (the Python reference's behaviors={"ketama": True}):
// with equal Options.Weights each server gets 160 points on a 32-bit continuum, from the MD5 digests
// of "<server>-0" ... "<server>-39" (four little-endian points per digest);
// a key goes to the first point at or after the first four bytes of its
// MD5 digest (little-endian), wrapping around. Adding a fourth server to
// three remaps about a quarter of the keys. Every process must list the
// servers by the same names. DistributionModula selects gomemcache's
// CRC-32 modulo rule instead.
//
// When a server is down, keys on the other servers keep working: every
// entry is checked only against version counters kept on its own server.
// Operations on the down server's keys fail after at most Options.Timeout
// per network step (at once for a refused connection).
//
// # Keys
//
// Stored keys may hold any bytes and exceed memcached's 250-byte limit. A
// key of printable ASCII other than '~', at most 250 bytes, is used as it
// is; any other key becomes "<readable part>~<base64url(SHA-256(key))>"
// with the full key kept in the value header and compared on every read,
// so two keys never share an entry ("a b" and "a_b" stay distinct).
//
// # Value header, TTL, namespaces and tags
//
// Each stored value starts with a small header: the exact expiry (ms),
// the namespace version, for hashed keys the full key, and the entry's
// tags with their versions. Memcached expires the item a second or so
// after the header's expiry (it has whole-second TTLs); reads apply the
// header's, so TTL reports the remaining time to the millisecond and
// Expire rewrites the header and the item's expiration with one
// compare-and-swap.
//
// Flush(prefix) never sends flush_all: each prefix (the first
// Options.NamespaceDepth ':'-terminated segments of a key) has a version
// counter on every server, entries record it, and Flush increments it, so
// one increment per server invalidates every entry of the namespace, in
// every process, before Flush returns. Tags work the same way across
// processes: InvalidateTags increments each tag's counter on every server
// and a read compares the versions the entry recorded (one extra
// multi-get for tagged entries). A missing counter (evicted) makes its
// entries misses; counters start at random values so a re-created counter
// never revalidates old entries. InvalidateTags returns -1: memcached
// cannot count the entries. Space is reclaimed by expiry and memcached's
// LRU.
//
// A read trusts a namespace version it has seen for
// Options.ReadNamespaceTTL (default 1 s), so a hit is one single-key
// gomemcache Get, as fast as the raw client; another process's Flush is
// therefore seen here within that window (this Store's own Flush, tag
// invalidations and deletes at once). ReadNamespaceTTL -1 makes every
// read fetch the namespace version with the value (one multi-get, one
// round trip on one server, about 40 % slower) so that any Flush is seen
// as soon as it returns. Set reuses a namespace version seen less than
// Options.WriteNamespaceTTL ago (default 1 s); see that field for the
// consequence (a Set racing another process's Flush may be lost, never
// stale).
//
// The counters of a namespace or tag exist once per server, and each
// entry is checked against those on its own server, so a read is one
// request to one server and a server that is down affects only its keys.
//
// # URLs
//
//	memcached://host1:11211,host2:11211?ketama=true&timeout=1s&max_item_size=2MiB
//
// See ParseURL for every parameter.
//
// # As
//
// As fills a **memcache.Client (github.com/bradfitz/gomemcache/memcache).
// Keys written through it directly do not carry the value header and read
// as corrupt through the Store.
//
// # Capabilities
//
// BatchGetter (GetMany: one multi-get), BatchSetter (SetMany: one
// multi-get of versions, then the sets, servers in parallel), BatchDeleter
// (DeleteMany: one multi-get, then the deletes, servers in parallel),
// Expirer, Tagger, Flusher,
// Stater (server-wide counters, Scope "server"), Pinger and HealthChecker
// (per-server "version" probes), Aser, Namer.
//
// # Unsupported
//
// Memcached cannot enumerate keys, so the Store does not implement
// backend.Scanner or backend.PatternDeleter: Keys, InvalidatePattern and
// FuzzySearch return ErrUnsupported from the Cache. Flush of a prefix that
// is not a namespace (see Options.NamespaceDepth) returns ErrUnsupported.
//
// # Limits
//
//   - Items: Options.MaxItemSize (default 1 MiB, memcached's -I) covers the
//     key, the value header, the value and about 64 bytes of server
//     overhead; larger values fail with ErrValueTooLarge before sending.
//   - Contexts are checked before each operation; gomemcache has no
//     context support, so an operation in flight is bounded by
//     Options.Timeout per network step rather than by ctx. Ping, Stats and
//     HealthDetails honour ctx fully.
//   - GetMany fails as a whole if a server holding one of the keys fails.
//   - Flush and InvalidateTags report an error if a server is down; the
//     others are still invalidated.
package memcached
