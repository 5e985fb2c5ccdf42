package memory

import (
	"context"
	"iter"
	"strings"
	"time"

	"github.com/yokedcache/yokedcache/backend"
	"github.com/yokedcache/yokedcache/internal/glob"
)

// ---- capabilities ----

// GetMany reads several keys.
func (s *Store) GetMany(ctx context.Context, keys []string) ([][]byte, error) {
	out := make([][]byte, len(keys))
	for i, k := range keys {
		v, err := s.Get(ctx, k)
		if err == nil {
			out[i] = v
		} else if err != backend.ErrNotFound {
			return nil, err
		}
	}
	return out, nil
}

// SetMany writes several entries.
func (s *Store) SetMany(ctx context.Context, items []backend.Item) error {
	for _, it := range items {
		if err := s.Set(ctx, it.Key, it.Value, it.SetOptions); err != nil {
			return err
		}
	}
	return nil
}

// DeleteMany removes several keys.
func (s *Store) DeleteMany(ctx context.Context, keys []string) (int64, error) {
	var n int64
	for _, k := range keys {
		ok, err := s.Delete(ctx, k)
		if err != nil {
			return n, err
		}
		if ok {
			n++
		}
	}
	return n, nil
}

// Contains reports whether key holds a live entry, without changing its
// recency (a peek for diagnostics and tests; the Cache never calls it).
// A closed store contains nothing.
func (s *Store) Contains(key string) bool {
	if s.closed.Load() {
		return false
	}
	now := s.now()
	sh := &s.shards[s.hash(key)&s.mask]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	return s.live(sh, key, now) != nil
}

// TTL returns key's remaining time to live.
func (s *Store) TTL(_ context.Context, key string) (time.Duration, error) {
	if s.closed.Load() {
		return 0, backend.ErrClosed
	}
	now := s.now()
	sh := &s.shards[s.hash(key)&s.mask]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	e := s.live(sh, key, now)
	if e == nil {
		return 0, backend.ErrNotFound
	}
	if e.expireAt == 0 {
		return backend.NoExpiry, nil
	}
	return time.Duration(e.expireAt - now), nil
}

// Expire changes key's TTL.
func (s *Store) Expire(_ context.Context, key string, ttl time.Duration) (bool, error) {
	if s.closed.Load() {
		return false, backend.ErrClosed
	}
	now := s.now()
	sh := &s.shards[s.hash(key)&s.mask]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	e := s.live(sh, key, now)
	if e == nil {
		return false, nil
	}
	e.expireAt = s.expireAt(ttl, now)
	return true, nil
}

// InvalidateTags removes every entry carrying any of tags and returns how
// many it removed.
func (s *Store) InvalidateTags(_ context.Context, tags []string) (int64, error) {
	if s.closed.Load() {
		return 0, backend.ErrClosed
	}
	now := s.now()
	var n int64
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		for _, t := range tags {
			for k := range sh.tags[t] {
				if e := sh.m[k]; e != nil {
					if e.expireAt == 0 || e.expireAt > now {
						n++
					}
					s.remove(sh, e)
				}
			}
			delete(sh.tags, t)
		}
		sh.mu.Unlock()
	}
	return n, nil
}

// Scan yields the live keys matching pattern, one shard's worth at a time
// (no lock is held while the consumer runs).
func (s *Store) Scan(ctx context.Context, pattern string) iter.Seq2[string, error] {
	return func(yield func(string, error) bool) {
		p, err := glob.Compile(pattern)
		if err != nil {
			yield("", errInvalid("pattern: "+err.Error()))
			return
		}
		var buf []string
		for i := range s.shards {
			if s.closed.Load() {
				yield("", backend.ErrClosed)
				return
			}
			if err := ctx.Err(); err != nil {
				yield("", err)
				return
			}
			buf = s.collect(&s.shards[i], p, buf[:0])
			for _, k := range buf {
				if !yield(k, nil) {
					return
				}
			}
		}
	}
}

func (s *Store) collect(sh *shard, p *glob.Pattern, buf []string) []string {
	now := s.now()
	prefix := p.Prefix()
	sh.mu.Lock()
	defer sh.mu.Unlock()
	for k, e := range sh.m {
		if !strings.HasPrefix(k, prefix) || backend.IsInternalKey(k) || (e.expireAt != 0 && e.expireAt <= now) {
			continue
		}
		if p.Match(k) {
			buf = append(buf, k)
		}
	}
	return buf
}

// DeletePattern removes every live key matching pattern.
func (s *Store) DeletePattern(ctx context.Context, pattern string) (int64, error) {
	if s.closed.Load() {
		return 0, backend.ErrClosed
	}
	p, err := glob.Compile(pattern)
	if err != nil {
		return 0, errInvalid("pattern: " + err.Error())
	}
	return s.deleteWhere(ctx, p.Prefix(), func(k string) bool { return !backend.IsInternalKey(k) && p.Match(k) })
}

func (s *Store) deleteWhere(ctx context.Context, prefix string, match func(string) bool) (int64, error) {
	now := s.now()
	var n int64
	for i := range s.shards {
		if err := ctx.Err(); err != nil {
			return n, err
		}
		sh := &s.shards[i]
		sh.mu.Lock()
		for k, e := range sh.m {
			if strings.HasPrefix(k, prefix) && match(k) {
				if e.expireAt == 0 || e.expireAt > now {
					n++
				}
				s.remove(sh, e)
			}
		}
		if prefix != "" {
			for t, set := range sh.tags {
				if strings.HasPrefix(t, prefix) && len(set) == 0 {
					delete(sh.tags, t)
				}
			}
		}
		sh.mu.Unlock()
	}
	return n, nil
}

// Flush removes every key beginning with prefix.
func (s *Store) Flush(ctx context.Context, prefix string) error {
	if s.closed.Load() {
		return backend.ErrClosed
	}
	_, err := s.deleteWhere(ctx, prefix, func(string) bool { return true })
	return err
}

// Stats counts the live keys and bytes under prefix.
func (s *Store) Stats(_ context.Context, prefix string) (backend.Stats, error) {
	if s.closed.Load() {
		return backend.Stats{}, backend.ErrClosed
	}
	now := s.now()
	var keys, bytes, all, evictions, expirations int64
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		all += int64(len(sh.m))
		evictions += sh.evictions
		expirations += sh.expirations
		for k, e := range sh.m {
			if strings.HasPrefix(k, prefix) && !backend.IsInternalKey(k) && (e.expireAt == 0 || e.expireAt > now) {
				keys++
				bytes += e.size()
			}
		}
		sh.mu.Unlock()
	}
	return backend.Stats{
		Keys: keys, Bytes: bytes,
		Evictions: evictions, Expirations: expirations,
		Scope: "prefix",
		Extra: map[string]any{"shards": len(s.shards), "entries_all_prefixes": all, "policy": s.policy.String()},
	}, nil
}

// Ping reports ErrClosed after Close and nil otherwise.
func (s *Store) Ping(context.Context) error {
	if s.closed.Load() {
		return backend.ErrClosed
	}
	return nil
}
