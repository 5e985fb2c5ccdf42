package redis

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/rueidis"

	"github.com/yokedcache/yokedcache/backend"
)

// GetTTL returns the value of key and its remaining time to live
// (backend.NoExpiry for an entry without expiry) in one round trip: GET
// and PTTL pipelined on one connection (same key, so same slot on
// Cluster). A key that expires between the two reads is a miss.
func (s *Store) GetTTL(ctx context.Context, key string) ([]byte, time.Duration, error) {
	if err := s.check(ctx); err != nil {
		return nil, 0, err
	}
	key = s.pyKey(key)
	res := s.cl().DoMulti(ctx,
		s.cl().B().Get().Key(key).Build(),
		s.cl().B().Pttl().Key(key).Build())
	b, err := res[0].AsBytes()
	if err != nil {
		if rueidis.IsRedisNil(err) {
			return nil, 0, backend.ErrNotFound
		}
		return nil, 0, s.wrapErr(err)
	}
	ms, err := res[1].AsInt64()
	if err != nil {
		return nil, 0, s.wrapErr(err)
	}
	ttl, ok, err := pttlDuration(ms)
	if err != nil {
		return nil, 0, err
	}
	if !ok {
		return nil, 0, backend.ErrNotFound
	}
	if s.compat {
		v, err := s.fromPython(key, valueOf(b))
		if err != nil {
			return nil, 0, err
		}
		return v, ttl, nil
	}
	return valueOf(b), ttl, nil
}

// pttlDuration maps a PTTL reply onto a TTL: ok false for a missing key
// (-2), NoExpiry for -1.
func pttlDuration(ms int64) (time.Duration, bool, error) {
	switch {
	case ms == -2:
		return 0, false, nil
	case ms == -1:
		return backend.NoExpiry, true, nil
	case ms < 0:
		return 0, false, fmt.Errorf("redis: PTTL returned %d", ms)
	case ms == 0:
		// Expires within the millisecond: still a hit, with the shortest
		// positive TTL, so that no caller mistakes it for "no TTL".
		return time.Millisecond, true, nil
	}
	return time.Duration(ms) * time.Millisecond, true, nil
}

// GetManyTTL is GetMany with the remaining TTL of each hit (0 for a
// miss), in one round trip: the MGETs of GetMany (one per hash slot on
// Cluster) and a PTTL per key, pipelined. A key whose PTTL reports it
// missing (it expired between the reads) is a miss.
func (s *Store) GetManyTTL(ctx context.Context, keys []string) ([][]byte, []time.Duration, error) {
	if err := s.check(ctx); err != nil {
		return nil, nil, err
	}
	out := make([][]byte, len(keys))
	ttls := make([]time.Duration, len(keys))
	if len(keys) == 0 {
		return out, ttls, nil
	}
	keys = s.pyKeys(keys)
	p := s.planMget(keys, 0)
	nm := len(p.cmds)
	cmds := p.cmds
	for _, k := range keys {
		cmds = append(cmds, s.cl().B().Pttl().Key(k).Build())
	}
	res := s.cl().DoMulti(ctx, cmds...)
	err := s.eachMget(p, res, func(i int, m rueidis.RedisMessage) error {
		b, err := m.AsBytes()
		if err != nil {
			return s.wrapErr(err)
		}
		ms, err := res[nm+i].AsInt64()
		if err != nil {
			return s.wrapErr(err)
		}
		ttl, ok, err := pttlDuration(ms)
		if err != nil || !ok {
			return err
		}
		v := valueOf(b)
		if s.compat {
			if v, err = s.fromPython(keys[i], v); err != nil {
				return nil // a null or a pickle is a miss, as in GetMany
			}
		}
		out[i], ttls[i] = v, ttl
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	return out, ttls, nil
}
