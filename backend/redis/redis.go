package redis

import (
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/rueidis"

	"github.com/yokedcache/yokedcache/backend"
)

// Compile-time checks of the capabilities.
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
	_ backend.HealthChecker  = (*Store)(nil)
	_ backend.Aser           = (*Store)(nil)
	_ backend.Namer          = (*Store)(nil)
	_ backend.SetCopier      = (*Store)(nil)
	_ backend.TTLReader      = (*Store)(nil)
	_ backend.Tracker        = (*Store)(nil)
)

// Store is the Redis backend. Create it with New; it is safe for
// concurrent use.
type Store struct {
	// cp is the client, nil until the first successful dial (connect.go):
	// New never dials, so a Store can be made while the server is down.
	cp      atomic.Pointer[clientRef]
	co      rueidis.ClientOption // how to dial, when the Store owns the client
	dial    dialState
	owned   bool
	opts    Options
	cluster bool
	log     *slog.Logger
	closed  atomic.Bool
	// legacy: the server lacks PEXPIRETIME (Redis < 7.0): plain PX
	// expiries, no tags.
	legacy atomic.Bool

	// Server clock: offset (server Unix ms - monoNanos in ms) estimated
	// from PEXPIRETIME, and when it was measured (monoNanos, 0 = never).
	base     time.Time
	clockMu  sync.Mutex
	offset   atomic.Int64
	offsetAt atomic.Int64
	probeID  string // random suffix of this Store's clock probe key

	// persistentWrites counts writes of tagged entries without expiry,
	// and sweep is the background sweep of their sets (sweep.go).
	persistentWrites atomic.Uint64
	sweep            sweeper

	conn connStats

	compatState // Options.Compat (compat.go)

	// pub: writes are announced on invalidation streams
	// (Options.PublishInvalidations, or a tracking in stream mode);
	// track: the running trackings (track.go).
	pub   atomic.Bool
	track trackSet
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
	s := &Store{opts: o, log: o.Logger, base: time.Now(), probeID: strconv.FormatUint(rand.Uint64(), 36)}
	if o.Client != nil {
		s.cp.Store(&clientRef{o.Client})
		s.cluster = o.Client.Mode() == rueidis.ClientModeCluster
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
				c, err = dialTLS(ctx, d, addr, cfg)
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
		s.co, s.owned = co, true
	}
	s.compat = o.Compat == CompatPython
	s.pub.Store(o.PublishInvalidations)
	return s, nil
}

// dialTLS connects to addr and runs the TLS handshake, within d.Timeout
// for both as tls.Dialer does. A failed handshake says so: a plain-text
// server does not answer a ClientHello, so without the hint a rediss://
// URL for it would only report a timeout.
func dialTLS(ctx context.Context, d *net.Dialer, addr string, cfg *tls.Config) (net.Conn, error) {
	if d.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, d.Timeout)
		defer cancel()
	}
	raw, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	if cfg.ServerName == "" {
		host, _, err := net.SplitHostPort(addr)
		if err != nil {
			host = addr
		}
		cfg = cfg.Clone()
		cfg.ServerName = host
	}
	c := tls.Client(raw, cfg)
	if err := c.HandshakeContext(ctx); err != nil {
		_ = raw.Close()
		// A *net.OpError, as a failed dial is: the server was not
		// reached in a usable way.
		return nil, &net.OpError{Op: "dial", Net: "tcp", Source: raw.LocalAddr(), Addr: raw.RemoteAddr(),
			Err: fmt.Errorf("TLS handshake failed (the server may not speak TLS: use redis:// rather than rediss:// for a plain-text server): %w", err)}
	}
	return c, nil
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

// As fills *rueidis.Client with the native client (package
// backend/goredis adds go-redis clients).
//
// New does not dial: As connects first (within ConnectTimeout) and
// reports false when the server cannot be reached.
func (s *Store) As(target any) bool {
	if t, ok := target.(*rueidis.Client); ok {
		if s.check(context.Background()) != nil {
			return false
		}
		ref := s.cp.Load()
		*t = ref.c
		return true
	}
	return false
}

// Close closes the client (unless it was passed in Options.Client).
func (s *Store) Close() error {
	if !s.closed.CompareAndSwap(false, true) {
		return fmt.Errorf("redis: %w", backend.ErrClosed)
	}
	s.stopTrackings()
	s.stopSweep()
	s.stopDial()
	if ref := s.cp.Load(); ref != nil && s.owned {
		ref.c.Close()
	}
	return nil
}

var errClosed = fmt.Errorf("redis: %w", backend.ErrClosed)

// check returns ErrClosed after Close, and connects the Store on its
// first use (or after a failed dial): it returns the dial's error when
// the server cannot be reached.
func (s *Store) check(ctx context.Context) error {
	if s.closed.Load() {
		return errClosed
	}
	if s.cp.Load() != nil {
		return nil
	}
	return s.connect(ctx)
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

// Get returns the value of key or an error matching ErrNotFound.
func (s *Store) Get(ctx context.Context, key string) ([]byte, error) {
	if err := s.check(ctx); err != nil {
		return nil, err
	}
	if s.compat {
		return s.compatGet(ctx, key)
	}
	b, err := s.cl().Do(ctx, s.cl().B().Get().Key(key).Build()).AsBytes()
	if err != nil {
		if rueidis.IsRedisNil(err) {
			return nil, backend.ErrNotFound
		}
		return nil, s.wrapErr(err)
	}
	return valueOf(b), nil
}

// GetMany reads keys with MGET (standalone, Sentinel) or with one MGET per
// hash slot, pipelined to every node (Cluster): one round trip.
func (s *Store) GetMany(ctx context.Context, keys []string) ([][]byte, error) {
	if err := s.check(ctx); err != nil {
		return nil, err
	}
	if s.compat {
		return s.compatGetMany(ctx, keys)
	}
	out := make([][]byte, len(keys))
	if len(keys) == 0 {
		return out, nil
	}
	err := s.mget(ctx, keys, 0, func(i int, m rueidis.RedisMessage) error {
		b, err := m.AsBytes()
		if err != nil {
			return s.wrapErr(err)
		}
		out[i] = valueOf(b)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// mget reads keys with MGET in one pipeline: in commands of at most batch
// keys (all keys in one when batch <= 0) on a standalone or Sentinel
// server, one per hash slot on Cluster. It calls each with the index and
// reply of every key present.
func (s *Store) mget(ctx context.Context, keys []string, batch int, each func(i int, m rueidis.RedisMessage) error) error {
	p := s.planMget(keys, batch)
	return s.eachMget(p, s.cl().DoMulti(ctx, p.cmds...), each)
}

// mgetPlan is the MGET commands for a list of keys and how their replies
// map back to the keys.
type mgetPlan struct {
	cmds   rueidis.Commands
	groups [][]int // Cluster: indexes of keys per slot
	batch  int     // otherwise: keys per command
	n      int     // keys
}

// planMget builds the MGETs of keys (see mget).
func (s *Store) planMget(keys []string, batch int) mgetPlan {
	p := mgetPlan{n: len(keys)}
	if s.cluster {
		p.groups = groupBySlot(keys)
		for _, g := range p.groups {
			ks := make([]string, len(g))
			for j, i := range g {
				ks[j] = keys[i]
			}
			p.cmds = append(p.cmds, s.cl().B().Mget().Key(ks...).Build())
		}
		return p
	}
	if batch <= 0 {
		batch = len(keys)
	}
	p.batch = batch
	for lo := 0; lo < len(keys); lo += batch {
		p.cmds = append(p.cmds, s.cl().B().Mget().Key(keys[lo:min(lo+batch, len(keys))]...).Build())
	}
	return p
}

// eachMget calls each with the key index and reply of every key present
// in the replies res of p's commands (res may go on with replies of other
// commands pipelined after them).
func (s *Store) eachMget(p mgetPlan, res []rueidis.RedisResult, each func(i int, m rueidis.RedisMessage) error) error {
	for gi, r := range res[:len(p.cmds)] {
		arr, err := r.ToArray()
		if err != nil {
			return s.wrapErr(err)
		}
		var want int
		if s.cluster {
			want = len(p.groups[gi])
		} else {
			want = min((gi+1)*p.batch, p.n) - gi*p.batch
		}
		if len(arr) != want {
			return fmt.Errorf("redis: MGET returned %d values for %d keys", len(arr), want)
		}
		for j := range arr {
			if arr[j].IsNil() {
				continue
			}
			i := gi*p.batch + j
			if s.cluster {
				i = p.groups[gi][j]
			}
			if err := each(i, arr[j]); err != nil {
				return err
			}
		}
	}
	return nil
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
	if err := s.check(ctx); err != nil {
		return err
	}
	if s.compat {
		return s.compatSetMany(ctx, []backend.Item{{Key: key, Value: value, SetOptions: opts}})
	}
	if len(opts.Tags) == 0 && !needsHead(value) {
		v := rueidis.BinaryString(value)
		var cmd rueidis.Completed
		if opts.TTL > 0 {
			cmd = s.cl().B().Set().Key(key).Value(v).PxMilliseconds(ttlMillis(opts.TTL)).Build()
		} else {
			cmd = s.cl().B().Set().Key(key).Value(v).Build()
		}
		if s.pub.Load() {
			return s.doPublished(ctx, rueidis.Commands{cmd}, []string{key})
		}
		return s.wrapErr(s.cl().Do(ctx, cmd).Error())
	}
	return s.setMany(ctx, []backend.Item{{Key: key, Value: value, SetOptions: opts}})
}

// SetMany writes items in one pipeline (with tags on Cluster, up to three
// ordered ones: sorted-set index, entries, persistent sets; see the
// package doc).
func (s *Store) SetMany(ctx context.Context, items []backend.Item) error {
	if err := s.check(ctx); err != nil {
		return err
	}
	if len(items) == 0 {
		return nil
	}
	if s.compat {
		return s.compatSetMany(ctx, items)
	}
	return s.setMany(ctx, items)
}

func (s *Store) setMany(ctx context.Context, items []backend.Item) error {
	tagged := false
	for i := range items {
		if len(items[i].Tags) > 0 {
			tagged = true
			break
		}
	}
	if tagged {
		if err := s.syncClock(ctx, items[0].Key); err != nil {
			return err
		}
		if s.legacy.Load() {
			return errLegacyTags
		}
	}
	// The sorted-set index writes, the entries, the persistent-set
	// writes, in that order (see below).
	var zidx, first, sadds rueidis.Commands
	var ptags []string // tags of entries without expiry
	var pseen map[string]struct{}
	pn := 0 // how many such entries
	// Index writes per index key: one ZADD of all members, the index's
	// expiry and a trim of expired members.
	var idx map[string]*tagAdds
	var order []string
	for i := range items {
		it := &items[i]
		value := it.Value
		if len(it.Tags) > 0 || needsHead(value) {
			value = storedValue(value, it.Tags)
		}
		v := rueidis.BinaryString(value)
		if len(it.Tags) == 0 {
			if it.TTL > 0 {
				first = append(first, s.cl().B().Set().Key(it.Key).Value(v).PxMilliseconds(ttlMillis(it.TTL)).Build())
			} else {
				first = append(first, s.cl().B().Set().Key(it.Key).Value(v).Build())
			}
			continue
		}
		if it.TTL <= 0 {
			pn++
			first = append(first, s.cl().B().Set().Key(it.Key).Value(v).Build())
			for _, t := range it.Tags {
				sadds = append(sadds, s.cl().B().Sadd().Key(persistentTagKey(t)).Member(it.Key).Build())
				if _, ok := pseen[t]; !ok {
					if pseen == nil {
						pseen = make(map[string]struct{})
					}
					pseen[t] = struct{}{}
					ptags = append(ptags, t)
				}
			}
			continue
		}
		at := s.expiryAt(it.TTL)
		first = append(first, s.cl().B().Set().Key(it.Key).Value(v).PxatMillisecondsTimestamp(at).Build())
		for _, t := range it.Tags {
			ik := indexKey(t, len(value))
			ix := idx[ik]
			if ix == nil {
				if idx == nil {
					idx = make(map[string]*tagAdds)
				}
				ix = &tagAdds{}
				idx[ik] = ix
				order = append(order, ik)
			}
			ix.keys = append(ix.keys, it.Key)
			ix.scores = append(ix.scores, at)
			ix.max = max(ix.max, at)
		}
	}
	if len(order) > 0 {
		trim := s.trimBefore()
		for _, ik := range order {
			ix := idx[ik]
			// GT: a score only grows, so a write that read or computed
			// an earlier expiry never lowers the one a concurrent write
			// recorded (a member must not be trimmed while its entry
			// lives; one kept too long is only checked and skipped).
			z := s.cl().B().Zadd().Key(ik).Gt().ScoreMember()
			for i, k := range ix.keys {
				z = z.ScoreMember(float64(ix.scores[i]), k)
			}
			// GT first: an index about to expire is extended before it
			// gains the member; NX after: a new index gets its expiry.
			zidx = append(zidx,
				s.cl().B().Pexpireat().Key(ik).MillisecondsTimestamp(ix.max).Gt().Build(),
				z.Build(),
				s.cl().B().Pexpireat().Key(ik).MillisecondsTimestamp(ix.max).Nx().Build(),
				s.cl().B().Zremrangebyscore().Key(ik).Min("-inf").Max(trim).Build())
		}
	}
	// Sorted-set memberships go first: if the entries' writes then fail,
	// an index holds a member that does not match (harmless), never an
	// entry that no index records. Persistent-set memberships go last:
	// they are removed by InvalidateTags and Delete, which rely on a
	// member's value being written before it is added (see
	// forgetMemberships).
	if !s.cluster {
		// One pipeline on one connection: executed in order.
		if err := s.doPublished(ctx, slices.Concat(zidx, first, sadds), itemKeys(items, s.pub.Load())); err != nil {
			return err
		}
	} else {
		for _, cmds := range []rueidis.Commands{zidx, first, sadds} {
			if err := s.doAll(ctx, cmds); err != nil {
				return err
			}
		}
		if err := s.publish(ctx, itemKeys(items, s.pub.Load())); err != nil {
			return err
		}
	}
	s.persistentWritten(ctx, ptags, pn)
	return nil
}

// itemKeys returns the keys of items when want (to publish them).
func itemKeys(items []backend.Item, want bool) []string {
	if !want {
		return nil
	}
	keys := make([]string, len(items))
	for i := range items {
		keys[i] = items[i].Key
	}
	return keys
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
	for _, r := range s.cl().DoMulti(ctx, cmds...) {
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

// Delete removes key and reports whether it existed.
func (s *Store) Delete(ctx context.Context, key string) (bool, error) {
	n, err := s.DeleteMany(ctx, []string{key})
	return n > 0, err
}

// DeleteMany removes keys in one pipeline (the head of each value and its
// PTTL, then UNLINK) and returns how many existed. A deleted entry without
// expiry that carried tags leaves their persistent sets in a second round
// trip (forget); entries with a TTL leave their sorted sets when
// their expiry passes.
func (s *Store) DeleteMany(ctx context.Context, keys []string) (int64, error) {
	if err := s.check(ctx); err != nil {
		return 0, err
	}
	if len(keys) == 0 {
		return 0, nil
	}
	keys = s.pyKeys(keys)
	cmds := make(rueidis.Commands, 0, 3*len(keys))
	for _, k := range keys {
		cmds = append(cmds,
			s.cl().B().Getrange().Key(k).Start(0).End(headRead-1).Build(),
			s.cl().B().Pttl().Key(k).Build(),
			s.cl().B().Unlink().Key(k).Build())
	}
	var pub rueidis.Commands
	if s.pub.Load() {
		pub = s.publishCmds(keys)
		if !s.cluster {
			// After the UNLINKs on the same connection: in order.
			cmds = append(cmds, pub...)
		}
	}
	res := s.cl().DoMulti(ctx, cmds...)
	var (
		n        int64
		firstErr error
		forget   []string
		forgetOf [][]string
	)
	if len(pub) > 0 {
		if s.cluster {
			firstErr = s.doAll(ctx, pub)
		} else {
			for _, r := range res[3*len(keys):] {
				if err := r.Error(); err != nil {
					firstErr = cmp.Or(firstErr, s.wrapErr(err))
				}
			}
		}
	}
	for i, k := range keys {
		c, err := res[3*i+2].AsInt64()
		if err != nil {
			firstErr = cmp.Or(firstErr, s.wrapErr(err))
			continue
		}
		n += c
		// A value that is not a string (WRONGTYPE) has no tags.
		head, herr := res[3*i].ToString()
		pttl, perr := res[3*i+1].AsInt64()
		if c == 0 || herr != nil || perr != nil || pttl != -1 {
			continue
		}
		// A tag list longer than the head leaves its memberships to the
		// next InvalidateTags of those tags, which drops stale ones.
		if list, _ := headTags(head); list != "" {
			forget = append(forget, k)
			forgetOf = append(forgetOf, decodeTags(list))
		}
	}
	if firstErr != nil {
		return n, firstErr
	}
	return n, s.forget(ctx, forget, forgetOf)
}

// TTL returns the remaining time to live (PTTL).
func (s *Store) TTL(ctx context.Context, key string) (time.Duration, error) {
	if err := s.check(ctx); err != nil {
		return 0, err
	}
	key = s.pyKey(key)
	ms, err := s.cl().Do(ctx, s.cl().B().Pttl().Key(key).Build()).AsInt64()
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
// whether key existed. Then it records the entry, as it is now, in the
// indexes of the tags its value carries (recordCurrent): whatever wrote
// the value last, the indexes match the expiry it has now.
func (s *Store) Expire(ctx context.Context, key string, ttl time.Duration) (bool, error) {
	if err := s.check(ctx); err != nil {
		return false, err
	}
	key = s.pyKey(key)
	if err := s.syncClock(ctx, key); err != nil {
		return false, err
	}
	var existed bool
	if ttl == backend.NoExpiry {
		res := s.cl().DoMulti(ctx, s.cl().B().Exists().Key(key).Build(), s.cl().B().Persist().Key(key).Build())
		n, err := res[0].AsInt64()
		if err == nil {
			err = res[1].Error()
		}
		if err != nil {
			return false, s.wrapErr(err)
		}
		existed = n > 0
	} else {
		n, err := s.cl().Do(ctx, s.cl().B().Pexpire().Key(key).Milliseconds(ttlMillis(ttl)).Build()).AsInt64()
		if err != nil {
			return false, s.wrapErr(err)
		}
		existed = n == 1
	}
	if existed {
		if err := s.publish(ctx, []string{key}); err != nil {
			return true, err
		}
	}
	if !existed || s.legacy.Load() {
		return existed, nil
	}
	return true, s.recordCurrent(ctx, key)
}

var errLegacyTags = backend.Unsupported("redis", "tags", "the tag index needs Redis 7.0 or later (PEXPIRETIME, PEXPIREAT NX/GT)")
