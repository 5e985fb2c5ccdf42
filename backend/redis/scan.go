package redis

import (
	"context"
	"fmt"
	"iter"
	"slices"
	"strings"

	"github.com/redis/rueidis"

	"github.com/yokedcache/yokedcache/backend"
	"github.com/yokedcache/yokedcache/internal/glob"
)

const scanCount = 1000

// redisGlobEscape escapes the characters special to Redis MATCH.
func redisGlobEscape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '*', '?', '[', ']', '\\':
			b.WriteByte('\\')
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// matchFor returns a Redis MATCH pattern that every key matching the glob
// pattern matches: the glob's literal prefix, escaped, then '*'.
func matchFor(pattern string) (*glob.Pattern, string, error) {
	p, err := glob.Compile(pattern)
	if err != nil {
		return nil, "", fmt.Errorf("redis: pattern %q: %v: %w", pattern, err, backend.ErrInvalidKey)
	}
	return p, redisGlobEscape(p.Prefix()) + "*", nil
}

// nodes returns the clients to scan: the one server, or every cluster
// master (a node's role comes from HELLO, which every user may run).
func (s *Store) nodes(ctx context.Context) ([]rueidis.Client, error) {
	if !s.cluster {
		return []rueidis.Client{s.cl()}, nil
	}
	all := s.cl().Nodes()
	addrs := make([]string, 0, len(all))
	for a := range all {
		addrs = append(addrs, a)
	}
	slices.Sort(addrs)
	var out []rueidis.Client
	for _, a := range addrs {
		n := all[a]
		m, err := n.Do(ctx, n.B().Hello().Build()).AsMap()
		if err != nil {
			return nil, s.wrapErr(fmt.Errorf("HELLO on %s: %w", a, err))
		}
		if role, _ := msgString(m, "role"); role == "master" {
			out = append(out, n)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("redis: no cluster master found among %d nodes", len(all))
	}
	return out, nil
}

// scanRaw yields every key (internal ones too) matching the Redis MATCH
// pattern on every node, in SCAN batches.
func (s *Store) scanRaw(ctx context.Context, match string) iter.Seq2[[]string, error] {
	return func(yield func([]string, error) bool) {
		nodes, err := s.nodes(ctx)
		if err != nil {
			yield(nil, err)
			return
		}
		for _, n := range nodes {
			var cursor uint64
			for {
				e, err := n.Do(ctx, n.B().Scan().Cursor(cursor).Match(match).Count(scanCount).Build()).AsScanEntry()
				if err != nil {
					yield(nil, s.wrapErr(err))
					return
				}
				if len(e.Elements) > 0 && !yield(e.Elements, nil) {
					return
				}
				cursor = e.Cursor
				if cursor == 0 {
					break
				}
			}
		}
	}
}

// Scan yields the live stored keys whose literal prefix matches pattern
// (SCAN MATCH <prefix>* COUNT 1000 on every master), skipping internal
// keys. It may yield keys that do not match the whole glob; the Cache
// filters them.
func (s *Store) Scan(ctx context.Context, pattern string) iter.Seq2[string, error] {
	return func(yield func(string, error) bool) {
		if err := s.check(ctx); err != nil {
			yield("", err)
			return
		}
		_, match, err := matchFor(pattern)
		if err != nil {
			yield("", err)
			return
		}
		for batch, err := range s.scanRaw(ctx, match) {
			if err != nil {
				yield("", err)
				return
			}
			if batch, err = s.skipPythonTagSets(ctx, batch); err != nil {
				yield("", err)
				return
			}
			for _, k := range batch {
				if backend.IsInternalKey(k) {
					continue
				}
				if !yield(k, nil) {
					return
				}
			}
		}
	}
}

// DeletePattern removes every non-internal key matching the glob exactly:
// SCAN batches filtered by the glob, each deleted with batched UNLINKs as
// it arrives. Tag memberships of the deleted entries are trimmed when
// their expiry passes or dropped by the next InvalidateTags of the tag.
func (s *Store) DeletePattern(ctx context.Context, pattern string) (int64, error) {
	if err := s.check(ctx); err != nil {
		return 0, err
	}
	p, match, err := matchFor(pattern)
	if err != nil {
		return 0, err
	}
	var total int64
	for batch, err := range s.scanRaw(ctx, match) {
		if err != nil {
			return total, err
		}
		if batch, err = s.skipPythonTagSets(ctx, batch); err != nil {
			return total, err
		}
		var victims []string
		for _, k := range batch {
			if !backend.IsInternalKey(k) && p.Match(k) {
				victims = append(victims, k)
			}
		}
		n, err := s.unlink(ctx, victims)
		total += n
		if err != nil {
			return total, err
		}
	}
	return total, nil
}

// Flush removes every key under prefix, internal ones (tag indexes)
// included, with SCAN + UNLINK on every master. It never uses
// FLUSHDB, FLUSHALL or KEYS.
func (s *Store) Flush(ctx context.Context, prefix string) error {
	if err := s.check(ctx); err != nil {
		return err
	}
	if prefix == "" {
		return fmt.Errorf("redis: flush needs a key prefix: %w", backend.ErrInvalidConfig)
	}
	match := redisGlobEscape(prefix) + "*"
	for batch, err := range s.scanRaw(ctx, match) {
		if err != nil {
			return err
		}
		// The invalidation streams stay: their readers follow them by
		// entry ID, which a recreated stream would restart.
		batch = slices.DeleteFunc(batch, func(k string) bool { return strings.HasSuffix(k, streamSuffix) })
		if len(batch) == 0 {
			continue
		}
		var cmds rueidis.Commands
		if s.cluster {
			for _, g := range groupBySlot(batch) {
				ks := make([]string, len(g))
				for j, i := range g {
					ks[j] = batch[i]
				}
				cmds = append(cmds, s.cl().B().Unlink().Key(ks...).Build())
			}
		} else {
			cmds = append(cmds, s.cl().B().Unlink().Key(batch...).Build())
		}
		if err := s.doAll(ctx, cmds); err != nil {
			return err
		}
	}
	if s.pub.Load() {
		return s.doAll(ctx, s.publishAllCmds(prefix))
	}
	return nil
}

// slot is the Redis Cluster hash slot of key (CRC16 of the hash tag or
// the key, mod 16384).
func slot(key string) uint16 {
	if i := strings.IndexByte(key, '{'); i >= 0 {
		if j := strings.IndexByte(key[i+1:], '}'); j > 0 {
			key = key[i+1 : i+1+j]
		}
	}
	var crc uint16
	for i := 0; i < len(key); i++ {
		crc ^= uint16(key[i]) << 8
		for range 8 {
			if crc&0x8000 != 0 {
				crc = crc<<1 ^ 0x1021
			} else {
				crc <<= 1
			}
		}
	}
	return crc & 16383
}
