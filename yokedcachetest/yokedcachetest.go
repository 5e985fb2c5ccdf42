// Package yokedcachetest helps applications test code that uses
// yokedcache: New returns a memory-backed Cache that the test closes
// automatically, with a fake Clock so TTL behaviour can be tested without
// sleeping.
//
//	func TestProfileCache(t *testing.T) {
//		c, clock := yokedcachetest.New(t)
//		_ = c.Set(ctx, "user:1", u, yokedcache.WithTTL(time.Minute))
//		clock.Advance(2 * time.Minute)
//		_, err := yokedcache.Get[User](ctx, c, "user:1") // errors.Is(err, yokedcache.ErrNotFound)
//	}
package yokedcachetest

import (
	"sync"
	"testing"
	"time"

	"github.com/yokedcache/yokedcache"
)

// New returns a Cache on a fresh memory backend driven by a fake clock,
// with exact TTLs (no jitter), closed by t.Cleanup. cfg, if given, is used
// as the base configuration (its Backend, URL, RedisURL and Clock are
// replaced).
func New(t testing.TB, cfg ...yokedcache.Config) (*yokedcache.Cache, *Clock) {
	t.Helper()
	var c yokedcache.Config
	if len(cfg) > 0 {
		c = cfg[0]
	}
	clock := NewClock(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	c.Backend, c.URL, c.RedisURL = nil, "", ""
	c.Clock = clock
	if c.TTLJitterPercent == 0 {
		c.TTLJitterPercent = yokedcache.NoJitter
	}
	cache, err := yokedcache.New(c)
	if err != nil {
		t.Fatalf("yokedcachetest: %v", err)
	}
	t.Cleanup(func() { _ = cache.Close() })
	return cache, clock
}

// Clock is a fake clock for tests: time moves only when Advance or Set is
// called, and tickers fire then. It implements backend.Clock and is safe
// for concurrent use.
type Clock struct {
	mu      sync.Mutex
	now     time.Time
	tickers map[*ticker]struct{}
}

type ticker struct {
	c      chan time.Time
	period time.Duration
	next   time.Time
}

// NewClock returns a Clock set to start.
func NewClock(start time.Time) *Clock {
	return &Clock{now: start, tickers: make(map[*ticker]struct{})}
}

// Now returns the fake time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// NewTicker returns a ticker that fires as Advance passes its period. Like
// time.Ticker, it drops ticks the receiver is not ready for.
func (c *Clock) NewTicker(d time.Duration) (<-chan time.Time, func()) {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &ticker{c: make(chan time.Time, 1), period: d, next: c.now.Add(d)}
	c.tickers[t] = struct{}{}
	return t.c, func() {
		c.mu.Lock()
		delete(c.tickers, t)
		c.mu.Unlock()
	}
}

// Advance moves the clock forward by d and fires due tickers.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	now := c.now
	for t := range c.tickers {
		if !t.next.After(now) {
			select {
			case t.c <- now:
			default:
			}
			// Skip every period that has passed in one step.
			missed := now.Sub(t.next)/t.period + 1
			t.next = t.next.Add(missed * t.period)
		}
	}
	c.mu.Unlock()
}
