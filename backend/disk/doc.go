// Package disk is yokedcache's local persistent backend: entries live in
// one file of a directory and survive process restarts. It is built on
// bbolt (go.etcd.io/bbolt), a copy-on-write B+tree in a single
// memory-mapped file.
//
//	b, err := disk.New(disk.Options{Directory: "/var/cache/myapp", MaxSizeGB: 5})
//	cache, err := yokedcache.New(yokedcache.Config{Backend: b})
//
// # URLs
//
//	file:///var/cache/myapp?max_size=5GB&cleanup_interval=5m
//
// Parameters: max_size (bytes with an optional B/KB/MB/GB/TB or
// KiB/MiB/GiB/TiB unit, or -1 for no bound), cleanup_interval (Go duration
// or seconds; 0 disables the sweep), lock_timeout (Go duration or
// seconds), sync (true: fsync every commit), verify (false: skip the
// consistency check on open), integrity_check (off, quick or full: see
// Options.IntegrityCheck), allow_world_writable (true: accept a
// world-writable directory or a store file others can read). Unknown
// parameters are errors. The path must be absolute;
// "file://localhost/path" is accepted too.
//
// # As
//
// As accepts a **bbolt.DB (go.etcd.io/bbolt), the open database. Do not
// write to it: the store keeps its own bookkeeping beside the entries.
//
// # Capabilities
//
// Every optional capability of package backend: GetMany, SetMany and
// DeleteMany in one transaction each, Exists, TTL and Expire, tags (an
// index kept in the same file and updated in the same transaction as the
// entry; InvalidateTags returns the exact count), Scan in key order
// bounded by the pattern's literal prefix, DeletePattern, Flush by prefix,
// Stats (Scope "prefix" for a non-empty prefix, "backend" for the whole
// store), Ping and HealthDetails. Nothing is unsupported.
//
// # Durability and crashes
//
// Every write is one bbolt transaction (Set, SetMany, DeleteMany and
// InvalidateTags are each atomic, index included). By default the store
// does not fsync (Options.Sync is false): a commit writes its pages to the file
// with write(2) before Set returns, and the metadata page that makes
// them visible is written last. The pages are then in the operating
// system's page cache, so a process that is killed (SIGKILL, panic,
// OOM killer) at any moment loses nothing that was acknowledged and
// leaves a file that opens: a commit cut short never reached its
// metadata page and the previous state is read. A power loss or kernel
// crash is different: without fsync the kernel may have written the
// metadata page before the data pages, and the last commits (or, in the
// worst case, the file) can be lost; the store then detects the damage
// on open and starts empty (see Corruption). For a cache this is the
// right trade: fsync per write costs a factor of 5–10 in write
// throughput (docs/disk.md). Set Options.Sync for power-loss durability.
//
// # Corruption
//
// On open the store checks bbolt's metadata checksums and, unless
// Options.SkipVerify, walks every page twice: its own structural check
// (pages, element tables, keys and values within the file, read with
// pread), then bbolt's consistency check. A file that fails is renamed
// aside ("cache.db.corrupt-<unix nanos>"), logged with slog at level
// Error, and an empty store is created in its place. Damage found later,
// while reading, makes that operation return an error matching
// backend.ErrCorrupt (reads outside bbolt's memory map fault into a
// recoverable panic, see runtime/debug.SetPanicOnFault) and
// HealthDetails report "unhealthy"; reopening the store quarantines the
// file. Every record ends with a checksum of its key and contents, which
// every read verifies against the key it asked for: a record that does
// not decode or fails it (another key's record handed out by a damaged
// page, or damaged bytes) is a miss matching both backend.ErrCorrupt and
// backend.ErrNotFound, counted ("damaged_reads"), logged at most once per
// 10 s, and HealthDetails report "degraded" (reopen with
// integrity_check=full to quarantine the file). Stored bytes are
// only ever copied, never deserialized into code or types: a planted file
// can at worst make entries miss.
//
// # Security
//
// The directory is created with mode 0700 and the file with 0600, whatever
// the umask. A directory that is writable by others (mode & 0002), or a
// store file that group or others can read or write (mode & 0077), is
// refused with an error matching backend.ErrInvalidConfig naming the fix
// unless Options.AllowWorldWritable is set, and the store file must be a
// regular file (not a symlink).
//
// # Several processes
//
// One process at a time: the file is locked with flock(2) on open. A
// second opener (another process, or another Store in the same process)
// waits Options.LockTimeout (default 1 s) and then fails with an error
// matching ErrLocked. It never blocks for ever and never writes.
//
// # Expiry and size bound
//
// TTLs use Options.Clock. An expired entry is a miss at once (lazy expiry
// on read) and is removed, with its tag index entries, by a sweep every
// Options.CleanupInterval (default 5 minutes). The sweep reads the keys in
// chunks of 4096, each in a short read transaction, and deletes what
// expired in one write transaction per chunk; its cost is a read of the
// record headers, about 50 ms per million entries. (A persistent expiry
// index would make the sweep proportional to what expired, but it doubled
// the cost of every Set: see docs/disk.md.)
//
// The size bound (Options.MaxSizeBytes or MaxSizeGB; default 1 GiB)
// counts the logical bytes of entries: key, value, tags and a fixed
// per-entry overhead of 64 bytes. When a write takes the store over the
// bound, the same transaction evicts down to 95 % of it, by sampling: a
// hand moves through the keys in key order (wrapping around, like a CLOCK
// hand), reads a window of 64 entries and removes the 16 that expire
// soonest: expired entries first, entries without expiry last. It is
// approximate: within a window the order is soonest-expiry-first, and
// every window is visited in turn. The entries being written are never
// evicted by their own write. The file itself can be larger than the
// logical bytes (B+tree pages are partly filled) and never shrinks: freed
// pages are reused.
//
// # Limits
//
// Keys up to 16 KiB, tags up to 4 KiB, values up to the size bound and at
// most 1 GiB (larger: backend.ErrValueTooLarge). Writes are serialized by
// bbolt (one writer at a time); reads run in parallel.
package disk
