package yokedcache

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sync/singleflight"

	"github.com/yokedcache/yokedcache/backend"
	"github.com/yokedcache/yokedcache/backend/memory"
	"github.com/yokedcache/yokedcache/codec"
	"github.com/yokedcache/yokedcache/internal/envelope"
	"github.com/yokedcache/yokedcache/internal/seal"
)

// Cache is the yokedcache API over one backend (or a router of several).
// It validates keys and TTLs, adds the key prefix, encodes values into the
// versioned envelope, applies TTL jitter, runs single-flight loads and
// keeps statistics; the backend only stores bytes. A Cache is safe for
// concurrent use. Close it when done.
type Cache struct {
	cfg       Config
	rt        *routeTable
	prefix    string // "<KeyPrefix>:"
	tagPrefix string // "<KeyPrefix>:\xfftag:"
	codecs    [256]codec.Codec
	enc       envelope.EncodeOptions
	log       rawLogger
	seal      *seal.Sealer // nil unless SigningKeys or EncryptionKeys

	closed  atomic.Bool
	sf      singleflight.Group
	burst   burstLog     // warnings that come in bursts (write-backs)
	flights batchFlights // keys being loaded by FetchMany

	// Background refreshes (stale-while-revalidate): Close cancels
	// bgCtx and waits for bg. bgMu orders bg.Add before Close's Wait.
	bgMu     sync.Mutex
	bg       sync.WaitGroup
	bgCtx    context.Context
	bgCancel context.CancelFunc
	m        metrics   // counters of operations without a route (loads)
	keyBuf   sync.Pool // stored keys for reads
	entryBuf sync.Pool // key+envelope buffers for Set on backends that copy
}

type rawLogger interface {
	Warn(msg string, args ...any)
}

// New returns a Cache configured by cfg. Without Backend, URL or RedisURL
// it uses the in-process memory backend. Invalid configuration returns an
// error matching ErrInvalidConfig. New fails only for configuration
// errors: it does not contact network backends (they are dialled on first
// use and redialled after they return), unless Config.WaitReady asks it
// to wait for them. Use Ping or Health to check reachability.
func New(cfg Config) (*Cache, error) {
	if err := cfg.normalize(); err != nil {
		return nil, opError("new", "", err)
	}
	codecs, err := codecTable(&cfg)
	if err != nil {
		return nil, opError("new", "", err)
	}
	sealer, err := seal.New(cfg.SigningKeys, cfg.EncryptionKeys)
	if err != nil {
		return nil, opError("new", "", fmt.Errorf("%v: %w", err, ErrInvalidConfig))
	}
	b := cfg.Backend
	opened := b == nil
	if opened {
		var err error
		b, err = openConfigured(&cfg)
		if err != nil {
			return nil, opError("new", "", err)
		}
	}
	rt, err := buildRoutes(&cfg, b, opened)
	if err != nil {
		if opened {
			_ = b.Close()
		}
		return nil, opError("new", "", err)
	}
	c := newCache(cfg, rt, codecs)
	c.seal = sealer
	if cfg.WaitReady > 0 {
		if err := c.waitReady(cfg.WaitReady); err != nil {
			_ = c.Close()
			return nil, opError("new", "", err)
		}
	}
	return c, nil
}

// waitReady pings every backend until all answer or d has passed.
func (c *Cache) waitReady(d time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	var last error
	for {
		err := c.Ping(ctx)
		if err == nil {
			return nil
		}
		if ctx.Err() == nil || last == nil {
			last = err // the backend's answer, not our deadline
		}
		t := time.NewTimer(50 * time.Millisecond)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("backends not ready after WaitReady %v: %w", d, &unavailableErr{backend: c.Backend(), cause: last})
		case <-t.C:
		}
	}
}

func openConfigured(cfg *Config) (backend.Backend, error) {
	switch {
	case cfg.URL != "" && cfg.RedisURL != "":
		return nil, fmt.Errorf("both URL and RedisURL are set; use one: %w", ErrInvalidConfig)
	case cfg.URL != "":
		raw := cfg.URL
		u, err := backend.ParseURL(raw)
		if err != nil {
			return nil, err
		}
		if changed, err := cfg.urlResilience(u); err != nil {
			return nil, err
		} else if changed {
			raw = u.String()
		}
		if raw, err = stripNear(raw, &cfg.Near); err != nil {
			return nil, err
		}
		return openURL(cfg, raw, cfg.Memory)
	case cfg.RedisURL != "":
		u, err := backend.ParseURL(cfg.RedisURL)
		if err != nil {
			return nil, err
		}
		if _, err := cfg.urlResilience(u); err != nil {
			return nil, err
		}
		if _, _, err := nearFromURLInto(u, &cfg.Near); err != nil {
			return nil, err
		}
		if !strings.HasPrefix(strings.ToLower(u.Scheme), "redis") && !strings.HasPrefix(strings.ToLower(u.Scheme), "unix") {
			return nil, fmt.Errorf("RedisURL %s is not a Redis URL (redis://, rediss://, redis+sentinel://, redis+cluster://, unix://): %w", backend.RedactedURL(u), ErrInvalidConfig)
		}
		return backend.DefaultURLMux().OpenParsed(context.Background(), u)
	}
	o := cfg.Memory
	o.Clock = cfg.Clock
	return memory.New(o)
}

// openURL opens a backend URL. A mem:// URL's store gets Config.Clock,
// and mem (Config.Memory for the default backend) as the defaults its
// parameters override.
func openURL(cfg *Config, raw string, mem memory.Options) (backend.Backend, error) {
	u, err := backend.ParseURL(raw)
	if err != nil {
		return nil, err
	}
	if s := strings.ToLower(u.Scheme); s == memory.Scheme || s == "memory" {
		mem.Clock = cfg.Clock
		return memory.URLOpener{Options: mem}.OpenURL(context.Background(), u)
	}
	return backend.DefaultURLMux().OpenParsed(context.Background(), u)
}

// urlResilience applies the resilience parameters of a configured URL
// (see Open) to a normalized cfg and strips them from u.
// It reports whether u changed.
func (cfg *Config) urlResilience(u *url.URL) (bool, error) {
	q := u.Query()
	if !slices.ContainsFunc(resilienceParams, q.Has) {
		return false, nil
	}
	if err := applyResilienceParams(cfg, u, q); err != nil {
		return false, err
	}
	u.RawQuery = q.Encode()
	return true, cfg.normalizeResilience()
}

// codecTable indexes the codecs a Cache decodes with by their IDs.
func codecTable(cfg *Config) ([256]codec.Codec, error) {
	var t [256]codec.Codec
	t[codec.IDJSON] = codec.JSON
	t[codec.IDMsgpack] = codec.Msgpack
	for _, cd := range append([]codec.Codec{cfg.Codec}, cfg.ExtraCodecs...) {
		id := cd.ID()
		if id < codec.IDUserMin {
			if bi, ok := codec.Builtin(id); !ok || bi != cd {
				return t, fmt.Errorf("codec %q uses reserved id %d (user codecs use %d-255): %w", cd.Name(), id, codec.IDUserMin, ErrInvalidConfig)
			}
		} else if prev := t[id]; prev != nil && prev != cd {
			return t, fmt.Errorf("codecs %q and %q share id %d: %w", prev.Name(), cd.Name(), id, ErrInvalidConfig)
		}
		t[id] = cd
	}
	return t, nil
}

func newCache(cfg Config, rt *routeTable, codecs [256]codec.Codec) *Cache {
	c := &Cache{
		cfg:       cfg,
		rt:        rt,
		prefix:    cfg.KeyPrefix + ":",
		tagPrefix: cfg.KeyPrefix + ":\xfftag:",
		codecs:    codecs,
		enc:       envelope.EncodeOptions{Compression: cfg.Compression, Threshold: cfg.CompressionThreshold},
		log:       cfg.Logger,
		burst:     burstLog{log: cfg.Logger, interval: 10 * time.Second},
	}
	rt.tracer = cfg.Tracer
	c.bgCtx, c.bgCancel = context.WithCancel(context.Background())
	c.keyBuf.New = func() any { b := make([]byte, 0, 128); return &b }
	c.entryBuf.New = func() any { b := make([]byte, 0, 256); return &b }
	return c
}

// Close closes every backend once and stops background work. Later calls
// to any method return an error matching ErrClosed. Loads in flight
// finish but their results are not stored.
func (c *Cache) Close() error {
	// Under bgMu, so that no background load starts after this.
	c.bgMu.Lock()
	wasClosed := c.closed.Swap(true)
	c.bgMu.Unlock()
	if wasClosed {
		return opError("close", "", ErrClosed)
	}
	c.bgCancel()
	c.bg.Wait()
	errs := make([]error, len(c.rt.members))
	for i, m := range c.rt.members {
		err := m.b.Close()
		if base := backend.Base(m.b); base != m.b {
			err = errors.Join(err, base.Close())
		}
		errs[i] = c.rt.failMember(m, err)
	}
	return wrap("close", "", errors.Join(errs...))
}

// Backend returns the backend's type name ("memory", "redis", ...), or
// "router" when Config.Routes send keys to several backends.
func (c *Cache) Backend() string {
	if c.rt.routed {
		return "router"
	}
	return c.rt.def.mem.name
}

// KeyPrefix returns the configured key prefix.
func (c *Cache) KeyPrefix() string { return c.cfg.KeyPrefix }

// As fills target, a pointer to a backend's native client type, and
// reports whether it could (the default route's backend first, then the
// routes' in prefix order); see each backend's "As" documentation. Using
// it opts out of portability.
func (c *Cache) As(target any) bool {
	if target == nil {
		return false
	}
	for _, m := range c.rt.members {
		if a, ok := m.b.(backend.Aser); ok && a.As(target) {
			return true
		}
	}
	return false
}

// ---- the funnel ----
//
// Every operation on one key goes through begin: it checks that the Cache
// is open and the context live, validates the key and matches its route,
// once. Errors are wrapped once, by the Cache, with the operation, the key
// and (when the Cache has routes) the route.

func (c *Cache) check(ctx context.Context) error {
	if c.closed.Load() {
		return ErrClosed
	}
	return ctx.Err()
}

// begin validates an operation on key and returns its route.
func (c *Cache) begin(ctx context.Context, op, key string) (*route, error) {
	if err := c.check(ctx); err != nil {
		return nil, opError(op, key, err)
	}
	if err := validKey(key); err != nil {
		return nil, opError(op, key, err)
	}
	return c.rt.match(key), nil
}

// fail counts a backend error of route r and wraps it.
func (c *Cache) fail(r *route, op, key string, err error) error {
	r.m.errors.add(1)
	return opError(op, key, c.rt.fail(r, err))
}

// fetchEnvelope reads and decodes key's envelope into *env (a zero
// Envelope), counting hits, misses and errors. An entry past its soft
// expiry is a miss; a negative entry is a miss matching errNegative.
// *env is written only on success (and for fetchEnv's stale entries): the
// envelope is decoded in place, never copied on the hot path.
func (c *Cache) fetchEnvelope(ctx context.Context, op, key string, env *envelope.Envelope) error {
	return c.fetchEnv(ctx, op, key, false, env)
}

// fetchEnv is fetchEnvelope; with allowStale an entry past its soft
// expiry is written to *env and returned with an error matching errStale.
func (c *Cache) fetchEnv(ctx context.Context, op, key string, allowStale bool, env *envelope.Envelope) error {
	r, err := c.begin(ctx, op, key)
	if err != nil {
		return err
	}
	var start time.Time
	timed, rnd := draw()
	if timed {
		start = time.Now()
	}
	var raw []byte
	m := r.mem
	local := false
	if m.nr != nil {
		c.withKey(key, func(skey string) { raw, local = m.nr.Peek(skey) })
	}
	switch {
	case local: // a near-cache copy: no round trip to guard
	case m.store != nil:
		raw, err = c.memGet(ctx, m.store, key)
	case m.g == nil:
		c.withKey(key, func(skey string) { raw, err = m.b.Get(ctx, skey) })
	default:
		raw, err = c.guardedGet(ctx, m, key)
	}
	if timed {
		r.m.lat[opGet].record(time.Since(start))
	}
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			r.m.misses.addAt(1, rnd)
			if errors.Is(err, ErrCorrupt) {
				// The backend found damage (a record that fails its
				// check): a miss, counted as corrupt like bytes that do
				// not decode; the backend logged it.
				c.m.corrupt.add(1)
			}
			return opError(op, key, err)
		}
		return c.fail(r, op, key, err)
	}
	if err := c.decodeTo(env, m, key, raw); err != nil {
		*env = envelope.Envelope{}
		r.m.misses.add(1)
		c.dropNear(m, key)
		return opError(op, key, err)
	}
	if env.Negative || env.FreshUntil != 0 {
		*env, err = c.checkSoft(r, op, key, *env, allowStale)
		return err
	}
	r.m.hits.addAt(1, rnd)
	return nil
}

// stackKey is the longest stored key memGet builds on the stack.
const stackKey = 256

// memGet reads key from the memory store st, called directly (no
// interface call, no pooled buffer): the stored key is built in a stack
// array when it fits, as the store keeps no key passed to a read.
func (c *Cache) memGet(ctx context.Context, st *memory.Store, key string) (raw []byte, err error) {
	n := len(c.prefix) + len(key)
	if n > stackKey {
		c.withKey(key, func(skey string) { raw, err = st.Get(ctx, skey) })
		return raw, err
	}
	var buf [stackKey]byte
	copy(buf[copy(buf[:], c.prefix):], key)
	return st.Get(ctx, unsafe.String(&buf[0], n))
}

// guardedGet reads key from member m under its timeout and breaker.
func (c *Cache) guardedGet(ctx context.Context, m *member, key string) (raw []byte, err error) {
	gctx, cl, err := m.enter(ctx, kindSingle)
	if err != nil {
		return nil, err
	}
	bp := c.keyBuf.Get().(*[]byte)
	kb := append(append((*bp)[:0], c.prefix...), key...)
	raw, err = m.b.Get(gctx, unsafe.String(unsafe.SliceData(kb), len(kb)))
	*bp = kb
	c.keyBuf.Put(bp)
	cl.exit(err)
	return raw, err
}

// Get decodes the value stored under key into dst, a non-nil pointer. A
// miss returns an error matching ErrNotFound. []byte and string values
// decode into *[]byte, *string or *any; other values are decoded by the
// codec that stored them.
//
// A dst that is not a non-nil pointer returns an error matching
// ErrInvalidValue before the backend is read. Stored bytes that do not
// decode into dst (corrupt bytes, or a value of another type, as after a
// schema change) return an error matching both ErrCorrupt and ErrNotFound,
// counted in Stats.Corrupt and logged (dst may then be partly written). Fetch
// and GetOrSet treat that as a miss and reload the entry.
func (c *Cache) Get(ctx context.Context, key string, dst any) (err error) {
	if c.cfg.Tracer != nil {
		var sp Span
		ctx, sp = c.startOp(ctx, "get", key)
		defer func() { sp.End(outcome(err)) }()
	}
	if err := checkDst(dst); err != nil {
		return opError("get", key, err)
	}
	var env envelope.Envelope
	if err := c.fetchEnvelope(ctx, "get", key, &env); err != nil {
		return err
	}
	if err := c.decodeInto(key, env, dst); err != nil {
		return opError("get", key, err)
	}
	return nil
}

// GetBytes returns a copy of a []byte or string value. It is the fastest
// read: one allocation, for the copy.
func (c *Cache) GetBytes(ctx context.Context, key string) ([]byte, error) {
	p, err := c.getPayload(ctx, key)
	if err != nil {
		return nil, err
	}
	return append(make([]byte, 0, len(p)), p...), nil
}

// GetView returns a []byte or string value without copying it: the
// bytes are read-only and must not be modified. On the memory backend it
// allocates nothing (the bytes are the stored ones, and stay valid after
// the entry is replaced or evicted: a write never changes stored bytes in
// place); on network backends they are the read's own buffer.
func (c *Cache) GetView(ctx context.Context, key string) ([]byte, error) {
	p, err := c.getPayload(ctx, key)
	if err != nil {
		return nil, err
	}
	return p[:len(p):len(p)], nil
}

// getPayload is the read of GetBytes and GetView: the stored bytes of a
// []byte or string value, traced as one "get".
func (c *Cache) getPayload(ctx context.Context, key string) (_ []byte, err error) {
	if c.cfg.Tracer != nil {
		var sp Span
		ctx, sp = c.startOp(ctx, "get", key)
		defer func() { sp.End(outcome(err)) }()
	}
	var env envelope.Envelope
	if err := c.fetchEnvelope(ctx, "get", key, &env); err != nil {
		return nil, err
	}
	if env.Codec != codec.IDRaw && env.Codec != codec.IDString {
		return nil, opError("get", key, c.corrupt(key, fmt.Errorf("a stored %s value cannot be decoded into []byte", codec.NameOf(env.Codec))))
	}
	return env.Payload, nil
}

// Get is the generic form of Cache.Get: Get[User](ctx, c, "user:42").
func Get[T any](ctx context.Context, c *Cache, key string) (T, error) {
	if _, ok := any((*T)(nil)).(*[]byte); ok {
		// Fast path without boxing: T is exactly []byte.
		b, err := c.GetBytes(ctx, key)
		return *(*T)(unsafe.Pointer(&b)), err
	}
	if c.cfg.KeepDecoded {
		if v, done, err := getKept[T](ctx, c, key); done {
			return v, err
		}
	}
	var v T
	if err := c.Get(ctx, key, &v); err != nil {
		var zero T
		return zero, err
	}
	return v, nil
}

// getKept is Get[T] on a route whose backend keeps decoded objects
// (Config.KeepDecoded): the value is decoded once per write and then
// shared. done is false when the route's backend keeps no objects.
func getKept[T any](ctx context.Context, c *Cache, key string) (v T, done bool, err error) {
	if c.cfg.Tracer != nil && c.rt.match(key).mem.ok != nil {
		var sp Span
		ctx, sp = c.startOp(ctx, "get", key)
		defer func() { sp.End(outcome(err)) }()
	}
	r, err := c.begin(ctx, "get", key)
	if err != nil {
		return v, true, err
	}
	ok := r.mem.ok
	nr := r.mem.nr
	if ok == nil && nr == nil {
		return v, false, nil
	}
	var raw []byte
	var obj any
	bp := c.keyBuf.Get().(*[]byte)
	defer c.keyBuf.Put(bp)
	kb := append(append((*bp)[:0], c.prefix...), key...)
	*bp = kb
	skey := unsafe.String(unsafe.SliceData(kb), len(kb))
	if nr != nil {
		// A near-cache copy, or the guarded read of the shared backend
		// (which keeps a copy that the next read decodes and keeps).
		var found bool
		if raw, obj, found = nr.PeekObject(skey); !found {
			return v, false, nil
		}
		ok = nr
	} else {
		raw, obj, err = ok.GetObject(ctx, skey)
	}
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			r.m.misses.add(1)
			return v, true, opError("get", key, err)
		}
		return v, true, c.fail(r, "get", key, err)
	}
	if t, isT := obj.(T); isT {
		r.m.hits.add(1)
		return t, true, nil
	}
	env, err := c.decodeFrom(r.mem, key, raw)
	if err == nil && (env.Negative || env.FreshUntil != 0) {
		// Entries with a soft expiry or recording a miss are never
		// kept decoded: each read checks them.
		if env, err = c.checkSoft(r, "get", key, env, false); err != nil {
			return v, true, err
		}
		if err = c.decodeInto(key, env, &v); err != nil {
			var zero T
			return zero, true, opError("get", key, err)
		}
		return v, true, nil
	}
	if err == nil {
		err = c.decodeInto(key, env, &v)
	}
	if err != nil {
		r.m.misses.add(1)
		c.dropNear(r.mem, key)
		var zero T
		return zero, true, opError("get", key, err)
	}
	r.m.hits.add(1)
	ok.AttachObject(skey, raw, v)
	return v, true, nil
}

// Set stores value under key. []byte and string values are stored
// verbatim; others are encoded with Config.Codec. Options: WithTTL,
// WithTags, WithExactTTL.
func (c *Cache) Set(ctx context.Context, key string, value any, opts ...SetOption) (err error) {
	if c.cfg.Tracer != nil {
		var sp Span
		ctx, sp = c.startOp(ctx, "set", key)
		defer func() { sp.End(outcome(err)) }()
	}
	r, err := c.begin(ctx, "set", key)
	if err != nil {
		return err
	}
	w, err := c.newWriteSpec(opts)
	if err != nil {
		return opError("set", key, err)
	}
	if err := c.checkTags(r, &w); err != nil {
		return opError("set", key, err)
	}
	// When the backend is done with key and value once Set succeeds
	// (backend.SetCopier), build them in a reused buffer.
	var bp *[]byte
	var buf []byte
	if r.mem.copies {
		bp = c.entryBuf.Get().(*[]byte)
		buf = *bp
	}
	e, err := c.prepare(buf, r, key, value, &w)
	if err != nil {
		return opError("set", key, err)
	}
	var start time.Time
	timed := sample()
	if timed {
		start = time.Now()
	}
	if g := r.mem.g; g == nil {
		err = r.mem.b.Set(ctx, e.skey, e.env, e.so)
	} else {
		err = c.guardedSet(ctx, r.mem, e)
	}
	if timed {
		r.m.lat[opSet].record(time.Since(start))
	}
	if bp != nil && err == nil && cap(e.buf) <= maxPooledEntry {
		// Only after success: a failed (cancelled, timed-out) write may
		// still sit in a client's pipeline, referencing the buffer.
		*bp = e.buf
		c.entryBuf.Put(bp)
	}
	if err != nil {
		return c.fail(r, "set", key, err)
	}
	r.m.sets.add(1)
	return nil
}

// guardedSet writes a prepared entry to member m under its timeout and
// breaker.
func (c *Cache) guardedSet(ctx context.Context, m *member, e entry) error {
	gctx, cl, err := m.enter(ctx, kindSingle)
	if err != nil {
		return err
	}
	err = m.b.Set(gctx, e.skey, e.env, e.so)
	cl.exit(err)
	return err
}

// writeSpec is a write's options, folded and validated once for all the
// keys of the write.
type writeSpec struct {
	o      setOptions
	loadMs uint32   // how long the value took to load (soft-expiry entries)
	tags   []string // validated user tags, stored in the envelope
	tagIDs []string // the backend's tag identifiers
}

func (c *Cache) newWriteSpec(opts []SetOption) (writeSpec, error) {
	w := writeSpec{o: collectSetOptions(opts)}
	tags, err := validTags(w.o.tags)
	if err != nil {
		return w, err
	}
	if len(tags) > 0 {
		// A copy: a Fetch's load may outlive its caller, who may reuse
		// the slice given to WithTags.
		w.tags = slices.Clone(tags)
		w.tagIDs = make([]string, len(tags))
		for i, t := range tags {
			w.tagIDs[i] = c.tagID(t)
		}
	}
	return w, nil
}

// checkTags refuses a tagged write to a route whose backend keeps no tags.
func (c *Cache) checkTags(r *route, w *writeSpec) error {
	if len(w.tags) > 0 && r.mem.tg == nil {
		return c.rt.fail(r, backend.Unsupported(r.mem.name, "tags", "the backend does not keep tags"))
	}
	return nil
}

// entry is one prepared write: the stored key and envelope (both in buf)
// and the backend options.
type entry struct {
	skey string
	env  []byte
	so   backend.SetOptions
	buf  []byte
}

// prepare builds the write of value under key to route r, in buf when its
// capacity suffices (nil: a new allocation).
func (c *Cache) prepare(buf []byte, r *route, key string, value any, w *writeSpec) (entry, error) {
	ttl, err := c.resolveTTL(r, &w.o)
	if err != nil {
		return entry{buf: buf}, err
	}
	eo := c.enc
	if extra := max(w.o.swr, w.o.sie); (extra > 0 || w.o.beta > 0) && ttl != NoExpiry {
		// The entry is fresh for ttl and kept for the stale window
		// after it: the soft expiry travels in the envelope, so every
		// backend and process sees it.
		eo.FreshUntil = c.nowMs() + max(ttl.Milliseconds(), 1)
		eo.LoadMs = w.loadMs
		ttl = min(ttl+extra, MaxTTL)
	}
	skey, env, buf, err := c.encodeEntry(buf, key, value, w.tags, eo)
	return entry{skey: skey, env: env, so: backend.SetOptions{TTL: ttl, Tags: w.tagIDs}, buf: buf}, err
}

// maxPooledEntry bounds the buffers kept for reuse by Set.
const maxPooledEntry = 64 << 10

// Delete removes key and reports whether it existed.
func (c *Cache) Delete(ctx context.Context, key string) (_ bool, err error) {
	if c.cfg.Tracer != nil {
		var sp Span
		ctx, sp = c.startOp(ctx, "delete", key)
		defer func() { sp.End(outcome(err)) }()
	}
	r, err := c.begin(ctx, "delete", key)
	if err != nil {
		return false, err
	}
	var start time.Time
	timed := sample()
	if timed {
		start = time.Now()
	}
	ok, err := guarded(ctx, r.mem, kindSingle, func(ctx context.Context) (bool, error) {
		return r.mem.b.Delete(ctx, c.storedKey(key))
	})
	if timed {
		r.m.lat[opDelete].record(time.Since(start))
	}
	if err != nil {
		return false, c.fail(r, "delete", key, err)
	}
	if ok {
		r.m.deletes.add(1)
	}
	return ok, nil
}

// Exists reports whether key holds a live value that reads can decode.
// It agrees with Get: stored bytes that do not decode (a bad envelope or
// checksum, or a codec this Cache does not know) are a miss, so Exists
// reports false, counts them in Stats.Corrupt and logs them.
//
// Cost: Exists is a Get without the final decode into a Go value. It
// reads the stored bytes (one round trip, transferring the value) and
// verifies the envelope, decompressing a compressed payload. For large
// values on a network backend, TTL answers presence without the transfer
// but does not check the bytes.
func (c *Cache) Exists(ctx context.Context, key string) (_ bool, err error) {
	if c.cfg.Tracer != nil {
		var sp Span
		ctx, sp = c.startOp(ctx, "exists", key)
		defer func() { sp.End(outcome(err)) }()
	}
	r, err := c.begin(ctx, "exists", key)
	if err != nil {
		return false, err
	}
	raw, err := c.guardedGet(ctx, r.mem, key)
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			return false, nil
		}
		return false, c.fail(r, "exists", key, err)
	}
	env, err := c.decodeEnvelope(key, raw)
	if err != nil || env.Negative || env.StaleAt(c.nowMs()) {
		return false, nil
	}
	if env.Codec != codec.IDRaw && env.Codec != codec.IDString && c.codecs[env.Codec] == nil {
		_ = c.corrupt(key, fmt.Errorf("stored with unknown codec %s (add it to Config.ExtraCodecs)", codec.NameOf(env.Codec)))
		return false, nil
	}
	return true, nil
}

// TTL returns key's remaining time to live, or NoExpiry. A missing key
// returns an error matching ErrNotFound.
func (c *Cache) TTL(ctx context.Context, key string) (_ time.Duration, err error) {
	if c.cfg.Tracer != nil {
		var sp Span
		ctx, sp = c.startOp(ctx, "ttl", key)
		defer func() { sp.End(outcome(err)) }()
	}
	r, err := c.begin(ctx, "ttl", key)
	if err != nil {
		return 0, err
	}
	exp := r.mem.exp
	if exp == nil {
		return 0, opError("ttl", key, c.rt.fail(r, backend.Unsupported(r.mem.name, "ttl", "the backend cannot report TTLs")))
	}
	d, err := guarded(ctx, r.mem, kindSingle, func(ctx context.Context) (d time.Duration, err error) {
		c.withKey(key, func(skey string) { d, err = exp.TTL(ctx, skey) })
		return d, err
	})
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			return 0, opError("ttl", key, err)
		}
		return 0, c.fail(r, "ttl", key, err)
	}
	return d, nil
}

// Expire sets key's TTL (jitter is not applied: the caller asked for an
// exact time) and reports whether the key existed. ttl must be in
// (0, MaxTTL] or NoExpiry; anything else is an error matching
// ErrInvalidTTL.
func (c *Cache) Expire(ctx context.Context, key string, ttl time.Duration) (_ bool, err error) {
	if c.cfg.Tracer != nil {
		var sp Span
		ctx, sp = c.startOp(ctx, "expire", key)
		defer func() { sp.End(outcome(err)) }()
	}
	if ttl <= 0 && ttl != NoExpiry {
		return false, opError("expire", key, fmt.Errorf("ttl %v must be > 0 or NoExpiry: %w", ttl, ErrInvalidTTL))
	}
	if ttl > MaxTTL {
		return false, opError("expire", key, errTTLTooLong(ttl))
	}
	r, err := c.begin(ctx, "expire", key)
	if err != nil {
		return false, err
	}
	return c.expire(ctx, r, "expire", key, ttl)
}

// Touch resets key's TTL to the one its options give (the route's default
// TTL, with jitter), as if it had just been set, and reports whether the
// key existed. Reads never extend TTLs by themselves.
func (c *Cache) Touch(ctx context.Context, key string, opts ...SetOption) (_ bool, err error) {
	if c.cfg.Tracer != nil {
		var sp Span
		ctx, sp = c.startOp(ctx, "touch", key)
		defer func() { sp.End(outcome(err)) }()
	}
	r, err := c.begin(ctx, "touch", key)
	if err != nil {
		return false, err
	}
	o := collectSetOptions(opts)
	ttl, err := c.resolveTTL(r, &o)
	if err != nil {
		return false, opError("touch", key, err)
	}
	return c.expire(ctx, r, "touch", key, ttl)
}

func (c *Cache) expire(ctx context.Context, r *route, op, key string, ttl time.Duration) (bool, error) {
	if r.mem.exp == nil {
		return false, opError(op, key, c.rt.fail(r, backend.Unsupported(r.mem.name, op, "the backend cannot change TTLs")))
	}
	ok, err := guarded(ctx, r.mem, kindSingle, func(ctx context.Context) (bool, error) {
		return r.mem.exp.Expire(ctx, c.storedKey(key), ttl)
	})
	if err != nil {
		return false, c.fail(r, op, key, err)
	}
	return ok, nil
}
