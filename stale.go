package yokedcache

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"time"

	"github.com/yokedcache/yokedcache/internal/envelope"
)

// errStale is a read of an entry past its soft expiry (it was written
// with WithStaleWhileRevalidate or WithStaleIfError): a miss for plain
// reads, a stale value for loads that allow it.
var errStale = fmt.Errorf("entry is past its soft expiry (stale): %w", ErrNotFound)

// errNegative is a read of a cached miss (WithMissingTTL).
var errNegative = fmt.Errorf("cached miss: %w", ErrNotFound)

// nowMs is the Cache clock's time in Unix milliseconds, the unit of the
// envelope's soft expiry.
func (c *Cache) nowMs() int64 { return c.cfg.Clock.Now().UnixMilli() }

// checkSoft classifies a decoded envelope that records a miss or has a
// soft expiry, counting the read. A stale envelope is returned with an
// error matching errStale when allowStale is set.
func (c *Cache) checkSoft(r *route, op, key string, env envelope.Envelope, allowStale bool) (envelope.Envelope, error) {
	if env.Negative {
		r.m.misses.add(1)
		r.m.negativeHits.add(1)
		return envelope.Envelope{}, opError(op, key, errNegative)
	}
	if env.StaleAt(c.nowMs()) {
		r.m.misses.add(1)
		if allowStale {
			return env, opError(op, key, errStale)
		}
		return envelope.Envelope{}, opError(op, key, errStale)
	}
	r.m.hits.add(1)
	return env, nil
}

// readFailure reports whether a read error is the backend failing (as
// opposed to a miss, a closed Cache, an invalid key or the caller's own
// context ending): a fail-open load then runs the loader anyway.
func (c *Cache) readFailure(ctx context.Context, err error) bool {
	if errors.Is(err, ErrNotFound) || errors.Is(err, ErrClosed) || errors.Is(err, ErrInvalidKey) || ctx.Err() != nil {
		return false
	}
	return true
}

// staleAge is how long ago env went stale.
func staleAge(c *Cache, env envelope.Envelope) time.Duration {
	return time.Duration(c.nowMs()-env.FreshUntil) * time.Millisecond
}

// refresh starts a background load of key (stale-while-revalidate) unless
// one is already running in this process. It never blocks the caller.
// force is set for an early refresh of a fresh entry (WithEarlyRefresh).
func (c *Cache) refresh(ctx context.Context, key string, loader func(context.Context) (any, error), fits fitsFunc, w writeSpec, force bool) {
	c.bgMu.Lock()
	if c.closed.Load() {
		c.bgMu.Unlock()
		return
	}
	c.bg.Add(1)
	c.bgMu.Unlock()
	r := c.rt.match(key)
	bound := c.cfg.LoaderTimeout
	if bound <= 0 {
		bound = max(c.cfg.OperationTimeout, 0)
	}
	ch := c.sf.DoChan(c.storedKey(key), func() (any, error) {
		r.m.refreshes.add(1) // a refresh already running is joined, not counted
		lctx := context.WithoutCancel(ctx)
		var cancel context.CancelFunc
		if bound > 0 {
			lctx, cancel = context.WithTimeout(lctx, bound)
		} else {
			lctx, cancel = context.WithCancel(lctx)
		}
		defer cancel()
		stop := context.AfterFunc(c.bgCtx, cancel) // Close stops refreshes
		defer stop()
		mode := loadMiss
		if force {
			mode = loadForce
		}
		return c.runLoad(lctx, r, key, loader, fits, &w, mode)
	})
	go func() {
		defer c.bg.Done()
		<-ch
	}()
}

// refreshEarly decides an XFetch early refresh of a fresh entry:
// now − loadTime·beta·ln(rand) ≥ freshUntil.
func (c *Cache) refreshEarly(env envelope.Envelope, beta float64) bool {
	if env.FreshUntil == 0 {
		return false
	}
	u := c.random()
	if u <= 0 {
		u = math.SmallestNonzeroFloat64
	}
	delta := float64(max(env.LoadMs, 1))
	return float64(c.nowMs())-delta*beta*math.Log(u) >= float64(env.FreshUntil)
}

// random returns a uniform float in [0, 1) from Config.Rand, or
// math/rand/v2.
func (c *Cache) random() float64 {
	if c.cfg.Rand != nil {
		return c.cfg.Rand()
	}
	return rand.Float64()
}
