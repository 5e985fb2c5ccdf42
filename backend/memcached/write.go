package memcached

import (
	"context"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/bradfitz/gomemcache/memcache"

	"github.com/yokedcache/yokedcache/backend"
)

// loc is where a stored key lives.
type loc struct {
	mkey  string // memcached key
	srv   int    // server index
	nsKey string // namespace version key on that server
}

func (s *Store) locate(key string) (loc, error) {
	mkey := encodeKey(key)
	srv := s.sel.index(mkey)
	nk, err := s.versionKeys(kindNamespace, s.namespace(key))
	if err != nil {
		return loc{}, err
	}
	return loc{mkey: mkey, srv: srv, nsKey: nk[srv]}, nil
}

// SetCopies reports true: Set sends the bytes and waits for the server's
// reply, and keeps nothing of key or value (backend.SetCopier).
func (s *Store) SetCopies() bool { return true }

// Set stores value under key. The value header records the namespace and
// tag versions current now, the exact expiry and, for hashed keys, the
// full key.
func (s *Store) Set(ctx context.Context, key string, value []byte, opts backend.SetOptions) error {
	if err := s.check(ctx); err != nil {
		return err
	}
	l, err := s.locate(key)
	if err != nil {
		return err
	}
	now := time.Now()
	h := header{expiryMs: expiryMs(opts.TTL, now)}
	if isHashed(l.mkey) {
		h.hasKey, h.fullKey = true, key
	}
	tags := backend.UniqueTags(opts.Tags)
	// Check the size before any network work, with the largest encoding
	// of every version (the real header is at most this long).
	h.nsVersion = math.MaxUint64
	if len(tags) > 0 {
		h.tags = make([]tagVersion, len(tags))
		for i, t := range tags {
			h.tags[i] = tagVersion{tag: t, version: math.MaxUint64}
		}
	}
	hs := headerSize(&h)
	if total := itemOverhead + len(l.mkey) + hs + len(value); total > s.opts.MaxItemSize {
		return fmt.Errorf("memcached: item of %d bytes (value %d + header %d + key and overhead) exceeds MaxItemSize %d: %w",
			total, len(value), hs, s.opts.MaxItemSize, backend.ErrValueTooLarge)
	}
	nsNow := mono()
	if len(tags) == 0 {
		v, ok := s.cachedNamespace(l.nsKey, nsNow, s.opts.WriteNamespaceTTL)
		if !ok {
			vs, err := s.readVersions([]string{l.nsKey})
			if err != nil {
				return opErr("set", s.serverErr(l.srv, err))
			}
			v = vs[0]
			s.rememberNamespace(l.nsKey, v, nsNow, mono())
		}
		h.nsVersion = v
	} else {
		keys := make([]string, 0, len(tags)+1)
		keys = append(keys, l.nsKey)
		for _, t := range tags {
			tk, err := s.versionKeys(kindTag, t)
			if err != nil {
				return err
			}
			keys = append(keys, tk[l.srv])
		}
		vs, err := s.readVersions(keys)
		if err != nil {
			return opErr("set", s.serverErr(l.srv, err))
		}
		h.nsVersion = vs[0]
		s.rememberNamespace(l.nsKey, vs[0], nsNow, mono())
		for i := range h.tags {
			h.tags[i].version = vs[i+1]
		}
	}
	hs = headerSize(&h)
	buf := appendHeader(make([]byte, 0, hs+len(value)), &h, value)
	it := &memcache.Item{Key: l.mkey, Value: buf, Expiration: memcachedExpiry(opts.TTL, now)}
	if err := retry(func() error { return s.client.Set(it) }); err != nil {
		return opErr("set", s.serverErr(l.srv, tooLarge(err)))
	}
	return nil
}

// SetMany stores items. Per server, in parallel: one multi-get for every
// namespace and tag version its items need (none for untagged items whose
// namespace version is remembered), then its sets in sequence (gomemcache
// has no multi-set). Every item is checked against MaxItemSize before
// anything is sent. If a server fails, the other servers' items are still
// written and the error names it.
func (s *Store) SetMany(ctx context.Context, items []backend.Item) error {
	if err := s.check(ctx); err != nil {
		return err
	}
	now := time.Now()
	nsNow := mono()
	type prep struct {
		l       loc
		h       header
		tagKeys []string // the tags' counters on l.srv
		needNS  bool     // the namespace version must be read
	}
	ps := make([]prep, len(items))
	perServer := make([][]int, len(s.sel.addrs)) // item indexes, in order
	need := make([][]string, len(s.sel.addrs))   // version keys to read
	seen := map[string]struct{}{}
	want := func(srv int, k string) {
		if _, dup := seen[k]; !dup {
			seen[k] = struct{}{}
			need[srv] = append(need[srv], k)
		}
	}
	for i, it := range items {
		l, err := s.locate(it.Key)
		if err != nil {
			return err
		}
		p := &ps[i]
		tags := backend.UniqueTags(it.Tags)
		p.l, p.tagKeys = l, make([]string, len(tags))
		p.h = header{expiryMs: expiryMs(it.TTL, now), nsVersion: math.MaxUint64}
		if isHashed(l.mkey) {
			p.h.hasKey, p.h.fullKey = true, it.Key
		}
		p.h.tags = make([]tagVersion, len(tags))
		for j, t := range tags {
			p.h.tags[j] = tagVersion{tag: t, version: math.MaxUint64}
		}
		if hs := headerSize(&p.h); itemOverhead+len(l.mkey)+hs+len(it.Value) > s.opts.MaxItemSize {
			return fmt.Errorf("memcached: set many: item %q of %d bytes (with header and overhead) exceeds MaxItemSize %d: %w",
				it.Key, itemOverhead+len(l.mkey)+hs+len(it.Value), s.opts.MaxItemSize, backend.ErrValueTooLarge)
		}
		if v, ok := s.cachedNamespace(l.nsKey, nsNow, s.opts.WriteNamespaceTTL); ok && len(tags) == 0 {
			p.h.nsVersion = v
		} else {
			p.needNS = true
			want(l.srv, l.nsKey)
		}
		for j, t := range tags {
			tk, err := s.versionKeys(kindTag, t)
			if err != nil {
				return err
			}
			p.tagKeys[j] = tk[l.srv]
			want(l.srv, tk[l.srv])
		}
		perServer[l.srv] = append(perServer[l.srv], i)
	}
	err := s.onServers(func(srv int) bool { return len(perServer[srv]) > 0 }, func(srv int) error {
		// Each item's versions live on its own server: one server's
		// failure leaves the others' items to be written.
		versions := make(map[string]uint64, len(need[srv]))
		var seenAt int64
		if len(need[srv]) > 0 {
			vs, err := s.readVersions(need[srv])
			if err != nil {
				return err
			}
			seenAt = mono()
			for i, k := range need[srv] {
				versions[k] = vs[i]
			}
		}
		for _, i := range perServer[srv] {
			p, it := &ps[i], items[i]
			if p.needNS {
				p.h.nsVersion = versions[p.l.nsKey]
				s.rememberNamespace(p.l.nsKey, p.h.nsVersion, nsNow, seenAt)
			}
			for j, k := range p.tagKeys {
				p.h.tags[j].version = versions[k]
			}
			buf := appendHeader(make([]byte, 0, headerSize(&p.h)+len(it.Value)), &p.h, it.Value)
			mi := &memcache.Item{Key: p.l.mkey, Value: buf, Expiration: memcachedExpiry(it.TTL, now)}
			if err := retry(func() error { return s.client.Set(mi) }); err != nil {
				return tooLarge(err)
			}
		}
		return nil
	})
	if err != nil {
		s.netFailed()
		return opErr("set many", err)
	}
	return nil
}

// tooLarge maps memcached's "too large" reply (a server whose -I is below
// MaxItemSize) to backend.ErrValueTooLarge.
func tooLarge(err error) error {
	if err != nil && strings.Contains(err.Error(), "too large") {
		return fmt.Errorf("%w (the server's -I is below Options.MaxItemSize): %w", err, backend.ErrValueTooLarge)
	}
	return err
}
