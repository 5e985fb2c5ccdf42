package memcached

import (
	"context"
	"time"

	"github.com/yokedcache/yokedcache/backend"
)

var _ backend.TTLReader = (*Store)(nil)

// remaining is e's TTL at now: backend.NoExpiry, or > 0 (a live entry).
func remaining(e *entry, now time.Time) time.Duration {
	if e.h.expiryMs == 0 {
		return backend.NoExpiry
	}
	return max(time.Duration(e.h.expiryMs-now.UnixMilli())*time.Millisecond, time.Millisecond)
}

// GetTTL is Get that also returns the remaining TTL from the value
// header: the same round trips as Get.
func (s *Store) GetTTL(ctx context.Context, key string) ([]byte, time.Duration, error) {
	if err := s.check(ctx); err != nil {
		return nil, 0, err
	}
	e, _, err := s.lookup(key)
	if err != nil {
		return nil, 0, opErr("get", err)
	}
	if e == nil {
		return nil, 0, backend.ErrNotFound
	}
	return e.value, remaining(e, time.Now()), nil
}

// GetManyTTL is GetMany with each hit's remaining TTL.
func (s *Store) GetManyTTL(ctx context.Context, keys []string) ([][]byte, []time.Duration, error) {
	if err := s.check(ctx); err != nil {
		return nil, nil, err
	}
	es, _, failed, err := s.lookupMany(keys)
	if err == nil {
		err = s.namedErrs(failed)
	}
	if err != nil {
		return nil, nil, opErr("get many", err)
	}
	out := make([][]byte, len(keys))
	ttls := make([]time.Duration, len(keys))
	now := time.Now()
	for i, e := range es {
		if e != nil {
			out[i], ttls[i] = e.value, remaining(e, now)
		}
	}
	return out, ttls, nil
}
