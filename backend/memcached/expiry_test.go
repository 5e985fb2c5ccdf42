package memcached

import (
	"math"
	"testing"
	"time"

	"github.com/yokedcache/yokedcache/backend"
)

// Huge TTLs saturate at memcached's latest expiration instead of
// overflowing into an expiry in the past.
func TestExpiryOfHugeTTLs(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	for _, c := range []struct {
		ttl    time.Duration
		mc     int32
		header int64
	}{
		{time.Duration(math.MaxInt64), maxExpiry, maxExpiryMs},
		{math.MaxInt64 - time.Second + 1, maxExpiry, maxExpiryMs},
		{250 * 365 * 24 * time.Hour, maxExpiry, maxExpiryMs},
		{1500 * time.Millisecond, 3, 1_800_000_001_500},
		{30*24*time.Hour - 2*time.Second, 30*24*3600 - 1, 1_800_000_000_000 + 30*24*3600*1000 - 2000},
		{31 * 24 * time.Hour, 1_800_000_000 + 31*24*3600 + 1, 1_800_000_000_000 + 31*24*3600*1000},
		{backend.NoExpiry, 0, 0},
	} {
		if got := memcachedExpiry(c.ttl, now); got != c.mc {
			t.Errorf("memcachedExpiry(%v) = %d; want %d", c.ttl, got, c.mc)
		}
		if got := expiryMs(c.ttl, now); got != c.header {
			t.Errorf("expiryMs(%v) = %d; want %d", c.ttl, got, c.header)
		}
	}
}
