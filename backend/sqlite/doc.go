// Package sqlite is yokedcache's SQLite backend: entries live in one
// database file (or in memory) and survive process restarts, and several
// processes on one machine may share the file. It uses modernc.org/sqlite
// (pure Go, no cgo) through database/sql, with prepared statements on the
// hot paths. It is the reference guide's SQLiteBackend(path=...).
//
//	b, err := sqlite.New(sqlite.Options{Path: "/var/cache/myapp/cache.db"})
//	cache, err := yokedcache.New(yokedcache.Config{Backend: b})
//
// # URLs
//
//	sqlite:///var/cache/myapp/cache.db?busy_timeout=5s&cleanup_interval=5m
//	sqlite://:memory:
//
// The path must be absolute ("sqlite://localhost/path" is accepted too);
// "sqlite://:memory:" is a private in-memory database. Parameters:
// busy_timeout (Go duration or seconds), cleanup_interval (Go duration or
// seconds; 0 disables the sweep), max_size (bytes with an optional
// B/KB/MB/GB/TB or KiB/MiB/GiB/TiB unit; 0 = no bound), max_entries (0 =
// no bound), max_open_conns (1 to 1024), synchronous (normal or full),
// integrity_check (off, quick or full: PRAGMA quick_check or
// integrity_check on open). Unknown parameters are errors matching
// backend.ErrInvalidConfig.
//
// # Integrity
//
// Every value is stored behind an 8-byte checksum of its key and value
// (CRC-32C of the key, and of the key and value), and every read verifies
// it against the key it asked for: a row reached through a damaged index,
// or with a damaged key or value, is a miss matching both
// backend.ErrCorrupt and backend.ErrNotFound, never another key's value.
// Such reads are counted (Stats and HealthDetails "damaged_reads"), logged
// at most once per 10 s, and make HealthDetails "degraded" with the hint to
// run PRAGMA quick_check. Options.IntegrityCheck checks the whole file on
// open. The database, -wal and -shm files are created 0600 (a missing
// directory 0700) whatever the umask; an existing one that group or others
// can read or write is refused (backend.ErrInvalidConfig; chmod 600 it).
//
// # As
//
// As accepts a **sql.DB: the database the Store uses (its own, or
// Options.DB). The tables are yokedcache_entries, yokedcache_tags and
// yokedcache_meta; do not write to them.
//
// # Capabilities
//
// Every optional capability of package backend; nothing is unsupported.
// GetMany is one prepared query for any number of keys (the keys travel
// as a JSON array through json_each); SetMany, DeleteMany, InvalidateTags
// and Flush are one transaction each. Exists, TTL and Expire. Tags are
// rows of a tag table (tag, key) written in the same transaction as the
// entry, so re-setting a key replaces its tags atomically, deleting an
// entry deletes its tags (a trigger), and InvalidateTags returns the
// exact number of live entries it deleted. Scan streams keys in key order
// a page at a time (no statement stays open while the consumer runs),
// bounded by the pattern's literal prefix on the primary key and narrowed
// by SQLite's GLOB (the pattern translated, see below), then filtered by
// the shared glob matcher. DeletePattern deletes the matches page by page;
// Flush is one range delete. Stats counts live keys and their bytes under
// a prefix with a range query (Scope "prefix", or "backend" for ""). Ping,
// HealthDetails (journal mode, connection pool), Name "sqlite".
//
// # Patterns
//
// yokedcache's glob syntax is translated to SQLite GLOB: a literal '*',
// '?' or '[' becomes "[*]", "[?]" or "[[]" (GLOB has no escape
// character; our "\x" is the literal x), "[!x]" becomes "[^x]", and '%'
// and '_' (LIKE's wildcards) are ordinary characters of GLOB. A set whose
// members include ']', '-' or '^', which GLOB's set syntax cannot always
// say, is approximated by '?'. Every row GLOB lets through is matched
// again by package internal/glob, so the result is exact in every case,
// also for keys containing NUL (which GLOB reads only up to the NUL; such
// keys are always passed to the Go filter).
//
// # Expiry, sweep and size bound
//
// expires_at is unix nanoseconds from Options.Clock (0 = never), indexed
// (a partial index over expiring rows). An expired entry is a miss at once
// and is deleted, with its tags, by a sweep every Options.CleanupInterval
// (default 5 minutes) that reads the expiry index, 1000 rows per
// transaction. The optional bounds Options.MaxSizeBytes (logical bytes:
// key, value, tags and 48 bytes per entry) and Options.MaxEntries are
// enforced by the writing process when its estimate of the total (the last
// measurement plus what it wrote since) crosses a bound, and by every
// sweep: it measures the table and evicts, in one transaction,
// soonest-to-expire first (so expired entries go first), then entries
// without expiry in key order, down to 95 % of the bound. Writes of other
// processes are seen at the next measurement, so the bound can be
// overshot briefly. A single entry larger than MaxSizeBytes is refused
// with backend.ErrValueTooLarge.
//
// # Several processes and durability
//
// A database this package opens is put in WAL mode (readers never block
// the writer), with synchronous=NORMAL (no fsync per commit: a killed
// process loses nothing acknowledged, a power loss may lose the last
// commits; Options.SyncFull for fsync per commit) and a busy timeout
// (default 5 s). Write transactions start with BEGIN IMMEDIATE, so a
// writer waits for the lock up front instead of failing half-way with
// "database is locked"; inside one process writes are queued in Go. With
// Options.DB a write transaction's first statement is a write that
// changes nothing, which takes the lock the same way, but the connection
// settings are the caller's: set busy_timeout
// (e.g. "_pragma=busy_timeout(5000)" with modernc.org/sqlite) and WAL when
// several connections or processes share the file.
//
// ":memory:" uses a single connection (every connection to ":memory:" is
// a database of its own), so its operations are serialized. Each Store
// with Path ":memory:" has its own database.
//
// # Schema and migrations
//
// The schema version is kept in the yokedcache_meta table (not PRAGMA
// user_version, which belongs to the application when it passes its own
// database). New creates or migrates the tables in one transaction; a
// database written by a newer version is refused with ErrSchemaTooNew.
//
// # Limits
//
// Keys and tags up to 16 KiB (MaxKeyBytes), values up to 512 MiB
// (MaxValueBytes; larger: backend.ErrValueTooLarge). One writer at a time
// per database file; reads run in parallel on up to Options.MaxOpenConns
// connections (default 8).
package sqlite
