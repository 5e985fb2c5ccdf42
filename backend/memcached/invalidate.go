package memcached

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"

	"github.com/bradfitz/gomemcache/memcache"

	"github.com/yokedcache/yokedcache/backend"
)

// eachServer runs f for every server in parallel and joins the errors,
// each naming its server.
func (s *Store) eachServer(f func(i int, addr net.Addr) error) error {
	return s.onServers(func(int) bool { return true }, func(i int) error { return f(i, s.sel.addrs[i]) })
}

// onServers runs f for every server i with use(i), in parallel (the
// first on the calling goroutine), and joins the errors, each naming its
// server.
func (s *Store) onServers(use func(i int) bool, f func(i int) error) error {
	errs := make([]error, len(s.sel.addrs))
	var wg sync.WaitGroup
	first := -1
	for i := range s.sel.addrs {
		if !use(i) {
			continue
		}
		if first < 0 {
			first = i
			continue
		}
		wg.Go(func() { errs[i] = f(i) })
	}
	if first >= 0 {
		errs[first] = f(first)
	}
	wg.Wait()
	return s.namedErrs(errs)
}

// InvalidateTags increments the version counter of every tag on every
// server (a missing counter needs nothing: entries that referenced it are
// already misses, and a new one starts at a random value). It returns -1:
// memcached cannot count the entries. If a server is down the others are
// still invalidated and the error names it.
func (s *Store) InvalidateTags(ctx context.Context, tags []string) (int64, error) {
	if err := s.check(ctx); err != nil {
		return 0, err
	}
	tags = backend.UniqueTags(tags)
	keys := make([][]string, len(tags))
	for i, t := range tags {
		ks, err := s.versionKeys(kindTag, t)
		if err != nil {
			return 0, err
		}
		keys[i] = ks
	}
	err := s.eachServer(func(srv int, _ net.Addr) error {
		for i := range tags {
			err := retry(func() error { _, err := s.client.Increment(keys[i][srv], 1); return err })
			if err != nil && !errors.Is(err, memcache.ErrCacheMiss) {
				return err
			}
		}
		return nil
	})
	if err != nil {
		s.netFailed()
		return -1, opErr("invalidate tags", err)
	}
	return -1, nil
}

// Flush invalidates every entry under prefix by incrementing the
// namespace version of prefix on every server: one increment per server,
// whatever the number of keys. prefix must have exactly NamespaceDepth
// ':'-terminated segments; other prefixes cannot be flushed (memcached
// cannot enumerate keys) and return an error matching ErrUnsupported.
// Flush never sends flush_all.
func (s *Store) Flush(ctx context.Context, prefix string) error {
	if err := s.check(ctx); err != nil {
		return err
	}
	if !strings.HasSuffix(prefix, ":") || strings.Count(prefix, ":") != s.opts.NamespaceDepth {
		return backend.Unsupported(Name, "flush",
			fmt.Sprintf("prefix %q is not a namespace of %d ':'-terminated segment(s); set Options.NamespaceDepth to the segments of the cache's key prefix plus one", prefix, s.opts.NamespaceDepth))
	}
	keys, err := s.versionKeys(kindNamespace, prefix)
	if err != nil {
		return err
	}
	err = s.eachServer(func(srv int, _ net.Addr) error {
		var v uint64
		from := mono()
		err := retry(func() (err error) {
			v, err = s.client.Increment(keys[srv], 1)
			return err
		})
		switch {
		case errors.Is(err, memcache.ErrCacheMiss):
			s.forgetNamespace(keys[srv])
			return nil
		case err != nil:
			s.forgetNamespace(keys[srv])
			return err
		}
		// Reads and Sets that fetched the old version and finish later
		// cannot put it back (nsversion.go); if this version cannot be
		// recorded either (a concurrent Flush), trust nothing.
		if !s.rememberNamespace(keys[srv], v, from, mono()) {
			s.forgetNamespace(keys[srv])
		}
		return nil
	})
	if err != nil {
		s.netFailed()
		return opErr("flush", err)
	}
	return nil
}
