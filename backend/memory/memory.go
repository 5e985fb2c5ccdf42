package memory

import (
	"context"
	"hash/maphash"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/yokedcache/yokedcache/backend"
)

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
		o.MaxSize = DefaultMaxSize
	}
	if o.MaxSize < -1 || o.MaxBytes < 0 || o.Shards < 0 || (o.CleanupInterval < 0 && o.CleanupInterval != -1) {
		return nil, errInvalid("negative MaxSize, MaxBytes, Shards or CleanupInterval")
	}
	if o.Policy != PolicyLRU && o.Policy != PolicyTinyLFU {
		return nil, errInvalid("unknown Policy " + o.Policy.String())
	}
	if o.CleanupInterval == 0 {
		o.CleanupInterval = DefaultCleanupInterval
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
