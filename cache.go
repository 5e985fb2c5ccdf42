package yokedcache

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"
	"unsafe"

	"golang.org/x/sync/singleflight"

	"github.com/yokedcache/yokedcache/backend"
	"github.com/yokedcache/yokedcache/backend/memory"
	"github.com/yokedcache/yokedcache/codec"
)

// Cache is the yokedcache API over one backend (or a router of several).
// It validates keys and TTLs, adds the key prefix, encodes values into the
// versioned envelope, applies TTL jitter, runs single-flight loads and
// keeps statistics; the backend only stores bytes. A Cache is safe for
// concurrent use. Close it when done.
type Cache struct {
	cfg       Config
	b         backend.Backend
	prefix    string // "<KeyPrefix>:"
	tagPrefix string // "<KeyPrefix>:\xfftag:"
	codecs    [256]codec.Codec
	enc       codec.EncodeOptions
	log       rawLogger

	bg  backend.BatchGetter
	bs  backend.BatchSetter
	bd  backend.BatchDeleter
	exp backend.Expirer
	tg  backend.Tagger
	sc  backend.Scanner
	pd  backend.PatternDeleter
	fl  backend.Flusher

	closed   atomic.Bool
	sf       singleflight.Group
	m        metrics
	keyBuf   sync.Pool // stored keys for reads
	copies   bool      // the backend is a backend.SetCopier that copies
	entryBuf sync.Pool // key+envelope buffers for Set when copies
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
		return nil, &Error{Op: "new", Err: err}
	}
	codecs, err := codecTable(&cfg)
	if err != nil {
		return nil, &Error{Op: "new", Err: err}
	}
	b := cfg.Backend
	if b == nil {
		b = cfg.DefaultBackend
	}
	opened := b == nil
	if opened {
		var err error
		b, err = openConfigured(&cfg)
		if err != nil {
			return nil, &Error{Op: "new", Err: err}
		}
	}
	rb, err := cfg.openRouted(b)
	if err != nil {
		if opened {
			_ = b.Close()
		}
		return nil, &Error{Op: "new", Err: err}
	}
	return newCache(cfg, rb, codecs), nil
}

func openConfigured(cfg *Config) (backend.Backend, error) {
	switch {
	case cfg.URL != "" && cfg.RedisURL != "":
		return nil, fmt.Errorf("both URL and RedisURL are set; use one: %w", ErrInvalidConfig)
	case cfg.URL != "":
		return backend.Open(context.Background(), cfg.URL)
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
	return memory.New(memory.Options{
		MaxSize:         cfg.MemoryMaxSize,
		CleanupInterval: cfg.MemoryCleanupInterval,
		Clock:           cfg.Clock,
	})
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

func newCache(cfg Config, b backend.Backend, codecs [256]codec.Codec) *Cache {
	c := &Cache{
		cfg:       cfg,
		b:         b,
		prefix:    cfg.KeyPrefix + ":",
		tagPrefix: cfg.KeyPrefix + ":\xfftag:",
		codecs:    codecs,
		enc:       codec.EncodeOptions{Compression: cfg.Compression, Threshold: cfg.CompressionThreshold},
		log:       cfg.Logger,
	}
	c.bg, _ = b.(backend.BatchGetter)
	c.bs, _ = b.(backend.BatchSetter)
	c.bd, _ = b.(backend.BatchDeleter)
	c.exp, _ = b.(backend.Expirer)
	c.tg, _ = b.(backend.Tagger)
	c.sc, _ = b.(backend.Scanner)
	c.pd, _ = b.(backend.PatternDeleter)
	c.fl, _ = b.(backend.Flusher)
	c.keyBuf.New = func() any { b := make([]byte, 0, 128); return &b }
	if sc, ok := b.(backend.SetCopier); ok {
		c.copies = sc.SetCopies()
	}
	c.entryBuf.New = func() any { b := make([]byte, 0, 256); return &b }
	return c
}

// Close closes the backend and stops background work. Later calls to any
// method return an error matching ErrClosed. Loads in flight finish but
// their results are not stored.
func (c *Cache) Close() error {
	if !c.closed.CompareAndSwap(false, true) {
		return &Error{Op: "close", Err: ErrClosed}
	}
	return wrap("close", "", c.b.Close())
}

// Backend returns the backend's type name ("memory", "redis", ...).
func (c *Cache) Backend() string { return backend.Name(c.b) }

// KeyPrefix returns the configured key prefix.
func (c *Cache) KeyPrefix() string { return c.cfg.KeyPrefix }

// As fills target, a pointer to a backend's native client type, and
// reports whether it could; see each backend's "As" documentation.
// Using it opts out of portability.
func (c *Cache) As(target any) bool {
	if target == nil {
		return false
	}
	if a, ok := c.b.(backend.Aser); ok {
		return a.As(target)
	}
	return false
}

// ---- keys ----

func validKey(key string) error {
	if key == "" {
		return fmt.Errorf("empty key: %w", ErrInvalidKey)
	}
	if len(key) > MaxKeyLength {
		return fmt.Errorf("key of %d bytes exceeds MaxKeyLength %d: %w", len(key), MaxKeyLength, ErrInvalidKey)
	}
	if !utf8.ValidString(key) {
		return fmt.Errorf("key is not valid UTF-8: %w", ErrInvalidKey)
	}
	return nil
}

// storedKey returns the backend key for a user key, allocating.
func (c *Cache) storedKey(key string) string {
	if strings.HasPrefix(key, c.prefix) {
		return key
	}
	return c.prefix + key
}

// withKey calls f with the stored key for key built in a pooled buffer, so
// that reads allocate nothing for the key. Backends must not retain keys
// passed to read operations (see backend.Backend).
func (c *Cache) withKey(key string, f func(skey string)) {
	if strings.HasPrefix(key, c.prefix) {
		f(key)
		return
	}
	bp := c.keyBuf.Get().(*[]byte)
	b := append(append((*bp)[:0], c.prefix...), key...)
	f(unsafe.String(unsafe.SliceData(b), len(b)))
	*bp = b
	c.keyBuf.Put(bp)
}

// userKey strips the prefix from a stored key; ok is false for keys that
// are not this cache's user keys.
func (c *Cache) userKey(skey string) (string, bool) {
	if !strings.HasPrefix(skey, c.prefix) || backend.IsInternalKey(skey) {
		return "", false
	}
	k := skey[len(c.prefix):]
	if k == "" || !utf8.ValidString(k) {
		return "", false
	}
	return k, true
}

func (c *Cache) tagID(tag string) string { return c.tagPrefix + tag }

func validTags(tags []string) ([]string, error) {
	for _, t := range tags {
		if t == "" || len(t) > MaxTagLength || !utf8.ValidString(t) {
			return nil, fmt.Errorf("tag %q must be non-empty UTF-8 of at most %d bytes: %w", t, MaxTagLength, ErrInvalidValue)
		}
	}
	if len(tags) == 0 {
		return nil, nil
	}
	return backend.UniqueTags(tags), nil
}

// ---- TTL ----

func (c *Cache) resolveTTL(key string, o *setOptions) (time.Duration, error) {
	ttl := o.ttl
	switch {
	case ttl == 0:
		ttl = c.cfg.defaultTTLFor(key)
	case ttl == NoExpiry:
		return NoExpiry, nil
	case ttl < 0:
		return 0, fmt.Errorf("ttl %v is negative (use NoExpiry for entries that never expire): %w", ttl, ErrInvalidTTL)
	case ttl > MaxTTL:
		return 0, errTTLTooLong(ttl)
	}
	if ttl == NoExpiry {
		return NoExpiry, nil
	}
	if p := c.cfg.TTLJitterPercent; p > 0 && !o.noJitter {
		r := c.cfg.Rand
		var f float64
		if r != nil {
			f = r()
		} else {
			f = rand.Float64()
		}
		j := time.Duration(float64(ttl) * float64(p) / 100 * (2*f - 1))
		if ttl+j > 0 {
			ttl += j
		}
		ttl = min(ttl, MaxTTL) // jitter never takes a TTL past the maximum
	}
	return ttl, nil
}

func errTTLTooLong(ttl time.Duration) error {
	return fmt.Errorf("ttl %v exceeds MaxTTL %v (use NoExpiry for entries that never expire): %w", ttl, MaxTTL, ErrInvalidTTL)
}

// ---- encoding ----

// encodeEntry builds the stored key and the envelope for value in one
// allocation: the key's bytes followed by the envelope's. A backend that
// keeps both (the memory backend) pays for one object per entry; one that
// keeps neither (Redis) has one allocation to collect.
//
// buf, when its capacity suffices, is used instead of a new allocation;
// the buffer used is returned as out.
func (c *Cache) encodeEntry(buf []byte, key string, v any, tags []string) (skey string, env, out []byte, err error) {
	var id byte
	var payload []byte
	switch x := v.(type) {
	case []byte:
		id, payload = codec.IDRaw, x
	case string:
		id, payload = codec.IDString, unsafe.Slice(unsafe.StringData(x), len(x))
	default:
		p, err := c.cfg.Codec.Marshal(v)
		if err != nil {
			return "", nil, buf, fmt.Errorf("%s cannot encode %T: %v: %w", c.cfg.Codec.Name(), v, err, ErrInvalidValue)
		}
		id, payload = c.cfg.Codec.ID(), p
	}
	if len(payload) > c.cfg.MaxValueSize {
		return "", nil, buf, fmt.Errorf("value of %d bytes exceeds MaxValueSize %d: %w", len(payload), c.cfg.MaxValueSize, ErrValueTooLarge)
	}
	kp := c.prefix
	if strings.HasPrefix(key, c.prefix) {
		kp = ""
	}
	n := len(kp) + len(key)
	if need := n + codec.MaxEncodedLen(len(payload), tags); cap(buf) < need {
		buf = make([]byte, 0, need)
	}
	buf = append(append(buf[:0], kp...), key...)
	buf, err = codec.AppendEncode(buf, id, payload, tags, c.enc)
	if err != nil {
		return "", nil, buf, err
	}
	return unsafe.String(unsafe.SliceData(buf), n), buf[n:len(buf):len(buf)], buf, nil
}

func (c *Cache) decodeEnvelope(key string, raw []byte) (codec.Envelope, error) {
	env, err := codec.Decode(raw, c.cfg.MaxValueSize)
	if err != nil {
		return env, c.corrupt(key, err)
	}
	return env, nil
}

func (c *Cache) corrupt(key string, err error) error {
	c.m.corrupt.add(1)
	c.log.Warn("yokedcache: stored value does not decode; treating as a miss", "key", key, "backend", backend.Name(c.b), "error", err)
	return &corruptErr{cause: err}
}

// checkDst validates a read's destination before the backend is touched.
// It must be a non-nil pointer, as Codec.Unmarshal requires; *[]byte,
// *string and *any are checked without reflection. A bad destination is a
// programming error, reported as ErrInvalidValue and never as corruption.
func checkDst(dst any) error {
	switch d := dst.(type) {
	case nil:
		return fmt.Errorf("destination is nil; pass a non-nil pointer: %w", ErrInvalidValue)
	case *string:
		if d != nil {
			return nil
		}
	case *[]byte:
		if d != nil {
			return nil
		}
	case *any:
		if d != nil {
			return nil
		}
	default:
		v := reflect.ValueOf(dst)
		if v.Kind() != reflect.Pointer {
			return fmt.Errorf("destination of type %T is not a pointer; pass a pointer such as &v: %w", dst, ErrInvalidValue)
		}
		if !v.IsNil() {
			return nil
		}
	}
	return fmt.Errorf("destination is a nil %T; pass a non-nil pointer: %w", dst, ErrInvalidValue)
}

// decodeInto decodes an envelope's payload into dst, which checkDst has
// accepted. A failure is counted in Stats.Corrupt, logged and returned as
// a corrupt miss.
func (c *Cache) decodeInto(key string, env codec.Envelope, dst any) error {
	if err := c.decodeValue(env, dst); err != nil {
		return c.corrupt(key, err)
	}
	return nil
}

// decodeValue decodes an envelope's payload into dst, which checkDst has
// accepted, without counting or logging a failure.
func (c *Cache) decodeValue(env codec.Envelope, dst any) error {
	switch env.Codec {
	case codec.IDRaw, codec.IDString:
		switch d := dst.(type) {
		case *[]byte:
			*d = append(make([]byte, 0, len(env.Payload)), env.Payload...)
			return nil
		case *string:
			*d = string(env.Payload)
			return nil
		case *any:
			if env.Codec == codec.IDRaw {
				*d = append(make([]byte, 0, len(env.Payload)), env.Payload...)
			} else {
				*d = string(env.Payload)
			}
			return nil
		}
		return fmt.Errorf("a stored %s value cannot be decoded into %T", codec.NameOf(env.Codec), dst)
	}
	cd := c.codecs[env.Codec]
	if cd == nil {
		return fmt.Errorf("stored with unknown codec %s (add it to Config.ExtraCodecs)", codec.NameOf(env.Codec))
	}
	if err := cd.Unmarshal(env.Payload, dst); err != nil {
		return fmt.Errorf("%s decode into %T: %v", cd.Name(), dst, err)
	}
	return nil
}

// ---- single keys ----

func (c *Cache) check(ctx context.Context) error {
	if c.closed.Load() {
		return ErrClosed
	}
	return ctx.Err()
}

// fetchEnvelope reads and decodes key's envelope, counting hits, misses
// and errors.
func (c *Cache) fetchEnvelope(ctx context.Context, op, key string) (codec.Envelope, error) {
	if err := c.check(ctx); err != nil {
		return codec.Envelope{}, &Error{Op: op, Key: key, Err: err}
	}
	if err := validKey(key); err != nil {
		return codec.Envelope{}, &Error{Op: op, Key: key, Err: err}
	}
	var start time.Time
	timed := sample()
	if timed {
		start = time.Now()
	}
	var raw []byte
	var err error
	c.withKey(key, func(skey string) { raw, err = c.b.Get(ctx, skey) })
	if timed {
		c.m.lat[opGet].record(time.Since(start))
	}
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			c.m.misses.add(1)
		} else {
			c.m.errors.add(1)
		}
		return codec.Envelope{}, &Error{Op: op, Key: key, Err: err}
	}
	env, err := c.decodeEnvelope(key, raw)
	if err != nil {
		c.m.misses.add(1)
		return env, &Error{Op: op, Key: key, Err: err}
	}
	c.m.hits.add(1)
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
		return &Error{Op: "get", Key: key, Err: err}
	}
	env, err := c.fetchEnvelope(ctx, "get", key)
	if err != nil {
		return err
	}
	if err := c.decodeInto(key, env, dst); err != nil {
		return &Error{Op: "get", Key: key, Err: err}
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
		return nil, &Error{Op: "get", Key: key, Err: c.corrupt(key, fmt.Errorf("a stored %s value cannot be decoded into []byte", codec.NameOf(env.Codec)))}
	}
	return append(make([]byte, 0, len(env.Payload)), env.Payload...), nil
}

// Get is the generic form of Cache.Get: Get[User](ctx, c, "user:42").
func Get[T any](ctx context.Context, c *Cache, key string) (T, error) {
	if _, ok := any((*T)(nil)).(*[]byte); ok {
		// Fast path without boxing: T is exactly []byte.
		b, err := c.GetBytes(ctx, key)
		return *(*T)(unsafe.Pointer(&b)), err
	}
	var v T
	if err := c.Get(ctx, key, &v); err != nil {
		var zero T
		return zero, err
	}
	return v, nil
}

// Set stores value under key. []byte and string values are stored
// verbatim; others are encoded with Config.Codec. Options: WithTTL,
// WithTags, WithExactTTL.
func (c *Cache) Set(ctx context.Context, key string, value any, opts ...SetOption) error {
	if err := c.check(ctx); err != nil {
		return &Error{Op: "set", Key: key, Err: err}
	}
	if err := validKey(key); err != nil {
		return &Error{Op: "set", Key: key, Err: err}
	}
	w, err := c.newWriteSpec(opts)
	if err != nil {
		return &Error{Op: "set", Key: key, Err: err}
	}
	// When the backend is done with key and value once Set succeeds
	// (backend.SetCopier), build them in a reused buffer.
	var bp *[]byte
	var buf []byte
	if c.copies {
		bp = c.entryBuf.Get().(*[]byte)
		buf = *bp
	}
	e, err := c.prepare(buf, key, value, &w)
	if err != nil {
		return &Error{Op: "set", Key: key, Err: err}
	}
	var start time.Time
	timed := sample()
	if timed {
		start = time.Now()
	}
	err = c.b.Set(ctx, e.skey, e.env, e.so)
	if timed {
		c.m.lat[opSet].record(time.Since(start))
	}
	if bp != nil && err == nil && cap(e.buf) <= maxPooledEntry {
		// Only after success: a failed (cancelled, timed-out) write may
		// still sit in a client's pipeline, referencing the buffer.
		*bp = e.buf
		c.entryBuf.Put(bp)
	}
	if err != nil {
		c.m.errors.add(1)
		return &Error{Op: "set", Key: key, Err: err}
	}
	c.m.sets.add(1)
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
		if c.tg == nil {
			return w, backend.Unsupported(backend.Name(c.b), "tags", "the backend does not keep tags")
		}
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

// entry is one prepared write: the stored key and envelope (both in buf)
// and the backend options.
type entry struct {
	skey string
	env  []byte
	so   backend.SetOptions
	buf  []byte
}

// prepare builds the write of value under key, in buf when its capacity
// suffices (nil: a new allocation).
func (c *Cache) prepare(buf []byte, key string, value any, w *writeSpec) (entry, error) {
	ttl, err := c.resolveTTL(key, &w.o)
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
	if err := c.check(ctx); err != nil {
		return false, &Error{Op: "delete", Key: key, Err: err}
	}
	if err := validKey(key); err != nil {
		return false, &Error{Op: "delete", Key: key, Err: err}
	}
	var start time.Time
	timed := sample()
	if timed {
		start = time.Now()
	}
	ok, err := c.b.Delete(ctx, c.storedKey(key))
	if timed {
		c.m.lat[opDelete].record(time.Since(start))
	}
	if err != nil {
		c.m.errors.add(1)
		return false, &Error{Op: "delete", Key: key, Err: err}
	}
	if ok {
		c.m.deletes.add(1)
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
// verifies the envelope, decompressing a compressed payload; it does not
// use a backend's cheaper existence check (backend.Exister), which cannot
// see whether the bytes decode. For large values on a network backend,
// TTL answers presence without the transfer but does not check the bytes.
func (c *Cache) Exists(ctx context.Context, key string) (bool, error) {
	if err := c.check(ctx); err != nil {
		return false, &Error{Op: "exists", Key: key, Err: err}
	}
	if err := validKey(key); err != nil {
		return false, &Error{Op: "exists", Key: key, Err: err}
	}
	var raw []byte
	var err error
	c.withKey(key, func(skey string) { raw, err = c.b.Get(ctx, skey) })
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			return false, nil
		}
		c.m.errors.add(1)
		return false, &Error{Op: "exists", Key: key, Err: err}
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
	if err := c.check(ctx); err != nil {
		return 0, &Error{Op: "ttl", Key: key, Err: err}
	}
	if err := validKey(key); err != nil {
		return 0, &Error{Op: "ttl", Key: key, Err: err}
	}
	if c.exp == nil {
		return 0, &Error{Op: "ttl", Key: key, Err: backend.Unsupported(backend.Name(c.b), "ttl", "the backend cannot report TTLs")}
	}
	var d time.Duration
	var err error
	c.withKey(key, func(skey string) { d, err = c.exp.TTL(ctx, skey) })
	if err != nil {
		if !errors.Is(err, ErrNotFound) {
			c.m.errors.add(1)
		}
		return 0, &Error{Op: "ttl", Key: key, Err: err}
	}
	return d, nil
}

// Expire sets key's TTL (jitter is not applied: the caller asked for an
// exact time) and reports whether the key existed. ttl must be in
// (0, MaxTTL] or NoExpiry; anything else is an error matching
// ErrInvalidTTL.
func (c *Cache) Expire(ctx context.Context, key string, ttl time.Duration) (bool, error) {
	if ttl <= 0 && ttl != NoExpiry {
		return false, &Error{Op: "expire", Key: key, Err: fmt.Errorf("ttl %v must be > 0 or NoExpiry: %w", ttl, ErrInvalidTTL)}
	}
	if ttl > MaxTTL {
		return false, &Error{Op: "expire", Key: key, Err: errTTLTooLong(ttl)}
	}
	return c.expire(ctx, "expire", key, ttl)
}

// Touch resets key's TTL to the one its options give (default
// Config.DefaultTTL, with jitter), as if it had just been set, and reports
// whether the key existed. Reads never extend TTLs by themselves.
func (c *Cache) Touch(ctx context.Context, key string, opts ...SetOption) (bool, error) {
	o := collectSetOptions(opts)
	ttl, err := c.resolveTTL(key, &o)
	if err != nil {
		return false, &Error{Op: "touch", Key: key, Err: err}
	}
	return c.expire(ctx, "touch", key, ttl)
}

func (c *Cache) expire(ctx context.Context, op, key string, ttl time.Duration) (bool, error) {
	if err := c.check(ctx); err != nil {
		return false, &Error{Op: op, Key: key, Err: err}
	}
	if err := validKey(key); err != nil {
		return false, &Error{Op: op, Key: key, Err: err}
	}
	if c.exp == nil {
		return false, &Error{Op: op, Key: key, Err: backend.Unsupported(backend.Name(c.b), op, "the backend cannot change TTLs")}
	}
	ok, err := c.exp.Expire(ctx, c.storedKey(key), ttl)
	if err != nil {
		c.m.errors.add(1)
		return false, &Error{Op: op, Key: key, Err: err}
	}
	return ok, nil
}
