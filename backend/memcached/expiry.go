package memcached

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/bradfitz/gomemcache/memcache"

	"github.com/yokedcache/yokedcache/backend"
)

// memcachedExpiry converts a TTL into memcached's expiration: whole
// seconds, rounded up plus one because memcached's clock ticks once a
// second and may expire an item up to a second early (the value header
// holds the exact expiry, which reads check); beyond 30 days an absolute
// Unix time, as the protocol requires, at most maxExpiry.
func memcachedExpiry(ttl time.Duration, now time.Time) int32 {
	if ttl == backend.NoExpiry {
		return 0
	}
	secs := int64(ttl / time.Second) // no overflow for any ttl
	if ttl%time.Second != 0 {
		secs++
	}
	secs++
	if secs <= 30*24*3600 {
		return int32(secs)
	}
	abs := now.Unix() + secs
	if abs > maxExpiry {
		return maxExpiry
	}
	return int32(abs)
}

// maxExpiry is the latest expiration memcached can store: its exptime is
// a signed 32-bit Unix time (2038-01-19T03:14:07Z).
const maxExpiry = math.MaxInt32

// maxExpiryMs is the latest exact expiry a value header records: a second
// before maxExpiry, since memcached may expire an item a second early.
// Longer TTLs are clamped to it, so that TTL reports what is stored.
const maxExpiryMs = (maxExpiry - 1) * 1000

func expiryMs(ttl time.Duration, now time.Time) int64 {
	if ttl == backend.NoExpiry {
		return 0
	}
	// time.Time.Add saturates instead of wrapping.
	return min(now.Add(ttl).UnixMilli(), maxExpiryMs)
}

// TTL returns the remaining time to live of key (millisecond precision,
// from the value header), backend.NoExpiry, or an error matching
// backend.ErrNotFound.
func (s *Store) TTL(ctx context.Context, key string) (time.Duration, error) {
	if err := s.check(ctx); err != nil {
		return 0, err
	}
	e, _, err := s.lookup(key)
	if err != nil {
		return 0, opErr("ttl", err)
	}
	if e == nil {
		return 0, backend.ErrNotFound
	}
	if e.h.expiryMs == 0 {
		return backend.NoExpiry, nil
	}
	rem := time.Duration(e.h.expiryMs-time.Now().UnixMilli()) * time.Millisecond
	if rem <= 0 {
		return 0, backend.ErrNotFound
	}
	return rem, nil
}

// Expire gives key a new TTL: it rewrites the value header with the new
// expiry and the item's memcached expiration in one compare-and-swap
// (retried if another writer changed the item meanwhile).
func (s *Store) Expire(ctx context.Context, key string, ttl time.Duration) (bool, error) {
	if err := s.check(ctx); err != nil {
		return false, err
	}
	for range 5 {
		e, l, err := s.lookup(key)
		if err != nil {
			return false, opErr("expire", err)
		}
		if e == nil {
			return false, nil
		}
		now := time.Now()
		h := e.h
		h.expiryMs = expiryMs(ttl, now)
		buf := appendHeader(make([]byte, 0, headerSize(&h)+len(e.value)), &h, e.value)
		it := &memcache.Item{
			Key: l.mkey, Value: buf, Flags: e.item.Flags,
			Expiration: memcachedExpiry(ttl, now), CasID: e.item.CasID,
		}
		err = retry(func() error { return s.client.CompareAndSwap(it) })
		switch {
		case err == nil:
			return true, nil
		case errors.Is(err, memcache.ErrCASConflict):
			if err := ctx.Err(); err != nil {
				return false, err
			}
			continue
		case errors.Is(err, memcache.ErrNotStored), errors.Is(err, memcache.ErrCacheMiss):
			return false, nil
		default:
			return false, opErr("expire", s.serverErr(l.srv, err))
		}
	}
	return false, fmt.Errorf("memcached: expire: the entry kept changing under concurrent writers: %w", memcache.ErrCASConflict)
}
