package yokedcache

import "time"

// SetOption configures one write (Set, SetMany, GetOrSet, Fetch, Touch).
type SetOption func(*setOptions)

type setOptions struct {
	ttl      time.Duration
	tags     []string
	noJitter bool
}

// WithTTL sets the entry's time to live. 0 means Config.DefaultTTL;
// NoExpiry stores an entry that never expires; any other negative value is
// an error matching ErrInvalidTTL. Jitter (Config.TTLJitterPercent)
// applies unless WithExactTTL is also given.
func WithTTL(ttl time.Duration) SetOption {
	return func(o *setOptions) { o.ttl = ttl }
}

// WithExactTTL disables jitter for this write.
func WithExactTTL() SetOption {
	return func(o *setOptions) { o.noJitter = true }
}

// WithTags associates tags with the entry, replacing any tags it had.
// InvalidateTags with any of them makes the entry a miss. A tag is a
// non-empty UTF-8 string of at most MaxTagLength bytes.
func WithTags(tags ...string) SetOption {
	return func(o *setOptions) { o.tags = append(o.tags, tags...) }
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
