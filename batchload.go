package yokedcache

import (
	"context"
	"fmt"
	"runtime/debug"
	"sync"

	"github.com/yokedcache/yokedcache/backend"
)

// Fetched is one key's result of FetchMany.
type Fetched[T any] struct {
	// Key is the requested key (results are in the order of the keys).
	Key string
	// Value is the key's value when Err is nil, else T's zero value.
	Value T
	// Err is nil when Value holds the key's value. Otherwise it matches
	// ErrNotFound when the loader did not return the key (or a cached
	// miss answered, see WithMissingTTL), or is the loader's error, or the
	// backend's read error when loads fail closed (Config.FailClosedLoads).
	Err error
}

// batchFlight is one key being loaded by a FetchMany; other FetchMany
// calls that miss the same key wait for it instead of loading it again.
type batchFlight struct {
	done chan struct{}
	val  any    // the loader's value
	env  []byte // its envelope, for waiters that want another type
	err  error
}

// batchFlights tracks the keys being loaded by FetchMany, by stored key.
type batchFlights struct {
	mu sync.Mutex
	m  map[string]*batchFlight
}

// FetchMany returns the values of keys, in key order: it reads them in one
// GetMany, calls loader once with the keys that missed (in the order first
// seen, without duplicates), stores what it returns with opts, and waits
// for keys that another FetchMany in this process is already loading
// instead of loading them twice.
//
// The loader returns the values it found; a key it leaves out is reported
// with an error matching ErrNotFound (and, with WithMissingTTL, cached as
// a miss). A loader error is reported for every key that call was
// loading. As with Fetch, the loader runs detached from the caller's
// cancellation (bounded by Config.LoaderTimeout), a backend that cannot
// be read makes the keys misses unless Config.FailClosedLoads, and
// storing the values is best effort.
//
// The returned error is non-nil only when the call as a whole failed (an
// invalid key, a closed Cache, the caller's context ending); per-key
// failures are in each Fetched.Err.
func FetchMany[T any](ctx context.Context, c *Cache, keys []string, loader func(ctx context.Context, missing []string) (map[string]T, error), opts ...SetOption) (_ []Fetched[T], err error) {
	if c.cfg.Tracer != nil {
		var sp Span
		ctx, sp = c.startFanOut(ctx, "fetch_many", len(keys))
		defer func() { sp.End(outcome(err)) }()
	}
	if err := c.check(ctx); err != nil {
		return nil, opError("fetch_many", "", err)
	}
	for _, k := range keys {
		if err := validKey(k); err != nil {
			return nil, opError("fetch_many", k, err)
		}
	}
	w, err := c.newWriteSpec(opts)
	if err != nil {
		return nil, opError("fetch_many", "", err)
	}
	out := make([]Fetched[T], len(keys))
	for i, k := range keys {
		out[i].Key = k
	}
	raws, gerr := c.getRaw(ctx, keys)
	if gerr != nil {
		c.rt.def.m.errors.add(1)
		if ctx.Err() != nil {
			return nil, opError("fetch_many", "", ctx.Err())
		}
	}
	now := c.nowMs()
	pending := map[string][]int{} // missed key -> its indexes in keys
	var order []string
	for i, raw := range raws {
		k := keys[i]
		r := c.rt.match(k)
		if raw == nil {
			if gerr != nil && c.cfg.FailClosedLoads {
				out[i].Err = opError("fetch_many", k, gerr)
				continue
			}
		} else if env, derr := c.decodeEnvelope(k, raw); derr == nil {
			if env.Negative {
				r.m.misses.add(1)
				r.m.negativeHits.add(1)
				out[i].Err = opError("fetch_many", k, errNegative)
				continue
			}
			if !env.StaleAt(now) && c.decodeValue(env, &out[i].Value) == nil {
				r.m.hits.add(1)
				continue
			}
			var zero T
			out[i].Value = zero
		}
		r.m.misses.add(1)
		if _, seen := pending[k]; !seen {
			order = append(order, k)
		}
		pending[k] = append(pending[k], i)
	}
	if len(order) == 0 {
		return out, nil
	}
	mode := loadMiss
	if gerr != nil {
		c.m.loadFallbacks.add(1)
		mode = loadFallback
	}
	// Join the keys another FetchMany is loading; own the others.
	flights := make(map[string]*batchFlight, len(order))
	var owned []string
	c.flights.mu.Lock()
	if c.flights.m == nil {
		c.flights.m = map[string]*batchFlight{}
	}
	for _, k := range order {
		if f, ok := c.flights.m[k]; ok {
			flights[k] = f
			continue
		}
		f := &batchFlight{done: make(chan struct{})}
		c.flights.m[k] = f
		flights[k] = f
		owned = append(owned, k)
	}
	c.flights.mu.Unlock()
	if len(owned) > 0 {
		c.startBatchLoad(ctx, owned, flights, func(ctx context.Context, missing []string) (map[string]any, error) {
			vals, err := loader(ctx, missing)
			if err != nil {
				return nil, err
			}
			m := make(map[string]any, len(vals))
			for k, v := range vals {
				m[k] = v
			}
			return m, nil
		}, w, mode)
	}
	for _, k := range order {
		f := flights[k]
		select {
		case <-f.done:
		case <-ctx.Done():
			return nil, opError("fetch_many", "", ctx.Err())
		}
		for _, i := range pending[k] {
			if f.err != nil {
				out[i].Err = wrap("fetch_many", k, f.err)
				continue
			}
			if t, ok := f.val.(T); ok {
				out[i].Value = t
				continue
			}
			env, err := c.decodeEnvelope(k, f.env)
			if err == nil {
				err = c.decodeInto(k, env, &out[i].Value)
			}
			if err != nil {
				var zero T
				out[i].Value, out[i].Err = zero, wrap("fetch_many", k, err)
			}
		}
	}
	return out, nil
}

// startBatchLoad runs one loader call for the owned keys in the
// background (detached from the caller's cancellation, as Fetch's loads
// are), stores its values, and completes their flights.
func (c *Cache) startBatchLoad(ctx context.Context, owned []string, flights map[string]*batchFlight, loader func(context.Context, []string) (map[string]any, error), w writeSpec, mode loadMode) {
	mine := make(map[string]*batchFlight, len(owned))
	for _, k := range owned {
		mine[k] = flights[k]
	}
	finish := func(ctx context.Context, vals map[string]any, lerr error) {
		var items []backend.Item
		var routes []*route
		var missing []string
		for _, k := range owned {
			f := mine[k]
			switch v, ok := vals[k]; {
			case lerr != nil:
				f.err = lerr
			case !ok:
				f.err = fmt.Errorf("the loader did not return the key: %w", ErrNotFound)
				missing = append(missing, k)
			default:
				r := c.rt.match(k)
				e, err := c.prepare(nil, r, k, v, &w)
				if err == nil {
					err = c.checkTags(r, &w)
				}
				if err != nil {
					f.err = err
					break
				}
				f.val, f.env = v, e.env
				items = append(items, backend.Item{Key: e.skey, Value: e.env, SetOptions: e.so})
				routes = append(routes, r)
			}
		}
		store := func(ctx context.Context) {
			if len(items) > 0 && !c.closed.Load() {
				c.storeLoaded(ctx, items, routes)
			}
			if w.o.missingTTL > 0 {
				for _, k := range missing {
					c.storeMissing(ctx, c.rt.match(k), k, &w)
				}
			}
		}
		release := func() {
			c.flights.mu.Lock()
			for _, k := range owned {
				delete(c.flights.m, k)
			}
			c.flights.mu.Unlock()
			for _, k := range owned {
				close(mine[k].done)
			}
		}
		if mode == loadFallback {
			// The backend failed the read: answer first, store in the
			// background (a hung backend would otherwise hold every
			// waiter for the batch timeout).
			release()
			c.writeBack(ctx, mode, store)
			return
		}
		store(ctx) // before release: a waiter that reads next sees the values
		release()
	}
	run := func() {
		lctx := context.WithoutCancel(ctx)
		var cancel context.CancelFunc
		if c.cfg.LoaderTimeout > 0 {
			lctx, cancel = context.WithTimeout(lctx, c.cfg.LoaderTimeout)
		} else {
			lctx, cancel = context.WithCancel(lctx)
		}
		defer cancel()
		stop := context.AfterFunc(c.bgCtx, cancel) // Close cancels the load
		defer stop()
		c.m.loads.add(1)
		vals, err := func() (vals map[string]any, err error) {
			defer func() {
				if r := recover(); r != nil {
					err = fmt.Errorf("loader panicked: %v\n%s", r, debug.Stack())
				}
			}()
			return loader(lctx, owned)
		}()
		if err != nil {
			c.m.loadErrors.add(1)
			if w.o.missingTTL > 0 && isMissing(err, w.o.missErrs) {
				for _, k := range owned {
					c.storeMissing(lctx, c.rt.match(k), k, &w)
				}
			}
		}
		finish(lctx, vals, err)
	}
	c.bgMu.Lock()
	if c.closed.Load() {
		c.bgMu.Unlock()
		finish(ctx, nil, ErrClosed)
		return
	}
	c.bg.Add(1)
	c.bgMu.Unlock()
	go func() {
		defer c.bg.Done()
		run()
	}()
}

// storeLoaded writes loaded entries back, best effort: one batch per
// backend, under the batch timeout and breaker; failures are counted and
// logged once per burst.
func (c *Cache) storeLoaded(ctx context.Context, items []backend.Item, routes []*route) {
	groups := make([][]int, len(c.rt.members))
	var active []*member
	for i, r := range routes {
		if groups[r.mem.idx] == nil {
			active = append(active, r.mem)
		}
		groups[r.mem.idx] = append(groups[r.mem.idx], i)
	}
	err := c.rt.fanOutBatch(ctx, active, func(ctx context.Context, m *member) error {
		idx := groups[m.idx]
		sub := make([]backend.Item, len(idx))
		for j, i := range idx {
			sub[j] = items[i]
		}
		err := backend.SetMany(ctx, m.b, sub)
		n := backend.Written(len(sub), err)
		if n == int64(len(sub)) {
			for _, i := range idx {
				routes[i].m.sets.add(1)
			}
		} else {
			m.routes[0].m.sets.add(n)
			m.routes[0].m.writeBackErrors.add(int64(len(sub)) - n)
		}
		return err
	})
	if err != nil {
		c.rt.def.m.errors.add(1)
		c.burst.warn("write-back", "yokedcache: could not store loaded values (best effort)", "error", err)
	}
}
