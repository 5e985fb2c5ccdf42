package yokedcache

import "time"

// SetOption configures one write (Set, SetMany, GetOrSet, Fetch, Touch).
// It is a small value, not a closure, so that passing options allocates
// nothing; build one with WithTTL, WithExactTTL or WithTags.
type SetOption struct {
	kind optKind
	ttl  time.Duration
	tags []string
}

type optKind uint8

const (
	optNone optKind = iota
	optTTL
	optExactTTL
	optTags
)

type setOptions struct {
	ttl      time.Duration
	tags     []string
	noJitter bool
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
