// Package stripe is a lock-free counter spread over cache lines, so that
// increments from many cores rarely contend on one line: the hot-path
// counters of the Cache and of the near-cache tier.
package stripe

import (
	"math/rand/v2"
	"sync/atomic"
)

// Stripes is the number of cache lines a Counter spreads over.
const Stripes = 16

type padded struct {
	n atomic.Int64
	_ [56]byte
}

// Counter is a striped int64 counter; the zero value is ready to use.
type Counter struct{ s [Stripes]padded }

// Add adds n to one stripe, picked at random (math/rand/v2's per-thread
// generator: no shared state).
func (c *Counter) Add(n int64) { c.s[rand.Uint32()&(Stripes-1)].n.Add(n) }

// AddAt adds n to the stripe picked by the low bits of r, a random number
// the caller drew anyway (one draw serving two purposes on a hot path).
func (c *Counter) AddAt(n int64, r uint32) { c.s[r&(Stripes-1)].n.Add(n) }

// Load returns the sum of the stripes. Concurrent Adds may or may not be
// included.
func (c *Counter) Load() int64 {
	var t int64
	for i := range c.s {
		t += c.s[i].n.Load()
	}
	return t
}
