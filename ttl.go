package yokedcache

import (
	"fmt"
	"math/rand/v2"
	"time"
)

// resolveTTL returns the TTL of a write to route r: the option's, or the
// route's default, with jitter unless the write asked for an exact TTL.
func (c *Cache) resolveTTL(r *route, o *setOptions) (time.Duration, error) {
	ttl := o.ttl
	switch {
	case ttl == 0:
		ttl = r.ttl
	case ttl == NoExpiry:
		return NoExpiry, nil
	case ttl < 0:
		return 0, fmt.Errorf("ttl %v is negative (use NoExpiry for entries that never expire): %w", ttl, ErrInvalidTTL)
	case ttl > MaxTTL:
		return 0, errTTLTooLong(ttl)
	}
	if ttl == NoExpiry {
		return NoExpiry, nil
	}
	if p := c.cfg.TTLJitterPercent; p > 0 && !o.noJitter {
		r := c.cfg.Rand
		var f float64
		if r != nil {
			f = r()
		} else {
			f = rand.Float64()
		}
		j := time.Duration(float64(ttl) * float64(p) / 100 * (2*f - 1))
		if ttl+j > 0 {
			ttl += j
		}
		ttl = min(ttl, MaxTTL) // jitter never takes a TTL past the maximum
	}
	return ttl, nil
}

func errTTLTooLong(ttl time.Duration) error {
	return fmt.Errorf("ttl %v exceeds MaxTTL %v (use NoExpiry for entries that never expire): %w", ttl, MaxTTL, ErrInvalidTTL)
}
