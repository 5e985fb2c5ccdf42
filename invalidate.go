package yokedcache

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"sync/atomic"
	"time"

	"github.com/yokedcache/yokedcache/backend"
	"github.com/yokedcache/yokedcache/internal/glob"
)

// InvalidateTags makes every entry carrying any of tags a miss, for every
// process sharing the backend, before it returns. It returns how many
// entries were invalidated, or -1 when a backend cannot know (tag
// versions on Memcached). With routes it reaches every backend that keeps
// tags (one that keeps none holds no tagged entry).
func (c *Cache) InvalidateTags(ctx context.Context, tags ...string) (_ int64, err error) {
	if c.cfg.Tracer != nil {
		var sp Span
		ctx, sp = c.startFanOut(ctx, "invalidate_tags", len(tags))
		defer func() { sp.End(outcome(err)) }()
	}
	if err := c.check(ctx); err != nil {
		return 0, opError("invalidate_tags", "", err)
	}
	tags, err = validTags(tags)
	if err != nil {
		return 0, opError("invalidate_tags", "", err)
	}
	var taggers []*member
	for _, m := range c.rt.members {
		if m.tg != nil {
			taggers = append(taggers, m)
		}
	}
	if len(taggers) == 0 {
		return 0, opError("invalidate_tags", "", c.rt.fail(c.rt.def, backend.Unsupported(c.rt.def.mem.name, "tags", "the backend does not keep tags")))
	}
	if len(tags) == 0 {
		return 0, nil
	}
	ids := make([]string, len(tags))
	for i, t := range tags {
		ids[i] = c.tagID(t)
	}
	start := time.Now()
	var total atomic.Int64
	var unknown atomic.Bool
	err = c.rt.fanOutKind(ctx, kindStream, taggers, func(ctx context.Context, m *member) error {
		n, err := m.tg.InvalidateTags(ctx, ids)
		if n < 0 {
			unknown.Store(true)
		} else {
			total.Add(n)
		}
		return err
	})
	c.rt.def.m.lat[opInvalidate].record(time.Since(start))
	n := total.Load()
	c.m.invalidations.add(n)
	if unknown.Load() {
		n = -1
	}
	if err != nil {
		c.rt.def.m.errors.add(1)
		return n, opError("invalidate_tags", "", err)
	}
	return n, nil
}

// compilePattern compiles a user glob and the stored-key glob for it.
func (c *Cache) compilePattern(pattern string) (*glob.Pattern, string, error) {
	if pattern == "" {
		pattern = "*"
	}
	p, err := glob.Compile(pattern)
	if err != nil {
		return nil, "", fmt.Errorf("pattern %q: %v: %w", shortKey(pattern), err, ErrInvalidKey)
	}
	return p, glob.Escape(c.prefix) + pattern, nil
}

// Keys streams the user keys matching the glob pattern (see "Patterns" in
// the package documentation; "" or "*" lists every key). Keys are read
// from the backend in chunks, never all at once. With routes, only the
// backends whose routes can hold matching keys are read, and each yields
// only the keys that route to it. Iteration stops at the first error,
// which is yielded with an empty key; routes that fail or cannot list
// keys (Memcached: ErrUnsupported) are reported after the other routes'
// keys.
func (c *Cache) Keys(ctx context.Context, pattern string) iter.Seq2[string, error] {
	return func(yield func(string, error) bool) {
		if err := c.check(ctx); err != nil {
			yield("", opError("keys", "", err))
			return
		}
		p, spat, err := c.compilePattern(pattern)
		if err != nil {
			yield("", opError("keys", "", err))
			return
		}
		var errs []error
		for _, m := range c.rt.candidates(p.Prefix()) {
			if m.sc == nil {
				errs = append(errs, c.rt.failMember(m, backend.Unsupported(m.name, "key listing", "the backend cannot enumerate keys")))
				continue
			}
			sctx, cl, err := m.enter(ctx, kindStream)
			if err != nil {
				m.routes[0].m.errors.add(1)
				errs = append(errs, c.rt.failMember(m, err))
				continue
			}
			var scanErr error
			for skey, err := range m.sc.Scan(sctx, spat) {
				if err != nil {
					scanErr = err
					m.routes[0].m.errors.add(1)
					errs = append(errs, c.rt.failMember(m, err))
					break
				}
				k, ok := c.userKey(skey)
				if !ok || !p.Match(k) || c.rt.match(k).mem != m {
					continue
				}
				if !yield(k, nil) {
					cl.exit(nil)
					return
				}
			}
			cl.exit(scanErr)
			if ctx.Err() != nil {
				break
			}
		}
		if err := errors.Join(errs...); err != nil {
			yield("", opError("keys", "", err))
		}
	}
}

// InvalidatePattern deletes every key matching the glob pattern (see
// "Patterns" in the package documentation) and returns how many it
// deleted. With routes it reaches only the backends whose routes can hold
// matching keys.
func (c *Cache) InvalidatePattern(ctx context.Context, pattern string) (_ int64, err error) {
	if c.cfg.Tracer != nil {
		var sp Span
		ctx, sp = c.startFanOut(ctx, "invalidate_pattern", 0)
		defer func() { sp.End(outcome(err)) }()
	}
	if err := c.check(ctx); err != nil {
		return 0, opError("invalidate_pattern", "", err)
	}
	p, spat, err := c.compilePattern(pattern)
	if err != nil {
		return 0, opError("invalidate_pattern", "", err)
	}
	start := time.Now()
	var total atomic.Int64
	err = c.rt.fanOutKind(ctx, kindStream, c.rt.candidates(p.Prefix()), func(ctx context.Context, m *member) error {
		n, err := backend.DeletePattern(ctx, m.b, spat)
		total.Add(n)
		return err
	})
	c.rt.def.m.lat[opInvalidate].record(time.Since(start))
	n := total.Load()
	c.m.invalidations.add(n)
	if err != nil {
		c.rt.def.m.errors.add(1)
		return n, opError("invalidate_pattern", "", err)
	}
	return n, nil
}

// Flush removes every entry of this cache (its key prefix), on every
// route, and the tag bookkeeping for them. Other prefixes sharing a
// backend are untouched; yokedcache never runs FLUSHDB or flush_all.
func (c *Cache) Flush(ctx context.Context) (err error) {
	if c.cfg.Tracer != nil {
		var sp Span
		ctx, sp = c.startFanOut(ctx, "flush", 0)
		defer func() { sp.End(outcome(err)) }()
	}
	if err := c.check(ctx); err != nil {
		return opError("flush", "", err)
	}
	err = c.rt.fanOutKind(ctx, kindStream, c.rt.members, func(ctx context.Context, m *member) error {
		return backend.Flush(ctx, m.b, c.prefix)
	})
	if err != nil {
		c.rt.def.m.errors.add(1)
		return opError("flush", "", err)
	}
	return nil
}
