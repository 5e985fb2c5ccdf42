package memcached

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/bradfitz/gomemcache/memcache"

	"github.com/yokedcache/yokedcache/backend"
)

// Version counter kinds.
const (
	kindNamespace = 'n'
	kindTag       = 't'
)

// versionKeys returns, for each server, the memcached key of the version
// counter of (kind, name) that lives on that server. Every entry is
// checked against counters on its own server, so a server that is down
// affects only its own keys; invalidation increments the counter on every
// server. The keys are "\xff\xff<kind>:<name>#<j>" (hashed by encodeKey)
// with the smallest j that lands on each server, so every process with the
// same server list derives the same keys.
func (s *Store) versionKeys(kind byte, name string) ([]string, error) {
	m := &s.nsKeys
	if kind == kindTag {
		m = &s.tagKeys
	}
	if v, ok := m.Load(name); ok {
		return v.([]string), nil
	}
	n := len(s.sel.addrs)
	keys := make([]string, n)
	base := make([]byte, 0, len(name)+16)
	base = append(append(append(base, 0xff, 0xff, kind, ':'), name...), '#')
	filled := 0
	for j := 0; filled < n; j++ {
		if j > 1000+200*n {
			return nil, fmt.Errorf("memcached: no version key lands on every server (continuum of %d servers): %w", n, backend.ErrInvalidConfig)
		}
		mk := encodeKey(string(strconv.AppendInt(base, int64(j), 10)))
		if i := s.sel.index(mk); keys[i] == "" {
			keys[i] = mk
			filled++
		}
	}
	if s.vkeyCount.Add(1) > cacheCap {
		s.nsKeys.Clear()
		s.tagKeys.Clear()
		s.vkeyCount.Store(1)
	}
	// name may be a substring of a caller's key, whose memory the Cache
	// reuses (backend.SetCopier): keep a copy.
	m.Store(strings.Clone(name), keys)
	return keys, nil
}

// randomVersion returns a fresh version counter start: random, so that a
// counter that was evicted and re-created never repeats a version an old
// entry recorded; below 2^62, so that increments never wrap.
func randomVersion() uint64 {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return binary.LittleEndian.Uint64(b[:])>>2 + 1
}

func parseVersion(b []byte) (uint64, bool) {
	// incr may leave trailing spaces when a number gets shorter.
	for len(b) > 0 && b[len(b)-1] == ' ' {
		b = b[:len(b)-1]
	}
	v, err := strconv.ParseUint(string(b), 10, 64)
	return v, err == nil
}

// readVersions returns the current values of version counters, creating
// the missing ones with a random start (add; if another process added it
// first, read theirs).
func (s *Store) readVersions(keys []string) ([]uint64, error) {
	var items map[string]*memcache.Item
	err := retry(func() (err error) {
		items, err = s.client.GetMulti(keys)
		return err
	})
	if err != nil {
		return nil, err
	}
	out := make([]uint64, len(keys))
	for i, k := range keys {
		if it := items[k]; it != nil {
			if v, ok := parseVersion(it.Value); ok {
				out[i] = v
				continue
			}
		}
		v, err := s.createVersion(k)
		if err != nil {
			return nil, err
		}
		out[i] = v
	}
	return out, nil
}

func (s *Store) createVersion(k string) (uint64, error) {
	for range 3 {
		v := randomVersion()
		err := s.client.Add(&memcache.Item{Key: k, Value: strconv.AppendUint(nil, v, 10)})
		if err == nil {
			return v, nil
		}
		if !errors.Is(err, memcache.ErrNotStored) {
			return 0, err
		}
		it, err := s.client.Get(k)
		if errors.Is(err, memcache.ErrCacheMiss) {
			continue // evicted right away; try again
		}
		if err != nil {
			return 0, err
		}
		if v, ok := parseVersion(it.Value); ok {
			return v, nil
		}
		// Not a number (a foreign value): replace it.
		if err := s.client.Set(&memcache.Item{Key: k, Value: strconv.AppendUint(nil, v, 10)}); err != nil {
			return 0, err
		}
		return v, nil
	}
	return 0, errors.New("memcached: version counter keeps disappearing (server out of memory?)")
}
