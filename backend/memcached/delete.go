package memcached

import (
	"context"
	"errors"
	"sync/atomic"

	"github.com/bradfitz/gomemcache/memcache"
)

// DeleteMany removes keys and returns how many held live entries. Per
// server, in parallel: one multi-get to learn which are live, then the
// deletes in sequence (gomemcache has no multi-delete). If a server
// fails, the others' keys are still deleted and the error names it.
func (s *Store) DeleteMany(ctx context.Context, keys []string) (int64, error) {
	if err := s.check(ctx); err != nil {
		return 0, err
	}
	es, locs, failed, err := s.lookupMany(keys)
	if err != nil {
		return 0, opErr("delete many", err)
	}
	perServer := make([][]int, len(s.sel.addrs))
	seen := make(map[string]struct{}, len(keys))
	for i, l := range locs {
		if _, dup := seen[l.mkey]; !dup && failed[l.srv] == nil {
			seen[l.mkey] = struct{}{}
			perServer[l.srv] = append(perServer[l.srv], i)
		}
	}
	var n atomic.Int64
	err = s.onServers(func(srv int) bool { return len(perServer[srv]) > 0 }, func(srv int) error {
		for _, i := range perServer[srv] {
			err := retry(func() error { return s.client.Delete(locs[i].mkey) })
			switch {
			case errors.Is(err, memcache.ErrCacheMiss):
			case err != nil:
				return err
			case es[i] != nil:
				n.Add(1)
			}
		}
		return nil
	})
	if err = errors.Join(s.namedErrs(failed), err); err != nil {
		s.netFailed()
		return n.Load(), opErr("delete many", err)
	}
	return n.Load(), nil
}

// Delete removes key and reports whether it held a live entry (an entry
// already invalidated by Flush, tags or expiry is removed but reported as
// absent). Two round trips: a check, then the delete.
func (s *Store) Delete(ctx context.Context, key string) (bool, error) {
	if err := s.check(ctx); err != nil {
		return false, err
	}
	e, l, err := s.lookup(key)
	if err != nil {
		var ce *corruptError
		if !errors.As(err, &ce) {
			return false, opErr("delete", err)
		}
		l, err = s.locate(key)
		if err != nil {
			return false, err
		}
	}
	err = retry(func() error { return s.client.Delete(l.mkey) })
	if errors.Is(err, memcache.ErrCacheMiss) {
		return false, nil
	}
	if err != nil {
		return false, opErr("delete", s.serverErr(l.srv, err))
	}
	return e != nil, nil
}
