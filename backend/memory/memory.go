// Package memory is yokedcache's in-process backend: zero setup, bounded
// by entry count (and optionally bytes) with least-recently-used eviction,
// TTLs with lazy expiry plus a periodic sweep, tags, patterns and stats.
//
// # Eviction
//
// The store is split into shards (Options.Shards; by default one shard per
// 256 entries of MaxSize, at most 64) so that reads on several cores do not
// contend on one lock. Each shard keeps an LRU list and evicts its least
// recently used entry when full. Promotion is lazy: a read moves an entry
// to the front only if it is outside the most recent quarter of the list,
// which removes most writes from the read path (see BenchmarkMemory in the
// root package: parallel reads scale with cores). With Shards: 1 and a
// MaxSize below 4, eviction is exact global LRU; otherwise it is exact in
// the bound and approximately LRU in the order.
//
// # URLs
//
//	mem://?max_size=10000&max_bytes=64MiB&cleanup_interval=5m&shards=16
//
// ("memory://" is accepted too.)
//
// # As
//
// The memory backend supports no native types for As.
package memory

import (
	"context"
	"hash/maphash"
	"iter"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/yokedcache/yokedcache/backend"
	"github.com/yokedcache/yokedcache/internal/glob"
)

// Options configures a Store. The zero value is valid.
type Options struct {
	// MaxSize bounds the number of entries; least recently used entries
	// are evicted beyond it. 0 means 10 000; -1 means unbounded.
	MaxSize int
	// MaxBytes bounds the approximate memory of keys and values; 0 means
	// no byte bound.
	MaxBytes int64
	// CleanupInterval is how often expired entries are swept. 0 means
	// 5 minutes; -1 disables the sweep (expiry stays lazy).
	CleanupInterval time.Duration
	// Shards splits the store to let reads scale across cores. 0 picks
	// one shard per 256 entries of MaxSize, between 1 and 64, rounded to a
	// power of two.
	Shards int
	// Clock is the time source for TTLs and the sweep. Default: system.
	Clock backend.Clock
}

// entryOverhead approximates the bytes of bookkeeping per entry.
const entryOverhead = 96

type entry struct {
	key        string
	val        []byte
	expireAt   int64  // unix nanoseconds; 0 = never
	promoted   uint64 // shard.tick when last moved to the front
	tags       []string
	prev, next *entry
}

func (e *entry) size() int64 { return int64(len(e.key)+len(e.val)) + entryOverhead }

type shard struct {
	mu    sync.Mutex
	m     map[string]*entry
	head  entry // sentinel of the LRU list: head.next is most recent
	tags  map[string]map[string]struct{}
	bytes int64
	max   int   // entries; <= 0 unbounded
	maxB  int64 // bytes; 0 unbounded
	// tick counts moves to the front. An entry moved less than young
	// ticks ago is still in the most recent quarter of the list, and a
	// read does not move it again (lazy promotion: fewer writes to shared
	// cache lines, same eviction order for all but the youngest entries).
	tick  uint64
	young uint64
	_     [64]byte // keep shards on separate cache lines
}

// Store is the memory backend. It is safe for concurrent use.
type Store struct {
	shards      []shard
	mask        uint64
	seed        maphash.Seed
	clock       backend.Clock
	evictions   atomic.Int64
	expirations atomic.Int64
	closed      atomic.Bool
	stop        chan struct{}
	done        chan struct{}
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
	if o.CleanupInterval == 0 {
		o.CleanupInterval = 5 * time.Minute
	}
	n := o.Shards
	if n == 0 {
		n = 1
		if o.MaxSize > 0 {
			for n*256 < o.MaxSize && n < 64 {
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
	}
	for i := range s.shards {
		sh := &s.shards[i]
		sh.m = make(map[string]*entry)
		sh.head.next, sh.head.prev = &sh.head, &sh.head
		sh.tags = make(map[string]map[string]struct{})
		if o.MaxSize > 0 {
			sh.max = (o.MaxSize + n - 1) / n
			sh.young = uint64(sh.max / 4)
		} else {
			sh.young = 1024
		}
		if o.MaxBytes > 0 {
			sh.maxB = (o.MaxBytes + int64(n) - 1) / int64(n)
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
	now := s.clock.Now().UnixNano()
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		for _, e := range sh.m {
			if e.expireAt != 0 && e.expireAt <= now {
				sh.remove(e)
				s.expirations.Add(1)
			}
		}
		sh.mu.Unlock()
	}
}

func (s *Store) shard(key string) *shard {
	return &s.shards[maphash.String(s.seed, key)&s.mask]
}

// ---- list and index helpers (shard lock held) ----

func (sh *shard) unlink(e *entry) {
	e.prev.next = e.next
	e.next.prev = e.prev
}

func (sh *shard) pushFront(e *entry) {
	sh.tick++
	e.promoted = sh.tick
	e.prev = &sh.head
	e.next = sh.head.next
	sh.head.next.prev = e
	sh.head.next = e
}

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

func (sh *shard) remove(e *entry) {
	sh.unlink(e)
	sh.untag(e)
	delete(sh.m, e.key)
	sh.bytes -= e.size()
}

// live returns the entry for key if present and not expired, removing it
// when expired.
func (s *Store) live(sh *shard, key string, now int64) *entry {
	e := sh.m[key]
	if e == nil {
		return nil
	}
	if e.expireAt != 0 && e.expireAt <= now {
		sh.remove(e)
		s.expirations.Add(1)
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

// ---- Backend ----

// Get returns the value under key. The returned slice is shared: callers
// must not modify it (the Cache copies it).
func (s *Store) Get(_ context.Context, key string) ([]byte, error) {
	if s.closed.Load() {
		return nil, backend.ErrClosed
	}
	now := s.clock.Now().UnixNano()
	sh := s.shard(key)
	sh.mu.Lock()
	e := s.live(sh, key, now)
	if e == nil {
		sh.mu.Unlock()
		return nil, backend.ErrNotFound
	}
	if sh.tick-e.promoted >= sh.young && sh.head.next != e {
		sh.unlink(e)
		sh.pushFront(e)
	}
	v := e.val
	sh.mu.Unlock()
	return v, nil
}

// Set stores value under key, evicting least recently used entries of the
// shard when it is full.
func (s *Store) Set(_ context.Context, key string, value []byte, o backend.SetOptions) error {
	if s.closed.Load() {
		return backend.ErrClosed
	}
	now := s.clock.Now().UnixNano()
	sh := s.shard(key)
	sh.mu.Lock()
	s.setLocked(sh, key, value, o, now)
	sh.mu.Unlock()
	return nil
}

func (s *Store) setLocked(sh *shard, key string, value []byte, o backend.SetOptions, now int64) {
	if old := sh.m[key]; old != nil {
		sh.remove(old)
	}
	e := &entry{key: key, val: value, expireAt: s.expireAt(o.TTL, now)}
	if len(o.Tags) > 0 {
		e.tags = append([]string(nil), o.Tags...)
		for _, t := range e.tags {
			set := sh.tags[t]
			if set == nil {
				set = make(map[string]struct{})
				sh.tags[t] = set
			}
			set[key] = struct{}{}
		}
	}
	sh.m[key] = e
	sh.pushFront(e)
	sh.bytes += e.size()
	for (sh.max > 0 && len(sh.m) > sh.max) || (sh.maxB > 0 && sh.bytes > sh.maxB && len(sh.m) > 1) {
		victim := sh.head.prev
		if victim == e {
			break
		}
		sh.remove(victim)
		if victim.expireAt != 0 && victim.expireAt <= now {
			s.expirations.Add(1)
		} else {
			s.evictions.Add(1)
		}
	}
}

// Delete removes key.
func (s *Store) Delete(_ context.Context, key string) (bool, error) {
	if s.closed.Load() {
		return false, backend.ErrClosed
	}
	now := s.clock.Now().UnixNano()
	sh := s.shard(key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	e := s.live(sh, key, now)
	if e == nil {
		return false, nil
	}
	sh.remove(e)
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
		sh.m = map[string]*entry{}
		sh.tags = map[string]map[string]struct{}{}
		sh.head.next, sh.head.prev = &sh.head, &sh.head
		sh.bytes = 0
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
	now := s.clock.Now().UnixNano()
	sh := s.shard(key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	return s.live(sh, key, now) != nil, nil
}

// TTL returns key's remaining time to live.
func (s *Store) TTL(_ context.Context, key string) (time.Duration, error) {
	if s.closed.Load() {
		return 0, backend.ErrClosed
	}
	now := s.clock.Now().UnixNano()
	sh := s.shard(key)
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
	now := s.clock.Now().UnixNano()
	sh := s.shard(key)
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
	now := s.clock.Now().UnixNano()
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
					sh.remove(e)
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
	now := s.clock.Now().UnixNano()
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
	now := s.clock.Now().UnixNano()
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
				sh.remove(e)
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
	now := s.clock.Now().UnixNano()
	var keys, bytes, all int64
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		all += int64(len(sh.m))
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
		Evictions: s.evictions.Load(), Expirations: s.expirations.Load(),
		Scope: "prefix",
		Extra: map[string]any{"shards": len(s.shards), "entries_all_prefixes": all},
	}, nil
}

// Ping reports ErrClosed after Close and nil otherwise.
func (s *Store) Ping(context.Context) error {
	if s.closed.Load() {
		return backend.ErrClosed
	}
	return nil
}
