package memcached

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/bradfitz/gomemcache/memcache"

	"github.com/yokedcache/yokedcache/backend"
)

// Name is the backend type reported by Store.Name.
const Name = "memcached"

// Defaults of Options.
const (
	DefaultPort              = "11211"
	DefaultTimeout           = 500 * time.Millisecond
	DefaultMaxIdleConns      = 16
	DefaultMaxItemSize       = 1 << 20
	DefaultNamespaceDepth    = 1
	DefaultWriteNamespaceTTL = time.Second
	DefaultReadNamespaceTTL  = time.Second
)

// itemOverhead is what memcached adds to every item before comparing it
// with its -I limit: the item struct (48 bytes on 64-bit builds), the CAS
// value (8), the key's terminating NUL (1), the client flags (4) and the
// value's trailing CRLF (2), plus one spare byte. The key length is added
// separately.
const itemOverhead = 64

// Options configures a Store. Only Servers is required.
type Options struct {
	// Servers are the memcached servers as "host:port" (the port defaults
	// to 11211) or absolute Unix socket paths. Every process sharing the
	// servers must list the same names: they place keys on the ketama
	// continuum. Required.
	Servers []string
	// Distribution picks the server of each key: DistributionKetama (the
	// default, "" means it) or DistributionModula (gomemcache's CRC-32
	// modulo rule, which remaps most keys when the server list changes).
	Distribution Distribution
	// Weights are the servers' relative weights for ketama, in the order
	// of Servers (libketama's "memory" column): a server's share of the
	// continuum, and so of the keys, is its weight over the total. Empty
	// means equal weights (160 points per server). Ignored by
	// DistributionModula.
	Weights []int
	// Timeout bounds every network step (dial, each read and write) of an
	// operation. Default 500 ms (DefaultTimeout).
	Timeout time.Duration
	// MaxIdleConns is the number of idle connections kept per server.
	// Default 16; raise it above your peak parallel requests per server.
	MaxIdleConns int
	// MaxItemSize is the servers' item size limit (memcached -I), in
	// bytes. A Set whose item (key, value header, value and memcached's
	// overhead) would exceed it fails with an error matching
	// backend.ErrValueTooLarge before anything is sent. Default 1 MiB,
	// memcached's default.
	MaxItemSize int
	// NamespaceDepth is how many ':'-terminated segments of a stored key
	// form its flush namespace. The default 1 suits every KeyPrefix
	// without ':' (such as the default "yokedcache"); with KeyPrefix
	// "myapp:v2" set it to 2. Flush(prefix) requires a prefix with exactly
	// this many segments and returns ErrUnsupported otherwise.
	NamespaceDepth int
	// WriteNamespaceTTL is how long Set may reuse a namespace version
	// this Store has seen instead of reading it again. A Set in another
	// process within this window after a Flush may be written under the
	// old version and then reads as a miss: a lost write, never a stale
	// value. Network errors and reads that find the version changed or
	// gone refresh it early. Default 1 s; -1 reads the version on every
	// Set (one more round trip per Set).
	WriteNamespaceTTL time.Duration
	// ReadNamespaceTTL is how long Get, Exists and TTL may trust a
	// namespace version this Store has seen. Within it, a read whose value
	// carries the remembered version is a single gomemcache Get, as fast
	// as the raw client; a Flush by another process may go unseen here for
	// up to this long (this Store's own Flush is seen at once, and tags
	// and deletes are always immediate). Default 1 s. -1: every read
	// fetches the current version with the value in one multi-get, so
	// another process's Flush is seen as soon as it returns, at about 40 %
	// more latency per read (BenchmarkMemcachedAB).
	ReadNamespaceTTL time.Duration
}

// Distribution is a key-to-server rule.
type Distribution string

// The distributions.
const (
	// DistributionKetama is libketama's consistent hashing: adding or
	// removing one of n servers remaps about 1/n of the keys.
	DistributionKetama Distribution = "ketama"
	// DistributionModula is gomemcache's default: CRC-32 of the key
	// modulo the number of servers.
	DistributionModula Distribution = "modula"
)

func errInvalid(format string, args ...any) error {
	return fmt.Errorf("memcached: %s: %w", fmt.Sprintf(format, args...), backend.ErrInvalidConfig)
}

func isUnixPath(s string) bool { return strings.HasPrefix(s, "/") }

// normalize validates o and fills in defaults. o is a copy.
func (o Options) normalize() (Options, error) {
	if len(o.Servers) == 0 {
		return o, errInvalid("no servers")
	}
	servers := make([]string, len(o.Servers))
	seen := make(map[string]bool, len(o.Servers))
	for i, s := range o.Servers {
		s = strings.TrimSpace(s)
		if !isUnixPath(s) {
			host, port, err := net.SplitHostPort(s)
			if err != nil {
				// No port: add the default one.
				host, port = s, DefaultPort
				if strings.Contains(s, ":") && !strings.HasPrefix(s, "[") {
					host = "[" + s + "]" // bare IPv6
				}
				s = host + ":" + port
				host, port, err = net.SplitHostPort(s)
				if err != nil {
					return o, errInvalid("server %q: %v", o.Servers[i], err)
				}
			}
			if host == "" || strings.ContainsAny(host, " /,?#@") {
				return o, errInvalid("server %q: bad host", o.Servers[i])
			}
			if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 {
				return o, errInvalid("server %q: bad port", o.Servers[i])
			}
		}
		if seen[s] {
			return o, errInvalid("server %q listed twice", s)
		}
		seen[s] = true
		servers[i] = s
	}
	o.Servers = servers
	if len(o.Weights) > 0 {
		if len(o.Weights) != len(o.Servers) {
			return o, errInvalid("%d weights for %d servers", len(o.Weights), len(o.Servers))
		}
		total := 0
		for _, w := range o.Weights {
			if w < 1 || w > 1<<20 {
				return o, errInvalid("weight %d out of range (1 to 1048576)", w)
			}
			total += w
		}
		o.Weights = append([]int(nil), o.Weights...)
		for i, w := range o.Weights {
			// Every server needs at least one digest (libketama would
			// silently drop it).
			if float64(w)/float64(total)*ketamaHashesPerServer*float64(len(o.Weights)) < 1 {
				return o, errInvalid("server %s: weight %d is too small to get a point on the continuum", o.Servers[i], w)
			}
		}
	}
	switch o.Distribution {
	case "":
		o.Distribution = DistributionKetama
	case DistributionKetama, DistributionModula:
	default:
		return o, errInvalid("unknown distribution %q (want ketama or modula)", o.Distribution)
	}
	if o.Timeout < 0 || o.MaxIdleConns < 0 || o.MaxItemSize < 0 || o.NamespaceDepth < 0 ||
		(o.WriteNamespaceTTL < 0 && o.WriteNamespaceTTL != -1) || (o.ReadNamespaceTTL < 0 && o.ReadNamespaceTTL != -1) {
		return o, errInvalid("negative Timeout, MaxIdleConns, MaxItemSize, NamespaceDepth, WriteNamespaceTTL or ReadNamespaceTTL")
	}
	if o.Timeout == 0 {
		o.Timeout = DefaultTimeout
	}
	if o.MaxIdleConns == 0 {
		o.MaxIdleConns = DefaultMaxIdleConns
	}
	if o.MaxItemSize == 0 {
		o.MaxItemSize = DefaultMaxItemSize
	}
	if o.MaxItemSize < 1024 || o.MaxItemSize > 1<<30 {
		return o, errInvalid("MaxItemSize %d out of range (1 KiB to 1 GiB)", o.MaxItemSize)
	}
	if o.NamespaceDepth == 0 {
		o.NamespaceDepth = DefaultNamespaceDepth
	}
	if o.NamespaceDepth > 64 {
		return o, errInvalid("NamespaceDepth %d over 64", o.NamespaceDepth)
	}
	if o.WriteNamespaceTTL == 0 {
		o.WriteNamespaceTTL = DefaultWriteNamespaceTTL
	}
	if o.ReadNamespaceTTL == 0 {
		o.ReadNamespaceTTL = DefaultReadNamespaceTTL
	}
	return o, nil
}

// Store is the memcached backend. It is safe for concurrent use.
type Store struct {
	opts   Options
	client *memcache.Client
	sel    *selector
	closed atomic.Bool

	// nsKeys and tagKeys cache the per-server memcached keys of version
	// counters, keyed by namespace or tag (see versionKeys).
	nsKeys, tagKeys sync.Map // string -> []string
	vkeyCount       atomic.Int64
	// ns holds the namespace versions this Store has seen, for
	// WriteNamespaceTTL and ReadNamespaceTTL (nsversion.go).
	ns nsCache
}

// cacheCap bounds the local caches; past it they are cleared.
const cacheCap = 8192

var (
	_ backend.Backend       = (*Store)(nil)
	_ backend.BatchGetter   = (*Store)(nil)
	_ backend.BatchSetter   = (*Store)(nil)
	_ backend.BatchDeleter  = (*Store)(nil)
	_ backend.Exister       = (*Store)(nil)
	_ backend.Expirer       = (*Store)(nil)
	_ backend.Tagger        = (*Store)(nil)
	_ backend.Flusher       = (*Store)(nil)
	_ backend.Stater        = (*Store)(nil)
	_ backend.Pinger        = (*Store)(nil)
	_ backend.HealthChecker = (*Store)(nil)
	_ backend.Aser          = (*Store)(nil)
	_ backend.Namer         = (*Store)(nil)
	_ backend.SetCopier     = (*Store)(nil)
)

// New returns a Store for the servers in o. It does not connect:
// connections are opened by the first operations (use Ping to check the
// servers).
func New(o Options) (*Store, error) {
	o, err := o.normalize()
	if err != nil {
		return nil, err
	}
	sel := newSelector(o.Servers, o.Weights, o.Distribution == DistributionKetama)
	c := memcache.NewFromSelector(sel)
	c.Timeout = o.Timeout
	c.MaxIdleConns = o.MaxIdleConns
	return &Store{opts: o, client: c, sel: sel}, nil
}

// Name returns "memcached".
func (s *Store) Name() string { return Name }

// As fills a **memcache.Client with the gomemcache client.
func (s *Store) As(target any) bool {
	if p, ok := target.(**memcache.Client); ok && p != nil {
		*p = s.client
		return true
	}
	return false
}

// Options returns the normalized options of s (defaults filled in).
func (s *Store) Options() Options {
	o := s.opts
	o.Servers = append([]string(nil), o.Servers...)
	o.Weights = append([]int(nil), o.Weights...)
	return o
}

// Close closes idle connections. Later calls return backend.ErrClosed.
func (s *Store) Close() error {
	if !s.closed.CompareAndSwap(false, true) {
		return backend.ErrClosed
	}
	return s.client.Close()
}

func (s *Store) check(ctx context.Context) error {
	if s.closed.Load() {
		return backend.ErrClosed
	}
	return ctx.Err()
}

// corruptError matches both backend.ErrCorrupt and backend.ErrNotFound: a
// value this package cannot read is reported and treated as a miss.
type corruptError struct{ err error }

func (e *corruptError) Error() string   { return e.err.Error() }
func (e *corruptError) Unwrap() []error { return []error{e.err, backend.ErrNotFound} }

func opErr(op string, err error) error {
	var cte *memcache.ConnectTimeoutError
	if errors.As(err, &cte) && !errors.Is(err, os.ErrDeadlineExceeded) {
		// Let callers match a dial timeout like a read timeout.
		return fmt.Errorf("memcached: %s: %w (%w)", op, err, os.ErrDeadlineExceeded)
	}
	return fmt.Errorf("memcached: %s: %w", op, err)
}

// serverErr names the server in a network error, and forgets the cached
// namespace versions (see netFailed).
func (s *Store) serverErr(srv int, err error) error {
	if err == nil || errors.Is(err, backend.ErrValueTooLarge) {
		return err
	}
	s.netFailed()
	return fmt.Errorf("server %s: %w", s.sel.addrs[srv], err)
}

// netFailed forgets the namespace versions Set reuses: a server that
// failed may come back restarted and empty, without the counters, and
// Sets must then create new ones rather than write under versions that no
// longer exist (which would read as misses).
func (s *Store) netFailed() {
	s.ns.clear()
}

// staleConn reports whether err is what a pooled connection gives after
// its server closed it (restart, idle timeout): the operation never
// reached a live server and can be sent again on a new connection.
func staleConn(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

// retry runs op again (at most twice more) while it fails on a stale
// pooled connection. Every operation this package sends is safe to repeat
// (set, get, delete, cas; a repeated incr of a version counter only
// invalidates once more).
func retry(op func() error) error {
	err := op()
	for i := 0; i < 2 && err != nil && staleConn(err); i++ {
		err = op()
	}
	return err
}

// namespace returns the flush namespace of a stored key: its first
// NamespaceDepth ':'-terminated segments, or as many as it has.
func (s *Store) namespace(key string) string {
	end, n := 0, 0
	for i := 0; i < len(key) && n < s.opts.NamespaceDepth; i++ {
		if key[i] == ':' {
			end, n = i+1, n+1
		}
	}
	return key[:end]
}

// Version counter kinds.
const (
	kindNamespace = 'n'
	kindTag       = 't'
)

// versionKeys returns, for each server, the memcached key of the version
// counter of (kind, name) that lives on that server. Every entry is
// checked against counters on its own server, so a server that is down
// affects only its own keys; invalidation increments the counter on every
// server. The keys are "\xff\xff<kind>:<name>#<j>" (hashed by encodeKey)
// with the smallest j that lands on each server, so every process with the
// same server list derives the same keys.
func (s *Store) versionKeys(kind byte, name string) ([]string, error) {
	m := &s.nsKeys
	if kind == kindTag {
		m = &s.tagKeys
	}
	if v, ok := m.Load(name); ok {
		return v.([]string), nil
	}
	n := len(s.sel.addrs)
	keys := make([]string, n)
	base := make([]byte, 0, len(name)+16)
	base = append(append(append(base, 0xff, 0xff, kind, ':'), name...), '#')
	filled := 0
	for j := 0; filled < n; j++ {
		if j > 1000+200*n {
			return nil, fmt.Errorf("memcached: no version key lands on every server (continuum of %d servers): %w", n, backend.ErrInvalidConfig)
		}
		mk := encodeKey(string(strconv.AppendInt(base, int64(j), 10)))
		if i := s.sel.index(mk); keys[i] == "" {
			keys[i] = mk
			filled++
		}
	}
	if s.vkeyCount.Add(1) > cacheCap {
		s.nsKeys.Clear()
		s.tagKeys.Clear()
		s.vkeyCount.Store(1)
	}
	// name may be a substring of a caller's key, whose memory the Cache
	// reuses (backend.SetCopier): keep a copy.
	m.Store(strings.Clone(name), keys)
	return keys, nil
}

// randomVersion returns a fresh version counter start: random, so that a
// counter that was evicted and re-created never repeats a version an old
// entry recorded; below 2^62, so that increments never wrap.
func randomVersion() uint64 {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return binary.LittleEndian.Uint64(b[:])>>2 + 1
}

func parseVersion(b []byte) (uint64, bool) {
	// incr may leave trailing spaces when a number gets shorter.
	for len(b) > 0 && b[len(b)-1] == ' ' {
		b = b[:len(b)-1]
	}
	v, err := strconv.ParseUint(string(b), 10, 64)
	return v, err == nil
}

// readVersions returns the current values of version counters, creating
// the missing ones with a random start (add; if another process added it
// first, read theirs).
func (s *Store) readVersions(keys []string) ([]uint64, error) {
	var items map[string]*memcache.Item
	err := retry(func() (err error) {
		items, err = s.client.GetMulti(keys)
		return err
	})
	if err != nil {
		return nil, err
	}
	out := make([]uint64, len(keys))
	for i, k := range keys {
		if it := items[k]; it != nil {
			if v, ok := parseVersion(it.Value); ok {
				out[i] = v
				continue
			}
		}
		v, err := s.createVersion(k)
		if err != nil {
			return nil, err
		}
		out[i] = v
	}
	return out, nil
}

func (s *Store) createVersion(k string) (uint64, error) {
	for range 3 {
		v := randomVersion()
		err := s.client.Add(&memcache.Item{Key: k, Value: strconv.AppendUint(nil, v, 10)})
		if err == nil {
			return v, nil
		}
		if !errors.Is(err, memcache.ErrNotStored) {
			return 0, err
		}
		it, err := s.client.Get(k)
		if errors.Is(err, memcache.ErrCacheMiss) {
			continue // evicted right away; try again
		}
		if err != nil {
			return 0, err
		}
		if v, ok := parseVersion(it.Value); ok {
			return v, nil
		}
		// Not a number (a foreign value): replace it.
		if err := s.client.Set(&memcache.Item{Key: k, Value: strconv.AppendUint(nil, v, 10)}); err != nil {
			return 0, err
		}
		return v, nil
	}
	return 0, errors.New("memcached: version counter keeps disappearing (server out of memory?)")
}

// memcachedExpiry converts a TTL into memcached's expiration: whole
// seconds, rounded up plus one because memcached's clock ticks once a
// second and may expire an item up to a second early (the value header
// holds the exact expiry, which reads check); beyond 30 days an absolute
// Unix time, as the protocol requires, at most maxExpiry.
func memcachedExpiry(ttl time.Duration, now time.Time) int32 {
	if ttl == backend.NoExpiry {
		return 0
	}
	secs := int64(ttl / time.Second) // no overflow for any ttl
	if ttl%time.Second != 0 {
		secs++
	}
	secs++
	if secs <= 30*24*3600 {
		return int32(secs)
	}
	abs := now.Unix() + secs
	if abs > maxExpiry {
		return maxExpiry
	}
	return int32(abs)
}

// maxExpiry is the latest expiration memcached can store: its exptime is
// a signed 32-bit Unix time (2038-01-19T03:14:07Z).
const maxExpiry = math.MaxInt32

// maxExpiryMs is the latest exact expiry a value header records: a second
// before maxExpiry, since memcached may expire an item a second early.
// Longer TTLs are clamped to it, so that TTL reports what is stored.
const maxExpiryMs = (maxExpiry - 1) * 1000

func expiryMs(ttl time.Duration, now time.Time) int64 {
	if ttl == backend.NoExpiry {
		return 0
	}
	// time.Time.Add saturates instead of wrapping.
	return min(now.Add(ttl).UnixMilli(), maxExpiryMs)
}

// loc is where a stored key lives.
type loc struct {
	mkey  string // memcached key
	srv   int    // server index
	nsKey string // namespace version key on that server
}

func (s *Store) locate(key string) (loc, error) {
	mkey := encodeKey(key)
	srv := s.sel.index(mkey)
	nk, err := s.versionKeys(kindNamespace, s.namespace(key))
	if err != nil {
		return loc{}, err
	}
	return loc{mkey: mkey, srv: srv, nsKey: nk[srv]}, nil
}

// SetCopies reports true: Set sends the bytes and waits for the server's
// reply, and keeps nothing of key or value (backend.SetCopier).
func (s *Store) SetCopies() bool { return true }

// Set stores value under key. The value header records the namespace and
// tag versions current now, the exact expiry and, for hashed keys, the
// full key.
func (s *Store) Set(ctx context.Context, key string, value []byte, opts backend.SetOptions) error {
	if err := s.check(ctx); err != nil {
		return err
	}
	l, err := s.locate(key)
	if err != nil {
		return err
	}
	now := time.Now()
	h := header{expiryMs: expiryMs(opts.TTL, now)}
	if isHashed(l.mkey) {
		h.hasKey, h.fullKey = true, key
	}
	tags := backend.UniqueTags(opts.Tags)
	// Check the size before any network work, with the largest encoding
	// of every version (the real header is at most this long).
	h.nsVersion = math.MaxUint64
	if len(tags) > 0 {
		h.tags = make([]tagVersion, len(tags))
		for i, t := range tags {
			h.tags[i] = tagVersion{tag: t, version: math.MaxUint64}
		}
	}
	hs := headerSize(&h)
	if total := itemOverhead + len(l.mkey) + hs + len(value); total > s.opts.MaxItemSize {
		return fmt.Errorf("memcached: item of %d bytes (value %d + header %d + key and overhead) exceeds MaxItemSize %d: %w",
			total, len(value), hs, s.opts.MaxItemSize, backend.ErrValueTooLarge)
	}
	nsNow := mono()
	if len(tags) == 0 {
		v, ok := s.cachedNamespace(l.nsKey, nsNow, s.opts.WriteNamespaceTTL)
		if !ok {
			vs, err := s.readVersions([]string{l.nsKey})
			if err != nil {
				return opErr("set", s.serverErr(l.srv, err))
			}
			v = vs[0]
			s.rememberNamespace(l.nsKey, v, nsNow, mono())
		}
		h.nsVersion = v
	} else {
		keys := make([]string, 0, len(tags)+1)
		keys = append(keys, l.nsKey)
		for _, t := range tags {
			tk, err := s.versionKeys(kindTag, t)
			if err != nil {
				return err
			}
			keys = append(keys, tk[l.srv])
		}
		vs, err := s.readVersions(keys)
		if err != nil {
			return opErr("set", s.serverErr(l.srv, err))
		}
		h.nsVersion = vs[0]
		s.rememberNamespace(l.nsKey, vs[0], nsNow, mono())
		for i := range h.tags {
			h.tags[i].version = vs[i+1]
		}
	}
	hs = headerSize(&h)
	buf := appendHeader(make([]byte, 0, hs+len(value)), &h, value)
	it := &memcache.Item{Key: l.mkey, Value: buf, Expiration: memcachedExpiry(opts.TTL, now)}
	if err := retry(func() error { return s.client.Set(it) }); err != nil {
		return opErr("set", s.serverErr(l.srv, tooLarge(err)))
	}
	return nil
}

// SetMany stores items. Per server, in parallel: one multi-get for every
// namespace and tag version its items need (none for untagged items whose
// namespace version is remembered), then its sets in sequence (gomemcache
// has no multi-set). Every item is checked against MaxItemSize before
// anything is sent. If a server fails, the other servers' items are still
// written and the error names it.
func (s *Store) SetMany(ctx context.Context, items []backend.Item) error {
	if err := s.check(ctx); err != nil {
		return err
	}
	now := time.Now()
	nsNow := mono()
	type prep struct {
		l       loc
		h       header
		tagKeys []string // the tags' counters on l.srv
		needNS  bool     // the namespace version must be read
	}
	ps := make([]prep, len(items))
	perServer := make([][]int, len(s.sel.addrs)) // item indexes, in order
	need := make([][]string, len(s.sel.addrs))   // version keys to read
	seen := map[string]struct{}{}
	want := func(srv int, k string) {
		if _, dup := seen[k]; !dup {
			seen[k] = struct{}{}
			need[srv] = append(need[srv], k)
		}
	}
	for i, it := range items {
		l, err := s.locate(it.Key)
		if err != nil {
			return err
		}
		p := &ps[i]
		tags := backend.UniqueTags(it.Tags)
		p.l, p.tagKeys = l, make([]string, len(tags))
		p.h = header{expiryMs: expiryMs(it.TTL, now), nsVersion: math.MaxUint64}
		if isHashed(l.mkey) {
			p.h.hasKey, p.h.fullKey = true, it.Key
		}
		p.h.tags = make([]tagVersion, len(tags))
		for j, t := range tags {
			p.h.tags[j] = tagVersion{tag: t, version: math.MaxUint64}
		}
		if hs := headerSize(&p.h); itemOverhead+len(l.mkey)+hs+len(it.Value) > s.opts.MaxItemSize {
			return fmt.Errorf("memcached: set many: item %q of %d bytes (with header and overhead) exceeds MaxItemSize %d: %w",
				it.Key, itemOverhead+len(l.mkey)+hs+len(it.Value), s.opts.MaxItemSize, backend.ErrValueTooLarge)
		}
		if v, ok := s.cachedNamespace(l.nsKey, nsNow, s.opts.WriteNamespaceTTL); ok && len(tags) == 0 {
			p.h.nsVersion = v
		} else {
			p.needNS = true
			want(l.srv, l.nsKey)
		}
		for j, t := range tags {
			tk, err := s.versionKeys(kindTag, t)
			if err != nil {
				return err
			}
			p.tagKeys[j] = tk[l.srv]
			want(l.srv, tk[l.srv])
		}
		perServer[l.srv] = append(perServer[l.srv], i)
	}
	err := s.onServers(func(srv int) bool { return len(perServer[srv]) > 0 }, func(srv int) error {
		// Each item's versions live on its own server: one server's
		// failure leaves the others' items to be written.
		versions := make(map[string]uint64, len(need[srv]))
		var seenAt int64
		if len(need[srv]) > 0 {
			vs, err := s.readVersions(need[srv])
			if err != nil {
				return err
			}
			seenAt = mono()
			for i, k := range need[srv] {
				versions[k] = vs[i]
			}
		}
		for _, i := range perServer[srv] {
			p, it := &ps[i], items[i]
			if p.needNS {
				p.h.nsVersion = versions[p.l.nsKey]
				s.rememberNamespace(p.l.nsKey, p.h.nsVersion, nsNow, seenAt)
			}
			for j, k := range p.tagKeys {
				p.h.tags[j].version = versions[k]
			}
			buf := appendHeader(make([]byte, 0, headerSize(&p.h)+len(it.Value)), &p.h, it.Value)
			mi := &memcache.Item{Key: p.l.mkey, Value: buf, Expiration: memcachedExpiry(it.TTL, now)}
			if err := retry(func() error { return s.client.Set(mi) }); err != nil {
				return tooLarge(err)
			}
		}
		return nil
	})
	if err != nil {
		s.netFailed()
		return opErr("set many", err)
	}
	return nil
}

// tooLarge maps memcached's "too large" reply (a server whose -I is below
// MaxItemSize) to backend.ErrValueTooLarge.
func tooLarge(err error) error {
	if err != nil && strings.Contains(err.Error(), "too large") {
		return fmt.Errorf("%w (the server's -I is below Options.MaxItemSize): %w", err, backend.ErrValueTooLarge)
	}
	return err
}

// entry is a live entry read from the server.
type entry struct {
	h     header
	value []byte
	item  *memcache.Item
}

// lookup reads key and checks it: hashed key matches, not expired,
// namespace version current, tag versions current. It returns nil for a
// miss.
func (s *Store) lookup(key string) (*entry, loc, error) {
	l, err := s.locate(key)
	if err != nil {
		return nil, l, err
	}
	now := time.Now()
	var e *entry
	fast := false
	from := mono()
	if v, ok := s.cachedNamespace(l.nsKey, from, s.opts.ReadNamespaceTTL); ok {
		// Trust the remembered namespace version: one single-key get.
		var it *memcache.Item
		err := retry(func() (err error) {
			it, err = s.client.Get(l.mkey)
			return err
		})
		if errors.Is(err, memcache.ErrCacheMiss) {
			return nil, l, nil
		}
		if err != nil {
			return nil, l, s.serverErr(l.srv, err)
		}
		if e, err = s.validate(key, l, it, v, true, now); err != nil {
			return nil, l, err
		}
		// A value under another version may be newer than what this
		// Store remembers: check it the strict way.
		fast = e != nil
	}
	if !fast {
		var items map[string]*memcache.Item
		from = mono()
		err = retry(func() (err error) {
			items, err = s.client.GetMulti([]string{l.mkey, l.nsKey})
			return err
		})
		if err != nil {
			return nil, l, s.serverErr(l.srv, err)
		}
		nsv, nsOK := s.namespaceItem(l.nsKey, items[l.nsKey], from)
		if e, err = s.validate(key, l, items[l.mkey], nsv, nsOK, now); err != nil {
			return nil, l, err
		}
	}
	if e == nil {
		return nil, l, nil
	}
	if len(e.h.tags) > 0 {
		ok, failed, err := s.checkTags([]*entry{e}, []int{l.srv})
		if err != nil {
			return nil, l, err
		}
		if failed[l.srv] != nil {
			return nil, l, s.serverErr(l.srv, failed[l.srv])
		}
		if !ok[0] {
			return nil, l, nil
		}
	}
	return e, l, nil
}

// namespaceItem parses a namespace counter read from the server by a read
// that began at from (a mono() instant) and records it for Set (and
// reads, with ReadNamespaceTTL).
func (s *Store) namespaceItem(nsKey string, ns *memcache.Item, from int64) (uint64, bool) {
	if ns != nil {
		if v, ok := parseVersion(ns.Value); ok {
			s.noteNamespace(nsKey, v, from, mono())
			return v, true
		}
	}
	// The counter is gone (evicted, server restarted): entries that
	// recorded it are misses, and Set must create a new one.
	s.forgetNamespace(nsKey)
	return 0, false
}

// validate checks everything but the tags of one item against the
// namespace version nsv (nsOK false: the counter is missing).
func (s *Store) validate(key string, l loc, it *memcache.Item, nsv uint64, nsOK bool, now time.Time) (*entry, error) {
	if it == nil {
		return nil, nil
	}
	h, val, err := parseHeader(it.Value)
	if err != nil {
		return nil, &corruptError{fmt.Errorf("memcached: value under %q: %w", l.mkey, err)}
	}
	if h.hasKey != isHashed(l.mkey) || (h.hasKey && h.fullKey != key) {
		return nil, nil // another key (or a foreign writer) under the same name
	}
	if h.expiryMs != 0 && now.UnixMilli() >= h.expiryMs {
		return nil, nil
	}
	if !nsOK || nsv != h.nsVersion {
		return nil, nil // flushed, or the counter is gone and the entry cannot be proven current
	}
	return &entry{h: h, value: val, item: it}, nil
}

// checkTags reads the tag versions of entries (on each entry's server),
// one multi-get per server, the servers in parallel, and reports, per
// entry, whether all its tags are current. A missing counter is a
// mismatch. failed[srv] is the error of a server whose versions could not
// be read; its entries are reported false.
func (s *Store) checkTags(es []*entry, srvs []int) (ok []bool, failed []error, err error) {
	keys := make([][]string, len(s.sel.addrs))
	idx := make(map[string]struct{})
	tk := make([][]string, len(es))
	for i, e := range es {
		if e == nil {
			continue
		}
		tk[i] = make([]string, len(e.h.tags))
		for j, t := range e.h.tags {
			ks, err := s.versionKeys(kindTag, t.tag)
			if err != nil {
				return nil, nil, err
			}
			k := ks[srvs[i]]
			tk[i][j] = k
			if _, dup := idx[k]; !dup {
				idx[k] = struct{}{}
				keys[srvs[i]] = append(keys[srvs[i]], k)
			}
		}
	}
	items, failed := s.getMulti(keys)
	ok = make([]bool, len(es))
	for i, e := range es {
		if e == nil || failed[srvs[i]] != nil {
			continue
		}
		ok[i] = true
		for j, t := range e.h.tags {
			it := items[tk[i][j]]
			if it == nil {
				ok[i] = false
				break
			}
			if v, good := parseVersion(it.Value); !good || v != t.version {
				ok[i] = false
				break
			}
		}
	}
	return ok, failed, nil
}

// getMulti reads keys[srv] from each server srv with one multi-get, the
// servers in parallel. failed[srv] is the error of a server that failed,
// unnamed; the items of the others are returned.
func (s *Store) getMulti(keys [][]string) (map[string]*memcache.Item, []error) {
	failed := make([]error, len(s.sel.addrs))
	var mu sync.Mutex
	var out map[string]*memcache.Item
	run := func(srv int) {
		var items map[string]*memcache.Item
		err := retry(func() (err error) {
			items, err = s.client.GetMulti(keys[srv])
			return err
		})
		if err != nil {
			failed[srv] = err
			return
		}
		mu.Lock()
		if out == nil {
			out = items
		} else {
			for k, it := range items {
				out[k] = it
			}
		}
		mu.Unlock()
	}
	var wg sync.WaitGroup
	first := -1
	for srv, ks := range keys {
		if len(ks) == 0 {
			continue
		}
		if first < 0 {
			first = srv // run on this goroutine, after starting the others
			continue
		}
		wg.Go(func() { run(srv) })
	}
	if first >= 0 {
		run(first)
	}
	wg.Wait()
	return out, failed
}

// Get returns the value stored under key, or an error matching
// backend.ErrNotFound. One round trip (value and namespace version in one
// multi-get); tagged entries take a second one for their tag versions.
func (s *Store) Get(ctx context.Context, key string) ([]byte, error) {
	if err := s.check(ctx); err != nil {
		return nil, err
	}
	e, _, err := s.lookup(key)
	if err != nil {
		return nil, opErr("get", err)
	}
	if e == nil {
		return nil, backend.ErrNotFound
	}
	return e.value, nil
}

// Exists reports whether key holds a live entry. It costs as much as Get:
// liveness depends on the versions stored with the value.
func (s *Store) Exists(ctx context.Context, key string) (bool, error) {
	if err := s.check(ctx); err != nil {
		return false, err
	}
	e, _, err := s.lookup(key)
	if err != nil {
		return false, opErr("exists", err)
	}
	return e != nil, nil
}

// GetMany reads keys with one multi-get per server (values and namespace
// versions, the servers in parallel) plus one per server for the tag
// versions of tagged entries. If any server involved fails, it returns
// the error, naming the server.
func (s *Store) GetMany(ctx context.Context, keys []string) ([][]byte, error) {
	if err := s.check(ctx); err != nil {
		return nil, err
	}
	es, _, failed, err := s.lookupMany(keys)
	if err == nil {
		err = s.namedErrs(failed)
	}
	if err != nil {
		return nil, opErr("get many", err)
	}
	out := make([][]byte, len(keys))
	for i, e := range es {
		if e != nil {
			out[i] = e.value
		}
	}
	return out, nil
}

// namedErrs joins per-server errors, each naming its server.
func (s *Store) namedErrs(errs []error) error {
	var named []error
	for srv, err := range errs {
		if err != nil {
			named = append(named, fmt.Errorf("server %s: %w", s.sel.addrs[srv], err))
		}
	}
	return errors.Join(named...)
}

// lookupMany is lookup for several keys, batched per server: one
// multi-get per server for values and namespace versions, then one per
// server for tag versions, the servers in parallel. Unreadable values are
// misses. failed[srv] is the error of a server that failed; the entries
// of keys on it are nil (unknown), the others are checked as usual.
func (s *Store) lookupMany(keys []string) (es []*entry, locs []loc, failed []error, err error) {
	es = make([]*entry, len(keys))
	locs = make([]loc, len(keys))
	failed = make([]error, len(s.sel.addrs))
	if len(keys) == 0 {
		return es, locs, failed, nil
	}
	perServer := make([][]string, len(s.sel.addrs))
	seen := make(map[string]struct{}, len(keys)+len(s.sel.addrs))
	for i, k := range keys {
		l, err := s.locate(k)
		if err != nil {
			return nil, nil, nil, err
		}
		locs[i] = l
		for _, mk := range [2]string{l.mkey, l.nsKey} {
			if _, dup := seen[mk]; !dup {
				seen[mk] = struct{}{}
				perServer[l.srv] = append(perServer[l.srv], mk)
			}
		}
	}
	from := mono()
	items, failed := s.getMulti(perServer)
	now := time.Now()
	srvs := make([]int, len(keys))
	tagged := false
	for i, k := range keys {
		l := locs[i]
		srvs[i] = l.srv
		if failed[l.srv] != nil {
			continue
		}
		nsv, nsOK := s.namespaceItem(l.nsKey, items[l.nsKey], from)
		e, err := s.validate(k, l, items[l.mkey], nsv, nsOK, now)
		if err != nil {
			continue // unreadable: a miss
		}
		es[i] = e
		if e != nil && len(e.h.tags) > 0 {
			tagged = true
		}
	}
	if tagged {
		ok, tfailed, err := s.checkTags(es, srvs)
		if err != nil {
			return nil, nil, nil, err
		}
		for i, e := range es {
			if e != nil && len(e.h.tags) > 0 && !ok[i] {
				es[i] = nil
			}
		}
		for srv, err := range tfailed {
			if err != nil && failed[srv] == nil {
				failed[srv] = err
			}
		}
	}
	for _, err := range failed {
		if err != nil {
			s.netFailed()
			break
		}
	}
	return es, locs, failed, nil
}

// DeleteMany removes keys and returns how many held live entries. Per
// server, in parallel: one multi-get to learn which are live, then the
// deletes in sequence (gomemcache has no multi-delete). If a server
// fails, the others' keys are still deleted and the error names it.
func (s *Store) DeleteMany(ctx context.Context, keys []string) (int64, error) {
	if err := s.check(ctx); err != nil {
		return 0, err
	}
	es, locs, failed, err := s.lookupMany(keys)
	if err != nil {
		return 0, opErr("delete many", err)
	}
	perServer := make([][]int, len(s.sel.addrs))
	seen := make(map[string]struct{}, len(keys))
	for i, l := range locs {
		if _, dup := seen[l.mkey]; !dup && failed[l.srv] == nil {
			seen[l.mkey] = struct{}{}
			perServer[l.srv] = append(perServer[l.srv], i)
		}
	}
	var n atomic.Int64
	err = s.onServers(func(srv int) bool { return len(perServer[srv]) > 0 }, func(srv int) error {
		for _, i := range perServer[srv] {
			err := retry(func() error { return s.client.Delete(locs[i].mkey) })
			switch {
			case errors.Is(err, memcache.ErrCacheMiss):
			case err != nil:
				return err
			case es[i] != nil:
				n.Add(1)
			}
		}
		return nil
	})
	if err = errors.Join(s.namedErrs(failed), err); err != nil {
		s.netFailed()
		return n.Load(), opErr("delete many", err)
	}
	return n.Load(), nil
}

// Delete removes key and reports whether it held a live entry (an entry
// already invalidated by Flush, tags or expiry is removed but reported as
// absent). Two round trips: a check, then the delete.
func (s *Store) Delete(ctx context.Context, key string) (bool, error) {
	if err := s.check(ctx); err != nil {
		return false, err
	}
	e, l, err := s.lookup(key)
	if err != nil {
		var ce *corruptError
		if !errors.As(err, &ce) {
			return false, opErr("delete", err)
		}
		l, err = s.locate(key)
		if err != nil {
			return false, err
		}
	}
	err = retry(func() error { return s.client.Delete(l.mkey) })
	if errors.Is(err, memcache.ErrCacheMiss) {
		return false, nil
	}
	if err != nil {
		return false, opErr("delete", s.serverErr(l.srv, err))
	}
	return e != nil, nil
}

// TTL returns the remaining time to live of key (millisecond precision,
// from the value header), backend.NoExpiry, or an error matching
// backend.ErrNotFound.
func (s *Store) TTL(ctx context.Context, key string) (time.Duration, error) {
	if err := s.check(ctx); err != nil {
		return 0, err
	}
	e, _, err := s.lookup(key)
	if err != nil {
		return 0, opErr("ttl", err)
	}
	if e == nil {
		return 0, backend.ErrNotFound
	}
	if e.h.expiryMs == 0 {
		return backend.NoExpiry, nil
	}
	rem := time.Duration(e.h.expiryMs-time.Now().UnixMilli()) * time.Millisecond
	if rem <= 0 {
		return 0, backend.ErrNotFound
	}
	return rem, nil
}

// Expire gives key a new TTL: it rewrites the value header with the new
// expiry and the item's memcached expiration in one compare-and-swap
// (retried if another writer changed the item meanwhile).
func (s *Store) Expire(ctx context.Context, key string, ttl time.Duration) (bool, error) {
	if err := s.check(ctx); err != nil {
		return false, err
	}
	for range 5 {
		e, l, err := s.lookup(key)
		if err != nil {
			return false, opErr("expire", err)
		}
		if e == nil {
			return false, nil
		}
		now := time.Now()
		h := e.h
		h.expiryMs = expiryMs(ttl, now)
		buf := appendHeader(make([]byte, 0, headerSize(&h)+len(e.value)), &h, e.value)
		it := &memcache.Item{
			Key: l.mkey, Value: buf, Flags: e.item.Flags,
			Expiration: memcachedExpiry(ttl, now), CasID: e.item.CasID,
		}
		err = retry(func() error { return s.client.CompareAndSwap(it) })
		switch {
		case err == nil:
			return true, nil
		case errors.Is(err, memcache.ErrCASConflict):
			if err := ctx.Err(); err != nil {
				return false, err
			}
			continue
		case errors.Is(err, memcache.ErrNotStored), errors.Is(err, memcache.ErrCacheMiss):
			return false, nil
		default:
			return false, opErr("expire", s.serverErr(l.srv, err))
		}
	}
	return false, fmt.Errorf("memcached: expire: the entry kept changing under concurrent writers: %w", memcache.ErrCASConflict)
}

// eachServer runs f for every server in parallel and joins the errors,
// each naming its server.
func (s *Store) eachServer(f func(i int, addr net.Addr) error) error {
	return s.onServers(func(int) bool { return true }, func(i int) error { return f(i, s.sel.addrs[i]) })
}

// onServers runs f for every server i with use(i), in parallel (the
// first on the calling goroutine), and joins the errors, each naming its
// server.
func (s *Store) onServers(use func(i int) bool, f func(i int) error) error {
	errs := make([]error, len(s.sel.addrs))
	var wg sync.WaitGroup
	first := -1
	for i := range s.sel.addrs {
		if !use(i) {
			continue
		}
		if first < 0 {
			first = i
			continue
		}
		wg.Go(func() { errs[i] = f(i) })
	}
	if first >= 0 {
		errs[first] = f(first)
	}
	wg.Wait()
	return s.namedErrs(errs)
}

// InvalidateTags increments the version counter of every tag on every
// server (a missing counter needs nothing: entries that referenced it are
// already misses, and a new one starts at a random value). It returns -1:
// memcached cannot count the entries. If a server is down the others are
// still invalidated and the error names it.
func (s *Store) InvalidateTags(ctx context.Context, tags []string) (int64, error) {
	if err := s.check(ctx); err != nil {
		return 0, err
	}
	tags = backend.UniqueTags(tags)
	keys := make([][]string, len(tags))
	for i, t := range tags {
		ks, err := s.versionKeys(kindTag, t)
		if err != nil {
			return 0, err
		}
		keys[i] = ks
	}
	err := s.eachServer(func(srv int, _ net.Addr) error {
		for i := range tags {
			err := retry(func() error { _, err := s.client.Increment(keys[i][srv], 1); return err })
			if err != nil && !errors.Is(err, memcache.ErrCacheMiss) {
				return err
			}
		}
		return nil
	})
	if err != nil {
		s.netFailed()
		return -1, opErr("invalidate tags", err)
	}
	return -1, nil
}

// Flush invalidates every entry under prefix by incrementing the
// namespace version of prefix on every server: one increment per server,
// whatever the number of keys. prefix must have exactly NamespaceDepth
// ':'-terminated segments; other prefixes cannot be flushed (memcached
// cannot enumerate keys) and return an error matching ErrUnsupported.
// Flush never sends flush_all.
func (s *Store) Flush(ctx context.Context, prefix string) error {
	if err := s.check(ctx); err != nil {
		return err
	}
	if !strings.HasSuffix(prefix, ":") || strings.Count(prefix, ":") != s.opts.NamespaceDepth {
		return backend.Unsupported(Name, "flush",
			fmt.Sprintf("prefix %q is not a namespace of %d ':'-terminated segment(s); set Options.NamespaceDepth to the segments of the cache's key prefix plus one", prefix, s.opts.NamespaceDepth))
	}
	keys, err := s.versionKeys(kindNamespace, prefix)
	if err != nil {
		return err
	}
	err = s.eachServer(func(srv int, _ net.Addr) error {
		var v uint64
		from := mono()
		err := retry(func() (err error) {
			v, err = s.client.Increment(keys[srv], 1)
			return err
		})
		switch {
		case errors.Is(err, memcache.ErrCacheMiss):
			s.forgetNamespace(keys[srv])
			return nil
		case err != nil:
			s.forgetNamespace(keys[srv])
			return err
		}
		// Reads and Sets that fetched the old version and finish later
		// cannot put it back (nsversion.go); if this version cannot be
		// recorded either (a concurrent Flush), trust nothing.
		if !s.rememberNamespace(keys[srv], v, from, mono()) {
			s.forgetNamespace(keys[srv])
		}
		return nil
	})
	if err != nil {
		s.netFailed()
		return opErr("flush", err)
	}
	return nil
}
