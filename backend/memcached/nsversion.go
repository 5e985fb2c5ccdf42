package memcached

import (
	"sync"
	"sync/atomic"
	"time"
)

// The namespace versions a Store remembers (WriteNamespaceTTL,
// ReadNamespaceTTL) must never go backwards: a Set or a read that fetched
// version v before this Store's own Flush stored v+1 must not put v back
// when it finishes after the Flush, or reads would accept pre-flush
// entries and Sets would write under the flushed version.
//
// Every observation of a counter therefore carries two instants of a
// monotonic clock: from, when the read that saw it began, and seen, when
// that read had returned. An observation replaces the remembered one only
// when it is provably at least as new:
//
//   - its read began after the remembered value had been seen (so it read
//     the counter later in real time, whatever the value: this is how a
//     counter re-created at a lower random start is accepted), or
//   - it holds the same or a higher version (counters only grow while they
//     exist).
//
// A Flush that cannot record its new version this way records a
// tombstone instead, which trusts nothing and so forces reads to fetch the
// current version; forgetting always wins. A tombstone keeps its seen
// instant, so an observation whose read began before it is still refused.

// monoStart anchors mono: time.Since uses the monotonic clock, which wall
// clock steps do not move.
var monoStart = time.Now()

// mono returns the nanoseconds since monoStart on the monotonic clock.
func mono() int64 { return int64(time.Since(monoStart)) }

// nsObs is one observation of a namespace version counter. It is
// immutable once stored.
type nsObs struct {
	version uint64
	valid   bool  // false: a tombstone (counter missing, error, Flush raced)
	from    int64 // mono() when the read that saw version began
	seen    int64 // mono() by which the read had returned
}

// nsCache maps the memcached key of a namespace version counter to the
// latest nsObs this Store has of it.
type nsCache struct {
	// mu orders clear against stores: stores hold it for reading, clear
	// for writing, so that no observation older than a clear survives it.
	mu      sync.RWMutex
	clearAt int64 // mono() of the last clear; under mu
	m       sync.Map
	n       atomic.Int64 // entries stored since the last clear
}

// clear forgets every version and refuses observations whose read began
// before now.
func (c *nsCache) clear() {
	c.mu.Lock()
	c.clearAt = mono()
	c.m.Clear()
	c.n.Store(0)
	c.mu.Unlock()
}

func (c *nsCache) load(key string) *nsObs {
	if v, ok := c.m.Load(key); ok {
		return v.(*nsObs)
	}
	return nil
}

// merge returns what to remember when n is observed while old is
// remembered, or nil to keep old.
func merge(old, n *nsObs) *nsObs {
	switch {
	case n.from > old.seen:
		// n's read began after old had been seen: n is newer.
		return n
	case !old.valid || !n.valid:
		return nil
	case n.version > old.version:
		return &nsObs{version: n.version, valid: true, from: n.from, seen: max(n.seen, old.seen)}
	case n.version == old.version && n.from > old.from:
		return &nsObs{version: n.version, valid: true, from: n.from, seen: max(n.seen, old.seen)}
	}
	return nil
}

// put records n unless it is older than what is remembered, and reports
// whether it did. A tombstone (n.valid false) is always recorded.
func (c *nsCache) put(key string, n *nsObs) bool {
	stored, full := c.store(key, n)
	if full {
		c.clear()
		return false
	}
	return stored
}

func (c *nsCache) store(key string, n *nsObs) (stored, full bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if n.valid && n.from <= c.clearAt {
		return false, false // read before a clear: not to be trusted
	}
	for {
		v, loaded := c.m.LoadOrStore(key, n)
		if !loaded {
			return true, c.n.Add(1) > cacheCap
		}
		old := v.(*nsObs)
		next := n
		if n.valid {
			if next = merge(old, n); next == nil {
				return false, false
			}
		} else if old.seen > n.seen {
			next = &nsObs{seen: old.seen}
		}
		if c.m.CompareAndSwap(key, old, next) {
			return true, false
		}
	}
}

func (s *Store) nsCaching() bool { return s.opts.WriteNamespaceTTL > 0 || s.opts.ReadNamespaceTTL > 0 }

// cachedNamespace returns the remembered version of a namespace counter
// if its read began less than ttl before now (a mono() instant).
func (s *Store) cachedNamespace(nsKey string, now int64, ttl time.Duration) (uint64, bool) {
	if ttl <= 0 {
		return 0, false
	}
	o := s.ns.load(nsKey)
	if o == nil || !o.valid || now-o.from >= int64(ttl) {
		return 0, false
	}
	return o.version, true
}

// rememberNamespace records version, read between the mono() instants
// from and seen, unless this Store has seen a newer one. It reports
// whether version is now remembered.
func (s *Store) rememberNamespace(nsKey string, version uint64, from, seen int64) bool {
	if !s.nsCaching() {
		return false
	}
	return s.ns.put(nsKey, &nsObs{version: version, valid: true, from: from, seen: seen})
}

// noteNamespace is rememberNamespace for reads: it skips the write when
// the version is unchanged and its read began recently, so parallel reads
// do not all write the same map entry.
func (s *Store) noteNamespace(nsKey string, version uint64, from, seen int64) {
	if !s.nsCaching() {
		return
	}
	if o := s.ns.load(nsKey); o != nil && o.valid && o.version == version && from-o.from < int64(time.Second)/8 {
		return
	}
	s.rememberNamespace(nsKey, version, from, seen)
}

// forgetNamespace makes this Store fetch the counter's version again:
// the counter is gone, failed, or a Flush's new version could not be
// recorded.
func (s *Store) forgetNamespace(nsKey string) {
	if !s.nsCaching() {
		return
	}
	s.ns.put(nsKey, &nsObs{seen: mono()})
}
