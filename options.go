package yokedcache

import "time"

// SetOption configures one write (Set, SetMany, GetOrSet, Fetch, Touch).
// It is a small value, not a closure, so that passing options allocates
// nothing; build one with WithTTL, WithExactTTL or WithTags.
type SetOption struct {
	kind optKind
	ttl  time.Duration
	tags []string
	errs []error
	f    float64
}

type optKind uint8

const (
	optNone optKind = iota
	optTTL
	optExactTTL
	optTags
	optSWR
	optSIE
	optMissingTTL
	optLoadLock
	optEarlyRefresh
)

type setOptions struct {
	ttl      time.Duration
	tags     []string
	noJitter bool
	// Loads (Fetch, GetOrSet, FetchMany); see stale.go.
	swr, sie   time.Duration
	missingTTL time.Duration
	missErrs   []error
	lockTTL    time.Duration
	beta       float64 // probabilistic early refresh (XFetch)
}

// collectSetOptions folds opts in order; later options override earlier
// TTLs and add to earlier tags.
func collectSetOptions(opts []SetOption) setOptions {
	var o setOptions
	for _, op := range opts {
		switch op.kind {
		case optTTL:
			o.ttl = op.ttl
		case optExactTTL:
			o.noJitter = true
		case optSWR:
			o.swr = op.ttl
		case optSIE:
			o.sie = op.ttl
		case optMissingTTL:
			o.missingTTL, o.missErrs = op.ttl, op.errs
		case optLoadLock:
			o.lockTTL = op.ttl
		case optEarlyRefresh:
			o.beta = op.f
		case optTags:
			if o.tags == nil {
				o.tags = op.tags
			} else {
				o.tags = append(o.tags[:len(o.tags):len(o.tags)], op.tags...)
			}
		}
	}
	return o
}

// WithTTL sets the entry's time to live. 0 means Config.DefaultTTL;
// NoExpiry stores an entry that never expires; any other negative value,
// or one above MaxTTL, is an error matching ErrInvalidTTL. Jitter (Config.TTLJitterPercent)
// applies unless WithExactTTL is also given.
func WithTTL(ttl time.Duration) SetOption { return SetOption{kind: optTTL, ttl: ttl} }

// WithExactTTL disables jitter for this write.
func WithExactTTL() SetOption { return SetOption{kind: optExactTTL} }

// WithTags associates tags with the entry, replacing any tags it had.
// InvalidateTags with any of them makes the entry a miss. A tag is a
// non-empty UTF-8 string of at most MaxTagLength bytes. Several WithTags
// options add up.
func WithTags(tags ...string) SetOption { return SetOption{kind: optTags, tags: tags} }

// WithStaleWhileRevalidate keeps an entry for d after its TTL. A Fetch or
// GetOrSet that finds it stale (past its TTL, within d) returns the stale
// value at once and refreshes it in the background: one load per key at
// a time in this process, detached from the caller's context and bounded
// by Config.LoaderTimeout (else Config.OperationTimeout). The soft expiry
// is stored in the value's envelope, so it works on every backend and
// across processes (whose clocks should agree to well under d). Plain
// reads (Get, GetMany, Exists) treat a stale entry as a miss; TTL reports
// the time until the backend drops it (its TTL + d). A non-positive d is
// ignored. See docs/resilience.md.
func WithStaleWhileRevalidate(d time.Duration) SetOption {
	return SetOption{kind: optSWR, ttl: max(d, 0)}
}

// WithStaleIfError keeps an entry for d after its TTL, for use when a
// refresh fails: a Fetch or GetOrSet that finds it stale calls the loader
// and, if the loader fails, returns the stale value (counted in
// Stats.StaleIfError) instead of the error. A non-positive d is ignored.
func WithStaleIfError(d time.Duration) SetOption {
	return SetOption{kind: optSIE, ttl: max(d, 0)}
}

// WithMissingTTL caches a loader's "not found" for d (negative caching):
// when the loader of a Fetch, GetOrSet or FetchMany returns an error
// matching ErrNotFound, or one of also, a marker is stored for d and
// reads of the key report ErrNotFound without calling the loader until
// it expires or is overwritten (counted in Stats.NegativeHits). The
// loader's error is returned to the callers of the load that stored the
// marker. A non-positive d disables it.
func WithMissingTTL(d time.Duration, also ...error) SetOption {
	return SetOption{kind: optMissingTTL, ttl: max(d, 0), errs: also}
}

// WithEarlyRefresh refreshes a Fetch or GetOrSet entry in the background
// before it goes stale, with a probability that rises as its soft expiry
// nears (XFetch: Vattani, Chierichetti and Lowenstein, "Optimal
// Probabilistic Cache Stampede Prevention"): a hit refreshes when
// now − loadTime·beta·ln(rand) ≥ freshUntil, where loadTime is how long
// the value took to load (stored with it in the envelope). beta 1 is the
// paper's default; larger refreshes earlier. Entries then carry a soft
// expiry (at their TTL) even without a stale window. The refresh is the
// same background load as stale-while-revalidate's. A non-positive beta
// is ignored.
func WithEarlyRefresh(beta float64) SetOption {
	return SetOption{kind: optEarlyRefresh, f: max(beta, 0)}
}

// WithLoadLock protects a Fetch or GetOrSet load across processes: before
// calling the loader, the Cache takes a lock under the key (an internal
// key under the prefix) in the backend for at most ttl — Redis SET NX
// PX, memcached add. A process that finds the lock taken waits for the
// value the holder stores (re-reading it every 25 ms), and loads itself
// only if none appears within ttl. Backends without a shared lock
// (memory, disk, SQLite: backend.LoadLocker) protect loads within the
// process only, as always. A lock that cannot be taken (the backend
// fails) never blocks the load. Choose ttl a little above the loader's
// usual duration. A non-positive ttl is ignored.
func WithLoadLock(ttl time.Duration) SetOption {
	return SetOption{kind: optLoadLock, ttl: max(ttl, 0)}
}

// SearchOption configures FuzzySearch.
type SearchOption func(*searchOptions)

type searchOptions struct {
	threshold  int
	maxResults int
	tags       []string
}

// WithThreshold sets the minimum score (0-100) of a result. Default 80.
func WithThreshold(score int) SearchOption {
	return func(o *searchOptions) { o.threshold = score }
}

// WithMaxResults bounds the number of results. Default 10.
func WithMaxResults(n int) SearchOption {
	return func(o *searchOptions) { o.maxResults = n }
}

// WithSearchTags keeps only entries carrying at least one of tags.
func WithSearchTags(tags ...string) SearchOption {
	return func(o *searchOptions) { o.tags = append(o.tags, tags...) }
}
