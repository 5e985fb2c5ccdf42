// Package near is the near-cache tier: a bounded in-process copy of a
// shared backend's entries (Redis, memcached, SQLite, ...) that serves
// repeated reads of hot keys at memory speed and is kept coherent with
// the shared backend across processes.
//
// A [Store] wraps the shared backend and is itself a backend.Backend, so
// the Cache, the route table and the conformance suite use it like any
// other backend. Every write goes through to the shared backend; a read
// is served locally when this process holds a copy and otherwise reads
// the shared backend and keeps a copy. The Cache builds the tier when a
// route (or the default backend) asks for it: yokedcache.Config.Near,
// Route.Near, the near_cache URL parameters, YOKEDCACHE_NEAR_* variables
// or the near_cache YAML section.
//
// # Coherence
//
// Local copies are dropped:
//
//   - at once, by this process's own writes (Set, Delete, Expire, batches),
//     before the write returns; InvalidatePattern drops the matching local
//     copies, Flush and InvalidateTags drop every local copy (a copy's tags
//     are not known locally);
//   - when the shared backend reports a change (backend.Tracker), in one
//     of three modes (Status.Mode):
//   - "tracking" (Redis whose user may run CLIENT TRACKING): the server
//     pushes an invalidation for every write under the cache's prefix, by
//     anyone (other yokedcache processes, redis-cli, a Python service),
//     within milliseconds. Copies are kept at most Options.TTL (default
//     DefaultTrackedTTL) as a safety net.
//   - "stream" (Redis under a minimal ACL that refuses CLIENT TRACKING):
//     yokedcache processes publish their writes to a stream under the
//     prefix, which every near cache reads. Writers outside yokedcache are
//     not seen: copies live at most Options.TTL (default DefaultTTL, 1 s).
//   - "ttl" (memcached, SQLite, disk, any backend without tracking):
//     copies live at most Options.TTL (default 1 s): the staleness bound
//     for writes by other processes.
//   - whenever notifications stop or resume (a lost connection, a restart,
//     a partition detected by the tracker's pings): every copy is dropped
//     and no copy is kept until notifications flow again, so a read never
//     returns a value older than the mode's bound.
//
// A copy never outlives the shared entry: its local TTL is the smaller of
// the shared entry's remaining TTL (read with it, backend.TTLReader) and
// Options.TTL. A backend that cannot report TTLs with its values gets
// copies of at most Options.TTL.
//
// Reads and invalidations race safely: a read that started before an
// invalidation of its key (or a reset) does not keep its copy.
//
// # Memory
//
// The tier is a memory.Store bounded by Options.MaxEntries and
// Options.MaxBytes, with the W-TinyLFU policy by default: every local miss
// is a network round trip, so the policy that keeps more hits wins.
// Maintenance is done inline by the goroutine that writes a copy, so a
// busy machine cannot starve it.
package near
