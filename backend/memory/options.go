package memory

import (
	"fmt"
	"strings"
	"time"

	"github.com/yokedcache/yokedcache/backend"
)

// Defaults of Options.
const (
	DefaultMaxSize         = 10_000
	DefaultCleanupInterval = 5 * time.Minute
)

// Options configures a Store. The zero value is valid.
type Options struct {
	// MaxSize bounds the number of entries in the whole store; entries
	// are evicted beyond it (see the package doc). 0 means DefaultMaxSize
	// (10 000); -1 means unbounded.
	MaxSize int
	// MaxBytes bounds the approximate memory of keys and values in the
	// whole store; 0 means no byte bound.
	MaxBytes int64
	// CleanupInterval is how often expired entries are swept. 0 means
	// DefaultCleanupInterval (5 minutes); -1 disables the sweep (expiry
	// stays lazy).
	CleanupInterval time.Duration
	// Shards splits the store to let reads scale across cores. 0 picks
	// one shard per 256 entries of MaxSize (per 1024 with PolicyTinyLFU),
	// between 1 and 64, rounded up to a power of two.
	Shards int
	// Policy chooses which entry is evicted when the store is full.
	// Default (zero value): PolicyLRU.
	Policy Policy
	// Clock is the time source for TTLs and the sweep. Default: system.
	Clock backend.Clock
}

// Policy is an eviction policy. The zero value is PolicyLRU.
type Policy uint8

const (
	// PolicyLRU evicts the (approximately) least recently used entry.
	PolicyLRU Policy = iota
	// PolicyTinyLFU is W-TinyLFU: a small LRU admission window in front
	// of a segmented LRU whose admissions are decided by access frequency.
	PolicyTinyLFU
)

// String returns "lru" or "tinylfu" (the names ParsePolicy and the
// policy URL parameter accept).
func (p Policy) String() string {
	switch p {
	case PolicyLRU:
		return "lru"
	case PolicyTinyLFU:
		return "tinylfu"
	}
	return fmt.Sprintf("Policy(%d)", uint8(p))
}

// ParsePolicy returns the Policy named s ("lru" or "tinylfu", any case;
// "w-tinylfu" is accepted too). Other names are an error matching
// backend.ErrInvalidConfig.
func ParsePolicy(s string) (Policy, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "lru":
		return PolicyLRU, nil
	case "tinylfu", "w-tinylfu", "wtinylfu":
		return PolicyTinyLFU, nil
	}
	return 0, errInvalid(fmt.Sprintf("unknown eviction policy %q (want lru or tinylfu)", s))
}
