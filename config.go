package yokedcache

import (
	"errors"
	"fmt"
	"log/slog"
	"time"
	"unicode/utf8"

	"github.com/yokedcache/yokedcache/backend"
	"github.com/yokedcache/yokedcache/backend/memory"
	"github.com/yokedcache/yokedcache/codec"
)

// Defaults of the Config fields.
const (
	DefaultKeyPrefix            = "yokedcache"
	DefaultTTL                  = 5 * time.Minute
	DefaultTTLJitterPercent     = 10
	DefaultCompressionThreshold = 1024
	DefaultMaxValueSize         = 64 << 20
	// MaxKeyLength is the longest user key accepted, in bytes.
	MaxKeyLength = 1024
	// MaxTagLength is the longest tag accepted, in bytes.
	MaxTagLength = 256
)

// NoJitter is the Config.TTLJitterPercent that disables TTL jitter:
// entries expire exactly after their TTL.
const NoJitter = -1

// NoExpiry is the TTL of an entry that never expires: pass it to WithTTL
// or Expire; TTL reports it for such entries.
const NoExpiry = backend.NoExpiry

// MaxTTL is the longest TTL accepted (365 days), by WithTTL, Expire,
// Touch, DefaultTTL and RouteDefaultTTL, whatever the backend: it is the
// longest every backend can honour (Memcached's absolute expiry times end
// in January 2038). A longer TTL is an error matching ErrInvalidTTL
// (ErrInvalidConfig in a Config); TTL jitter never takes a TTL past it.
// Use NoExpiry for entries that must not expire.
const MaxTTL = backend.MaxTTL

// Config configures a Cache. The zero value is valid: an in-process memory
// backend with the defaults below. New copies the Config; it never modifies
// the caller's value.
type Config struct {
	// KeyPrefix namespaces every stored key as "<KeyPrefix>:<key>".
	// Default "yokedcache". It must be valid UTF-8 without ':' at the end.
	// Caches sharing a backend need prefixes that do not nest ("app" and
	// "app:v2" overlap: a Flush of "app" empties both).
	KeyPrefix string
	// DefaultTTL applies when a Set has no WithTTL. Default 5 minutes; at
	// most MaxTTL, or NoExpiry.
	DefaultTTL time.Duration
	// TTLJitterPercent spreads expiries by ±this percent of each TTL.
	// 0 means the default (10); NoJitter (-1) gives exact TTLs.
	TTLJitterPercent int

	// Backend is an explicit backend (for example memcached.New(...)).
	// It takes precedence over URL and RedisURL. The Cache owns it: Close
	// closes it.
	Backend backend.Backend
	// URL names any registered backend: "mem://", "redis://host:6379/0",
	// "memcached://h1:11211", "file:///var/cache/app", "sqlite:///path.db".
	// The backend package must be imported for its scheme to be known
	// (memory and redis always are).
	URL string
	// RedisURL selects the Redis backend, as in the reference guide. Empty
	// (and no Backend or URL) selects the memory backend.
	RedisURL string

	// Routes send keys by prefix to their own backends and give them
	// their own default TTLs; every other key goes to the default backend
	// (Backend, URL, RedisURL or memory). Each operation matches the
	// longest route prefix once, on the user key (see Route and
	// docs/routing.md). Backends given here are owned by the Cache.
	Routes []Route

	// Near puts a near-cache tier in front of the default backend: a
	// bounded in-process copy of hot entries, kept coherent with the
	// shared backend across processes (see NearOptions and
	// docs/near-cache.md). nil: no tier. A backend URL's near_cache
	// parameters set it too.
	Near *NearOptions

	// Memory configures the memory backend that New opens when no other
	// backend is named (and the one a "mem://" URL opens, whose query
	// parameters override these): MaxSize (default 10 000 entries; -1
	// unbounded), MaxBytes, CleanupInterval (default 5 minutes), Shards and
	// the eviction Policy (memory.PolicyLRU, the default, or
	// memory.PolicyTinyLFU). Its Clock is Config.Clock.
	Memory memory.Options

	// Codec encodes values other than []byte and string (those are stored
	// verbatim). Default codec.JSON.
	Codec codec.Codec
	// ExtraCodecs are further user codecs (IDs 128-255) that reads accept,
	// for example while migrating from one codec to another.
	ExtraCodecs []codec.Codec
	// Compression applied to encoded values of at least
	// CompressionThreshold bytes. Default codec.None; codec.S2 is a good
	// choice for network backends.
	Compression codec.Compression
	// CompressionThreshold in bytes. Default 1024.
	CompressionThreshold int
	// MaxValueSize bounds an encoded value, in bytes. Default 64 MiB.
	MaxValueSize int

	// KeepDecoded makes typed reads (Get[T], Fetch) on in-process routes
	// (the memory backend) decode a stored value once and hand the same
	// decoded value to later readers of the same type, as in-process Go
	// caches and the Python original do: a Get[T] of a small struct then
	// costs about what a GetBytes does instead of a JSON decode. The value
	// returned shares its maps, slices and pointers with the kept one:
	// treat it as read-only (a struct without them is copied, so it is
	// safe to change). A write replaces it. Network backends are not
	// affected: each read decodes its own copy.
	KeepDecoded bool

	// SigningKeys make stored values tamper-evident: each value carries an
	// HMAC-SHA-256 (128 bits) over the value and the key it is stored
	// under, made with the first key; every key verifies (list the new key
	// first and keep the old one while values signed with it live). A
	// value without a valid signature (written by a raw client, changed,
	// or moved to another key) is a miss matching ErrCorrupt, counted in
	// Stats.Unauthenticated. Keys are at least 16 random bytes. They are
	// never printed (String, Redacted, errors).
	SigningKeys [][]byte
	// EncryptionKeys encrypt stored values with AES-256-GCM (32-byte
	// keys), the stored key bound in as associated data so a value moved
	// to another key does not decrypt. The first key encrypts, every key
	// decrypts (rotation). Keys and tags are not encrypted, so patterns,
	// listing and fuzzy search still work. Encryption also authenticates:
	// with both lists, values are encrypted and SigningKeys only open
	// values signed earlier.
	EncryptionKeys [][]byte

	// LoaderTimeout bounds a Fetch/GetOrSet loader, which runs detached
	// from any one caller's context. 0 means no bound.
	LoaderTimeout time.Duration

	// OperationTimeout bounds each single-key call to a network or disk
	// backend (Get, Set, Delete, Exists, TTL, Expire, a load's read and
	// write-back) when the caller's context has no earlier deadline, so
	// a hung server costs a caller at most this. The in-process memory
	// backend is never bounded (it cannot hang on a network). 0 means
	// DefaultOperationTimeout (1 s); -1 disables.
	OperationTimeout time.Duration
	// BatchTimeout is OperationTimeout for batch and fan-out calls
	// (GetMany, SetMany, DeleteMany, FetchMany's read and write-back,
	// Stats). 0 means DefaultBatchTimeout (5 s); -1 disables. Work
	// proportional to the keyspace (Keys, InvalidateTags,
	// InvalidatePattern, Flush) has no timeout of its own: the caller's
	// context bounds it (the circuit breaker still applies).
	BatchTimeout time.Duration
	// HealthTimeout bounds Ping, Health and DetailedHealthCheck when the
	// caller's context has no earlier deadline. 0 means
	// DefaultHealthTimeout (2 s); -1 disables.
	HealthTimeout time.Duration
	// BreakerFailures is how many consecutive failures of one network or
	// disk backend open its circuit breaker: calls then fail at once
	// with an error matching ErrUnavailable (and the failure's cause)
	// for BreakerCooldown, after which one call probes the backend
	// (half-open) and closes the breaker if it succeeds. A miss, a
	// refused request (too large, unsupported) and the caller's own
	// cancellation are not failures. 0 means DefaultBreakerFailures (5);
	// -1 disables the breaker.
	BreakerFailures int
	// BreakerCooldown is how long an open breaker rejects calls before
	// probing. 0 means DefaultBreakerCooldown (500 ms).
	BreakerCooldown time.Duration
	// WaitReady makes New wait up to this long for every backend to
	// answer a Ping, and fail (with an error matching ErrUnavailable)
	// if one does not. 0 (the default) does not wait: New never contacts
	// a server, which is dialled on first use and redialled after it
	// returns; Health reports it unhealthy meanwhile.
	WaitReady time.Duration
	// FailClosedLoads makes Fetch, GetOrSet and FetchMany return a
	// backend's read error instead of calling the loader. By default
	// (false) a load fails open: when the backend cannot be read the
	// loader runs and its value is returned; writing it back is best
	// effort (counted in Stats.WriteBackErrors, logged once per burst).
	FailClosedLoads bool

	// Logger receives warnings (corrupt values, backend failures).
	// Default slog.Default().
	Logger *slog.Logger
	// Clock drives TTLs of the memory backend that New creates. Default
	// the system clock. Tests inject a fake (see package yokedcachetest).
	Clock backend.Clock
	// Rand returns a uniform float in [0, 1) for TTL jitter. Default
	// math/rand/v2. Inject it for deterministic tests.
	Rand func() float64
	// Tracer starts a span per operation, and per backend round trip of
	// batch and fan-out operations (see Tracer; package otel provides
	// one over OpenTelemetry). Default nil: no tracing, at the cost of
	// one branch per operation.
	Tracer Tracer
}

func (cfg *Config) normalize() error {
	if cfg.KeyPrefix == "" {
		cfg.KeyPrefix = DefaultKeyPrefix
	}
	if err := validKeyPrefix(cfg.KeyPrefix); err != nil {
		return fmt.Errorf("KeyPrefix %q %v: %w", cfg.KeyPrefix, err, ErrInvalidConfig)
	}
	switch {
	case cfg.DefaultTTL == 0:
		cfg.DefaultTTL = DefaultTTL
	case cfg.DefaultTTL < 0 && cfg.DefaultTTL != NoExpiry:
		return fmt.Errorf("DefaultTTL %v is negative: %w", cfg.DefaultTTL, ErrInvalidConfig)
	case cfg.DefaultTTL > MaxTTL:
		return fmt.Errorf("DefaultTTL %v exceeds MaxTTL %v (use NoExpiry for entries that never expire): %w", cfg.DefaultTTL, MaxTTL, ErrInvalidConfig)
	}
	switch {
	case cfg.TTLJitterPercent == 0:
		cfg.TTLJitterPercent = DefaultTTLJitterPercent
	case cfg.TTLJitterPercent == NoJitter:
		cfg.TTLJitterPercent = 0
	case cfg.TTLJitterPercent < 0 || cfg.TTLJitterPercent > 50:
		return fmt.Errorf("TTLJitterPercent %d out of range 0-50 (or NoJitter): %w", cfg.TTLJitterPercent, ErrInvalidConfig)
	}
	if cfg.Codec == nil {
		cfg.Codec = codec.JSON
	}
	if cfg.Compression > codec.Zstd {
		return fmt.Errorf("unknown Compression %d: %w", cfg.Compression, ErrInvalidConfig)
	}
	if cfg.CompressionThreshold == 0 {
		cfg.CompressionThreshold = DefaultCompressionThreshold
	}
	if cfg.MaxValueSize == 0 {
		cfg.MaxValueSize = DefaultMaxValueSize
	} else if cfg.MaxValueSize < 0 {
		return fmt.Errorf("MaxValueSize %d is negative: %w", cfg.MaxValueSize, ErrInvalidConfig)
	}
	if cfg.LoaderTimeout < 0 {
		return fmt.Errorf("LoaderTimeout %v is negative: %w", cfg.LoaderTimeout, ErrInvalidConfig)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if err := cfg.normalizeResilience(); err != nil {
		return err
	}
	if err := cfg.normalizeRoutes(); err != nil {
		return err
	}
	if err := validNear("Config.Near", cfg.Near); err != nil {
		return err
	}
	for _, r := range cfg.Routes {
		if err := validNear(fmt.Sprintf("route %q Near", r.Prefix), r.Near); err != nil {
			return err
		}
	}
	cfg.Clock = backend.ClockOrSystem(cfg.Clock)
	return nil
}

// validKeyPrefix checks a non-empty key prefix.
func validKeyPrefix(p string) error {
	if !utf8.ValidString(p) || p[len(p)-1] == ':' {
		return errors.New("must be valid UTF-8 and not end in ':'")
	}
	return nil
}

// normalizeResilience applies the defaults of the timeout, breaker and
// readiness settings and validates them.
func (cfg *Config) normalizeResilience() error {
	durs := []struct {
		name string
		p    *time.Duration
		def  time.Duration
	}{
		{"OperationTimeout", &cfg.OperationTimeout, DefaultOperationTimeout},
		{"BatchTimeout", &cfg.BatchTimeout, DefaultBatchTimeout},
		{"HealthTimeout", &cfg.HealthTimeout, DefaultHealthTimeout},
	}
	for _, d := range durs {
		switch {
		case *d.p == 0:
			*d.p = d.def
		case *d.p == -1:
		case *d.p < 0:
			return fmt.Errorf("%s %v is negative (-1 disables it): %w", d.name, *d.p, ErrInvalidConfig)
		}
	}
	switch {
	case cfg.BreakerFailures == 0:
		cfg.BreakerFailures = DefaultBreakerFailures
	case cfg.BreakerFailures < -1:
		return fmt.Errorf("BreakerFailures %d is negative (-1 disables the breaker): %w", cfg.BreakerFailures, ErrInvalidConfig)
	}
	switch {
	case cfg.BreakerCooldown == 0:
		cfg.BreakerCooldown = DefaultBreakerCooldown
	case cfg.BreakerCooldown < 0:
		return fmt.Errorf("BreakerCooldown %v is negative: %w", cfg.BreakerCooldown, ErrInvalidConfig)
	}
	if cfg.WaitReady < 0 {
		return fmt.Errorf("WaitReady %v is negative: %w", cfg.WaitReady, ErrInvalidConfig)
	}
	return nil
}
