package backend

import (
	"math"
	"time"
)

// Clock is the time source for TTLs and sweeps in backends that expire
// entries themselves (memory, disk, SQLite). Tests inject a fake clock to
// check TTL behaviour without sleeping. Servers (Redis, Memcached) expire
// by their own clock and ignore it.
type Clock interface {
	Now() time.Time
	// NewTicker returns a channel that receives a value every d, and a
	// function that stops the ticker.
	NewTicker(d time.Duration) (<-chan time.Time, func())
}

// SystemClock is the real clock.
type SystemClock struct{}

// Now returns time.Now().
func (SystemClock) Now() time.Time { return time.Now() }

// NewTicker wraps time.NewTicker.
func (SystemClock) NewTicker(d time.Duration) (<-chan time.Time, func()) {
	t := time.NewTicker(d)
	return t.C, t.Stop
}

// ClockOrSystem returns c, or SystemClock when c is nil.
func ClockOrSystem(c Clock) Clock {
	if c == nil {
		return SystemClock{}
	}
	return c
}

// ExpiresAt returns the Unix-nanosecond deadline now+ttl for a ttl > 0,
// saturating at math.MaxInt64 (year 2262) instead of overflowing into the
// past, so that no TTL, however long, makes an entry expire at once.
func ExpiresAt(now int64, ttl time.Duration) int64 {
	if ttl > 0 && now > math.MaxInt64-int64(ttl) {
		return math.MaxInt64
	}
	return now + int64(ttl)
}
