// Package backend defines the contract between the yokedcache [Cache] and
// the stores that hold its bytes: a small [Backend] interface, optional
// capability interfaces discovered by type assertion, the sentinel errors,
// the [Clock] used for TTLs, and the URL registry ([Register], [Open]).
//
// Application code should use package yokedcache; this package is for
// people who write or wire backends.
//
// # What the Cache guarantees to a backend
//
//   - Keys are stored keys: non-empty, valid UTF-8 for user data, already
//     prefixed with the cache's key prefix ("yokedcache:user:42"). Internal
//     bookkeeping keys built by the Cache start with the prefix followed by
//     ':' and the byte 0xFF, which no valid UTF-8 user key can contain.
//     A key passed to a read or a delete may live in a buffer the Cache
//     reuses once the call returns: a backend that keeps such a key (a
//     near cache keeping a copy) must copy it. Keys passed to Set are
//     kept by the Cache as long as the backend may need them.
//   - Values are envelopes built by the Cache: never nil, never empty. A
//     backend may keep the slice passed to Set; the Cache does not modify it
//     afterwards. Slices returned by Get are treated as read-only.
//   - TTLs in [SetOptions] and Expire are either in (0, [MaxTTL]] or
//     exactly [NoExpiry].
//   - Tags are namespaced tag identifiers built by the Cache (prefix, ':',
//     0xFF, "tag:", name). A backend may use them directly as key names.
//
// # What a backend must return
//
//   - A miss (absent or expired key) is an error matching [ErrNotFound].
//   - A feature the backend cannot honour is an error matching
//     [ErrUnsupported]; never a silent no-op.
//   - A value over the backend's item limit is an error matching
//     [ErrValueTooLarge].
//   - After Close, every call returns an error matching [ErrClosed].
//   - Context errors are returned as they are (or wrapped with %w), so that
//     errors.Is(err, context.DeadlineExceeded) works.
//
// [Cache]: https://pkg.go.dev/github.com/yokedcache/yokedcache#Cache
package backend

import (
	"context"
	"iter"
	"math"
	"slices"
	"time"
)

// NoExpiry is the TTL of an entry that never expires. The Cache passes it
// only when the caller asked for it explicitly. It is the most negative
// Duration, so no computed TTL (say, a deadline just passed) can be
// mistaken for it.
const NoExpiry time.Duration = math.MinInt64

// MaxTTL is the longest TTL the Cache accepts and passes to a backend: one
// year (365 days). Every backend honours it: Memcached stores a TTL over
// 30 days as an absolute Unix time in a signed 32-bit field, which ends in
// January 2038, so a year is safe until January 2037; Redis (PX, PXAT in
// milliseconds) and the int64 Unix-nanosecond expiries of the memory, disk
// and SQLite backends reach much further. Use NoExpiry for entries that
// must not expire.
const MaxTTL = 365 * 24 * time.Hour

// SetOptions are the per-entry settings of a Set.
type SetOptions struct {
	// TTL is in (0, MaxTTL], or NoExpiry.
	TTL time.Duration
	// Tags are namespaced tag identifiers (see the package doc). Setting a
	// key replaces any tags it had before. A backend that does not
	// implement [Tagger] receives no tags: the Cache returns ErrUnsupported
	// before calling it.
	Tags []string
}

// Item is one entry of a batch write.
type Item struct {
	Key   string
	Value []byte
	SetOptions
}

// Backend stores bytes under string keys. It is the only interface a new
// backend must implement; everything else is an optional capability.
// Implementations must be safe for concurrent use.
type Backend interface {
	// Get returns the value stored under key, or an error matching
	// ErrNotFound when it is absent or expired.
	Get(ctx context.Context, key string) ([]byte, error)
	// Set stores value under key with the given options, replacing any
	// previous value and tags.
	Set(ctx context.Context, key string, value []byte, opts SetOptions) error
	// Delete removes key and reports whether it existed.
	Delete(ctx context.Context, key string) (bool, error)
	// Close releases the backend's resources and stops its goroutines.
	// Later calls return ErrClosed.
	Close() error
}

// SetCopier is implemented by backends that are done with the key and
// value passed to Set once it has returned nil: the bytes were sent to a
// server and acknowledged, or copied into a file or database. SetCopies
// reports whether that holds (a router answers for all its routes). The
// Cache then reuses the memory of a written key and envelope for the
// next write. After an error (a cancelled context, a timeout) the Cache
// never reuses them: a pipelined command may still be queued.
type SetCopier interface {
	SetCopies() bool
}

// BatchGetter is implemented by backends that read several keys in one
// round trip. Without it the Cache reads the keys with bounded concurrency.
type BatchGetter interface {
	// GetMany returns one slot per key, in order: the value, or nil for a
	// miss.
	GetMany(ctx context.Context, keys []string) ([][]byte, error)
}

// BatchSetter is implemented by backends that write several entries in one
// round trip. Without it the Cache writes them with bounded concurrency.
type BatchSetter interface {
	SetMany(ctx context.Context, items []Item) error
}

// BatchDeleter is implemented by backends that delete several keys in one
// round trip. Without it the Cache deletes them with bounded concurrency.
type BatchDeleter interface {
	// DeleteMany removes keys and returns how many existed.
	DeleteMany(ctx context.Context, keys []string) (int64, error)
}

// ObjectKeeper is implemented by in-process backends (memory) that can
// keep a decoded Go value beside an entry's bytes, so that typed reads
// decode each stored value once (Config.KeepDecoded). The object lives and
// dies with the entry: any write, delete, expiry or eviction drops it.
type ObjectKeeper interface {
	// GetObject is Get that also returns the object attached to the entry
	// by AttachObject, or nil. It has the same recency and TTL effects as
	// Get, and a miss matches ErrNotFound.
	GetObject(ctx context.Context, key string) (val []byte, obj any, err error)
	// AttachObject attaches obj to key's live entry only if that entry
	// still holds exactly val (the same bytes in memory, as returned by
	// Get or GetObject): a write in between wins. It never changes TTL,
	// recency or size accounting.
	AttachObject(key string, val []byte, obj any)
}

// Expirer reads and changes TTLs of existing entries. Without it TTL,
// Expire and Touch return ErrUnsupported.
type Expirer interface {
	// TTL returns the remaining time to live, NoExpiry for an entry that
	// never expires, or an error matching ErrNotFound.
	TTL(ctx context.Context, key string) (time.Duration, error)
	// Expire sets a new TTL (> 0 or NoExpiry) and reports whether the key
	// existed.
	Expire(ctx context.Context, key string, ttl time.Duration) (bool, error)
}

// Tagger is implemented by backends that keep tags. Without it a Set with
// tags and InvalidateTags return ErrUnsupported.
type Tagger interface {
	// InvalidateTags makes every entry carrying any of tags a miss, for
	// every process sharing the backend, before it returns. It returns the
	// number of entries invalidated, or -1 when the backend cannot know.
	InvalidateTags(ctx context.Context, tags []string) (int64, error)
}

// Scanner streams stored keys. Without it Keys, InvalidatePattern and
// FuzzySearch return ErrUnsupported.
type Scanner interface {
	// Scan yields every live stored key matching pattern (a glob over
	// stored keys, see package internal/glob's syntax: * ? [...] and \
	// escapes). It may also yield keys that do not match, which the Cache
	// filters out, so a backend may scan by the pattern's literal prefix.
	// It must skip nothing that matches and must not hold locks while the
	// consumer runs for long. Internal keys (prefix ':' 0xFF ...) should be
	// skipped; the Cache filters them too.
	Scan(ctx context.Context, pattern string) iter.Seq2[string, error]
}

// PatternDeleter deletes every key matching a glob in bulk. Without it the
// Cache scans and deletes in batches.
type PatternDeleter interface {
	// DeletePattern removes every stored key matching pattern exactly (the
	// backend must apply the glob itself) and returns how many it removed.
	// It must not delete internal keys (see IsInternalKey), which a pattern
	// such as "prefix:*" also matches.
	DeletePattern(ctx context.Context, pattern string) (int64, error)
}

// Flusher removes every entry under a stored-key prefix, including the
// backend's bookkeeping for it. Without it the Cache deletes by pattern.
type Flusher interface {
	// Flush removes every key beginning with prefix (which ends in ':').
	Flush(ctx context.Context, prefix string) error
}

// Stater reports what the backend knows about its contents.
type Stater interface {
	// Stats describes the keys under prefix where the backend can scope
	// it; Stats.Scope says what the numbers cover.
	Stats(ctx context.Context, prefix string) (Stats, error)
}

// Pinger checks reachability cheaply. Without it the Cache probes with a
// Get of an internal key.
type Pinger interface {
	Ping(ctx context.Context) error
}

// LoadLocker is an optional capability: a lock every process using the
// backend sees, for cross-process stampede protection (the Cache's
// WithLoadLock). LoadLock tries to take key for at most ttl and reports
// whether it did; unlock releases it when this caller still holds it.
// Without it the Cache protects loads within one process only.
type LoadLocker interface {
	LoadLock(ctx context.Context, key string, ttl time.Duration) (unlock func(context.Context) error, ok bool, err error)
}

// HealthChecker adds backend-specific details to the Cache's detailed
// health check.
type HealthChecker interface {
	HealthDetails(ctx context.Context) (HealthDetails, error)
}

// Aser gives access to the native client behind a backend. As reports
// whether target (a pointer) was filled.
type Aser interface {
	As(target any) bool
}

// Namer reports the backend type for stats and health output ("memory",
// "redis", ...).
type Namer interface {
	Name() string
}

// Stats is what a backend knows about the data it holds.
type Stats struct {
	// Keys is the number of live keys, or -1 when unknown.
	Keys int64
	// Bytes is the approximate memory or disk used, or -1 when unknown.
	Bytes int64
	// Evictions counts entries removed to respect a size bound.
	Evictions int64
	// Expirations counts entries removed because their TTL passed.
	Expirations int64
	// Scope says what Keys and Bytes cover, e.g. "prefix" (only this
	// cache's keys), "backend" (everything in the store) or "server".
	Scope string
	// Extra holds backend-specific numbers (server counters, pool stats).
	Extra map[string]any
}

// HealthDetails is a backend's contribution to a detailed health check.
type HealthDetails struct {
	// Status is "healthy", "degraded" or "unhealthy".
	Status   string
	Details  map[string]any
	Warnings []string
}

// Name returns b's type name if it implements Namer, or "custom".
func Name(b Backend) string {
	if n, ok := b.(Namer); ok {
		return n.Name()
	}
	return "custom"
}

// IsInternalKey reports whether a stored key is Cache bookkeeping rather
// than user data: it contains the byte 0xFF, which no valid UTF-8 user key
// or prefix can contain. Scan should skip such keys and DeletePattern must
// not delete them.
func IsInternalKey(key string) bool {
	for i := 0; i < len(key); i++ {
		if key[i] == 0xFF {
			return true
		}
	}
	return false
}

// UniqueTags returns tags without repeats, in first-seen order. It
// returns tags itself when nothing repeats and never modifies it. The
// Cache passes unique tags; backends that can also be called directly use
// this to stay correct for any caller.
func UniqueTags(tags []string) []string {
	for i := 1; i < len(tags); i++ {
		if slices.Contains(tags[:i], tags[i]) {
			out := slices.Clone(tags[:i])
			for _, t := range tags[i+1:] {
				if !slices.Contains(out, t) {
					out = append(out, t)
				}
			}
			return out
		}
	}
	return tags
}

// Wrapper is implemented by a backend that wraps another one and forwards
// its capabilities, such as the near-cache tier: Unwrap returns the
// wrapped backend. The Cache asks Base which capabilities are really
// there.
type Wrapper interface {
	Unwrap() Backend
}

// Base returns the backend at the bottom of b's chain of Wrappers (b
// itself when it wraps nothing).
func Base(b Backend) Backend {
	for i := 0; i < 16; i++ {
		w, ok := b.(Wrapper)
		if !ok {
			return b
		}
		u := w.Unwrap()
		if u == nil {
			return b
		}
		b = u
	}
	return b
}
