package sqlite

import (
	"database/sql"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/yokedcache/yokedcache/backend"
)

// Defaults of Options.
const (
	// DefaultBusyTimeout is how long a statement waits for another
	// connection's or process's write lock before failing.
	DefaultBusyTimeout = 5 * time.Second
	// DefaultCleanupInterval is the period of the expiry sweep.
	DefaultCleanupInterval = 5 * time.Minute
	// MemoryPath is the Path of a private in-memory database.
	MemoryPath = ":memory:"
	// MaxKeyBytes is the longest stored key.
	MaxKeyBytes = 16 << 10
	// MaxValueBytes is the largest value (SQLite's default limit for a
	// BLOB is 1 GB; we stay below it).
	MaxValueBytes = 512 << 20
)

// Options configures a Store. Exactly one of Path and DB is required;
// every other zero value means the documented default.
type Options struct {
	// Path is the database file, created when missing, or MemoryPath
	// (":memory:") for a private in-memory database that lives as long as
	// the Store. A missing directory is created with mode 0700; the
	// database and its -wal and -shm files are created with mode 0600
	// whatever the umask, and an existing one that group or others can
	// read or write is refused (backend.ErrInvalidConfig; chmod 600 it).
	Path string
	// DB is an existing database opened with a SQLite driver, used instead
	// of Path. The Store creates its tables in it (see the package doc) and
	// does not close it. Its connection settings (busy timeout, journal
	// mode) are the caller's: set a busy timeout when several connections
	// or processes write.
	DB *sql.DB
	// BusyTimeout is how long a statement waits for a lock held by another
	// connection or process. 0 means DefaultBusyTimeout (5 s). Ignored with
	// DB.
	BusyTimeout time.Duration
	// CleanupInterval is the period of the sweep that deletes expired rows.
	// 0 means DefaultCleanupInterval (5 minutes); negative disables the
	// sweep (expired entries are still misses).
	CleanupInterval time.Duration
	// MaxSizeBytes bounds the logical size of the entries (key, value,
	// tags and a fixed per-entry overhead). 0 means no bound.
	MaxSizeBytes int64
	// MaxEntries bounds the number of entries. 0 means no bound.
	MaxEntries int64
	// Clock is the time source for TTLs and the sweep. nil means the
	// system clock.
	Clock backend.Clock
	// SyncFull sets synchronous=FULL (an fsync per commit: writes survive a
	// power loss) instead of the default NORMAL (writes survive a killed
	// process; the last commits may be lost on power loss). Ignored with DB
	// and for MemoryPath.
	SyncFull bool
	// MaxOpenConns bounds the connections to a file database. 0 means 8.
	// A MemoryPath database always uses one connection. Ignored with DB.
	MaxOpenConns int
	// Logger receives sweep and eviction errors and (at most one line
	// every 10 s) damaged rows met by reads. nil means slog.Default().
	Logger *slog.Logger
	// IntegrityCheck is the check New runs on a file database before
	// serving it: IntegrityOff ("" or "off", the default), IntegrityQuick
	// (PRAGMA quick_check) or IntegrityFull (PRAGMA integrity_check). A
	// damaged database makes New fail with an error matching
	// backend.ErrCorrupt that names the file. Its cost is a read of the
	// whole file (docs/sqlite.md has measurements). Ignored with DB and
	// for MemoryPath.
	IntegrityCheck IntegrityCheck
}

func errInvalid(format string, args ...any) error {
	return fmt.Errorf("sqlite: %s: %w", fmt.Sprintf(format, args...), backend.ErrInvalidConfig)
}

// resolved returns a validated copy of o with defaults applied.
func (o Options) resolved() (Options, error) {
	switch {
	case o.DB == nil && o.Path == "":
		return o, errInvalid("Options.Path or Options.DB is required")
	case o.DB != nil && o.Path != "":
		return o, errInvalid("set Options.Path or Options.DB, not both")
	case strings.ContainsRune(o.Path, 0):
		return o, errInvalid("path contains a NUL byte")
	case o.BusyTimeout < 0:
		return o, errInvalid("BusyTimeout %s is negative", o.BusyTimeout)
	case o.MaxSizeBytes < 0:
		return o, errInvalid("MaxSizeBytes %d is negative", o.MaxSizeBytes)
	case o.MaxEntries < 0:
		return o, errInvalid("MaxEntries %d is negative", o.MaxEntries)
	case o.MaxOpenConns < 0:
		return o, errInvalid("MaxOpenConns %d is negative", o.MaxOpenConns)
	case !o.IntegrityCheck.valid():
		return o, errInvalid("IntegrityCheck %q: want off, quick or full", o.IntegrityCheck)
	}
	if o.BusyTimeout == 0 {
		o.BusyTimeout = DefaultBusyTimeout
	}
	if o.CleanupInterval == 0 {
		o.CleanupInterval = DefaultCleanupInterval
	}
	if o.MaxOpenConns == 0 {
		o.MaxOpenConns = 8
	}
	o.Clock = backend.ClockOrSystem(o.Clock)
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o, nil
}
