package disk

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"path/filepath"
	"time"

	"github.com/yokedcache/yokedcache/backend"
)

// Defaults of Options.
const (
	// DefaultMaxSizeBytes bounds a store whose Options set no size: 1 GiB.
	DefaultMaxSizeBytes int64 = 1 << 30
	// DefaultCleanupInterval is the period of the expiry sweep.
	DefaultCleanupInterval = 5 * time.Minute
	// DefaultLockTimeout is how long New waits for another process's lock.
	DefaultLockTimeout = time.Second
	// FileName is the name of the store file inside Options.Directory.
	FileName = "cache.db"
	// MaxKeyBytes is the longest stored key.
	MaxKeyBytes = 16 << 10
	// MaxTagBytes is the longest tag.
	MaxTagBytes = 4 << 10
	// MaxValueBytes is the largest value, whatever the size bound.
	MaxValueBytes = 1 << 30
)

// ErrLocked reports that another process (or another Store) holds the
// store's lock.
var ErrLocked = errors.New("disk: store is locked by another process")

// Options configures a Store. Directory is required; every other zero value
// means the documented default.
type Options struct {
	// Directory holds the store file (FileName). It is created with mode
	// 0700 when missing. Required.
	Directory string
	// MaxSizeBytes bounds the logical size of the entries (see the package
	// doc). 0 means MaxSizeGB, or DefaultMaxSizeBytes (1 GiB) when that is
	// 0 too; -1 means no bound.
	MaxSizeBytes int64
	// MaxSizeGB is the reference guide's max_size_gb: the bound in units
	// of 10^9 bytes, used when MaxSizeBytes is 0. Default 0 (see
	// MaxSizeBytes).
	MaxSizeGB float64
	// CleanupInterval is the period of the sweep that removes expired
	// entries. 0 means DefaultCleanupInterval (5 minutes); negative
	// disables the sweep (expired entries are still misses).
	CleanupInterval time.Duration
	// Clock is the time source for TTLs and the sweep. nil means the
	// system clock.
	Clock backend.Clock
	// LockTimeout is how long New waits for the file lock held by another
	// process before failing with ErrLocked. 0 means DefaultLockTimeout
	// (1 s).
	LockTimeout time.Duration
	// Sync makes every commit fsync the file: writes survive power loss
	// too, at about a tenth of the write throughput. Default false: writes
	// survive a killed process but not a power loss (package doc).
	Sync bool
	// SkipVerify skips the checks of every page on open (the metadata
	// checksums are always checked). Default false: open reads every page
	// of the tree twice, once to check its structure and once for bbolt's
	// consistency check, so that a damaged file is quarantined instead of
	// faulting or hanging later.
	SkipVerify bool
	// AllowWorldWritable accepts a directory that others can write to and
	// a store file that group or others can read or write. Default false:
	// such a directory is refused, because whoever can write it can
	// replace the cache's contents, and so is such a file (fix: chmod 600
	// it). Files the store creates are always 0600 and directories 0700.
	AllowWorldWritable bool
	// Logger receives quarantine and sweep errors and (at most one line
	// every 10 s) damaged records met by reads. nil means slog.Default().
	Logger *slog.Logger
	// IntegrityCheck is the check New runs before serving the file:
	// IntegrityQuick ("" or "quick", the default: every page's structure
	// and bbolt's consistency check, as described under SkipVerify),
	// IntegrityFull (quick, then every record's checksum) or IntegrityOff
	// (same as SkipVerify). A file that fails is quarantined. Its cost is
	// measured in docs/disk.md.
	IntegrityCheck IntegrityCheck
}

// IntegrityCheck selects the check New runs on the store file
// (Options.IntegrityCheck, URL parameter integrity_check).
type IntegrityCheck string

// The integrity checks on open.
const (
	// IntegrityOff checks only the metadata pages (like SkipVerify).
	IntegrityOff IntegrityCheck = "off"
	// IntegrityQuick checks every page's structure and runs bbolt's
	// consistency check (the default).
	IntegrityQuick IntegrityCheck = "quick"
	// IntegrityFull runs the quick check, then verifies every record's
	// checksum, so that damaged values are found on open instead of as
	// corrupt misses later.
	IntegrityFull IntegrityCheck = "full"
)

func errInvalid(format string, args ...any) error {
	return fmt.Errorf("disk: %s: %w", fmt.Sprintf(format, args...), backend.ErrInvalidConfig)
}

// resolved returns a validated copy of o with defaults applied.
func (o Options) resolved() (Options, error) {
	if o.Directory == "" {
		return o, errInvalid("Options.Directory is required")
	}
	abs, err := filepath.Abs(o.Directory)
	if err != nil {
		return o, errInvalid("directory %q: %v", o.Directory, err)
	}
	o.Directory = abs
	switch {
	case o.MaxSizeBytes < -1:
		return o, errInvalid("MaxSizeBytes %d: want > 0, 0 (default) or -1 (no bound)", o.MaxSizeBytes)
	case o.MaxSizeBytes == 0 && o.MaxSizeGB != 0:
		if math.IsNaN(o.MaxSizeGB) || o.MaxSizeGB < 0 || o.MaxSizeGB > 1e9 {
			return o, errInvalid("MaxSizeGB %v: want a positive number", o.MaxSizeGB)
		}
		o.MaxSizeBytes = int64(o.MaxSizeGB * 1e9)
		if o.MaxSizeBytes <= 0 {
			return o, errInvalid("MaxSizeGB %v is less than a byte", o.MaxSizeGB)
		}
	case o.MaxSizeBytes == 0:
		o.MaxSizeBytes = DefaultMaxSizeBytes
	}
	if o.CleanupInterval == 0 {
		o.CleanupInterval = DefaultCleanupInterval
	}
	if o.LockTimeout < 0 {
		return o, errInvalid("LockTimeout %s is negative", o.LockTimeout)
	}
	if o.LockTimeout == 0 {
		o.LockTimeout = DefaultLockTimeout
	}
	switch o.IntegrityCheck {
	case "":
		o.IntegrityCheck = IntegrityQuick
		if o.SkipVerify {
			o.IntegrityCheck = IntegrityOff
		}
	case IntegrityOff:
		o.SkipVerify = true
	case IntegrityQuick, IntegrityFull:
		if o.SkipVerify {
			return o, errInvalid("SkipVerify contradicts IntegrityCheck %q", o.IntegrityCheck)
		}
	default:
		return o, errInvalid("IntegrityCheck %q: want off, quick or full", o.IntegrityCheck)
	}
	o.Clock = backend.ClockOrSystem(o.Clock)
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o, nil
}
