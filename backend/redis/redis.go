package redis

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"hash/maphash"
	"iter"
	"log/slog"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"github.com/redis/rueidis"

	"github.com/yokedcache/yokedcache/backend"
)

// Compile-time checks of the capabilities.
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
	_ backend.HealthChecker  = (*Store)(nil)
	_ backend.Aser           = (*Store)(nil)
	_ backend.Namer          = (*Store)(nil)
	_ backend.SetCopier      = (*Store)(nil)
)

// Store is the Redis backend. Create it with New; it is safe for
// concurrent use.
type Store struct {
	c       rueidis.Client
	owned   bool
	opts    Options
	cluster bool
	log     *slog.Logger
	closed  atomic.Bool
	// legacy: the server lacks PEXPIRETIME (Redis < 7.0): plain PX
	// expiries, no tags.
	legacy atomic.Bool

	// Server clock: offset (server - local, ms) estimated from
	// PEXPIRETIME, and when it was measured (unix ns, 0 = never).
	clockMu  sync.Mutex
	offset   atomic.Int64
	offsetAt atomic.Int64

	seed   maphash.Seed
	uniq   [uniqSlots]uniqSlot
	uniqMu [uniqLocks]paddedMutex

	conn connStats

	// goredis is the caller's go-redis client (NewFromGoRedis), for As.
	goredis goredis.UniversalClient
}

type paddedMutex struct {
	sync.Mutex
	_ [56]byte
}

// connStats counts connections made through our dialer.
type connStats struct {
	dials, dialErrors, closes, timeouts atomic.Int64
}

// New returns a Store for opts. It does not wait for the server: the
// first operation connects (use Ping to check). Invalid options return an
// error matching backend.ErrInvalidConfig.
func New(opts Options) (*Store, error) {
	o, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	s := &Store{opts: o, log: o.Logger, seed: maphash.MakeSeed()}
	if o.Client != nil {
		s.c = o.Client
	} else {
		co := o.clientOption()
		inner := co.DialCtxFn
		co.DialCtxFn = func(ctx context.Context, addr string, d *net.Dialer, cfg *tls.Config) (net.Conn, error) {
			var (
				c   net.Conn
				err error
			)
			switch {
			case inner != nil:
				c, err = inner(ctx, addr, d, cfg)
			case cfg != nil:
				td := tls.Dialer{NetDialer: d, Config: cfg}
				c, err = td.DialContext(ctx, "tcp", addr)
			default:
				c, err = d.DialContext(ctx, "tcp", addr)
			}
			if err != nil {
				s.conn.dialErrors.Add(1)
				return nil, err
			}
			s.conn.dials.Add(1)
			return &countedConn{Conn: c, closes: &s.conn.closes}, nil
		}
		c, err := newClientLazy(co)
		if err != nil {
			return nil, fmt.Errorf("redis: %s: %w", o, err)
		}
		s.c, s.owned = c, true
	}
	s.cluster = s.c.Mode() == rueidis.ClientModeCluster
	return s, nil
}

// newClientLazy creates the rueidis client. rueidis dials one node
// during construction, so New fails when no server answers.
func newClientLazy(co rueidis.ClientOption) (rueidis.Client, error) {
	return rueidis.NewClient(co)
}

type countedConn struct {
	net.Conn
	once   sync.Once
	closes *atomic.Int64
}

func (c *countedConn) Close() error {
	c.once.Do(func() { c.closes.Add(1) })
	return c.Conn.Close()
}

// Name returns "redis".
func (s *Store) Name() string { return "redis" }

// As fills *rueidis.Client with the native client, and
// *goredis.UniversalClient with the go-redis client given to
// NewFromGoRedis.
func (s *Store) As(target any) bool {
	switch t := target.(type) {
	case *rueidis.Client:
		*t = s.c
		return true
	case *goredis.UniversalClient:
		if s.goredis != nil {
			*t = s.goredis
			return true
		}
	}
	return false
}

// Close closes the client (unless it was passed in Options.Client).
func (s *Store) Close() error {
	if !s.closed.CompareAndSwap(false, true) {
		return fmt.Errorf("redis: %w", backend.ErrClosed)
	}
	if s.owned {
		s.c.Close()
	}
	return nil
}

var errClosed = fmt.Errorf("redis: %w", backend.ErrClosed)

// check returns ErrClosed after Close.
func (s *Store) check() error {
	if s.closed.Load() {
		return errClosed
	}
	return nil
}

// wrapErr maps client errors onto the contract.
func (s *Store) wrapErr(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, rueidis.ErrClosing) && s.closed.Load() {
		return errClosed
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded) {
		s.conn.timeouts.Add(1)
	}
	return fmt.Errorf("redis: %w", err)
}

// metaKey is the per-entry record of an entry's tags: the entry key
// followed by 0xFF (an internal key under the same prefix).
func metaKey(key string) string { return key + "\xfft" }

// persistentTagKey is the set of keys without expiry carrying tag.
func persistentTagKey(tag string) string { return tag + "\xffp" }

// Get returns the value of key or an error matching ErrNotFound.
func (s *Store) Get(ctx context.Context, key string) ([]byte, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	b, err := s.c.Do(ctx, s.c.B().Get().Key(key).Build()).AsBytes()
	if err != nil {
		if rueidis.IsRedisNil(err) {
			return nil, backend.ErrNotFound
		}
		return nil, s.wrapErr(err)
	}
	return b, nil
}

// Exists reports whether key is present.
func (s *Store) Exists(ctx context.Context, key string) (bool, error) {
	if err := s.check(); err != nil {
		return false, err
	}
	n, err := s.c.Do(ctx, s.c.B().Exists().Key(key).Build()).AsInt64()
	if err != nil {
		return false, s.wrapErr(err)
	}
	return n > 0, nil
}

// GetMany reads keys with MGET (standalone, Sentinel) or with one MGET per
// hash slot, pipelined to every node (Cluster): one round trip.
func (s *Store) GetMany(ctx context.Context, keys []string) ([][]byte, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	out := make([][]byte, len(keys))
	if len(keys) == 0 {
		return out, nil
	}
	if !s.cluster {
		arr, err := s.c.Do(ctx, s.c.B().Mget().Key(keys...).Build()).ToArray()
		if err != nil {
			return nil, s.wrapErr(err)
		}
		if len(arr) != len(keys) {
			return nil, fmt.Errorf("redis: MGET returned %d values for %d keys", len(arr), len(keys))
		}
		for i := range arr {
			if arr[i].IsNil() {
				continue
			}
			b, err := arr[i].AsBytes()
			if err != nil {
				return nil, s.wrapErr(err)
			}
			out[i] = b
		}
		return out, nil
	}
	groups := groupBySlot(keys)
	cmds := make(rueidis.Commands, 0, len(groups))
	for _, g := range groups {
		ks := make([]string, len(g))
		for j, i := range g {
			ks[j] = keys[i]
		}
		cmds = append(cmds, s.c.B().Mget().Key(ks...).Build())
	}
	for gi, r := range s.c.DoMulti(ctx, cmds...) {
		arr, err := r.ToArray()
		if err != nil {
			return nil, s.wrapErr(err)
		}
		g := groups[gi]
		if len(arr) != len(g) {
			return nil, fmt.Errorf("redis: MGET returned %d values for %d keys", len(arr), len(g))
		}
		for j, i := range g {
			if arr[j].IsNil() {
				continue
			}
			b, err := arr[j].AsBytes()
			if err != nil {
				return nil, s.wrapErr(err)
			}
			out[i] = b
		}
	}
	return out, nil
}

// groupBySlot returns the indexes of keys grouped by hash slot, in order
// of first appearance.
func groupBySlot(keys []string) [][]int {
	idx := make(map[uint16]int)
	var groups [][]int
	for i, k := range keys {
		sl := slot(k)
		gi, ok := idx[sl]
		if !ok {
			gi = len(groups)
			idx[sl] = gi
			groups = append(groups, nil)
		}
		groups[gi] = append(groups[gi], i)
	}
	return groups
}

// SetCopies reports true: Set returns nil only after the server replied,
// so the command, and the key and value it referenced, have been written
// (backend.SetCopier).
func (s *Store) SetCopies() bool { return true }

// Set stores value under key. Without tags it is one SET (PX for a TTL);
// with tags see the package doc ("Tags").
func (s *Store) Set(ctx context.Context, key string, value []byte, opts backend.SetOptions) error {
	if err := s.check(); err != nil {
		return err
	}
	if len(opts.Tags) == 0 && opts.TTL > 0 {
		if err := s.syncClock(ctx, key); err != nil {
			return err
		}
		var cmd rueidis.Completed
		if s.legacy.Load() {
			cmd = s.c.B().Set().Key(key).Value(rueidis.BinaryString(value)).PxMilliseconds(ttlMillis(opts.TTL)).Build()
		} else {
			cmd = s.c.B().Set().Key(key).Value(rueidis.BinaryString(value)).PxatMillisecondsTimestamp(s.expiryAt(key, opts.TTL)).Build()
		}
		return s.wrapErr(s.c.Do(ctx, cmd).Error())
	}
	return s.setMany(ctx, []backend.Item{{Key: key, Value: value, SetOptions: opts}})
}

// SetMany writes items in one pipeline (two on Cluster when tags are
// involved, see the package doc).
func (s *Store) SetMany(ctx context.Context, items []backend.Item) error {
	if err := s.check(); err != nil {
		return err
	}
	if len(items) == 0 {
		return nil
	}
	return s.setMany(ctx, items)
}

func (s *Store) setMany(ctx context.Context, items []backend.Item) error {
	if err := s.syncClock(ctx, items[0].Key); err != nil {
		return err
	}
	legacy := s.legacy.Load()
	var first, second rueidis.Commands
	// Index writes per tag: one ZADD of all members, the index's expiry
	// and a trim of expired members.
	var idx map[string]*tagAdds
	var order []string
	for i := range items {
		it := &items[i]
		v := rueidis.BinaryString(it.Value)
		if len(it.Tags) == 0 {
			if it.TTL > 0 && legacy {
				first = append(first, s.c.B().Set().Key(it.Key).Value(v).PxMilliseconds(ttlMillis(it.TTL)).Build())
			} else if it.TTL > 0 {
				at := s.expiryAt(it.Key, it.TTL)
				first = append(first, s.c.B().Set().Key(it.Key).Value(v).PxatMillisecondsTimestamp(at).Build())
			} else {
				// No expiry: also drop a previous tag record, which is
				// what marks a persistent entry as tagged.
				first = append(first,
					s.c.B().Set().Key(it.Key).Value(v).Build(),
					s.c.B().Unlink().Key(metaKey(it.Key)).Build())
			}
			continue
		}
		if legacy {
			return errLegacyTags
		}
		meta := encodeTags(it.Tags)
		if it.TTL > 0 {
			at := s.expiryAt(it.Key, it.TTL)
			first = append(first,
				s.c.B().Set().Key(it.Key).Value(v).PxatMillisecondsTimestamp(at).Build(),
				s.c.B().Set().Key(metaKey(it.Key)).Value(strconv.FormatInt(at, 10)+"@"+meta).PxatMillisecondsTimestamp(at).Build())
			for _, t := range it.Tags {
				ix := idx[t]
				if ix == nil {
					if idx == nil {
						idx = make(map[string]*tagAdds)
					}
					ix = &tagAdds{}
					idx[t] = ix
					order = append(order, t)
				}
				ix.keys = append(ix.keys, it.Key)
				ix.scores = append(ix.scores, at)
				ix.max = max(ix.max, at)
			}
		} else {
			first = append(first,
				s.c.B().Set().Key(it.Key).Value(v).Build(),
				s.c.B().Set().Key(metaKey(it.Key)).Value(meta).Build())
			for _, t := range it.Tags {
				second = append(second, s.c.B().Sadd().Key(persistentTagKey(t)).Member(it.Key).Build())
			}
		}
	}
	if len(order) > 0 {
		trim := "(" + strconv.FormatInt(s.serverNowMillis(), 10)
		for _, t := range order {
			ix := idx[t]
			z := s.c.B().Zadd().Key(t).ScoreMember()
			for i, k := range ix.keys {
				z = z.ScoreMember(float64(ix.scores[i]), k)
			}
			second = append(second,
				z.Build(),
				s.c.B().Pexpireat().Key(t).MillisecondsTimestamp(ix.max).Nx().Build(),
				s.c.B().Pexpireat().Key(t).MillisecondsTimestamp(ix.max).Gt().Build(),
				s.c.B().Zremrangebyscore().Key(t).Min("-inf").Max(trim).Build())
		}
	}
	if !s.cluster {
		// One pipeline on one connection: executed in order.
		first = append(first, second...)
		second = nil
	}
	if err := s.doAll(ctx, first); err != nil {
		return err
	}
	return s.doAll(ctx, second)
}

// tagAdds are the index entries one SetMany adds to one tag.
type tagAdds struct {
	keys   []string
	scores []int64
	max    int64
}

// doAll runs cmds as one pipeline and returns the first error.
func (s *Store) doAll(ctx context.Context, cmds rueidis.Commands) error {
	if len(cmds) == 0 {
		return nil
	}
	for _, r := range s.c.DoMulti(ctx, cmds...) {
		if err := r.Error(); err != nil {
			return s.wrapErr(err)
		}
	}
	return nil
}

func ttlMillis(d time.Duration) int64 {
	ms := int64((d + time.Millisecond - 1) / time.Millisecond)
	if ms < 1 {
		ms = 1
	}
	return ms
}

// Delete removes key (and its tag record) and reports whether it existed.
func (s *Store) Delete(ctx context.Context, key string) (bool, error) {
	n, err := s.DeleteMany(ctx, []string{key})
	return n > 0, err
}

// DeleteMany removes keys in one pipeline of UNLINKs and returns how many
// existed. Each key's tag record goes with it; a persistent entry's
// memberships are removed in a second round trip.
func (s *Store) DeleteMany(ctx context.Context, keys []string) (int64, error) {
	if err := s.check(); err != nil {
		return 0, err
	}
	if len(keys) == 0 {
		return 0, nil
	}
	cmds := make(rueidis.Commands, 0, 3*len(keys))
	for _, k := range keys {
		mk := metaKey(k)
		cmds = append(cmds, s.c.B().Unlink().Key(k).Build(), s.c.B().Get().Key(mk).Build(), s.c.B().Unlink().Key(mk).Build())
	}
	res := s.c.DoMulti(ctx, cmds...)
	var n int64
	var cleanup rueidis.Commands
	for i, k := range keys {
		c, err := res[3*i].AsInt64()
		if err != nil {
			return n, s.wrapErr(err)
		}
		n += c
		meta, err := res[3*i+1].ToString()
		if err != nil {
			if rueidis.IsRedisNil(err) {
				continue
			}
			return n, s.wrapErr(err)
		}
		for _, t := range decodeTags(meta) {
			cleanup = append(cleanup, s.c.B().Srem().Key(persistentTagKey(t)).Member(k).Build())
		}
	}
	return n, s.doAll(ctx, cleanup)
}

// TTL returns the remaining time to live (PTTL).
func (s *Store) TTL(ctx context.Context, key string) (time.Duration, error) {
	if err := s.check(); err != nil {
		return 0, err
	}
	ms, err := s.c.Do(ctx, s.c.B().Pttl().Key(key).Build()).AsInt64()
	if err != nil {
		return 0, s.wrapErr(err)
	}
	switch {
	case ms == -2:
		return 0, backend.ErrNotFound
	case ms == -1:
		return backend.NoExpiry, nil
	case ms < 0:
		return 0, fmt.Errorf("redis: PTTL returned %d", ms)
	}
	return time.Duration(ms) * time.Millisecond, nil
}

// Expire sets a new TTL (PEXPIRE, or PERSIST for NoExpiry) and reports
// whether key existed. A tagged entry's index records move with it.
func (s *Store) Expire(ctx context.Context, key string, ttl time.Duration) (bool, error) {
	if err := s.check(); err != nil {
		return false, err
	}
	if err := s.syncClock(ctx, key); err != nil {
		return false, err
	}
	if s.legacy.Load() {
		return s.expireLegacy(ctx, key, ttl)
	}
	mk := metaKey(key)
	res := s.c.DoMulti(ctx,
		s.c.B().Pexpiretime().Key(key).Build(),
		s.c.B().Pexpiretime().Key(mk).Build(),
		s.c.B().Get().Key(mk).Build())
	exp, err := res[0].AsInt64()
	if err != nil {
		return false, s.wrapErr(err)
	}
	if exp == -2 {
		return false, nil
	}
	mexp, err := res[1].AsInt64()
	if err != nil {
		return false, s.wrapErr(err)
	}
	meta, err := res[2].ToString()
	if err != nil && !rueidis.IsRedisNil(err) {
		return false, s.wrapErr(err)
	}
	var tags []string
	if err == nil && mexp == exp {
		tags = decodeTags(meta)
	}
	if len(tags) == 0 {
		var cmd rueidis.Completed
		if ttl == backend.NoExpiry {
			cmd = s.c.B().Persist().Key(key).Build()
		} else {
			if err := s.syncClock(ctx, key); err != nil {
				return false, err
			}
			cmd = s.c.B().Pexpireat().Key(key).MillisecondsTimestamp(s.expiryAt(key, ttl)).Build()
		}
		n, err := s.c.Do(ctx, cmd).AsInt64()
		if err != nil {
			return false, s.wrapErr(err)
		}
		// PERSIST returns 0 for an existing key without expiry.
		return n == 1 || ttl == backend.NoExpiry, nil
	}
	// A tagged entry: record the new identity in its tags first, then
	// move the entry (one pipeline, in order).
	var first, second rueidis.Commands
	if ttl == backend.NoExpiry {
		for _, t := range tags {
			first = append(first, s.c.B().Sadd().Key(persistentTagKey(t)).Member(key).Build())
		}
		second = append(second, s.c.B().Set().Key(mk).Value(encodeRecord(0, tags)).Build(), s.c.B().Persist().Key(key).Build())
	} else {
		if err := s.syncClock(ctx, key); err != nil {
			return false, err
		}
		at := s.expiryAt(key, ttl)
		for _, t := range tags {
			first = append(first,
				s.c.B().Zadd().Key(t).ScoreMember().ScoreMember(float64(at), key).Build(),
				s.c.B().Pexpireat().Key(t).MillisecondsTimestamp(at).Nx().Build(),
				s.c.B().Pexpireat().Key(t).MillisecondsTimestamp(at).Gt().Build())
		}
		// The record carries the new identity (see encodeRecord).
		second = append(second,
			s.c.B().Set().Key(mk).Value(encodeRecord(at, tags)).PxatMillisecondsTimestamp(at).Build(),
			s.c.B().Pexpireat().Key(key).MillisecondsTimestamp(at).Build())
	}
	if !s.cluster {
		first = append(first, second...)
		second = nil
	}
	if err := s.doAll(ctx, first); err != nil {
		return false, err
	}
	if err := s.doAll(ctx, second); err != nil {
		return false, err
	}
	return true, nil
}

// expireLegacy is Expire on servers without PEXPIRETIME (no tags there).
func (s *Store) expireLegacy(ctx context.Context, key string, ttl time.Duration) (bool, error) {
	if ttl == backend.NoExpiry {
		res := s.c.DoMulti(ctx, s.c.B().Exists().Key(key).Build(), s.c.B().Persist().Key(key).Build())
		n, err := res[0].AsInt64()
		if err == nil {
			err = res[1].Error()
		}
		return n > 0, s.wrapErr(err)
	}
	n, err := s.c.Do(ctx, s.c.B().Pexpire().Key(key).Milliseconds(ttlMillis(ttl)).Build()).AsInt64()
	return n == 1, s.wrapErr(err)
}

var errLegacyTags = backend.Unsupported("redis", "tags", "the tag index needs Redis 7.0 or later (PEXPIRETIME, PEXPIREAT NX/GT)")

// encodeTags serialises tag identifiers: each as a decimal length, ':'
// and the bytes.
func encodeTags(tags []string) string {
	var b strings.Builder
	for _, t := range tags {
		b.WriteString(strconv.Itoa(len(t)))
		b.WriteByte(':')
		b.WriteString(t)
	}
	return b.String()
}

// encodeRecord is the tag record of an entry: for an entry that expires
// at at (server Unix ms) "<at>@" followed by encodeTags(tags), so that
// InvalidateTags can read entries' identities in bulk (MGET); for an entry
// without expiry (at 0) just the tags.
func encodeRecord(at int64, tags []string) string {
	if at <= 0 {
		return encodeTags(tags)
	}
	return strconv.FormatInt(at, 10) + "@" + encodeTags(tags)
}

// recordAt returns the expiry a tag record carries, or 0 (a record of an
// entry without expiry, or written before records carried it).
func recordAt(s string) int64 {
	i := strings.IndexByte(s, '@')
	if i <= 0 {
		return 0
	}
	at, err := strconv.ParseInt(s[:i], 10, 64)
	if err != nil || at <= 0 {
		return 0
	}
	return at
}

// decodeTags parses encodeTags, or a record from encodeRecord;
// malformed input yields what parsed.
func decodeTags(s string) []string { return slices.Collect(recordTags(s)) }

// recordTags yields the tags of encodeTags or encodeRecord output, up to
// the first malformed byte, without allocating.
func recordTags(s string) iter.Seq[string] {
	return func(yield func(string) bool) {
		if i := strings.IndexByte(s, '@'); i > 0 && recordAt(s) > 0 {
			s = s[i+1:]
		}
		for s != "" {
			i := strings.IndexByte(s, ':')
			if i <= 0 {
				return
			}
			n, err := strconv.Atoi(s[:i])
			if err != nil || n < 0 || n > len(s)-i-1 {
				return
			}
			if !yield(s[i+1 : i+1+n]) {
				return
			}
			s = s[i+1+n:]
		}
	}
}
