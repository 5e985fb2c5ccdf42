package backend

import "time"

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
