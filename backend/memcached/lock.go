package memcached

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"time"

	"github.com/bradfitz/gomemcache/memcache"

	"github.com/yokedcache/yokedcache/backend"
)

var _ backend.LoadLocker = (*Store)(nil)

// LoadLock takes key with memcached's add (which fails when the key
// exists), for at most ttl rounded up to whole seconds. The returned
// function deletes the lock when it still holds this caller's token (a
// get then a delete: a lock that expires between the two could be
// deleted although another process took it, which at worst lets one more
// load run).
func (s *Store) LoadLock(ctx context.Context, key string, ttl time.Duration) (func(context.Context) error, bool, error) {
	if err := s.check(ctx); err != nil {
		return nil, false, err
	}
	mkey := encodeKey(key)
	srv := s.sel.index(mkey)
	token := make([]byte, 16)
	_, _ = rand.Read(token)
	secs := int32((ttl + time.Second - 1) / time.Second)
	err := s.client.Add(&memcache.Item{Key: mkey, Value: token, Expiration: max(secs, 1)})
	if errors.Is(err, memcache.ErrNotStored) {
		return nil, false, nil // held by another process
	}
	if err != nil {
		return nil, false, opErr("lock", s.serverErr(srv, err))
	}
	unlock := func(ctx context.Context) error {
		if err := s.check(ctx); err != nil {
			return err
		}
		it, err := s.client.Get(mkey)
		if errors.Is(err, memcache.ErrCacheMiss) {
			return nil
		}
		if err != nil {
			return opErr("unlock", s.serverErr(srv, err))
		}
		if !bytes.Equal(it.Value, token) {
			return nil
		}
		if err := s.client.Delete(mkey); err != nil && !errors.Is(err, memcache.ErrCacheMiss) {
			return opErr("unlock", s.serverErr(srv, err))
		}
		return nil
	}
	return unlock, true, nil
}
