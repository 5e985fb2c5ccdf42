package disk

import (
	"bytes"
	"context"
	"fmt"
	"iter"
	"os"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/yokedcache/yokedcache/backend"
	"github.com/yokedcache/yokedcache/internal/glob"
)

func (s *Store) now() int64 { return s.clock.Now().UnixNano() }

func live(exp, now int64) bool { return exp == 0 || exp > now }

func notFound() error { return fmt.Errorf("disk: %w", backend.ErrNotFound) }

// Get returns a copy of the value under key, or an error matching
// ErrNotFound when it is absent or expired. A record that does not decode
// or fails its checksum (another key's record, or damaged bytes) is an
// error matching both ErrCorrupt and ErrNotFound, counted in the health
// details and logged at most once every 10 s.
func (s *Store) Get(ctx context.Context, key string) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var out []byte
	err := s.view(func(d *bolt.Bucket) error {
		k := []byte(key)
		rec := d.Get(k)
		if rec == nil {
			return notFound()
		}
		r, err := s.decode(k, rec, false)
		if err != nil {
			return err
		}
		if !live(r.expireAt, s.now()) {
			return notFound()
		}
		out = bytes.Clone(r.value)
		if out == nil {
			out = []byte{}
		}
		return nil
	})
	return out, err
}

// SetCopies reports true: Set copies key and value into the database
// before it returns (backend.SetCopier).
func (s *Store) SetCopies() bool { return true }

// Set stores value under key, replacing its previous value and tags, and
// evicts other entries when the store goes over its size bound.
func (s *Store) Set(ctx context.Context, key string, value []byte, o backend.SetOptions) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return s.update(func(w *wtx) error {
		if err := w.put(key, value, o); err != nil {
			return err
		}
		if w.over() {
			return w.evict(map[string]struct{}{key: {}})
		}
		return nil
	})
}

func (w *wtx) over() bool { return w.s.maxSize > 0 && w.bytes > w.s.maxSize }

// Delete removes key and reports whether it existed (and had not expired).
func (s *Store) Delete(ctx context.Context, key string) (bool, error) {
	n, err := s.DeleteMany(ctx, []string{key})
	return n > 0, err
}

// GetMany reads keys in one transaction: one slot per key, nil for a miss.
// A record that does not decode is a miss; the others are returned.
func (s *Store) GetMany(ctx context.Context, keys []string) ([][]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	out := make([][]byte, len(keys))
	err := s.view(func(d *bolt.Bucket) error {
		now := s.now()
		for i, key := range keys {
			k := []byte(key)
			rec := d.Get(k)
			if rec == nil {
				continue
			}
			r, err := s.decode(k, rec, false)
			if err != nil {
				continue // corrupt: a miss, as for Get
			}
			if live(r.expireAt, now) {
				out[i] = append(make([]byte, 0, len(r.value)), r.value...)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// SetMany writes items in one transaction: all of them or none.
func (s *Store) SetMany(ctx context.Context, items []backend.Item) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if len(items) == 0 {
		return nil
	}
	return s.update(func(w *wtx) error {
		for _, it := range items {
			if err := w.put(it.Key, it.Value, it.SetOptions); err != nil {
				return err
			}
		}
		if !w.over() {
			return nil
		}
		keep := make(map[string]struct{}, len(items))
		for _, it := range items {
			keep[it.Key] = struct{}{}
		}
		return w.evict(keep)
	})
}

// DeleteMany removes keys in one transaction and returns how many were
// live.
func (s *Store) DeleteMany(ctx context.Context, keys []string) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	var n int64
	err := s.update(func(w *wtx) error {
		n = 0
		for _, key := range keys {
			wasLive, err := w.removeKey([]byte(key))
			if err != nil {
				return err
			}
			if wasLive {
				n++
			}
		}
		return nil
	})
	return n, err
}

// TTL returns key's remaining time to live, NoExpiry for an entry without
// one, or an error matching ErrNotFound.
func (s *Store) TTL(ctx context.Context, key string) (time.Duration, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	var ttl time.Duration
	err := s.view(func(d *bolt.Bucket) error {
		k := []byte(key)
		rec := d.Get(k)
		if rec == nil {
			return notFound()
		}
		r, err := s.decode(k, rec, false)
		if err != nil {
			return err
		}
		exp, now := r.expireAt, s.now()
		switch {
		case !live(exp, now):
			return notFound()
		case exp == 0:
			ttl = backend.NoExpiry
		default:
			ttl = time.Duration(exp - now)
		}
		return nil
	})
	return ttl, err
}

// Expire gives key a new TTL (> 0 or NoExpiry) and reports whether it
// existed.
func (s *Store) Expire(ctx context.Context, key string, ttl time.Duration) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	if ttl <= 0 && ttl != backend.NoExpiry {
		return false, fmt.Errorf("disk: ttl %s: %w", ttl, backend.ErrInvalidTTL)
	}
	var found bool
	err := s.update(func(w *wtx) error {
		found = false
		k := []byte(key)
		rec := w.d.Get(k)
		if rec == nil {
			return nil
		}
		r, err := w.s.decode(k, rec, true)
		if err != nil {
			return err
		}
		if !w.live(r.expireAt) {
			return nil
		}
		found = true
		val := bytes.Clone(r.value)
		return w.put(key, val, backend.SetOptions{TTL: ttl, Tags: r.tags})
	})
	return found, err
}

// InvalidateTags deletes every entry carrying any of tags, in one
// transaction, and returns how many live entries it deleted.
func (s *Store) InvalidateTags(ctx context.Context, tags []string) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	var n int64
	err := s.update(func(w *wtx) error {
		n = 0
		for _, tag := range tags {
			p := tagPrefix(tag)
			var members [][]byte
			c := w.t.Cursor()
			for k, _ := c.Seek(p); k != nil && bytes.HasPrefix(k, p); k, _ = c.Next() {
				members = append(members, bytes.Clone(k[len(p):]))
			}
			for _, k := range members {
				rec := w.d.Get(k)
				if rec == nil {
					// An index entry without its record: drop it.
					if err := w.t.Delete(tagKey(tag, k)); err != nil {
						return err
					}
					continue
				}
				wasLive, err := w.remove(k, rec)
				if err != nil {
					return err
				}
				if wasLive {
					n++
				}
			}
		}
		return nil
	})
	return n, err
}

// scanChunk is the number of keys read per transaction by Scan, Stats and
// the bulk deletes, so that no transaction is held while the consumer runs
// and writers are not held up for long.
const scanChunk = 512

// seekAfter positions c at the first key > after, or at the first key >=
// start when after is nil.
func seekAfter(c *bolt.Cursor, start, after []byte) (k, v []byte) {
	if after == nil {
		if start == nil {
			return c.First()
		}
		return c.Seek(start)
	}
	k, v = c.Seek(after)
	if bytes.Equal(k, after) {
		k, v = c.Next()
	}
	return k, v
}

// Scan yields the live, non-internal stored keys that begin with pattern's
// literal prefix, in key order (the Cache filters them by the full
// pattern). Keys are read in chunks of 512, each in its own short read
// transaction: no transaction is open while the consumer runs.
func (s *Store) Scan(ctx context.Context, pattern string) iter.Seq2[string, error] {
	return func(yield func(string, error) bool) {
		p, err := glob.Compile(pattern)
		if err != nil {
			yield("", fmt.Errorf("disk: pattern %q: %w", pattern, err))
			return
		}
		prefix := []byte(p.Prefix())
		var after []byte
		for {
			if err := ctx.Err(); err != nil {
				yield("", err)
				return
			}
			var keys []string
			var done bool
			err := s.view(func(d *bolt.Bucket) error {
				now := s.now()
				c := d.Cursor()
				k, _ := seekAfter(c, prefix, after)
				for ; k != nil && len(keys) < scanChunk; k, _ = c.Next() {
					if !bytes.HasPrefix(k, prefix) {
						done = true
						return nil
					}
					after = bytes.Clone(k)
					if backend.IsInternalKey(string(k)) {
						continue
					}
					if r, err := s.decode(k, c.Bucket().Get(k), false); err == nil && live(r.expireAt, now) {
						keys = append(keys, string(k))
					}
				}
				if k == nil {
					done = true
				}
				return nil
			})
			if err != nil {
				yield("", err)
				return
			}
			for _, k := range keys {
				if !yield(k, nil) {
					return
				}
			}
			if done {
				return
			}
		}
	}
}

// deleteWhere deletes, in transactions of at most 512 keys, every stored
// key beginning with prefix for which match is true, and returns how many
// of them were live.
func (s *Store) deleteWhere(ctx context.Context, prefix []byte, match func([]byte) bool) (int64, error) {
	var total int64
	var after []byte
	for {
		if err := ctx.Err(); err != nil {
			return total, err
		}
		var done bool
		var n int64
		err := s.update(func(w *wtx) error {
			n = 0
			var keys [][]byte
			c := w.d.Cursor()
			k, _ := seekAfter(c, prefix, after)
			for ; k != nil && len(keys) < scanChunk; k, _ = c.Next() {
				if !bytes.HasPrefix(k, prefix) {
					break
				}
				after = bytes.Clone(k)
				if match(k) {
					keys = append(keys, after)
				}
			}
			done = k == nil || !bytes.HasPrefix(k, prefix)
			for _, k := range keys {
				wasLive, err := w.removeKey(k)
				if err != nil {
					return err
				}
				if wasLive {
					n++
				}
			}
			return nil
		})
		if err != nil {
			return total, err
		}
		total += n
		if done {
			return total, nil
		}
	}
}

// DeletePattern deletes every non-internal stored key matching pattern and
// returns how many live entries it removed (expired matches are removed
// too, uncounted).
func (s *Store) DeletePattern(ctx context.Context, pattern string) (int64, error) {
	p, err := glob.Compile(pattern)
	if err != nil {
		return 0, fmt.Errorf("disk: pattern %q: %w", pattern, err)
	}
	return s.deleteWhere(ctx, []byte(p.Prefix()), func(k []byte) bool {
		ks := string(k)
		return !backend.IsInternalKey(ks) && p.Match(ks)
	})
}

// Flush deletes every entry whose key begins with prefix, internal keys
// included, with their tag and expiry index entries.
func (s *Store) Flush(ctx context.Context, prefix string) error {
	_, err := s.deleteWhere(ctx, []byte(prefix), func([]byte) bool { return true })
	return err
}

// Stats reports the live non-internal keys under prefix and their logical
// bytes (Scope "prefix"), or, for an empty prefix, every entry of the
// store as kept in its counters, expired entries not yet swept included
// (Scope "backend"). Extra has the file size and path.
func (s *Store) Stats(ctx context.Context, prefix string) (backend.Stats, error) {
	if err := ctx.Err(); err != nil {
		return backend.Stats{}, err
	}
	st := backend.Stats{
		Evictions:   s.evictions.Load(),
		Expirations: s.expirations.Load(),
		Scope:       "prefix",
		Extra:       map[string]any{"path": s.path, "max_size_bytes": s.maxSize, "damaged_reads": s.damage.Reads()},
	}
	if fi, err := os.Stat(s.path); err == nil {
		st.Extra["file_bytes"] = fi.Size()
	}
	if prefix == "" {
		st.Scope = "backend"
		if s.closed.Load() {
			return st, fmt.Errorf("disk: %w", backend.ErrClosed)
		}
		st.Keys, st.Bytes = s.keys.Load(), s.bytes.Load()
		return st, nil
	}
	p := []byte(prefix)
	var after []byte
	for {
		if err := ctx.Err(); err != nil {
			return st, err
		}
		var done bool
		err := s.view(func(d *bolt.Bucket) error {
			now := s.now()
			c := d.Cursor()
			var v []byte
			k, _ := seekAfter(c, p, after)
			for i := 0; k != nil && i < scanChunk*4; i++ {
				if !bytes.HasPrefix(k, p) {
					break
				}
				v = d.Get(k)
				after = bytes.Clone(k)
				if exp, ok := recordExpiry(v); ok && live(exp, now) && !backend.IsInternalKey(string(k)) {
					st.Keys++
					st.Bytes += entrySize(k, v)
				}
				k, _ = c.Next()
			}
			done = k == nil || !bytes.HasPrefix(k, p)
			return nil
		})
		if err != nil {
			return st, err
		}
		if done {
			return st, nil
		}
	}
}

// Ping checks that the store is open and readable.
func (s *Store) Ping(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return s.view(func(*bolt.Bucket) error { return nil })
}

// HealthDetails reports the path, sizes and counters; "unhealthy" after a
// damaged page was read, "degraded" when the store is at 95 % or more of
// its bound, started empty after quarantining a corrupt file, or a read
// met a damaged record (with the count and the hint to reopen with
// integrity_check=full, which quarantines the file).
func (s *Store) HealthDetails(ctx context.Context) (backend.HealthDetails, error) {
	st, err := s.Stats(ctx, "")
	if err != nil {
		return backend.HealthDetails{Status: "unhealthy", Details: map[string]any{"path": s.path}}, err
	}
	h := backend.HealthDetails{Status: "healthy", Details: map[string]any{
		"path":           s.path,
		"keys":           st.Keys,
		"bytes":          st.Bytes,
		"max_size_bytes": s.maxSize,
		"evictions":      st.Evictions,
		"expirations":    st.Expirations,
		"sync":           s.o.Sync,
	}}
	if fb, ok := st.Extra["file_bytes"]; ok {
		h.Details["file_bytes"] = fb
	}
	if s.maxSize > 0 && st.Bytes >= s.maxSize/100*95 {
		h.Status = "degraded"
		h.Warnings = append(h.Warnings, "store is at its size bound; writes evict entries")
	}
	if s.quarantined != "" {
		h.Status = "degraded"
		h.Details["quarantined"] = s.quarantined
		h.Warnings = append(h.Warnings, "a corrupt store file was moved aside on open: "+s.quarantined)
	}
	h.Details["damaged_reads"] = s.damage.Reads()
	if n := s.damage.Reads(); n > 0 {
		h.Status = "degraded"
		last := s.damage.Last()
		h.Details["last_damage"] = last
		h.Warnings = append(h.Warnings, fmt.Sprintf("%d reads met damaged records (served as misses); "+
			"reopen the store with integrity_check=full to quarantine the file and start empty", n))
	}
	if s.corrupt.Load() {
		h.Status = "unhealthy"
		h.Warnings = append(h.Warnings, "a damaged page was read; reopen the store to quarantine the file")
	}
	return h, nil
}

// Name returns "disk".
func (s *Store) Name() string { return "disk" }

// As fills a **bbolt.DB with the open database.
func (s *Store) As(target any) bool {
	if p, ok := target.(**bolt.DB); ok {
		*p = s.db
		return true
	}
	return false
}

// Path returns the store file's path.
func (s *Store) Path() string { return s.path }
