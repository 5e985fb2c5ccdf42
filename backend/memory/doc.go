// Package memory is yokedcache's in-process backend: zero setup, bounded
// by entry count (and optionally bytes) with least-recently-used or
// W-TinyLFU eviction, TTLs with lazy expiry plus a periodic sweep, tags,
// patterns and stats.
//
// # Eviction
//
// The store is split into shards (Options.Shards; by default one shard per
// 256 entries of MaxSize for LRU and per 1024 for TinyLFU, at most 64) so
// that reads on several cores do not contend on one lock. The bounds are
// global and exact: one atomic entry count and one atomic byte count for
// the whole store. A Set reserves its room in those counts before it
// inserts, so the store never holds more than MaxSize entries (or
// MaxBytes bytes, except for a single entry larger than MaxBytes, which
// is stored alone), and nothing is evicted before the store is full. When
// the store is full the inserting shard evicts its own victim (under the
// lock it already holds); only when that shard has nothing left to evict
// does the Set release its lock and evict from another shard.
//
// Options.Policy chooses the victim within a shard:
//
//   - PolicyLRU (the default): each shard keeps an LRU list. Promotion is
//     lazy: a read moves an entry to the front only if it is outside the
//     most recent quarter of the shard's list, which removes most writes
//     from the read path. Eviction is exact in the bound and approximately
//     LRU in the order (exact LRU with Shards: 1 and MaxSize below 4).
//   - PolicyTinyLFU: W-TinyLFU per shard. New entries enter an LRU
//     admission window; an entry leaving the window competes with the
//     main space's victim (the tail of the probation segment of a
//     segmented LRU), and the one that a count-min sketch of 4-bit
//     counters (halved every 10 × capacity increments, so old popularity
//     fades) says is accessed less often is evicted. A hit in probation
//     moves the entry to the protected segment (80 % of the main space).
//     The window starts at 1 % of the shard and is resized by hill
//     climbing on the shard's hit ratio. All of this runs synchronously
//     under the shard lock, in constant time per operation: there is no
//     maintenance goroutine that could fall behind. It resists scans and
//     one-hit wonders much better than LRU (see TestTinyLFUBeatsLRU for
//     the traces and the hit ratios).
//
// # Decoded objects
//
// GetObject and AttachObject let the Cache keep the decoded Go value of an
// entry next to its bytes, so that a typed read does not decode again. An
// object lives and dies with its entry: any write, delete, expiry or
// eviction drops it. Expire only changes the entry's TTL (the bytes stay
// the same), so it keeps the object.
//
// # Hot path
//
// A Get hashes the key once (maphash; the hash picks the shard and, with
// TinyLFU, the sketch counters), takes the shard's mutex, and reads the
// clock only if the entry has a TTL. With the system clock a read is one
// monotonic clock read (start time plus elapsed time), not time.Now's two.
// A Set that replaces a value updates its entry in place, and a Set into a
// full store reuses the entry it evicts: neither allocates an entry. Eviction and
// expiry counters live in the shards, so a Set into a full store writes no
// cache line shared with other shards. See BenchmarkStore.
//
// # URLs
//
//	mem://?max_size=10000&max_bytes=64MiB&cleanup_interval=5m&shards=16&policy=tinylfu
//
// ("memory://" is accepted too.) Parameters: max_size, max_bytes (with an
// optional KB/MB/GB/KiB/MiB/GiB suffix), cleanup_interval (Go duration or
// seconds), shards (0-4096), policy (lru or tinylfu).
//
// # As
//
// The memory backend supports no native types for As.
package memory
