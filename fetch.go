package yokedcache

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"runtime/debug"

	"github.com/yokedcache/yokedcache/codec"
)

// flight is the shared result of one load.
type flight struct {
	val any    // the loader's value, or the stored value decoded by fits
	env []byte // its encoded envelope, for waiters that want another type
}

// fitsFunc decodes a stored envelope into the type a Fetch or GetOrSet
// caller wants, without counting or logging a failure. ok is false when
// the value does not decode into that type.
type fitsFunc func(env codec.Envelope) (v any, ok bool)

// load runs loader at most once per key at a time in this process. The
// loader runs on a context detached from every caller's cancellation (it
// keeps the first caller's values) and bounded by Config.LoaderTimeout.
// Each caller returns when the load finishes or its own context ends,
// whichever is first; a cancelled caller never cancels the load for the
// others. The loaded value is stored with opts; loader errors are not
// cached.
//
// Before loading, the stored value is read again (another process or a
// racing Set may have filled it). It is used only when fits can decode it
// into the caller's type: a value that does not decode into that type
// (corrupt bytes, another codec, a type changed by a deploy) is a miss,
// so the loader runs and overwrites it.
func (c *Cache) load(ctx context.Context, key string, loader func(context.Context) (any, error), fits fitsFunc, opts []SetOption) (*flight, error) {
	r := c.rt.match(key) // the caller's Get validated key
	w, err := c.newWriteSpec(opts)
	if err != nil {
		return nil, err
	}
	if err := c.checkTags(r, &w); err != nil {
		return nil, err
	}
	skey := c.storedKey(key)
	ch := c.sf.DoChan(skey, func() (res any, err error) {
		lctx := context.WithoutCancel(ctx)
		if c.cfg.LoaderTimeout > 0 {
			var cancel context.CancelFunc
			lctx, cancel = context.WithTimeout(lctx, c.cfg.LoaderTimeout)
			defer cancel()
		}
		defer func() {
			if r := recover(); r != nil {
				err = fmt.Errorf("loader panicked: %v\n%s", r, debug.Stack())
			}
		}()
		// Another process (or a Set racing with us) may have filled it.
		if raw, gerr := r.mem.b.Get(lctx, skey); gerr == nil {
			if env, derr := c.decodeQuiet(key, raw); derr == nil {
				if v, ok := fits(env); ok {
					return &flight{val: v, env: raw}, nil
				}
			}
		}
		c.m.loads.add(1)
		v, lerr := loader(lctx)
		if lerr != nil {
			c.m.loadErrors.add(1)
			return nil, lerr
		}
		e, perr := c.prepare(nil, r, key, v, &w)
		if perr != nil {
			return nil, perr
		}
		so, env := e.so, e.env
		if c.closed.Load() {
			return &flight{val: v, env: env}, nil
		}
		if serr := r.mem.b.Set(lctx, skey, env, so); serr != nil {
			// The value is good; failing to cache it is logged, not fatal.
			r.m.errors.add(1)
			c.log.Warn("yokedcache: could not store loaded value", "key", shortKey(key), "error", c.rt.fail(r, serr))
		} else {
			r.m.sets.add(1)
		}
		return &flight{val: v, env: env}, nil
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

// GetOrSet decodes the value under key into dst, a non-nil pointer; on a
// miss it calls loader (once per key across concurrent callers in this
// process, see Fetch), stores the result with opts and decodes it into
// dst. A stored value that does not decode into dst (corrupt bytes, or
// another type after a schema change) is a miss: the loader runs and its
// value replaces the entry.
func (c *Cache) GetOrSet(ctx context.Context, key string, dst any, loader func(context.Context) (any, error), opts ...SetOption) error {
	err := c.Get(ctx, key, dst)
	if err == nil || !errors.Is(err, ErrNotFound) {
		return err
	}
	typ := reflect.TypeOf(dst).Elem() // Get accepted dst: a non-nil pointer
	fits := func(env codec.Envelope) (any, bool) {
		return nil, c.decodeValue(env, reflect.New(typ).Interface()) == nil
	}
	f, err := c.load(ctx, key, loader, fits, opts)
	if err != nil {
		return wrap("get_or_set", key, err)
	}
	env, err := c.decodeEnvelope(key, f.env)
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
func Fetch[T any](ctx context.Context, c *Cache, key string, loader func(context.Context) (T, error), opts ...SetOption) (T, error) {
	var zero T
	v, err := Get[T](ctx, c, key)
	if err == nil || !errors.Is(err, ErrNotFound) {
		return v, err
	}
	fits := func(env codec.Envelope) (any, bool) {
		var t T
		if _, ok := any(&t).(*[]byte); ok && env.Codec != codec.IDRaw && env.Codec != codec.IDString {
			return nil, false // as Get[[]byte] (GetBytes) decides
		}
		if c.decodeValue(env, &t) != nil {
			return nil, false
		}
		return t, true
	}
	f, err := c.load(ctx, key, func(ctx context.Context) (any, error) { return loader(ctx) }, fits, opts)
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
