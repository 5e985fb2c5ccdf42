package yokedcache

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/yokedcache/yokedcache/backend"
	"github.com/yokedcache/yokedcache/codec"
	"github.com/yokedcache/yokedcache/internal/glob"
)

// fallbackConcurrency bounds the goroutines used to emulate a batch on a
// backend without the batch capability.
const fallbackConcurrency = 16

// batchChunk is how many keys one backend batch call carries when the Cache
// splits work (pattern deletes, fuzzy value reads).
const batchChunk = 500

// Value is a stored value read by GetMany or FuzzySearch, not yet decoded.
type Value struct {
	c   *Cache
	key string
	env codec.Envelope
}

// Decode decodes the value into dst, like Cache.Get: a dst that is not a
// non-nil pointer returns an error matching ErrInvalidValue; a value that
// does not decode into dst, one matching ErrCorrupt and ErrNotFound.
func (v Value) Decode(dst any) error {
	if err := checkDst(dst); err != nil {
		return &Error{Op: "decode", Key: v.key, Err: err}
	}
	if err := v.c.decodeInto(v.key, v.env, dst); err != nil {
		return &Error{Op: "decode", Key: v.key, Err: err}
	}
	return nil
}

// Tags returns the tags the entry was stored with.
func (v Value) Tags() []string { return v.env.Tags() }

// Codec returns the name of the codec that encoded the value.
func (v Value) Codec() string { return codec.NameOf(v.env.Codec) }

// getRaw reads many stored keys, returning one slot per key (nil: miss).
func (c *Cache) getRaw(ctx context.Context, skeys []string) ([][]byte, error) {
	if c.bg != nil {
		return c.bg.GetMany(ctx, skeys)
	}
	out := make([][]byte, len(skeys))
	err := forEachBounded(ctx, len(skeys), func(i int) error {
		v, err := c.b.Get(ctx, skeys[i])
		if err != nil {
			if errors.Is(err, ErrNotFound) {
				return nil
			}
			return err
		}
		out[i] = v
		return nil
	})
	return out, err
}

// forEachBounded runs f for 0..n-1 with at most fallbackConcurrency
// goroutines and returns the first error.
func forEachBounded(ctx context.Context, n int, f func(i int) error) error {
	if n == 1 {
		return f(0)
	}
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
		sem   = make(chan struct{}, fallbackConcurrency)
	)
	for i := 0; i < n; i++ {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			wg.Wait()
			return ctx.Err()
		}
		wg.Add(1)
		go func(i int) {
			defer func() { <-sem; wg.Done() }()
			if err := f(i); err != nil {
				mu.Lock()
				if first == nil {
					first = err
				}
				mu.Unlock()
			}
		}(i)
	}
	wg.Wait()
	return first
}

// GetMany reads keys in one backend round trip where the backend allows
// and returns the hits; misses (and values that do not decode) are absent
// from the map. When only some reads fail (with per-prefix routing, one
// route's backend is down) the map still holds the hits read from the
// others, and the error says what failed; keys absent from the map are
// then misses or failed reads.
func (c *Cache) GetMany(ctx context.Context, keys []string) (map[string]Value, error) {
	if err := c.check(ctx); err != nil {
		return nil, &Error{Op: "get_many", Err: err}
	}
	skeys := make([]string, len(keys))
	for i, k := range keys {
		if err := validKey(k); err != nil {
			return nil, &Error{Op: "get_many", Key: k, Err: err}
		}
		skeys[i] = c.storedKey(k)
	}
	var start time.Time
	timed := sample()
	if timed {
		start = time.Now()
	}
	raws, err := c.getRaw(ctx, skeys)
	if timed {
		c.m.lat[opGetMany].record(time.Since(start))
	}
	if err != nil {
		c.m.errors.add(1)
		err = &Error{Op: "get_many", Err: err}
		if len(raws) != len(keys) {
			return nil, err
		}
	}
	out := make(map[string]Value, len(keys))
	var hits, misses int64
	for i, raw := range raws {
		if raw == nil {
			misses++
			continue
		}
		env, err := c.decodeEnvelope(keys[i], raw)
		if err != nil {
			misses++
			continue
		}
		hits++
		out[keys[i]] = Value{c: c, key: keys[i], env: env}
	}
	c.m.hits.add(hits)
	if err == nil {
		c.m.misses.add(misses)
	}
	return out, err
}

// GetMany is the generic form of Cache.GetMany: it decodes every hit into
// a T. A hit that does not decode into T is left out and counted as
// corrupt. Partial failures are reported as Cache.GetMany reports them.
func GetMany[T any](ctx context.Context, c *Cache, keys []string) (map[string]T, error) {
	vals, err := c.GetMany(ctx, keys)
	if vals == nil {
		return nil, err
	}
	out := make(map[string]T, len(vals))
	for k, v := range vals {
		var t T
		if v.Decode(&t) != nil {
			continue
		}
		out[k] = t
	}
	return out, err
}

// SetMany stores every entry of items with the same options, in one
// backend round trip where the backend allows. Validation happens before
// anything is written: an invalid key or value writes nothing. When only
// some writes fail, Stats.Sets still counts the ones known to have
// succeeded (a backend batch reports them with a *backend.PartialError).
func (c *Cache) SetMany(ctx context.Context, items map[string]any, opts ...SetOption) error {
	if err := c.check(ctx); err != nil {
		return &Error{Op: "set_many", Err: err}
	}
	w, err := c.newWriteSpec(opts)
	if err != nil {
		return &Error{Op: "set_many", Err: err}
	}
	batch := make([]backend.Item, 0, len(items))
	for k, v := range items {
		if err := validKey(k); err != nil {
			return &Error{Op: "set_many", Key: k, Err: err}
		}
		e, err := c.prepare(nil, k, v, &w)
		if err != nil {
			return &Error{Op: "set_many", Key: k, Err: err}
		}
		batch = append(batch, backend.Item{Key: e.skey, Value: e.env, SetOptions: e.so})
	}
	var start time.Time
	timed := sample()
	if timed {
		start = time.Now()
	}

	var written int64
	if c.bs != nil {
		err = c.bs.SetMany(ctx, batch)
		if err == nil {
			written = int64(len(batch))
		} else if pe, ok := errors.AsType[*backend.PartialError](err); ok {
			written = pe.Done
		}
	} else {
		var n atomic.Int64
		err = forEachBounded(ctx, len(batch), func(i int) error {
			err := c.b.Set(ctx, batch[i].Key, batch[i].Value, batch[i].SetOptions)
			if err == nil {
				n.Add(1)
			}
			return err
		})
		written = n.Load()
	}
	if timed {
		c.m.lat[opSetMany].record(time.Since(start))
	}
	c.m.sets.add(written)
	if err != nil {
		c.m.errors.add(1)
		return &Error{Op: "set_many", Err: err}
	}
	return nil
}

// DeleteMany removes keys and returns how many existed. When only some
// deletes fail it returns the error with the count of those that
// succeeded, which Stats.Deletes also counts.
func (c *Cache) DeleteMany(ctx context.Context, keys ...string) (int64, error) {
	if err := c.check(ctx); err != nil {
		return 0, &Error{Op: "delete_many", Err: err}
	}
	skeys := make([]string, len(keys))
	for i, k := range keys {
		if err := validKey(k); err != nil {
			return 0, &Error{Op: "delete_many", Key: k, Err: err}
		}
		skeys[i] = c.storedKey(k)
	}
	var start time.Time
	timed := sample()
	if timed {
		start = time.Now()
	}
	n, err := c.deleteStored(ctx, skeys)
	if timed {
		c.m.lat[opDeleteMany].record(time.Since(start))
	}
	c.m.deletes.add(n)
	if err != nil {
		c.m.errors.add(1)
		return n, &Error{Op: "delete_many", Err: err}
	}
	return n, nil
}

func (c *Cache) deleteStored(ctx context.Context, skeys []string) (int64, error) {
	if len(skeys) == 0 {
		return 0, nil
	}
	if c.bd != nil {
		return c.bd.DeleteMany(ctx, skeys)
	}
	var mu sync.Mutex
	var n int64
	err := forEachBounded(ctx, len(skeys), func(i int) error {
		ok, err := c.b.Delete(ctx, skeys[i])
		if ok {
			mu.Lock()
			n++
			mu.Unlock()
		}
		return err
	})
	return n, err
}

// InvalidateTags makes every entry carrying any of tags a miss, for every
// process sharing the backend, before it returns. It returns how many
// entries were invalidated, or -1 when the backend cannot know (tag
// versions on Memcached).
func (c *Cache) InvalidateTags(ctx context.Context, tags ...string) (int64, error) {
	if err := c.check(ctx); err != nil {
		return 0, &Error{Op: "invalidate_tags", Err: err}
	}
	tags, err := validTags(tags)
	if err != nil {
		return 0, &Error{Op: "invalidate_tags", Err: err}
	}
	if c.tg == nil {
		return 0, &Error{Op: "invalidate_tags", Err: backend.Unsupported(backend.Name(c.b), "tags", "the backend does not keep tags")}
	}
	if len(tags) == 0 {
		return 0, nil
	}
	ids := make([]string, len(tags))
	for i, t := range tags {
		ids[i] = c.tagID(t)
	}
	start := time.Now()
	n, err := c.tg.InvalidateTags(ctx, ids)
	c.m.lat[opInvalidate].record(time.Since(start))
	if n > 0 {
		c.m.invalidations.add(n)
	}
	if err != nil {
		c.m.errors.add(1)
		return n, &Error{Op: "invalidate_tags", Err: err}
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
		return nil, "", fmt.Errorf("pattern %q: %v: %w", pattern, err, ErrInvalidKey)
	}
	return p, glob.Escape(c.prefix) + pattern, nil
}

// Keys streams the user keys matching the glob pattern (see "Patterns" in
// the package documentation; "" or "*" lists every key). Keys are read from the backend in
// chunks, never all at once. Iteration stops at the first error, which is
// yielded with an empty key. Backends that cannot list keys (Memcached)
// yield an error matching ErrUnsupported.
func (c *Cache) Keys(ctx context.Context, pattern string) iter.Seq2[string, error] {
	return func(yield func(string, error) bool) {
		if err := c.check(ctx); err != nil {
			yield("", &Error{Op: "keys", Err: err})
			return
		}
		p, spat, err := c.compilePattern(pattern)
		if err != nil {
			yield("", &Error{Op: "keys", Err: err})
			return
		}
		if c.sc == nil {
			yield("", &Error{Op: "keys", Err: backend.Unsupported(backend.Name(c.b), "key listing", "the backend cannot enumerate keys")})
			return
		}
		for skey, err := range c.sc.Scan(ctx, spat) {
			if err != nil {
				c.m.errors.add(1)
				yield("", &Error{Op: "keys", Err: err})
				return
			}
			k, ok := c.userKey(skey)
			if !ok || !p.Match(k) {
				continue
			}
			if !yield(k, nil) {
				return
			}
		}
	}
}

// InvalidatePattern deletes every key matching the glob pattern (see
// "Patterns" in the package documentation) and returns how many it
// deleted.
func (c *Cache) InvalidatePattern(ctx context.Context, pattern string) (int64, error) {
	if err := c.check(ctx); err != nil {
		return 0, &Error{Op: "invalidate_pattern", Err: err}
	}
	p, spat, err := c.compilePattern(pattern)
	if err != nil {
		return 0, &Error{Op: "invalidate_pattern", Err: err}
	}
	var n int64
	start := time.Now()
	switch {
	case c.pd != nil:
		n, err = c.pd.DeletePattern(ctx, spat)
		c.m.lat[opInvalidate].record(time.Since(start))
	case c.sc != nil:
		n, err = c.deleteScanned(ctx, spat, p)
		c.m.lat[opInvalidate].record(time.Since(start))
	default:
		err = backend.Unsupported(backend.Name(c.b), "pattern invalidation", "the backend cannot enumerate keys")
	}
	if n > 0 {
		c.m.invalidations.add(n)
	}
	if err != nil {
		c.m.errors.add(1)
		return n, &Error{Op: "invalidate_pattern", Err: err}
	}
	return n, nil
}

func (c *Cache) deleteScanned(ctx context.Context, spat string, p *glob.Pattern) (int64, error) {
	var total int64
	batch := make([]string, 0, batchChunk)
	flush := func() error {
		n, err := c.deleteStored(ctx, batch)
		total += n
		batch = batch[:0]
		return err
	}
	for skey, err := range c.sc.Scan(ctx, spat) {
		if err != nil {
			return total, err
		}
		k, ok := c.userKey(skey)
		if !ok || !p.Match(k) {
			continue
		}
		batch = append(batch, skey)
		if len(batch) == batchChunk {
			if err := flush(); err != nil {
				return total, err
			}
		}
	}
	return total, flush()
}

// Flush removes every entry of this cache (its key prefix) and the tag
// bookkeeping for them. Other prefixes sharing the backend are untouched;
// yokedcache never runs FLUSHDB or flush_all.
func (c *Cache) Flush(ctx context.Context) error {
	if err := c.check(ctx); err != nil {
		return &Error{Op: "flush", Err: err}
	}
	var err error
	switch {
	case c.fl != nil:
		err = c.fl.Flush(ctx, c.prefix)
	case c.sc != nil || c.pd != nil:
		_, err = c.InvalidatePattern(ctx, "*")
	default:
		err = backend.Unsupported(backend.Name(c.b), "flush", "the backend can neither flush a prefix nor enumerate keys")
	}
	if err != nil {
		c.m.errors.add(1)
		return wrap("flush", "", err)
	}
	return nil
}

// KeyInfo describes one key for listings.
type KeyInfo struct {
	Key string
	// TTL is the remaining time to live, NoExpiry, or 0 when unknown.
	TTL  time.Duration
	Tags []string
}

// statsOf reads the backend's stats.
func (c *Cache) backendStats(ctx context.Context) (backend.Stats, error) {
	if s, ok := c.b.(backend.Stater); ok {
		return s.Stats(ctx, c.prefix)
	}
	return backend.Stats{Keys: -1, Bytes: -1, Scope: "unknown"}, nil
}

// Stats returns this Cache's counters and what the backend reports about
// its keys (see Stats for what each number covers).
func (c *Cache) Stats(ctx context.Context) (Stats, error) {
	s := c.m.snapshot()
	s.Backend = backend.Name(c.b)
	if err := c.check(ctx); err != nil {
		return s, &Error{Op: "stats", Err: err}
	}
	bs, err := c.backendStats(ctx)
	if err != nil {
		return s, &Error{Op: "stats", Err: err}
	}
	s.Keys, s.Bytes, s.Evictions, s.Expirations, s.Scope, s.Extra = bs.Keys, bs.Bytes, bs.Evictions, bs.Expirations, bs.Scope, bs.Extra
	return s, nil
}

// Ping checks that the backend is reachable and answering.
func (c *Cache) Ping(ctx context.Context) error {
	if err := c.check(ctx); err != nil {
		return &Error{Op: "ping", Err: err}
	}
	if p, ok := c.b.(backend.Pinger); ok {
		return wrap("ping", "", p.Ping(ctx))
	}
	_, err := c.b.Get(ctx, c.prefix+"\xffping")
	if err != nil && !errors.Is(err, ErrNotFound) {
		return wrap("ping", "", err)
	}
	return nil
}

// Health is a cheap liveness check: Ping succeeded.
func (c *Cache) Health(ctx context.Context) bool { return c.Ping(ctx) == nil }

// HealthReport is the result of DetailedHealthCheck.
type HealthReport struct {
	// Status is "healthy", "degraded" or "unhealthy".
	Status  string         `json:"status"`
	Backend string         `json:"backend"`
	Latency time.Duration  `json:"latency_ns"`
	Stats   Stats          `json:"stats"`
	Details map[string]any `json:"details,omitempty"`
	// Warnings make the status "degraded"; Errors make it "unhealthy".
	Warnings []string  `json:"warnings,omitempty"`
	Errors   []string  `json:"errors,omitempty"`
	Checked  time.Time `json:"checked"`
}

// DetailedHealthCheck probes the backend (Ping, then a write/read/delete
// of an internal key) and reports status, latency, counters and the
// backend's own details (Redis: redis_connected, connection_pool, ...).
func (c *Cache) DetailedHealthCheck(ctx context.Context) HealthReport {
	r := HealthReport{Backend: backend.Name(c.b), Checked: time.Now(), Details: map[string]any{}}
	if c.closed.Load() {
		r.Status = "unhealthy"
		r.Errors = append(r.Errors, ErrClosed.Error())
		return r
	}
	start := time.Now()
	if err := c.Ping(ctx); err != nil {
		r.Errors = append(r.Errors, err.Error())
	} else if err := c.probe(ctx); err != nil {
		r.Errors = append(r.Errors, err.Error())
	}
	r.Latency = time.Since(start)
	if h, ok := c.b.(backend.HealthChecker); ok {
		d, err := h.HealthDetails(ctx)
		if err != nil {
			r.Errors = append(r.Errors, err.Error())
		}
		for k, v := range d.Details {
			r.Details[k] = v
		}
		r.Warnings = append(r.Warnings, d.Warnings...)
		if d.Status == "unhealthy" && len(r.Errors) == 0 {
			r.Errors = append(r.Errors, "backend reports unhealthy")
		} else if d.Status == "degraded" && len(r.Warnings) == 0 {
			r.Warnings = append(r.Warnings, "backend reports degraded")
		}
	}
	if len(r.Errors) == 0 {
		st, err := c.Stats(ctx)
		if err != nil {
			r.Warnings = append(r.Warnings, "stats: "+err.Error())
		}
		r.Stats = st
	} else {
		r.Stats = c.m.snapshot()
		r.Stats.Backend = r.Backend
	}
	switch {
	case len(r.Errors) > 0:
		r.Status = "unhealthy"
	case len(r.Warnings) > 0:
		r.Status = "degraded"
	default:
		r.Status = "healthy"
	}
	return r
}

// probe writes, reads and deletes an internal key.
func (c *Cache) probe(ctx context.Context) error {
	key := c.prefix + "\xffhealth"
	env, err := codec.Encode(codec.IDString, []byte("ok"), nil, codec.EncodeOptions{Threshold: -1})
	if err != nil {
		return err
	}
	if err := c.b.Set(ctx, key, env, backend.SetOptions{TTL: 10 * time.Second}); err != nil {
		return fmt.Errorf("health probe write: %w", err)
	}
	if _, err := c.b.Get(ctx, key); err != nil {
		return fmt.Errorf("health probe read: %w", err)
	}
	if _, err := c.b.Delete(ctx, key); err != nil {
		return fmt.Errorf("health probe delete: %w", err)
	}
	return nil
}

// sortResults orders fuzzy results best first, then by key.
func sortResults(rs []SearchResult) {
	sort.Slice(rs, func(i, j int) bool {
		if rs[i].Score != rs[j].Score {
			return rs[i].Score > rs[j].Score
		}
		return rs[i].Key < rs[j].Key
	})
}
