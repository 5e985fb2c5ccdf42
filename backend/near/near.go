package near

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"iter"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/yokedcache/yokedcache/backend"
	"github.com/yokedcache/yokedcache/backend/memory"
	"github.com/yokedcache/yokedcache/internal/stripe"
)

// Defaults of Options.
const (
	// DefaultMaxEntries bounds the local copies when Options.MaxEntries is 0.
	DefaultMaxEntries = 10_000
	// DefaultMaxBytes bounds the local copies' keys and values when
	// Options.MaxBytes is 0: 64 MiB.
	DefaultMaxBytes = 64 << 20
	// DefaultTTL is the longest a local copy lives in the "stream" and
	// "ttl" modes when Options.TTL is 0: the staleness bound for writers
	// the tier cannot hear.
	DefaultTTL = time.Second
	// DefaultTrackedTTL is the longest a local copy lives in the
	// "tracking" mode when Options.TTL is 0: a safety net, since every
	// write is notified.
	DefaultTrackedTTL = time.Minute
)

// Modes of Options.Mode.
const (
	// ModeAuto (or "") tracks changes when the shared backend can
	// (backend.Tracker) and falls back to the TTL bound otherwise.
	ModeAuto = "auto"
	// ModeTTL never subscribes: copies live at most Options.TTL.
	ModeTTL = "ttl"
)

// Options configures a Store.
type Options struct {
	// MaxEntries bounds the number of local copies. 0 means
	// DefaultMaxEntries.
	MaxEntries int
	// MaxBytes bounds the memory of the local copies' keys and values. 0
	// means DefaultMaxBytes; -1 means no byte bound.
	MaxBytes int64
	// TTL is the longest a local copy lives (it never outlives the shared
	// entry either). 0 means DefaultTrackedTTL in the "tracking" mode and
	// DefaultTTL otherwise.
	TTL time.Duration
	// Mode is ModeAuto ("" too) or ModeTTL.
	Mode string
	// LRU selects the LRU eviction policy for the local copies instead of
	// the default W-TinyLFU.
	LRU bool
	// Prefix is the stored-key prefix the tier tracks (the Cache's key
	// prefix with its ':'); "" tracks every key.
	Prefix string
	// Clock is the time source of the local TTLs. Default: system.
	Clock backend.Clock
}

// Validate reports a setting out of range.
func (o Options) Validate() error {
	switch {
	case o.MaxEntries < 0:
		return fmt.Errorf("near cache: MaxEntries %d is negative: %w", o.MaxEntries, backend.ErrInvalidConfig)
	case o.MaxBytes < -1:
		return fmt.Errorf("near cache: MaxBytes %d must be >= 0 or -1: %w", o.MaxBytes, backend.ErrInvalidConfig)
	case o.TTL < 0 || o.TTL > backend.MaxTTL:
		return fmt.Errorf("near cache: TTL %v must be in [0, %v]: %w", o.TTL, backend.MaxTTL, backend.ErrInvalidConfig)
	case o.Mode != "" && o.Mode != ModeAuto && o.Mode != ModeTTL:
		return fmt.Errorf("near cache: Mode %q: want %q or %q: %w", o.Mode, ModeAuto, ModeTTL, backend.ErrInvalidConfig)
	}
	return nil
}

// Stats describes a Store's tier.
type Stats struct {
	// Mode is "tracking", "stream" or "ttl" (see the package doc), or ""
	// while the tracker has not connected yet.
	Mode string
	// Live reports whether copies are kept: notifications flow (or the
	// mode is "ttl").
	Live bool
	// Hits and Misses count local reads; a miss reads the shared backend.
	Hits, Misses int64
	// Fills counts copies kept after a miss.
	Fills int64
	// Evictions counts copies removed to respect the bounds.
	Evictions int64
	// Invalidations counts keys notified as changed by the tracker.
	Invalidations int64
	// Resets counts the times every copy was dropped because
	// notifications stopped or resumed.
	Resets int64
	// Entries and Bytes are the copies held now.
	Entries, Bytes int64
	// MaxEntries and MaxBytes are the bounds (MaxBytes -1: none).
	MaxEntries int
	MaxBytes   int64
	// Lag is the delay of the last stream notification ("stream" mode).
	Lag time.Duration
	// Err is the error that last stopped notifications, if any.
	Err error
}

// Stater is implemented by a Store: the Cache and tools find a route's
// near cache with it.
type Stater interface {
	NearStats() Stats
}

// stripes is the number of invalidation counters; a read keeps its copy
// only when its key's counter did not move while it read.
const stripes = 1024

// Store is a near-cache tier over a shared backend. It implements
// backend.Backend and forwards every capability of the shared backend; the
// Cache discovers those through Unwrap (a capability the shared backend
// lacks is reported as backend.ErrUnsupported).
type Store struct {
	inner backend.Backend
	local *memory.Store
	opts  Options
	ttlr  backend.TTLReader
	exp   backend.Expirer  // for TTLs when ttlr is nil
	tr    backend.Tracking // nil in "ttl" mode
	seed  maphash.Seed

	epoch atomic.Uint64
	seq   [stripes]atomic.Uint64

	hits, misses                 stripe.Counter
	fills, invalidations, resets atomic.Int64
	closed                       atomic.Bool
}

// Compile-time checks: the Store offers every capability (forwarded).
var (
	_ backend.Backend        = (*Store)(nil)
	_ backend.BatchGetter    = (*Store)(nil)
	_ backend.BatchSetter    = (*Store)(nil)
	_ backend.BatchDeleter   = (*Store)(nil)
	_ backend.ObjectKeeper   = (*Store)(nil)
	_ backend.Expirer        = (*Store)(nil)
	_ backend.Tagger         = (*Store)(nil)
	_ backend.Scanner        = (*Store)(nil)
	_ backend.PatternDeleter = (*Store)(nil)
	_ backend.Flusher        = (*Store)(nil)
	_ backend.Stater         = (*Store)(nil)
	_ backend.Pinger         = (*Store)(nil)
	_ backend.LoadLocker     = (*Store)(nil)
	_ backend.HealthChecker  = (*Store)(nil)
	_ backend.Aser           = (*Store)(nil)
	_ backend.Namer          = (*Store)(nil)
	_ backend.SetCopier      = (*Store)(nil)
	_ backend.Wrapper        = (*Store)(nil)
	_ Stater                 = (*Store)(nil)
)

// New returns a near-cache tier over inner. It does not take ownership of
// inner: Close stops the tier and leaves inner open. New never dials; a
// tracker connects in the background.
func New(inner backend.Backend, o Options) (*Store, error) {
	if inner == nil {
		return nil, fmt.Errorf("near cache: nil backend: %w", backend.ErrInvalidConfig)
	}
	if err := o.Validate(); err != nil {
		return nil, err
	}
	if o.MaxEntries == 0 {
		o.MaxEntries = DefaultMaxEntries
	}
	if o.MaxBytes == 0 {
		o.MaxBytes = DefaultMaxBytes
	}
	mo := memory.Options{MaxSize: o.MaxEntries, Policy: memory.PolicyTinyLFU, Clock: o.Clock}
	if o.LRU {
		mo.Policy = memory.PolicyLRU
	}
	if o.MaxBytes > 0 {
		mo.MaxBytes = o.MaxBytes
	}
	local, err := memory.New(mo)
	if err != nil {
		return nil, fmt.Errorf("near cache: %w", err)
	}
	s := &Store{inner: inner, local: local, opts: o, seed: maphash.MakeSeed()}
	s.ttlr, _ = inner.(backend.TTLReader)
	s.exp, _ = inner.(backend.Expirer)
	if t, ok := inner.(backend.Tracker); ok && o.Mode != ModeTTL {
		tr, err := t.Track(o.Prefix, backend.TrackHandler{Keys: s.notified, Reset: s.reset})
		if err != nil && !errors.Is(err, backend.ErrUnsupported) {
			_ = local.Close()
			return nil, fmt.Errorf("near cache: %w", err)
		}
		s.tr = tr
	}
	return s, nil
}

// Unwrap returns the shared backend.
func (s *Store) Unwrap() backend.Backend { return s.inner }

// Local returns the in-process store that holds the copies (for tests and
// diagnostics; writing to it bypasses coherence).
func (s *Store) Local() *memory.Store { return s.local }

// mode returns the current mode and whether copies may be kept.
func (s *Store) mode() (string, bool) {
	if s.tr == nil {
		return backend.TrackModeTTL, true
	}
	st := s.tr.Status()
	return st.Mode, st.Live
}

// localTTL is the longest a copy kept now may live, or 0 when no copy may
// be kept.
func (s *Store) localTTL() time.Duration {
	mode, live := s.mode()
	if !live {
		return 0
	}
	if s.opts.TTL > 0 {
		return s.opts.TTL
	}
	if mode == backend.TrackModeTracking {
		return DefaultTrackedTTL
	}
	return DefaultTTL
}

func (s *Store) stripe(key string) *atomic.Uint64 {
	return &s.seq[maphash.String(s.seed, key)&(stripes-1)]
}

// notified drops the copies of keys a tracker reported as changed.
func (s *Store) notified(keys []string) {
	s.invalidations.Add(int64(len(keys)))
	for _, k := range keys {
		s.drop(k)
	}
}

// reset drops every copy and fails the reads in flight.
func (s *Store) reset() {
	s.resets.Add(1)
	s.dropAll()
}

// drop removes key's copy; a read of key in flight does not keep its own.
func (s *Store) drop(key string) {
	s.stripe(key).Add(1)
	_, _ = s.local.Delete(context.Background(), key)
}

// dropAll removes every copy; no read in flight keeps its own.
func (s *Store) dropAll() {
	s.epoch.Add(1)
	_ = s.local.Flush(context.Background(), "")
}

// ticket is a read's view of the invalidation counters of its key.
type ticket struct {
	st         *atomic.Uint64
	epoch, seq uint64
	keep       bool
}

func (s *Store) ticket(key string) ticket {
	if backend.IsInternalKey(key) || s.closed.Load() {
		return ticket{}
	}
	st := s.stripe(key)
	return ticket{st: st, epoch: s.epoch.Load(), seq: st.Load(), keep: true}
}

func (s *Store) valid(t ticket) bool {
	return s.epoch.Load() == t.epoch && t.st.Load() == t.seq
}

// fill keeps a copy of val, read under t, with the shared entry's
// remaining ttl (backend.NoExpiry: none or unknown).
func (s *Store) fill(key string, val []byte, ttl time.Duration, t ticket) {
	if !t.keep || val == nil {
		return
	}
	lt := s.localTTL()
	if ttl != backend.NoExpiry && ttl < lt {
		lt = ttl
	}
	if lt <= 0 || !s.valid(t) {
		return
	}
	// The key of a read may live in a buffer the caller reuses after the
	// call (the Cache builds stored keys in pooled buffers): keep a copy.
	key = strings.Clone(key)
	if s.local.Set(context.Background(), key, val, backend.SetOptions{TTL: lt}) != nil {
		return
	}
	if !s.valid(t) {
		_, _ = s.local.Delete(context.Background(), key)
		return
	}
	s.fills.Add(1)
}

// read reads key from the shared backend with its TTL when it can.
func (s *Store) read(ctx context.Context, key string) ([]byte, time.Duration, error) {
	if s.ttlr != nil {
		return s.ttlr.GetTTL(ctx, key)
	}
	v, err := s.inner.Get(ctx, key)
	if err != nil {
		return nil, 0, err
	}
	if s.exp != nil {
		// Two calls: a TTL read after the value can only be shorter
		// than the value's (a concurrent write replaces both).
		ttl, err := s.exp.TTL(ctx, key)
		if err != nil {
			return v, 0, nil // keep no copy; the value is still the answer
		}
		return v, ttl, nil
	}
	return v, backend.NoExpiry, nil
}

// Peek returns the local copy of key, counted as a hit, or false: it never
// reads the shared backend, so the Cache calls it before its timeouts and
// breaker, which guard only the round trips.
func (s *Store) Peek(key string) ([]byte, bool) {
	v, err := s.local.Get(context.Background(), key)
	if err != nil {
		return nil, false
	}
	s.hits.Add(1)
	return v, true
}

// PeekObject is Peek that also returns the decoded object attached to the
// copy (see AttachObject), or nil.
func (s *Store) PeekObject(key string) ([]byte, any, bool) {
	v, obj, err := s.local.GetObject(context.Background(), key)
	if err != nil {
		return nil, nil, false
	}
	s.hits.Add(1)
	return v, obj, true
}

// Drop removes the local copy of key, if any (the Cache drops a copy
// whose bytes do not decode, so that the next read asks the shared
// backend again instead of failing on the same bytes).
func (s *Store) Drop(key string) { s.drop(key) }

// Get returns the local copy of key, or reads the shared backend and
// keeps a copy.
func (s *Store) Get(ctx context.Context, key string) ([]byte, error) {
	if v, err := s.local.Get(ctx, key); err == nil {
		s.hits.Add(1)
		return v, nil
	}
	return s.load(ctx, key)
}

func (s *Store) load(ctx context.Context, key string) ([]byte, error) {
	if s.closed.Load() {
		return nil, backend.ErrClosed
	}
	s.misses.Add(1)
	t := s.ticket(key)
	v, ttl, err := s.read(ctx, key)
	if err != nil {
		return nil, err
	}
	s.fill(key, v, ttl, t)
	return v, nil
}

// GetObject is Get that also returns the decoded object attached to the
// local copy (backend.ObjectKeeper).
func (s *Store) GetObject(ctx context.Context, key string) ([]byte, any, error) {
	if v, obj, err := s.local.GetObject(ctx, key); err == nil {
		s.hits.Add(1)
		return v, obj, nil
	}
	v, err := s.load(ctx, key)
	return v, nil, err
}

// AttachObject attaches obj to key's local copy if it still holds val.
func (s *Store) AttachObject(key string, val []byte, obj any) { s.local.AttachObject(key, val, obj) }

// GetMany serves the keys held locally and reads the rest from the shared
// backend in one batch, keeping copies.
func (s *Store) GetMany(ctx context.Context, keys []string) ([][]byte, error) {
	if s.closed.Load() {
		return nil, backend.ErrClosed
	}
	out := make([][]byte, len(keys))
	var miss []int
	for i, k := range keys {
		if v, err := s.local.Get(ctx, k); err == nil {
			out[i] = v
			continue
		}
		miss = append(miss, i)
	}
	s.hits.Add(int64(len(keys) - len(miss)))
	if len(miss) == 0 {
		return out, nil
	}
	s.misses.Add(int64(len(miss)))
	mk := make([]string, len(miss))
	ts := make([]ticket, len(miss))
	for j, i := range miss {
		mk[j] = keys[i]
		ts[j] = s.ticket(keys[i])
	}
	var (
		vals [][]byte
		ttls []time.Duration
		err  error
	)
	if s.ttlr != nil {
		vals, ttls, err = s.ttlr.GetManyTTL(ctx, mk)
		if err == nil && (len(vals) != len(mk) || len(ttls) != len(mk)) {
			err = fmt.Errorf("%s: GetManyTTL returned %d values and %d TTLs for %d keys", backend.Name(s.inner), len(vals), len(ttls), len(mk))
		}
	} else {
		vals, err = backend.GetMany(ctx, s.inner, mk)
	}
	if err != nil {
		return nil, err
	}
	for j, i := range miss {
		out[i] = vals[j]
		ttl := backend.NoExpiry
		if ttls != nil {
			ttl = ttls[j]
		}
		s.fill(mk[j], vals[j], ttl, ts[j])
	}
	return out, nil
}

func (s *Store) unsupported(feature string) error {
	return backend.Unsupported(backend.Name(s.inner), feature, "the backend does not support it")
}

// Set writes through to the shared backend and drops the local copy.
func (s *Store) Set(ctx context.Context, key string, value []byte, o backend.SetOptions) error {
	if s.closed.Load() {
		return backend.ErrClosed
	}
	if len(o.Tags) > 0 {
		if _, ok := s.inner.(backend.Tagger); !ok {
			return s.unsupported("tags")
		}
	}
	err := s.inner.Set(ctx, key, value, o)
	s.drop(key)
	return err
}

// SetMany writes through and drops the local copies.
func (s *Store) SetMany(ctx context.Context, items []backend.Item) error {
	if s.closed.Load() {
		return backend.ErrClosed
	}
	if _, ok := s.inner.(backend.Tagger); !ok {
		for _, it := range items {
			if len(it.Tags) > 0 {
				return s.unsupported("tags")
			}
		}
	}
	err := backend.SetMany(ctx, s.inner, items)
	for _, it := range items {
		s.drop(it.Key)
	}
	return err
}

// Delete deletes through and drops the local copy.
func (s *Store) Delete(ctx context.Context, key string) (bool, error) {
	if s.closed.Load() {
		return false, backend.ErrClosed
	}
	ok, err := s.inner.Delete(ctx, key)
	s.drop(key)
	return ok, err
}

// DeleteMany deletes through and drops the local copies.
func (s *Store) DeleteMany(ctx context.Context, keys []string) (int64, error) {
	if s.closed.Load() {
		return 0, backend.ErrClosed
	}
	n, err := backend.DeleteMany(ctx, s.inner, keys)
	for _, k := range keys {
		s.drop(k)
	}
	return n, err
}

// TTL reads the shared entry's TTL.
func (s *Store) TTL(ctx context.Context, key string) (time.Duration, error) {
	if s.closed.Load() {
		return 0, backend.ErrClosed
	}
	e, ok := s.inner.(backend.Expirer)
	if !ok {
		return 0, s.unsupported("TTL")
	}
	return e.TTL(ctx, key)
}

// Expire changes the shared entry's TTL and drops the local copy.
func (s *Store) Expire(ctx context.Context, key string, ttl time.Duration) (bool, error) {
	if s.closed.Load() {
		return false, backend.ErrClosed
	}
	e, ok := s.inner.(backend.Expirer)
	if !ok {
		return false, s.unsupported("expire")
	}
	ok, err := e.Expire(ctx, key, ttl)
	s.drop(key)
	return ok, err
}

// InvalidateTags invalidates through and drops every local copy: which
// copies carry the tags is not known locally.
func (s *Store) InvalidateTags(ctx context.Context, tags []string) (int64, error) {
	if s.closed.Load() {
		return 0, backend.ErrClosed
	}
	tg, ok := s.inner.(backend.Tagger)
	if !ok {
		return 0, s.unsupported("tags")
	}
	n, err := tg.InvalidateTags(ctx, tags)
	s.dropAll()
	return n, err
}

// Scan scans the shared backend.
func (s *Store) Scan(ctx context.Context, pattern string) iter.Seq2[string, error] {
	if s.closed.Load() {
		return func(yield func(string, error) bool) { yield("", backend.ErrClosed) }
	}
	sc, ok := s.inner.(backend.Scanner)
	if !ok {
		return func(yield func(string, error) bool) { yield("", s.unsupported("scan")) }
	}
	return sc.Scan(ctx, pattern)
}

// DeletePattern deletes through and drops the matching local copies.
func (s *Store) DeletePattern(ctx context.Context, pattern string) (int64, error) {
	if s.closed.Load() {
		return 0, backend.ErrClosed
	}
	n, err := backend.DeletePattern(ctx, s.inner, pattern)
	s.epoch.Add(1)
	if _, lerr := s.local.DeletePattern(context.Background(), pattern); lerr != nil {
		s.dropAll()
	}
	return n, err
}

// Flush flushes through and drops every local copy.
func (s *Store) Flush(ctx context.Context, prefix string) error {
	if s.closed.Load() {
		return backend.ErrClosed
	}
	err := backend.Flush(ctx, s.inner, prefix)
	s.dropAll()
	return err
}

// Stats reports the shared backend's statistics.
func (s *Store) Stats(ctx context.Context, prefix string) (backend.Stats, error) {
	if s.closed.Load() {
		return backend.Stats{}, backend.ErrClosed
	}
	st, ok := s.inner.(backend.Stater)
	if !ok {
		return backend.Stats{}, s.unsupported("stats")
	}
	return st.Stats(ctx, prefix)
}

// Ping pings the shared backend.
func (s *Store) Ping(ctx context.Context) error {
	if s.closed.Load() {
		return backend.ErrClosed
	}
	return backend.Ping(ctx, s.inner, s.opts.Prefix+"\xffnear-ping")
}

// LoadLock takes the shared backend's load lock.
func (s *Store) LoadLock(ctx context.Context, key string, ttl time.Duration) (func(context.Context) error, bool, error) {
	if s.closed.Load() {
		return nil, false, backend.ErrClosed
	}
	ll, ok := s.inner.(backend.LoadLocker)
	if !ok {
		return nil, false, s.unsupported("load lock")
	}
	return ll.LoadLock(ctx, key, ttl)
}

// HealthDetails adds the tier's mode and liveness to the shared backend's
// details. A tracker that lost its connection makes the report degraded
// (reads still work, from the shared backend); one still making its first
// connection does not.
func (s *Store) HealthDetails(ctx context.Context) (backend.HealthDetails, error) {
	if s.closed.Load() {
		return backend.HealthDetails{}, backend.ErrClosed
	}
	var d backend.HealthDetails
	if hc, ok := s.inner.(backend.HealthChecker); ok {
		var err error
		if d, err = hc.HealthDetails(ctx); err != nil {
			return d, err
		}
	}
	if d.Status == "" {
		d.Status = "healthy"
	}
	if d.Details == nil {
		d.Details = map[string]any{}
	}
	st := s.NearStats()
	d.Details["near_mode"] = st.Mode
	d.Details["near_live"] = st.Live
	d.Details["near_entries"] = st.Entries
	// Not live without an error: the first connection is being made
	// (reads go to the backend meanwhile). That is not a fault.
	if !st.Live && st.Err != nil {
		msg := "near cache: invalidations are not flowing; reads go to the backend: " + st.Err.Error()
		d.Warnings = append(d.Warnings, msg)
		if d.Status == "healthy" {
			d.Status = "degraded"
		}
	}
	return d, nil
}

// As fills target with the Store itself (*near.Store) or asks the shared
// backend.
func (s *Store) As(target any) bool {
	if p, ok := target.(**Store); ok {
		*p = s
		return true
	}
	if a, ok := s.inner.(backend.Aser); ok {
		return a.As(target)
	}
	return false
}

// Name returns the shared backend's name.
func (s *Store) Name() string { return backend.Name(s.inner) }

// SetCopies reports the shared backend's SetCopier answer: the tier keeps
// only bytes it read itself, never the ones passed to Set.
func (s *Store) SetCopies() bool {
	sc, ok := s.inner.(backend.SetCopier)
	return ok && sc.SetCopies()
}

// NearStats reports the tier's numbers.
func (s *Store) NearStats() Stats {
	st := Stats{
		Hits: s.hits.Load(), Misses: s.misses.Load(), Fills: s.fills.Load(),
		Invalidations: s.invalidations.Load(), Resets: s.resets.Load(),
		MaxEntries: s.opts.MaxEntries, MaxBytes: s.opts.MaxBytes,
	}
	if s.tr == nil {
		st.Mode, st.Live = backend.TrackModeTTL, true
	} else {
		ts := s.tr.Status()
		st.Mode, st.Live, st.Lag, st.Err = ts.Mode, ts.Live, ts.Lag, ts.Err
	}
	if ls, err := s.local.Stats(context.Background(), ""); err == nil {
		st.Entries, st.Bytes, st.Evictions = ls.Keys, ls.Bytes, ls.Evictions
	}
	return st
}

// Close stops the tracker and frees the copies. The shared backend stays
// open: it belongs to whoever opened it.
func (s *Store) Close() error {
	if s.closed.Swap(true) {
		return backend.ErrClosed
	}
	if s.tr != nil {
		s.tr.Stop()
	}
	s.dropAll()
	return s.local.Close()
}

// String describes the tier for logs.
func (s *Store) String() string {
	st := s.NearStats()
	return "near(" + s.Name() + ", mode=" + st.Mode + ", entries=" + strconv.FormatInt(st.Entries, 10) + ")"
}
