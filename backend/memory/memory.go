// Package memory is yokedcache's in-process backend: zero setup, bounded
// by entry count (and optionally bytes) with least-recently-used or
// W-TinyLFU eviction, TTLs with lazy expiry plus a periodic sweep, tags,
// patterns and stats.
//
// # Eviction
//
// The store is split into shards (Options.Shards; by default one shard per
// 256 entries of MaxSize for LRU and per 1024 for TinyLFU, at most 64) so
// that reads on several cores do not contend on one lock. The bounds are
// global and exact: one atomic entry count and one atomic byte count for
// the whole store. A Set reserves its room in those counts before it
// inserts, so the store never holds more than MaxSize entries (or
// MaxBytes bytes, except for a single entry larger than MaxBytes, which
// is stored alone), and nothing is evicted before the store is full. When
// the store is full the inserting shard evicts its own victim (under the
// lock it already holds); only when that shard has nothing left to evict
// does the Set release its lock and evict from another shard.
//
// Options.Policy chooses the victim within a shard:
//
//   - PolicyLRU (the default): each shard keeps an LRU list. Promotion is
//     lazy: a read moves an entry to the front only if it is outside the
//     most recent quarter of the shard's list, which removes most writes
//     from the read path. Eviction is exact in the bound and approximately
//     LRU in the order (exact LRU with Shards: 1 and MaxSize below 4).
//   - PolicyTinyLFU: W-TinyLFU per shard. New entries enter an LRU
//     admission window; an entry leaving the window competes with the
//     main space's victim (the tail of the probation segment of a
//     segmented LRU), and the one that a count-min sketch of 4-bit
//     counters (halved every 10 × capacity increments, so old popularity
//     fades) says is accessed less often is evicted. A hit in probation
//     moves the entry to the protected segment (80 % of the main space).
//     The window starts at 1 % of the shard and is resized by hill
//     climbing on the shard's hit ratio. All of this runs synchronously
//     under the shard lock, in constant time per operation: there is no
//     maintenance goroutine that could fall behind. It resists scans and
//     one-hit wonders much better than LRU (see TestTinyLFUBeatsLRU for
//     the traces and the hit ratios).
//
// # Decoded objects
//
// GetObject and AttachObject let the Cache keep the decoded Go value of an
// entry next to its bytes, so that a typed read does not decode again. An
// object lives and dies with its entry: any write, delete, expiry or
// eviction drops it. Expire only changes the entry's TTL (the bytes stay
// the same), so it keeps the object.
//
// # Hot path
//
// A Get hashes the key once (maphash; the hash picks the shard and, with
// TinyLFU, the sketch counters), takes the shard's mutex, and reads the
// clock only if the entry has a TTL. With the system clock a read is one
// monotonic clock read (start time plus elapsed time), not time.Now's two.
// A Set that replaces a value updates its entry in place, and a Set into a
// full store reuses the entry it evicts: neither allocates an entry. Eviction and
// expiry counters live in the shards, so a Set into a full store writes no
// cache line shared with other shards. See BenchmarkStore.
//
// # URLs
//
//	mem://?max_size=10000&max_bytes=64MiB&cleanup_interval=5m&shards=16&policy=tinylfu
//
// ("memory://" is accepted too.) Parameters: max_size, max_bytes (with an
// optional KB/MB/GB/KiB/MiB/GiB suffix), cleanup_interval (Go duration or
// seconds), shards (0-4096), policy (lru or tinylfu).
//
// # As
//
// The memory backend supports no native types for As.
package memory

import (
	"context"
	"fmt"
	"hash/maphash"
	"iter"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/yokedcache/yokedcache/backend"
	"github.com/yokedcache/yokedcache/internal/glob"
)

// Options configures a Store. The zero value is valid.
type Options struct {
	// MaxSize bounds the number of entries in the whole store; entries
	// are evicted beyond it (see the package doc). 0 means 10 000; -1
	// means unbounded.
	MaxSize int
	// MaxBytes bounds the approximate memory of keys and values in the
	// whole store; 0 means no byte bound.
	MaxBytes int64
	// CleanupInterval is how often expired entries are swept. 0 means
	// 5 minutes; -1 disables the sweep (expiry stays lazy).
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

// entryOverhead approximates the bytes of bookkeeping per entry.
const entryOverhead = 96

// Which list an entry is on.
const (
	qMain      uint8 = iota // LRU: the shard's only list; TinyLFU: the window
	qProbation              // TinyLFU main space, probation segment
	qProtected              // TinyLFU main space, protected segment
)

type entry struct {
	key        string
	val        []byte
	obj        any    // decoded value attached by AttachObject
	expireAt   int64  // unix nanoseconds; 0 = never
	promoted   uint64 // shard.tick when last moved to the front (LRU)
	hash       uint64 // maphash of key
	tags       []string
	prev, next *entry
	q          uint8
}

func (e *entry) size() int64 { return int64(len(e.key)+len(e.val)) + entryOverhead }

// list is a doubly linked list with a sentinel: root.next is the front
// (most recent), root.prev the back.
type list struct {
	root entry
	n    int
}

func (l *list) init() { l.root.next, l.root.prev, l.n = &l.root, &l.root, 0 }

func (l *list) pushFront(e *entry) {
	e.prev = &l.root
	e.next = l.root.next
	l.root.next.prev = e
	l.root.next = e
	l.n++
}

func (l *list) unlink(e *entry) {
	e.prev.next = e.next
	e.next.prev = e.prev
	e.prev, e.next = nil, nil
	l.n--
}

func (l *list) moveToFront(e *entry) {
	if l.root.next == e {
		return
	}
	e.prev.next = e.next
	e.next.prev = e.prev
	e.prev = &l.root
	e.next = l.root.next
	l.root.next.prev = e
	l.root.next = e
}

// back returns the last entry, or nil if the list is empty.
func (l *list) back() *entry {
	if l.n == 0 {
		return nil
	}
	return l.root.prev
}

type shard struct {
	mu   sync.Mutex
	m    map[string]*entry
	main list // LRU: every entry; TinyLFU: the admission window
	tags map[string]map[string]struct{}
	// tick counts moves to the front. An entry moved less than young
	// ticks ago is still in the most recent quarter of the list, and a
	// read does not move it again (lazy promotion: fewer writes to shared
	// cache lines, same eviction order for all but the youngest entries).
	tick  uint64
	young uint64
	lfu   *tinyLFU // nil with PolicyLRU
	// evictions and expirations count removals for Stats (summed over
	// the shards): no shared counter is written on the hot path.
	evictions, expirations int64
	// spare is the last evicted entry, cleared, for the Set that evicted
	// it to reuse: a Set into a full store allocates no entry.
	spare *entry
	_     [64]byte // keep shards on separate cache lines
}

// Store is the memory backend. It is safe for concurrent use.
type Store struct {
	shards []shard
	mask   uint64
	seed   maphash.Seed
	clock  backend.Clock
	policy Policy
	maxN   int64 // entries; <= 0 unbounded
	maxB   int64 // bytes; 0 unbounded
	// With the system clock, now is start's wall time plus the monotonic
	// time since start: one clock read instead of two (time.Now reads
	// both clocks), and immune to wall-clock steps.
	system    bool
	start     time.Time
	startNano int64
	closed    atomic.Bool // read by every operation, written once
	// Counters written by Sets and evictions live on other cache lines
	// than the read-mostly fields above.
	_ [64]byte
	// count and bytes are the global totals, including entries reserved
	// by a Set in progress (which holds the lock of the entry's shard).
	// bytes is kept only with a byte bound (Stats sums the entries).
	count  atomic.Int64
	bytes  atomic.Int64
	cursor atomic.Uint64 // where cross-shard eviction starts looking
	stop   chan struct{}
	done   chan struct{}
}

var (
	_ backend.Backend        = (*Store)(nil)
	_ backend.BatchGetter    = (*Store)(nil)
	_ backend.BatchSetter    = (*Store)(nil)
	_ backend.BatchDeleter   = (*Store)(nil)
	_ backend.Exister        = (*Store)(nil)
	_ backend.Expirer        = (*Store)(nil)
	_ backend.Tagger         = (*Store)(nil)
	_ backend.Scanner        = (*Store)(nil)
	_ backend.PatternDeleter = (*Store)(nil)
	_ backend.Flusher        = (*Store)(nil)
	_ backend.Stater         = (*Store)(nil)
	_ backend.Pinger         = (*Store)(nil)
	_ backend.Namer          = (*Store)(nil)
)

// New returns a Store. It starts a sweep goroutine (unless disabled) that
// Close stops.
func New(o Options) (*Store, error) {
	if o.MaxSize == 0 {
		o.MaxSize = 10_000
	}
	if o.MaxSize < -1 || o.MaxBytes < 0 || o.Shards < 0 || (o.CleanupInterval < 0 && o.CleanupInterval != -1) {
		return nil, errInvalid("negative MaxSize, MaxBytes, Shards or CleanupInterval")
	}
	if o.Policy != PolicyLRU && o.Policy != PolicyTinyLFU {
		return nil, errInvalid("unknown Policy " + o.Policy.String())
	}
	if o.CleanupInterval == 0 {
		o.CleanupInterval = 5 * time.Minute
	}
	n := o.Shards
	if n == 0 {
		per := 256
		if o.Policy == PolicyTinyLFU {
			// Bigger shards give the window, the segments and the hill
			// climber enough entries and samples to work with.
			per = 1024
		}
		n = 1
		if o.MaxSize > 0 {
			for n*per < o.MaxSize && n < 64 {
				n *= 2
			}
		} else {
			n = 64
		}
	}
	// Round up to a power of two for masking.
	p := 1
	for p < n {
		p *= 2
	}
	n = p
	s := &Store{
		shards: make([]shard, n),
		mask:   uint64(n - 1),
		seed:   maphash.MakeSeed(),
		clock:  backend.ClockOrSystem(o.Clock),
		policy: o.Policy,
		maxN:   int64(o.MaxSize),
		maxB:   o.MaxBytes,
	}
	if _, ok := s.clock.(backend.SystemClock); ok {
		s.system, s.start = true, time.Now()
		s.startNano = s.start.UnixNano()
	}
	// Nominal entries per shard: sizes the LRU's young quarter and the
	// TinyLFU's segments and sketch.
	per := 1024
	if o.MaxSize > 0 {
		per = (o.MaxSize + n - 1) / n
	}
	for i := range s.shards {
		sh := &s.shards[i]
		sh.m = make(map[string]*entry)
		sh.main.init()
		sh.tags = make(map[string]map[string]struct{})
		sh.young = uint64(per / 4)
		if o.Policy == PolicyTinyLFU {
			sh.lfu = newTinyLFU(per, uint64(i)+1)
		}
	}
	if o.CleanupInterval > 0 {
		s.stop, s.done = make(chan struct{}), make(chan struct{})
		tick, stopTick := s.clock.NewTicker(o.CleanupInterval)
		go s.sweeper(tick, stopTick)
	}
	return s, nil
}

func (s *Store) sweeper(tick <-chan time.Time, stopTick func()) {
	defer close(s.done)
	defer stopTick()
	for {
		select {
		case <-s.stop:
			return
		case <-tick:
			s.Sweep()
		}
	}
}

// Sweep removes every expired entry now. The sweep goroutine calls it
// every CleanupInterval.
func (s *Store) Sweep() {
	now := s.now()
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		for _, e := range sh.m {
			if e.expireAt != 0 && e.expireAt <= now {
				s.remove(sh, e)
				sh.expirations++
			}
		}
		sh.mu.Unlock()
	}
}

// Len returns the number of entries the store holds, including expired
// entries not yet removed. It never exceeds MaxSize.
func (s *Store) Len() int { return int(s.count.Load()) }

// Policy returns the store's eviction policy.
func (s *Store) Policy() Policy { return s.policy }

func (s *Store) now() int64 {
	if s.system {
		return s.startNano + int64(time.Since(s.start))
	}
	return s.clock.Now().UnixNano()
}

func (s *Store) hash(key string) uint64 { return maphash.String(s.seed, key) }

// ---- list and index helpers (shard lock held) ----

func (sh *shard) untag(e *entry) {
	for _, t := range e.tags {
		if set := sh.tags[t]; set != nil {
			delete(set, e.key)
			if len(set) == 0 {
				delete(sh.tags, t)
			}
		}
	}
}

func (sh *shard) tag(e *entry, tags []string) {
	if len(tags) == 0 {
		e.tags = nil
		return
	}
	e.tags = append([]string(nil), tags...)
	for _, t := range e.tags {
		set := sh.tags[t]
		if set == nil {
			set = make(map[string]struct{})
			sh.tags[t] = set
		}
		set[e.key] = struct{}{}
	}
}

// listOf returns the list e is on.
func (sh *shard) listOf(e *entry) *list {
	switch e.q {
	case qProbation:
		return &sh.lfu.probation
	case qProtected:
		return &sh.lfu.protected
	}
	return &sh.main
}

// remove drops e from its shard and from the global counts.
func (s *Store) remove(sh *shard, e *entry) {
	s.unindex(sh, e)
	s.count.Add(-1)
}

// unindex drops e from its shard and its bytes from the global byte
// count (kept only with a byte bound); the caller accounts for the entry
// count.
func (s *Store) unindex(sh *shard, e *entry) {
	sh.listOf(e).unlink(e)
	sh.untag(e)
	delete(sh.m, e.key)
	e.obj = nil
	if s.maxB > 0 {
		s.bytes.Add(-e.size())
	}
}

// live returns the entry for key if present and not expired, removing it
// when expired.
func (s *Store) live(sh *shard, key string, now int64) *entry {
	e := sh.m[key]
	if e == nil {
		return nil
	}
	if e.expireAt != 0 && e.expireAt <= now {
		s.remove(sh, e)
		sh.expirations++
		return nil
	}
	return e
}

func (s *Store) expireAt(ttl time.Duration, now int64) int64 {
	if ttl == backend.NoExpiry || ttl <= 0 {
		return 0
	}
	return backend.ExpiresAt(now, ttl) // saturates: a huge TTL never wraps into the past
}

// evictOne removes sh's victim, if sh has one, and reports whether it did.
// With keepSlot the victim's place in the entry count is handed to the
// caller's new entry instead of being released.
func (s *Store) evictOne(sh *shard, now int64, keepSlot bool) bool {
	var victim *entry
	if sh.lfu != nil {
		victim = sh.lfu.victim(sh)
	} else {
		victim = sh.main.back()
	}
	if victim == nil {
		return false
	}
	if keepSlot {
		s.unindex(sh, victim)
	} else {
		s.remove(sh, victim)
	}
	if victim.expireAt != 0 && victim.expireAt <= now {
		sh.expirations++
	} else {
		sh.evictions++
	}
	// Nothing else references a removed entry (it is only ever used
	// under the shard lock), so it can be recycled.
	*victim = entry{}
	sh.spare = victim
	return true
}

// reserve adds one entry of sz bytes to the global counts, evicting sh's
// victims while the store is full. It returns false, having reserved
// nothing, when the store is still full and sh has nothing left to evict:
// the caller must then evict from another shard without holding sh.mu.
func (s *Store) reserve(sh *shard, sz int64, now int64) bool {
	if s.maxN > 0 {
		for {
			c := s.count.Load()
			if c < s.maxN {
				if s.count.CompareAndSwap(c, c+1) {
					break
				}
				continue
			}
			// Full: the victim's slot goes straight to the new entry,
			// so no other Set can take it in between.
			if !s.evictOne(sh, now, true) {
				return false
			}
			break
		}
	} else {
		s.count.Add(1)
	}
	if s.maxB > 0 {
		for {
			b := s.bytes.Load()
			// A single entry larger than the bound is stored alone.
			if b+sz <= s.maxB || b == 0 {
				if s.bytes.CompareAndSwap(b, b+sz) {
					break
				}
				continue
			}
			if !s.evictOne(sh, now, false) {
				s.count.Add(-1)
				return false
			}
		}
	}
	return true
}

// evictElsewhere evicts one victim from a shard other than full, locking
// one shard at a time.
func (s *Store) evictElsewhere(full *shard, now int64) {
	n := uint64(len(s.shards))
	start := s.cursor.Add(1)
	for i := range n {
		sh := &s.shards[(start+i)&s.mask]
		if sh == full {
			continue
		}
		sh.mu.Lock()
		ok := s.evictOne(sh, now, false)
		sh.mu.Unlock()
		if ok {
			return
		}
	}
	// Nothing to evict anywhere: another Set freed or took the room in
	// the meantime. Let it finish before retrying.
	runtime.Gosched()
}

// ---- Backend ----

// Get returns the value under key. The returned slice is shared: callers
// must not modify it (the Cache copies it).
func (s *Store) Get(_ context.Context, key string) ([]byte, error) {
	v, _, err := s.get(key)
	return v, err
}

// GetObject returns key's bytes and the Go value attached to that entry by
// AttachObject (nil if none). A miss is an error matching
// backend.ErrNotFound. It has the same recency and TTL effects as Get.
func (s *Store) GetObject(_ context.Context, key string) (val []byte, obj any, err error) {
	return s.get(key)
}

func (s *Store) get(key string) (val []byte, obj any, err error) {
	if s.closed.Load() {
		return nil, nil, backend.ErrClosed
	}
	h := s.hash(key)
	sh := &s.shards[h&s.mask]
	sh.mu.Lock()
	e := sh.m[key]
	if e == nil {
		if sh.lfu != nil {
			sh.lfu.onMiss(sh, h)
		}
		sh.mu.Unlock()
		return nil, nil, backend.ErrNotFound
	}
	// The clock is read only for entries that can expire.
	if e.expireAt != 0 && e.expireAt <= s.now() {
		s.remove(sh, e)
		sh.expirations++
		if sh.lfu != nil {
			sh.lfu.onMiss(sh, h)
		}
		sh.mu.Unlock()
		return nil, nil, backend.ErrNotFound
	}
	if sh.lfu != nil {
		sh.lfu.onHit(sh, e)
	} else if sh.tick-e.promoted >= sh.young && sh.main.root.next != e {
		sh.tick++
		e.promoted = sh.tick
		sh.main.moveToFront(e)
	}
	val, obj = e.val, e.obj
	sh.mu.Unlock()
	return val, obj, nil
}

// AttachObject attaches obj to key's live entry only if that entry still
// holds exactly val (the same backing array and length, as returned by
// GetObject or passed to Set): a Set in between wins. It never changes
// the entry's TTL, recency or size accounting. An empty val never matches
// (empty slices may share one backing array).
func (s *Store) AttachObject(key string, val []byte, obj any) {
	if len(val) == 0 || s.closed.Load() {
		return
	}
	sh := &s.shards[s.hash(key)&s.mask]
	sh.mu.Lock()
	if e := sh.m[key]; e != nil && len(e.val) == len(val) && unsafe.SliceData(e.val) == unsafe.SliceData(val) &&
		(e.expireAt == 0 || e.expireAt > s.now()) {
		e.obj = obj
	}
	sh.mu.Unlock()
}

// Set stores value under key, evicting when the store is full (see the
// package doc). It drops any object attached to the key's previous entry.
func (s *Store) Set(_ context.Context, key string, value []byte, o backend.SetOptions) error {
	if s.closed.Load() {
		return backend.ErrClosed
	}
	now := s.now()
	h := s.hash(key)
	sh := &s.shards[h&s.mask]
	for {
		sh.mu.Lock()
		ok := s.setLocked(sh, h, key, value, o, now)
		sh.mu.Unlock()
		if ok {
			return nil
		}
		s.evictElsewhere(sh, now)
	}
}

// setLocked stores the entry, or returns false if the store is full and
// sh has nothing to evict (the caller evicts elsewhere and retries).
func (s *Store) setLocked(sh *shard, h uint64, key string, value []byte, o backend.SetOptions, now int64) bool {
	exp := s.expireAt(o.TTL, now)
	if old := sh.m[key]; old != nil {
		delta := int64(len(value) - len(old.val))
		if delta <= 0 || s.maxB == 0 {
			// Replace in place: the entry count is unchanged and the
			// bytes do not grow past the bound.
			if s.maxB > 0 {
				s.bytes.Add(delta)
			}
			sh.untag(old)
			old.val, old.obj, old.expireAt = value, nil, exp
			sh.tag(old, o.Tags)
			s.touch(sh, old)
			return true
		}
		s.remove(sh, old)
	}
	if !s.reserve(sh, int64(len(key)+len(value))+entryOverhead, now) {
		return false
	}
	e := sh.spare
	if e != nil {
		sh.spare = nil
		*e = entry{key: key, val: value, expireAt: exp, hash: h}
	} else {
		e = &entry{key: key, val: value, expireAt: exp, hash: h}
	}
	sh.tag(e, o.Tags)
	sh.m[key] = e
	if sh.lfu != nil {
		sh.lfu.onInsert(sh, e)
	} else {
		sh.tick++
		e.promoted = sh.tick
		sh.main.pushFront(e)
	}
	return true
}

// touch records a write to an existing entry as an access.
func (s *Store) touch(sh *shard, e *entry) {
	if sh.lfu != nil {
		sh.lfu.onWrite(sh, e)
		return
	}
	sh.tick++
	e.promoted = sh.tick
	sh.main.moveToFront(e)
}

// Delete removes key.
func (s *Store) Delete(_ context.Context, key string) (bool, error) {
	if s.closed.Load() {
		return false, backend.ErrClosed
	}
	now := s.now()
	sh := &s.shards[s.hash(key)&s.mask]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	e := s.live(sh, key, now)
	if e == nil {
		return false, nil
	}
	s.remove(sh, e)
	return true, nil
}

// Close stops the sweep goroutine and drops every entry.
func (s *Store) Close() error {
	if !s.closed.CompareAndSwap(false, true) {
		return backend.ErrClosed
	}
	if s.stop != nil {
		close(s.stop)
		<-s.done
	}
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		for _, e := range sh.m {
			s.remove(sh, e)
		}
		sh.mu.Unlock()
	}
	return nil
}

// Name returns "memory".
func (s *Store) Name() string { return "memory" }

// ---- capabilities ----

// GetMany reads several keys.
func (s *Store) GetMany(ctx context.Context, keys []string) ([][]byte, error) {
	out := make([][]byte, len(keys))
	for i, k := range keys {
		v, err := s.Get(ctx, k)
		if err == nil {
			out[i] = v
		} else if err != backend.ErrNotFound {
			return nil, err
		}
	}
	return out, nil
}

// SetMany writes several entries.
func (s *Store) SetMany(ctx context.Context, items []backend.Item) error {
	for _, it := range items {
		if err := s.Set(ctx, it.Key, it.Value, it.SetOptions); err != nil {
			return err
		}
	}
	return nil
}

// DeleteMany removes several keys.
func (s *Store) DeleteMany(ctx context.Context, keys []string) (int64, error) {
	var n int64
	for _, k := range keys {
		ok, err := s.Delete(ctx, k)
		if err != nil {
			return n, err
		}
		if ok {
			n++
		}
	}
	return n, nil
}

// Exists reports whether key is live, without changing its recency.
func (s *Store) Exists(_ context.Context, key string) (bool, error) {
	if s.closed.Load() {
		return false, backend.ErrClosed
	}
	now := s.now()
	sh := &s.shards[s.hash(key)&s.mask]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	return s.live(sh, key, now) != nil, nil
}

// TTL returns key's remaining time to live.
func (s *Store) TTL(_ context.Context, key string) (time.Duration, error) {
	if s.closed.Load() {
		return 0, backend.ErrClosed
	}
	now := s.now()
	sh := &s.shards[s.hash(key)&s.mask]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	e := s.live(sh, key, now)
	if e == nil {
		return 0, backend.ErrNotFound
	}
	if e.expireAt == 0 {
		return backend.NoExpiry, nil
	}
	return time.Duration(e.expireAt - now), nil
}

// Expire changes key's TTL.
func (s *Store) Expire(_ context.Context, key string, ttl time.Duration) (bool, error) {
	if s.closed.Load() {
		return false, backend.ErrClosed
	}
	now := s.now()
	sh := &s.shards[s.hash(key)&s.mask]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	e := s.live(sh, key, now)
	if e == nil {
		return false, nil
	}
	e.expireAt = s.expireAt(ttl, now)
	return true, nil
}

// InvalidateTags removes every entry carrying any of tags and returns how
// many it removed.
func (s *Store) InvalidateTags(_ context.Context, tags []string) (int64, error) {
	if s.closed.Load() {
		return 0, backend.ErrClosed
	}
	now := s.now()
	var n int64
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		for _, t := range tags {
			for k := range sh.tags[t] {
				if e := sh.m[k]; e != nil {
					if e.expireAt == 0 || e.expireAt > now {
						n++
					}
					s.remove(sh, e)
				}
			}
			delete(sh.tags, t)
		}
		sh.mu.Unlock()
	}
	return n, nil
}

// Scan yields the live keys matching pattern, one shard's worth at a time
// (no lock is held while the consumer runs).
func (s *Store) Scan(ctx context.Context, pattern string) iter.Seq2[string, error] {
	return func(yield func(string, error) bool) {
		p, err := glob.Compile(pattern)
		if err != nil {
			yield("", errInvalid("pattern: "+err.Error()))
			return
		}
		var buf []string
		for i := range s.shards {
			if s.closed.Load() {
				yield("", backend.ErrClosed)
				return
			}
			if err := ctx.Err(); err != nil {
				yield("", err)
				return
			}
			buf = s.collect(&s.shards[i], p, buf[:0])
			for _, k := range buf {
				if !yield(k, nil) {
					return
				}
			}
		}
	}
}

func (s *Store) collect(sh *shard, p *glob.Pattern, buf []string) []string {
	now := s.now()
	prefix := p.Prefix()
	sh.mu.Lock()
	defer sh.mu.Unlock()
	for k, e := range sh.m {
		if !strings.HasPrefix(k, prefix) || backend.IsInternalKey(k) || (e.expireAt != 0 && e.expireAt <= now) {
			continue
		}
		if p.Match(k) {
			buf = append(buf, k)
		}
	}
	return buf
}

// DeletePattern removes every live key matching pattern.
func (s *Store) DeletePattern(ctx context.Context, pattern string) (int64, error) {
	if s.closed.Load() {
		return 0, backend.ErrClosed
	}
	p, err := glob.Compile(pattern)
	if err != nil {
		return 0, errInvalid("pattern: " + err.Error())
	}
	return s.deleteWhere(ctx, p.Prefix(), func(k string) bool { return !backend.IsInternalKey(k) && p.Match(k) })
}

func (s *Store) deleteWhere(ctx context.Context, prefix string, match func(string) bool) (int64, error) {
	now := s.now()
	var n int64
	for i := range s.shards {
		if err := ctx.Err(); err != nil {
			return n, err
		}
		sh := &s.shards[i]
		sh.mu.Lock()
		for k, e := range sh.m {
			if strings.HasPrefix(k, prefix) && match(k) {
				if e.expireAt == 0 || e.expireAt > now {
					n++
				}
				s.remove(sh, e)
			}
		}
		if prefix != "" {
			for t, set := range sh.tags {
				if strings.HasPrefix(t, prefix) && len(set) == 0 {
					delete(sh.tags, t)
				}
			}
		}
		sh.mu.Unlock()
	}
	return n, nil
}

// Flush removes every key beginning with prefix.
func (s *Store) Flush(ctx context.Context, prefix string) error {
	if s.closed.Load() {
		return backend.ErrClosed
	}
	_, err := s.deleteWhere(ctx, prefix, func(string) bool { return true })
	return err
}

// Stats counts the live keys and bytes under prefix.
func (s *Store) Stats(_ context.Context, prefix string) (backend.Stats, error) {
	if s.closed.Load() {
		return backend.Stats{}, backend.ErrClosed
	}
	now := s.now()
	var keys, bytes, all, evictions, expirations int64
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		all += int64(len(sh.m))
		evictions += sh.evictions
		expirations += sh.expirations
		for k, e := range sh.m {
			if strings.HasPrefix(k, prefix) && !backend.IsInternalKey(k) && (e.expireAt == 0 || e.expireAt > now) {
				keys++
				bytes += e.size()
			}
		}
		sh.mu.Unlock()
	}
	return backend.Stats{
		Keys: keys, Bytes: bytes,
		Evictions: evictions, Expirations: expirations,
		Scope: "prefix",
		Extra: map[string]any{"shards": len(s.shards), "entries_all_prefixes": all, "policy": s.policy.String()},
	}, nil
}

// Ping reports ErrClosed after Close and nil otherwise.
func (s *Store) Ping(context.Context) error {
	if s.closed.Load() {
		return backend.ErrClosed
	}
	return nil
}
