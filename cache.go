package yokedcache

import (
	"context"
	"errors"
	"fmt"
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
	enc       codec.EncodeOptions
	log       rawLogger
	seal      *seal.Sealer // nil unless SigningKeys or EncryptionKeys

	closed   atomic.Bool
	sf       singleflight.Group
	m        metrics   // counters of operations without a route (loads)
	keyBuf   sync.Pool // stored keys for reads
	entryBuf sync.Pool // key+envelope buffers for Set on backends that copy
}

type rawLogger interface {
	Warn(msg string, args ...any)
}

// New returns a Cache configured by cfg. Without Backend, URL or RedisURL
// it uses the in-process memory backend. Invalid configuration returns an
// error matching ErrInvalidConfig. New does not contact network backends;
// use Ping to check reachability.
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
	return c, nil
}

func openConfigured(cfg *Config) (backend.Backend, error) {
	switch {
	case cfg.URL != "" && cfg.RedisURL != "":
		return nil, fmt.Errorf("both URL and RedisURL are set; use one: %w", ErrInvalidConfig)
	case cfg.URL != "":
		return openURL(cfg, cfg.URL, cfg.Memory)
	case cfg.RedisURL != "":
		u, err := backend.ParseURL(cfg.RedisURL)
		if err != nil {
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
		enc:       codec.EncodeOptions{Compression: cfg.Compression, Threshold: cfg.CompressionThreshold},
		log:       cfg.Logger,
	}
	c.keyBuf.New = func() any { b := make([]byte, 0, 128); return &b }
	c.entryBuf.New = func() any { b := make([]byte, 0, 256); return &b }
	return c
}

// Close closes every backend once and stops background work. Later calls
// to any method return an error matching ErrClosed. Loads in flight
// finish but their results are not stored.
func (c *Cache) Close() error {
	if !c.closed.CompareAndSwap(false, true) {
		return opError("close", "", ErrClosed)
	}
	errs := make([]error, len(c.rt.members))
	for i, m := range c.rt.members {
		errs[i] = c.rt.failMember(m, m.b.Close())
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

// fetchEnvelope reads and decodes key's envelope, counting hits, misses
// and errors.
func (c *Cache) fetchEnvelope(ctx context.Context, op, key string) (codec.Envelope, error) {
	r, err := c.begin(ctx, op, key)
	if err != nil {
		return codec.Envelope{}, err
	}
	var start time.Time
	timed := sample()
	if timed {
		start = time.Now()
	}
	var raw []byte
	b := r.mem.b
	c.withKey(key, func(skey string) { raw, err = b.Get(ctx, skey) })
	if timed {
		r.m.lat[opGet].record(time.Since(start))
	}
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			r.m.misses.add(1)
			if errors.Is(err, ErrCorrupt) {
				// The backend found damage (a record that fails its
				// check): a miss, counted as corrupt like bytes that do
				// not decode; the backend logged it.
				c.m.corrupt.add(1)
			}
			return codec.Envelope{}, opError(op, key, err)
		}
		return codec.Envelope{}, c.fail(r, op, key, err)
	}
	env, err := c.decodeFrom(r.mem, key, raw)
	if err != nil {
		r.m.misses.add(1)
		return env, opError(op, key, err)
	}
	r.m.hits.add(1)
	return env, nil
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
func (c *Cache) Get(ctx context.Context, key string, dst any) error {
	if err := checkDst(dst); err != nil {
		return opError("get", key, err)
	}
	env, err := c.fetchEnvelope(ctx, "get", key)
	if err != nil {
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
	env, err := c.fetchEnvelope(ctx, "get", key)
	if err != nil {
		return nil, err
	}
	if env.Codec != codec.IDRaw && env.Codec != codec.IDString {
		return nil, opError("get", key, c.corrupt(key, fmt.Errorf("a stored %s value cannot be decoded into []byte", codec.NameOf(env.Codec))))
	}
	return append(make([]byte, 0, len(env.Payload)), env.Payload...), nil
}

// GetView returns a []byte or string value without copying it: the
// bytes are read-only and must not be modified. On the memory backend it
// allocates nothing (the bytes are the stored ones, and stay valid after
// the entry is replaced or evicted: a write never changes stored bytes in
// place); on network backends they are the read's own buffer.
func (c *Cache) GetView(ctx context.Context, key string) ([]byte, error) {
	env, err := c.fetchEnvelope(ctx, "get", key)
	if err != nil {
		return nil, err
	}
	if env.Codec != codec.IDRaw && env.Codec != codec.IDString {
		return nil, opError("get", key, c.corrupt(key, fmt.Errorf("a stored %s value cannot be decoded into []byte", codec.NameOf(env.Codec))))
	}
	return env.Payload[:len(env.Payload):len(env.Payload)], nil
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
	r, err := c.begin(ctx, "get", key)
	if err != nil {
		return v, true, err
	}
	ok := r.mem.ok
	if ok == nil {
		return v, false, nil
	}
	var raw []byte
	var obj any
	bp := c.keyBuf.Get().(*[]byte)
	defer c.keyBuf.Put(bp)
	kb := append(append((*bp)[:0], c.prefix...), key...)
	*bp = kb
	skey := unsafe.String(unsafe.SliceData(kb), len(kb))
	raw, obj, err = ok.GetObject(ctx, skey)
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
	if err == nil {
		err = c.decodeInto(key, env, &v)
	}
	if err != nil {
		r.m.misses.add(1)
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
func (c *Cache) Set(ctx context.Context, key string, value any, opts ...SetOption) error {
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
	err = r.mem.b.Set(ctx, e.skey, e.env, e.so)
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

// writeSpec is a write's options, folded and validated once for all the
// keys of the write.
type writeSpec struct {
	o      setOptions
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
	skey, env, buf, err := c.encodeEntry(buf, key, value, w.tags)
	return entry{skey: skey, env: env, so: backend.SetOptions{TTL: ttl, Tags: w.tagIDs}, buf: buf}, err
}

// maxPooledEntry bounds the buffers kept for reuse by Set.
const maxPooledEntry = 64 << 10

// Delete removes key and reports whether it existed.
func (c *Cache) Delete(ctx context.Context, key string) (bool, error) {
	r, err := c.begin(ctx, "delete", key)
	if err != nil {
		return false, err
	}
	var start time.Time
	timed := sample()
	if timed {
		start = time.Now()
	}
	ok, err := r.mem.b.Delete(ctx, c.storedKey(key))
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
func (c *Cache) Exists(ctx context.Context, key string) (bool, error) {
	r, err := c.begin(ctx, "exists", key)
	if err != nil {
		return false, err
	}
	var raw []byte
	b := r.mem.b
	c.withKey(key, func(skey string) { raw, err = b.Get(ctx, skey) })
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			return false, nil
		}
		return false, c.fail(r, "exists", key, err)
	}
	env, err := c.decodeEnvelope(key, raw)
	if err != nil {
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
func (c *Cache) TTL(ctx context.Context, key string) (time.Duration, error) {
	r, err := c.begin(ctx, "ttl", key)
	if err != nil {
		return 0, err
	}
	exp := r.mem.exp
	if exp == nil {
		return 0, opError("ttl", key, c.rt.fail(r, backend.Unsupported(r.mem.name, "ttl", "the backend cannot report TTLs")))
	}
	var d time.Duration
	c.withKey(key, func(skey string) { d, err = exp.TTL(ctx, skey) })
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
func (c *Cache) Expire(ctx context.Context, key string, ttl time.Duration) (bool, error) {
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
func (c *Cache) Touch(ctx context.Context, key string, opts ...SetOption) (bool, error) {
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
	ok, err := r.mem.exp.Expire(ctx, c.storedKey(key), ttl)
	if err != nil {
		return false, c.fail(r, op, key, err)
	}
	return ok, nil
}
