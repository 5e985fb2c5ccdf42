package memcached

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/bradfitz/gomemcache/memcache"

	"github.com/yokedcache/yokedcache/backend"
)

// entry is a live entry read from the server.
type entry struct {
	h     header
	value []byte
	item  *memcache.Item
}

// lookup reads key and checks it: hashed key matches, not expired,
// namespace version current, tag versions current. It returns nil for a
// miss.
func (s *Store) lookup(key string) (*entry, loc, error) {
	l, err := s.locate(key)
	if err != nil {
		return nil, l, err
	}
	now := time.Now()
	var e *entry
	fast := false
	from := mono()
	if v, ok := s.cachedNamespace(l.nsKey, from, s.opts.ReadNamespaceTTL); ok {
		// Trust the remembered namespace version: one single-key get.
		var it *memcache.Item
		err := retry(func() (err error) {
			it, err = s.client.Get(l.mkey)
			return err
		})
		if errors.Is(err, memcache.ErrCacheMiss) {
			return nil, l, nil
		}
		if err != nil {
			return nil, l, s.serverErr(l.srv, err)
		}
		if e, err = s.validate(key, l, it, v, true, now); err != nil {
			return nil, l, err
		}
		// A value under another version may be newer than what this
		// Store remembers: check it the strict way.
		fast = e != nil
	}
	if !fast {
		var items map[string]*memcache.Item
		from = mono()
		err = retry(func() (err error) {
			items, err = s.client.GetMulti([]string{l.mkey, l.nsKey})
			return err
		})
		if err != nil {
			return nil, l, s.serverErr(l.srv, err)
		}
		nsv, nsOK := s.namespaceItem(l.nsKey, items[l.nsKey], from)
		if e, err = s.validate(key, l, items[l.mkey], nsv, nsOK, now); err != nil {
			return nil, l, err
		}
	}
	if e == nil {
		return nil, l, nil
	}
	if len(e.h.tags) > 0 {
		ok, failed, err := s.checkTags([]*entry{e}, []int{l.srv})
		if err != nil {
			return nil, l, err
		}
		if failed[l.srv] != nil {
			return nil, l, s.serverErr(l.srv, failed[l.srv])
		}
		if !ok[0] {
			return nil, l, nil
		}
	}
	return e, l, nil
}

// namespaceItem parses a namespace counter read from the server by a read
// that began at from (a mono() instant) and records it for Set (and
// reads, with ReadNamespaceTTL).
func (s *Store) namespaceItem(nsKey string, ns *memcache.Item, from int64) (uint64, bool) {
	if ns != nil {
		if v, ok := parseVersion(ns.Value); ok {
			s.noteNamespace(nsKey, v, from, mono())
			return v, true
		}
	}
	// The counter is gone (evicted, server restarted): entries that
	// recorded it are misses, and Set must create a new one.
	s.forgetNamespace(nsKey)
	return 0, false
}

// validate checks everything but the tags of one item against the
// namespace version nsv (nsOK false: the counter is missing).
func (s *Store) validate(key string, l loc, it *memcache.Item, nsv uint64, nsOK bool, now time.Time) (*entry, error) {
	if it == nil {
		return nil, nil
	}
	h, val, err := parseHeader(it.Value)
	if err != nil {
		return nil, &corruptError{fmt.Errorf("memcached: value under %q: %w", l.mkey, err)}
	}
	if h.hasKey != isHashed(l.mkey) || (h.hasKey && h.fullKey != key) {
		return nil, nil // another key (or a foreign writer) under the same name
	}
	if h.expiryMs != 0 && now.UnixMilli() >= h.expiryMs {
		return nil, nil
	}
	if !nsOK || nsv != h.nsVersion {
		return nil, nil // flushed, or the counter is gone and the entry cannot be proven current
	}
	return &entry{h: h, value: val, item: it}, nil
}

// checkTags reads the tag versions of entries (on each entry's server),
// one multi-get per server, the servers in parallel, and reports, per
// entry, whether all its tags are current. A missing counter is a
// mismatch. failed[srv] is the error of a server whose versions could not
// be read; its entries are reported false.
func (s *Store) checkTags(es []*entry, srvs []int) (ok []bool, failed []error, err error) {
	keys := make([][]string, len(s.sel.addrs))
	idx := make(map[string]struct{})
	tk := make([][]string, len(es))
	for i, e := range es {
		if e == nil {
			continue
		}
		tk[i] = make([]string, len(e.h.tags))
		for j, t := range e.h.tags {
			ks, err := s.versionKeys(kindTag, t.tag)
			if err != nil {
				return nil, nil, err
			}
			k := ks[srvs[i]]
			tk[i][j] = k
			if _, dup := idx[k]; !dup {
				idx[k] = struct{}{}
				keys[srvs[i]] = append(keys[srvs[i]], k)
			}
		}
	}
	items, failed := s.getMulti(keys)
	ok = make([]bool, len(es))
	for i, e := range es {
		if e == nil || failed[srvs[i]] != nil {
			continue
		}
		ok[i] = true
		for j, t := range e.h.tags {
			it := items[tk[i][j]]
			if it == nil {
				ok[i] = false
				break
			}
			if v, good := parseVersion(it.Value); !good || v != t.version {
				ok[i] = false
				break
			}
		}
	}
	return ok, failed, nil
}

// getMulti reads keys[srv] from each server srv with one multi-get, the
// servers in parallel. failed[srv] is the error of a server that failed,
// unnamed; the items of the others are returned.
func (s *Store) getMulti(keys [][]string) (map[string]*memcache.Item, []error) {
	failed := make([]error, len(s.sel.addrs))
	var mu sync.Mutex
	var out map[string]*memcache.Item
	run := func(srv int) {
		var items map[string]*memcache.Item
		err := retry(func() (err error) {
			items, err = s.client.GetMulti(keys[srv])
			return err
		})
		if err != nil {
			failed[srv] = err
			return
		}
		mu.Lock()
		if out == nil {
			out = items
		} else {
			for k, it := range items {
				out[k] = it
			}
		}
		mu.Unlock()
	}
	var wg sync.WaitGroup
	first := -1
	for srv, ks := range keys {
		if len(ks) == 0 {
			continue
		}
		if first < 0 {
			first = srv // run on this goroutine, after starting the others
			continue
		}
		wg.Go(func() { run(srv) })
	}
	if first >= 0 {
		run(first)
	}
	wg.Wait()
	return out, failed
}

// Get returns the value stored under key, or an error matching
// backend.ErrNotFound. One round trip (value and namespace version in one
// multi-get); tagged entries take a second one for their tag versions.
func (s *Store) Get(ctx context.Context, key string) ([]byte, error) {
	if err := s.check(ctx); err != nil {
		return nil, err
	}
	e, _, err := s.lookup(key)
	if err != nil {
		return nil, opErr("get", err)
	}
	if e == nil {
		return nil, backend.ErrNotFound
	}
	return e.value, nil
}

// GetMany reads keys with one multi-get per server (values and namespace
// versions, the servers in parallel) plus one per server for the tag
// versions of tagged entries. If any server involved fails, it returns
// the error, naming the server.
func (s *Store) GetMany(ctx context.Context, keys []string) ([][]byte, error) {
	if err := s.check(ctx); err != nil {
		return nil, err
	}
	es, _, failed, err := s.lookupMany(keys)
	if err == nil {
		err = s.namedErrs(failed)
	}
	if err != nil {
		return nil, opErr("get many", err)
	}
	out := make([][]byte, len(keys))
	for i, e := range es {
		if e != nil {
			out[i] = e.value
		}
	}
	return out, nil
}

// namedErrs joins per-server errors, each naming its server.
func (s *Store) namedErrs(errs []error) error {
	var named []error
	for srv, err := range errs {
		if err != nil {
			named = append(named, fmt.Errorf("server %s: %w", s.sel.addrs[srv], err))
		}
	}
	return errors.Join(named...)
}

// lookupMany is lookup for several keys, batched per server: one
// multi-get per server for values and namespace versions, then one per
// server for tag versions, the servers in parallel. Unreadable values are
// misses. failed[srv] is the error of a server that failed; the entries
// of keys on it are nil (unknown), the others are checked as usual.
func (s *Store) lookupMany(keys []string) (es []*entry, locs []loc, failed []error, err error) {
	es = make([]*entry, len(keys))
	locs = make([]loc, len(keys))
	failed = make([]error, len(s.sel.addrs))
	if len(keys) == 0 {
		return es, locs, failed, nil
	}
	perServer := make([][]string, len(s.sel.addrs))
	seen := make(map[string]struct{}, len(keys)+len(s.sel.addrs))
	for i, k := range keys {
		l, err := s.locate(k)
		if err != nil {
			return nil, nil, nil, err
		}
		locs[i] = l
		for _, mk := range [2]string{l.mkey, l.nsKey} {
			if _, dup := seen[mk]; !dup {
				seen[mk] = struct{}{}
				perServer[l.srv] = append(perServer[l.srv], mk)
			}
		}
	}
	from := mono()
	items, failed := s.getMulti(perServer)
	now := time.Now()
	srvs := make([]int, len(keys))
	tagged := false
	for i, k := range keys {
		l := locs[i]
		srvs[i] = l.srv
		if failed[l.srv] != nil {
			continue
		}
		nsv, nsOK := s.namespaceItem(l.nsKey, items[l.nsKey], from)
		e, err := s.validate(k, l, items[l.mkey], nsv, nsOK, now)
		if err != nil {
			continue // unreadable: a miss
		}
		es[i] = e
		if e != nil && len(e.h.tags) > 0 {
			tagged = true
		}
	}
	if tagged {
		ok, tfailed, err := s.checkTags(es, srvs)
		if err != nil {
			return nil, nil, nil, err
		}
		for i, e := range es {
			if e != nil && len(e.h.tags) > 0 && !ok[i] {
				es[i] = nil
			}
		}
		for srv, err := range tfailed {
			if err != nil && failed[srv] == nil {
				failed[srv] = err
			}
		}
	}
	for _, err := range failed {
		if err != nil {
			s.netFailed()
			break
		}
	}
	return es, locs, failed, nil
}
