package yokedcache

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/yokedcache/yokedcache/backend"
	"github.com/yokedcache/yokedcache/codec"
	"github.com/yokedcache/yokedcache/internal/envelope"
)

// Value is a stored value read by GetMany or FuzzySearch, not yet decoded.
type Value struct {
	c   *Cache
	key string
	env envelope.Envelope
}

// Decode decodes the value into dst, like Cache.Get: a dst that is not a
// non-nil pointer returns an error matching ErrInvalidValue; a value that
// does not decode into dst, one matching ErrCorrupt and ErrNotFound.
func (v Value) Decode(dst any) error {
	if err := checkDst(dst); err != nil {
		return opError("decode", v.key, err)
	}
	if err := v.c.decodeInto(v.key, v.env, dst); err != nil {
		return opError("decode", v.key, err)
	}
	return nil
}

// Tags returns the tags the entry was stored with.
func (v Value) Tags() []string { return v.env.Tags() }

// Codec returns the name of the codec that encoded the value.
func (v Value) Codec() string { return codec.NameOf(v.env.Codec) }

// getRaw reads user keys from their routes, one batch per backend, and
// returns one slot per key (nil: a miss or a failed read). Routes fail
// independently: the error joins the failed routes' errors.
func (c *Cache) getRaw(ctx context.Context, keys []string) ([][]byte, error) {
	raws := make([][]byte, len(keys))
	groups, active := c.rt.groupKeys(len(keys), func(i int) string { return keys[i] })
	err := c.rt.fanOutBatch(ctx, active, func(ctx context.Context, m *member) error {
		idx := groups[m.idx]
		sub := c.storedKeys(keys, idx)
		vals, err := backend.GetMany(ctx, m.b, sub)
		for j, i := range idx { // each member writes only its own slots
			if j < len(vals) {
				raws[i] = vals[j]
			}
		}
		return err
	})
	return raws, err
}

// GetMany reads keys in one backend round trip per route where the
// backend allows and returns the hits; misses (and values that do not
// decode) are absent from the map. When only some reads fail (with
// routes, one route's backend is down) the map still holds the hits read
// from the others, and the error says what failed; keys absent from the
// map are then misses or failed reads.
func (c *Cache) GetMany(ctx context.Context, keys []string) (_ map[string]Value, err error) {
	if c.cfg.Tracer != nil {
		var sp Span
		ctx, sp = c.startFanOut(ctx, "get_many", len(keys))
		defer func() { sp.End(outcome(err)) }()
	}
	if err := c.check(ctx); err != nil {
		return nil, opError("get_many", "", err)
	}
	for _, k := range keys {
		if err := validKey(k); err != nil {
			return nil, opError("get_many", k, err)
		}
	}
	var start time.Time
	timed := sample()
	if timed {
		start = time.Now()
	}
	raws, err := c.getRaw(ctx, keys)
	if timed {
		c.rt.def.m.lat[opGetMany].record(time.Since(start))
	}
	if err != nil {
		c.rt.def.m.errors.add(1)
		err = opError("get_many", "", err)
	}
	out := make(map[string]Value, len(keys))
	now := c.nowMs()
	for i, raw := range raws {
		r := c.rt.match(keys[i])
		if raw == nil {
			if err == nil {
				r.m.misses.add(1)
			}
			continue
		}
		env, derr := c.decodeEnvelope(keys[i], raw)
		if derr != nil || env.Negative || env.StaleAt(now) {
			r.m.misses.add(1)
			continue
		}
		r.m.hits.add(1)
		out[keys[i]] = Value{c: c, key: keys[i], env: env}
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
// backend round trip per route where the backend allows. Validation
// happens before anything is written: an invalid key or value, or tags on
// a route whose backend keeps none, writes nothing. When only some writes
// fail, Stats.Sets still counts the ones known to have succeeded.
func (c *Cache) SetMany(ctx context.Context, items map[string]any, opts ...SetOption) (err error) {
	if c.cfg.Tracer != nil {
		var sp Span
		ctx, sp = c.startFanOut(ctx, "set_many", len(items))
		defer func() { sp.End(outcome(err)) }()
	}
	if err := c.check(ctx); err != nil {
		return opError("set_many", "", err)
	}
	w, err := c.newWriteSpec(opts)
	if err != nil {
		return opError("set_many", "", err)
	}
	batch := make([]backend.Item, 0, len(items))
	routes := make([]*route, 0, len(items))
	for k, v := range items {
		if err := validKey(k); err != nil {
			return opError("set_many", k, err)
		}
		r := c.rt.match(k)
		if err := c.checkTags(r, &w); err != nil {
			return opError("set_many", k, err)
		}
		e, err := c.prepare(nil, r, k, v, &w)
		if err != nil {
			return opError("set_many", k, err)
		}
		batch = append(batch, backend.Item{Key: e.skey, Value: e.env, SetOptions: e.so})
		routes = append(routes, r)
	}
	var start time.Time
	timed := sample()
	if timed {
		start = time.Now()
	}
	groups := make([][]int, len(c.rt.members))
	var active []*member
	for i, r := range routes {
		if groups[r.mem.idx] == nil {
			active = append(active, r.mem)
		}
		groups[r.mem.idx] = append(groups[r.mem.idx], i)
	}
	var written atomic.Int64
	err = c.rt.fanOutBatch(ctx, active, func(ctx context.Context, m *member) error {
		idx := groups[m.idx]
		sub := make([]backend.Item, len(idx))
		for j, i := range idx {
			sub[j] = batch[i]
		}
		err := backend.SetMany(ctx, m.b, sub)
		n := backend.Written(len(sub), err)
		written.Add(n)
		if n == int64(len(sub)) {
			for _, i := range idx {
				routes[i].m.sets.add(1)
			}
		} else if n > 0 {
			m.routes[0].m.sets.add(n)
		}
		return err
	})
	if timed {
		c.rt.def.m.lat[opSetMany].record(time.Since(start))
	}
	if err != nil {
		c.rt.def.m.errors.add(1)
		return opError("set_many", "", err)
	}
	return nil
}

// DeleteMany removes keys and returns how many existed. When only some
// deletes fail it returns the error with the count of those that
// succeeded, which Stats.Deletes also counts.
func (c *Cache) DeleteMany(ctx context.Context, keys ...string) (_ int64, err error) {
	if c.cfg.Tracer != nil {
		var sp Span
		ctx, sp = c.startFanOut(ctx, "delete_many", len(keys))
		defer func() { sp.End(outcome(err)) }()
	}
	if err := c.check(ctx); err != nil {
		return 0, opError("delete_many", "", err)
	}
	for _, k := range keys {
		if err := validKey(k); err != nil {
			return 0, opError("delete_many", k, err)
		}
	}
	var start time.Time
	timed := sample()
	if timed {
		start = time.Now()
	}
	var total atomic.Int64
	groups, active := c.rt.groupKeys(len(keys), func(i int) string { return keys[i] })
	err = c.rt.fanOutBatch(ctx, active, func(ctx context.Context, m *member) error {
		idx := groups[m.idx]
		sub := make([]string, len(idx))
		for j, i := range idx {
			sub[j] = c.storedKey(keys[i])
		}
		n, err := backend.DeleteMany(ctx, m.b, sub)
		total.Add(n)
		m.routes[0].m.deletes.add(n)
		return err
	})
	if timed {
		c.rt.def.m.lat[opDeleteMany].record(time.Since(start))
	}
	n := total.Load()
	if err != nil {
		c.rt.def.m.errors.add(1)
		return n, opError("delete_many", "", err)
	}
	return n, nil
}
