package yokedcache

import (
	"math"
	"time"

	"context"
	"errors"
	"fmt"
	"reflect"
	"runtime/debug"

	"github.com/yokedcache/yokedcache/backend"

	"github.com/yokedcache/yokedcache/codec"
	"github.com/yokedcache/yokedcache/internal/envelope"
)

// flight is the shared result of one load.
type flight struct {
	val any    // the loader's value, or the stored value decoded by fits
	env []byte // its encoded envelope, for waiters that want another type
}

// fitsFunc decodes a stored envelope into the type a Fetch or GetOrSet
// caller wants, without counting or logging a failure. ok is false when
// the value does not decode into that type.
type fitsFunc func(env envelope.Envelope) (v any, ok bool)

// load runs loader at most once per key at a time in this process. The
// loader runs on a context detached from every caller's cancellation (it
// keeps the first caller's values) and bounded by Config.LoaderTimeout.
// Each caller returns when the load finishes or its own context ends,
// whichever is first; a cancelled caller never cancels the load for the
// others. The loaded value is stored with w (best effort: a failed write
// is counted and logged, and the value still returned); loader errors are
// not cached, except misses under WithMissingTTL.
//
// Before loading, the stored value is read again (another process or a
// racing Set may have filled it). It is used only when it is fresh and
// fits can decode it into the caller's type: a value that does not decode
// into that type (corrupt bytes, another codec, a type changed by a
// deploy) is a miss, so the loader runs and overwrites it.
func (c *Cache) load(ctx context.Context, key string, loader func(context.Context) (any, error), fits fitsFunc, w writeSpec, mode loadMode) (*flight, error) {
	r := c.rt.match(key) // the caller's read validated key
	if err := c.checkTags(r, &w); err != nil {
		return nil, err
	}
	ch := c.sf.DoChan(c.storedKey(key), func() (res any, err error) {
		lctx := context.WithoutCancel(ctx)
		if c.cfg.LoaderTimeout > 0 {
			var cancel context.CancelFunc
			lctx, cancel = context.WithTimeout(lctx, c.cfg.LoaderTimeout)
			defer cancel()
		}
		return c.runLoad(lctx, r, key, loader, fits, &w, mode)
	})
	select {
	case r := <-ch:
		if r.Err != nil {
			return nil, r.Err
		}
		return r.Val.(*flight), nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// loadMode says why a load runs.
type loadMode uint8

const (
	// loadMiss: the read missed; re-read before loading (another process
	// may have filled the key) and write back before returning.
	loadMiss loadMode = iota
	// loadForce: an early refresh of a fresh entry; no re-read.
	loadForce
	// loadFallback: the backend failed the read (fail-open): no re-read,
	// and the write-back runs in the background, so a failing backend
	// costs the caller one operation timeout, not three.
	loadFallback
)

// runLoad is one load of key on route r (see load), on lctx.
func (c *Cache) runLoad(lctx context.Context, r *route, key string, loader func(context.Context) (any, error), fits fitsFunc, w *writeSpec, mode loadMode) (res any, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("loader panicked: %v\n%s", r, debug.Stack())
		}
	}()
	skey := c.storedKey(key)
	m := r.mem
	// Another process (or a Set racing with us) may have filled it. (Not
	// for an early refresh, whose stored entry is fresh on purpose, nor
	// after the backend failed the read.)
	if mode == loadMiss {
		if f := c.reread(lctx, m, key, skey, fits); f != nil {
			return f, nil
		}
	}
	if w.o.lockTTL > 0 {
		if ll, ok := has[backend.LoadLocker](m); ok {
			f, unlock := c.loadLock(lctx, r, ll, key, fits, w.o.lockTTL)
			if f != nil {
				return f, nil
			}
			if unlock != nil {
				defer func() { _ = unlock(context.WithoutCancel(lctx)) }()
			}
		}
	}
	c.m.loads.add(1)
	began := time.Now()
	v, lerr := loader(lctx)
	w.loadMs = uint32(min(max(time.Since(began).Milliseconds(), 1), math.MaxUint32))
	if lerr != nil {
		c.m.loadErrors.add(1)
		if w.o.missingTTL > 0 && isMissing(lerr, w.o.missErrs) {
			spec := *w
			c.writeBack(lctx, mode, func(ctx context.Context) { c.storeMissing(ctx, r, key, &spec) })
		}
		return nil, lerr
	}
	e, perr := c.prepare(nil, r, key, v, w)
	if perr != nil {
		return nil, perr
	}
	if c.closed.Load() {
		return &flight{val: v, env: e.env}, nil
	}
	c.writeBack(lctx, mode, func(ctx context.Context) {
		if serr := c.guardedSet(ctx, m, e); serr != nil {
			// The value is good; failing to cache it is counted and
			// logged once per burst, not fatal.
			r.m.errors.add(1)
			r.m.writeBackErrors.add(1)
			c.burst.warn("write-back", "yokedcache: could not store loaded values (best effort)", "key", shortKey(key), "error", c.rt.fail(r, serr))
		} else {
			r.m.sets.add(1)
		}
	})
	return &flight{val: v, env: e.env}, nil
}

// writeBack runs a load's write: in line, or, after the backend failed
// the read (loadFallback), in the background (detached, under the
// operation timeout; Close waits for it).
func (c *Cache) writeBack(ctx context.Context, mode loadMode, write func(ctx context.Context)) {
	if mode != loadFallback {
		write(ctx)
		return
	}
	c.bgMu.Lock()
	if c.closed.Load() {
		c.bgMu.Unlock()
		return
	}
	c.bg.Add(1)
	c.bgMu.Unlock()
	wctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	stop := context.AfterFunc(c.bgCtx, cancel)
	go func() {
		defer c.bg.Done()
		defer cancel()
		defer stop()
		write(wctx)
	}()
}

// isMissing reports whether a loader error means "not found".
func isMissing(err error, also []error) bool {
	if errors.Is(err, ErrNotFound) {
		return true
	}
	for _, a := range also {
		if a != nil && errors.Is(err, a) {
			return true
		}
	}
	return false
}

// storeMissing caches a miss for key (negative caching), best effort.
func (c *Cache) storeMissing(ctx context.Context, r *route, key string, w *writeSpec) {
	if c.closed.Load() {
		return
	}
	o := setOptions{ttl: w.o.missingTTL, noJitter: w.o.noJitter}
	ttl, err := c.resolveTTL(r, &o)
	if err != nil {
		return
	}
	eo := envelope.EncodeOptions{Threshold: -1, Negative: true}
	skey, env, _, err := c.encodeEntry(nil, key, []byte{}, nil, eo)
	if err != nil {
		return
	}
	if err := c.guardedSet(ctx, r.mem, entry{skey: skey, env: env, so: backend.SetOptions{TTL: ttl}}); err != nil {
		r.m.writeBackErrors.add(1)
		c.burst.warn("write-back", "yokedcache: could not store loaded values (best effort)", "key", shortKey(key), "error", c.rt.fail(r, err))
		return
	}
	r.m.negativeStores.add(1)
}

// getOrLoad is the read-then-load of Fetch and GetOrSet when a write
// option needs the stored entry's soft expiry (stale-while-revalidate,
// stale-if-error): it returns the value (v, when fits produced one) and
// its envelope.
func (c *Cache) getOrLoad(ctx context.Context, op, key string, loader func(context.Context) (any, error), fits fitsFunc, w writeSpec) (v any, env envelope.Envelope, err error) {
	err = c.fetchEnv(ctx, op, key, true, &env)
	var fallback *flight // a stale value to serve if the load fails
	mode := loadMiss
	switch {
	case err == nil:
		if v, ok := fits(env); ok {
			if w.o.beta > 0 && c.refreshEarly(env, w.o.beta) {
				c.rt.match(key).m.earlyRefreshes.add(1)
				c.refresh(ctx, key, loader, fits, w, true)
			}
			return v, env, nil
		}
		_ = c.corrupt(key, errors.New("the stored value does not decode into the requested type"))
	case errors.Is(err, errNegative):
		return nil, env, err
	case errors.Is(err, errStale):
		if sv, ok := fits(env); ok {
			age := staleAge(c, env)
			r := c.rt.match(key)
			if age < w.o.swr {
				c.refresh(ctx, key, loader, fits, w, false)
				r.m.staleServed.add(1)
				return sv, env, nil
			}
			if age < w.o.sie {
				fallback = &flight{val: sv}
			}
		}
	case c.readFailure(ctx, err):
		if c.cfg.FailClosedLoads {
			return nil, env, err
		}
		c.m.loadFallbacks.add(1)
		mode = loadFallback
	case !errors.Is(err, ErrNotFound):
		return nil, env, err
	}
	f, err := c.load(ctx, key, loader, fits, w, mode)
	if err != nil {
		if fallback != nil && ctx.Err() == nil && !errors.Is(err, ErrClosed) {
			c.rt.match(key).m.staleIfError.add(1)
			return fallback.val, env, nil
		}
		return nil, env, err
	}
	if f.val != nil {
		return f.val, envelope.Envelope{}, nil
	}
	env, err = c.decodeEnvelope(key, f.env)
	return nil, env, err
}

// afterRead decides what a Fetch or GetOrSet does after its read failed
// with err: load (a miss, or a backend failure when loads fail open), or
// return err.
func (c *Cache) afterRead(ctx context.Context, err error) (load bool, mode loadMode) {
	switch {
	case errors.Is(err, errNegative):
		return false, loadMiss
	case errors.Is(err, ErrNotFound):
		return true, loadMiss
	case c.readFailure(ctx, err) && !c.cfg.FailClosedLoads:
		c.m.loadFallbacks.add(1)
		return true, loadFallback
	}
	return false, loadMiss
}

// GetOrSet decodes the value under key into dst, a non-nil pointer; on a
// miss it calls loader (once per key across concurrent callers in this
// process, see Fetch), stores the result with opts and decodes it into
// dst. A stored value that does not decode into dst (corrupt bytes, or
// another type after a schema change) is a miss: the loader runs and its
// value replaces the entry.
func (c *Cache) GetOrSet(ctx context.Context, key string, dst any, loader func(context.Context) (any, error), opts ...SetOption) (err error) {
	if c.cfg.Tracer != nil {
		var sp Span
		ctx, sp = c.startOp(ctx, "get_or_set", key)
		defer func() { sp.End(outcome(err)) }()
	}
	if err := checkDst(dst); err != nil {
		return opError("get_or_set", key, err)
	}
	w, err := c.newWriteSpec(opts)
	if err != nil {
		return opError("get_or_set", key, err)
	}
	stale := w.o.swr > 0 || w.o.sie > 0 || w.o.beta > 0
	mode := loadMiss
	if !stale {
		// The hit path: no closure is built before a miss.
		err = c.Get(ctx, key, dst)
		var load bool
		if err == nil {
			return nil
		}
		if load, mode = c.afterRead(ctx, err); !load {
			return err
		}
	}
	typ := reflect.TypeOf(dst).Elem()
	fits := func(env envelope.Envelope) (any, bool) {
		return nil, c.decodeValue(env, reflect.New(typ).Interface()) == nil
	}
	var env envelope.Envelope
	if stale {
		_, env, err = c.getOrLoad(ctx, "get_or_set", key, loader, fits, w)
		if err != nil {
			return wrap("get_or_set", key, err)
		}
		return wrap("get_or_set", key, c.decodeInto(key, env, dst))
	}
	f, err := c.load(ctx, key, loader, fits, w, mode)
	if err != nil {
		return wrap("get_or_set", key, err)
	}
	env, err = c.decodeEnvelope(key, f.env)
	if err != nil {
		return wrap("get_or_set", key, err)
	}
	return wrap("get_or_set", key, c.decodeInto(key, env, dst))
}

// Fetch returns the value under key, loading it with loader on a miss.
// Concurrent misses for the same key in one process run loader once;
// every waiter gets its result or its error. The loader runs on a context
// that keeps the first caller's values but not its cancellation (bounded by
// Config.LoaderTimeout), so one caller giving up never fails the others;
// each caller still returns when its own context ends. Loader errors are
// not cached. Waiters share the loaded value: do not mutate it.
//
// A stored value that does not decode into a T (corrupt bytes, or a value
// of another type, as after a deploy that changed T) is a miss: Fetch
// runs the loader and its value replaces the entry. (Get returns such a
// value as an error matching ErrCorrupt and ErrNotFound.)
func Fetch[T any](ctx context.Context, c *Cache, key string, loader func(context.Context) (T, error), opts ...SetOption) (_ T, err error) {
	if c.cfg.Tracer != nil {
		var sp Span
		ctx, sp = c.startOp(ctx, "fetch", key)
		defer func() { sp.End(outcome(err)) }()
	}
	var zero T
	var w writeSpec
	if len(opts) > 0 {
		var err error
		if w, err = c.newWriteSpec(opts); err != nil {
			return zero, opError("fetch", key, err)
		}
	}
	stale := w.o.swr > 0 || w.o.sie > 0 || w.o.beta > 0
	mode := loadMiss
	if !stale {
		// The hit path: no closure is built before a miss.
		v, err := Get[T](ctx, c, key)
		if err == nil {
			return v, nil
		}
		var load bool
		if load, mode = c.afterRead(ctx, err); !load {
			return v, err
		}
	}
	fits := func(env envelope.Envelope) (any, bool) {
		var t T
		if _, ok := any(&t).(*[]byte); ok && env.Codec != codec.IDRaw && env.Codec != codec.IDString {
			return nil, false // as Get[[]byte] (GetBytes) decides
		}
		if c.decodeValue(env, &t) != nil {
			return nil, false
		}
		return t, true
	}
	load := func(ctx context.Context) (any, error) { return loader(ctx) }
	if stale {
		v, env, err := c.getOrLoad(ctx, "fetch", key, load, fits, w)
		if err != nil {
			return zero, wrap("fetch", key, err)
		}
		if t, ok := v.(T); ok && v != nil {
			return t, nil
		}
		var t T
		if err := c.decodeInto(key, env, &t); err != nil {
			return zero, wrap("fetch", key, err)
		}
		return t, nil
	}
	f, err := c.load(ctx, key, load, fits, w, mode)
	if err != nil {
		return zero, wrap("fetch", key, err)
	}
	if t, ok := f.val.(T); ok && f.val != nil {
		return t, nil
	}
	env, err := c.decodeEnvelope(key, f.env)
	if err != nil {
		return zero, wrap("fetch", key, err)
	}
	var t T
	if err := c.decodeInto(key, env, &t); err != nil {
		return zero, wrap("fetch", key, err)
	}
	return t, nil
}

// loadLockPoll is how often a process waiting for another's load re-reads
// the value.
const loadLockPoll = 25 * time.Millisecond

// loadLock takes the cross-process load lock of key (WithLoadLock). It
// returns the unlock function when this process should load, or the value
// another process stored while this one waited.
func (c *Cache) loadLock(ctx context.Context, r *route, ll backend.LoadLocker, key string, fits fitsFunc, ttl time.Duration) (*flight, func(context.Context) error) {
	m := r.mem
	lockKey := c.prefix + "\xfflock:" + key
	type lockRes struct {
		unlock func(context.Context) error
		ok     bool
	}
	take := func() (lockRes, error) {
		return guarded(ctx, m, kindSingle, func(ctx context.Context) (lockRes, error) {
			u, ok, err := ll.LoadLock(ctx, lockKey, ttl)
			return lockRes{u, ok}, err
		})
	}
	res, err := take()
	if err != nil || res.ok {
		return nil, res.unlock // a lock that cannot be taken never blocks the load
	}
	skey := c.storedKey(key)
	deadline := time.Now().Add(ttl)
	t := time.NewTicker(loadLockPoll)
	defer t.Stop()
	for time.Now().Before(deadline) {
		select {
		case <-ctx.Done():
			return nil, nil
		case <-t.C:
		}
		raw, gerr := guarded(ctx, m, kindSingle, func(ctx context.Context) ([]byte, error) { return m.b.Get(ctx, skey) })
		if gerr != nil {
			if !errors.Is(gerr, ErrNotFound) {
				return nil, nil // the backend fails: load
			}
			continue
		}
		if env, derr := c.decodeQuiet(key, raw); derr == nil && !env.Negative && !env.StaleAt(c.nowMs()) {
			if v, ok := fits(env); ok {
				r.m.lockWaits.add(1)
				return &flight{val: v, env: raw}, nil
			}
		}
	}
	// The holder did not store a value in time: take the lock if it has
	// expired, and load either way.
	res, _ = take()
	return nil, res.unlock
}

// reread returns the stored value of key when it is fresh and fits the
// caller's type, else nil.
func (c *Cache) reread(ctx context.Context, m *member, key, skey string, fits fitsFunc) *flight {
	raw, err := guarded(ctx, m, kindSingle, func(ctx context.Context) ([]byte, error) { return m.b.Get(ctx, skey) })
	if err != nil {
		return nil
	}
	if env, err := c.decodeQuiet(key, raw); err == nil && !env.Negative && !env.StaleAt(c.nowMs()) {
		if v, ok := fits(env); ok {
			return &flight{val: v, env: raw}
		}
	}
	return nil
}
