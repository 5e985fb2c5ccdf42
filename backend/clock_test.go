package backend

import (
	"math"
	"testing"
	"time"
)

func TestExpiresAtSaturates(t *testing.T) {
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano()
	for _, tc := range []struct {
		ttl  time.Duration
		want int64
	}{
		{time.Second, now + int64(time.Second)},
		{MaxTTL, now + int64(MaxTTL)},
		{math.MaxInt64, math.MaxInt64},
		{time.Duration(math.MaxInt64 - now), math.MaxInt64},
		{time.Duration(math.MaxInt64 - now + 1), math.MaxInt64},
	} {
		if got := ExpiresAt(now, tc.ttl); got != tc.want {
			t.Errorf("ExpiresAt(now, %v) = %d; want %d", tc.ttl, got, tc.want)
		}
	}
}
