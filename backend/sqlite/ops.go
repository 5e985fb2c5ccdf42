package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"iter"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/yokedcache/yokedcache/backend"
	"github.com/yokedcache/yokedcache/internal/glob"
)

func checkKey(key string) error {
	if key == "" || len(key) > MaxKeyBytes {
		return fmt.Errorf("sqlite: %d-byte key (1 to %d bytes): %w", len(key), MaxKeyBytes, backend.ErrInvalidKey)
	}
	return nil
}

func notFound(key string) error {
	return fmt.Errorf("sqlite: %q: %w", key, backend.ErrNotFound)
}

// Get implements backend.Backend. The row found must be key's: the
// checksum in front of its value (rowSum) must match key and the value
// read; a row that fails (another key's row reached through a damaged
// index, or a damaged key or value) is a miss matching backend.ErrCorrupt
// and backend.ErrNotFound, counted and logged (integrity.go).
func (s *Store) Get(ctx context.Context, key string) ([]byte, error) {
	v, _, err := s.get(ctx, key)
	return v, err
}

// GetTTL is Get that also returns the entry's remaining TTL
// (backend.TTLReader): the same one query.
func (s *Store) GetTTL(ctx context.Context, key string) ([]byte, time.Duration, error) {
	v, exp, err := s.get(ctx, key)
	if err != nil {
		return nil, 0, err
	}
	return v, s.remaining(exp), nil
}

// remaining is the TTL left to a live entry expiring at exp (0: never).
func (s *Store) remaining(exp int64) time.Duration {
	if exp == 0 {
		return backend.NoExpiry
	}
	return max(time.Duration(exp-s.now()), 1)
}

// get is Get that also returns the expiry (Unix ns, 0: none).
func (s *Store) get(ctx context.Context, key string) ([]byte, int64, error) {
	if err := s.check(); err != nil {
		return nil, 0, err
	}
	// One variable for the columns: one allocation, not two.
	var r struct {
		stored []byte
		exp    any // int64, unless the row is damaged
	}
	err := s.stmtGet.QueryRowContext(ctx, key).Scan(&r.stored, &r.exp)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, 0, notFound(key)
	}
	if err != nil {
		return nil, 0, fmt.Errorf("sqlite: get: %w", s.mapErr(err))
	}
	val, err := s.checkRow(key, nil, r.stored)
	if err != nil {
		return nil, 0, err
	}
	exp, ok := expiry(r.exp)
	if !ok {
		return nil, 0, s.badRow(key, "expiry is not an integer")
	}
	if !live(exp, s.now()) {
		return nil, 0, notFound(key)
	}
	return val, exp, nil
}

func entrySize(key string, val []byte, tags []string) int64 {
	n := int64(len(key) + len(val) + entryOverhead)
	for _, t := range tags {
		n += int64(len(t) + len(key))
	}
	return n
}

func (s *Store) checkItem(key string, val []byte, tags []string) error {
	if err := checkKey(key); err != nil {
		return err
	}
	if len(val) > MaxValueBytes {
		return fmt.Errorf("sqlite: %d-byte value (at most %d): %w", len(val), MaxValueBytes, backend.ErrValueTooLarge)
	}
	if s.opts.MaxSizeBytes > 0 && entrySize(key, val, tags) > s.opts.MaxSizeBytes {
		return fmt.Errorf("sqlite: %d-byte entry is over the %d-byte bound: %w",
			entrySize(key, val, tags), s.opts.MaxSizeBytes, backend.ErrValueTooLarge)
	}
	for _, t := range tags {
		if t == "" || len(t) > MaxKeyBytes {
			return fmt.Errorf("sqlite: %d-byte tag (1 to %d bytes): %w", len(t), MaxKeyBytes, backend.ErrInvalidKey)
		}
	}
	return nil
}

// SetCopies reports true: the driver copies bound arguments into SQLite
// before Set returns (backend.SetCopier).
func (s *Store) SetCopies() bool { return true }

// Set implements backend.Backend. An entry without tags is one upsert; an
// entry with tags is the upsert and its tag rows in one transaction.
func (s *Store) Set(ctx context.Context, key string, value []byte, opts backend.SetOptions) error {
	if err := s.check(); err != nil {
		return err
	}
	if err := s.checkItem(key, value, opts.Tags); err != nil {
		return err
	}
	if value == nil {
		value = []byte{}
	}
	size := entrySize(key, value, opts.Tags)
	exp, err := expiresAt(opts.TTL, s.now())
	if err != nil {
		return fmt.Errorf("sqlite: set: %w", err)
	}
	if len(opts.Tags) == 0 {
		s.wmu.Lock()
		_, err = s.stmtSet.ExecContext(ctx, key, sealValue(key, value), exp, size, 0)
		s.wmu.Unlock()
	} else {
		err = s.writeTx(ctx, func(tx *sql.Tx) error {
			return setTx(ctx, tx, tx.StmtContext(ctx, s.stmtSet), backend.Item{Key: key, Value: value, SetOptions: opts}, exp, size)
		})
	}
	if err != nil {
		return fmt.Errorf("sqlite: set: %w", s.mapErr(err))
	}
	s.noteWrite(ctx, key, nil, 1, size)
	return nil
}

// setTx writes one entry and its tags inside tx.
func setTx(ctx context.Context, tx *sql.Tx, set *sql.Stmt, it backend.Item, exp, size int64) error {
	tags := backend.UniqueTags(it.Tags)
	val := it.Value
	if val == nil {
		val = []byte{}
	}
	if _, err := set.ExecContext(ctx, it.Key, sealValue(it.Key, val), exp, size, len(tags)); err != nil {
		return err
	}
	if len(tags) == 0 {
		return nil
	}
	var q strings.Builder
	q.WriteString(`INSERT OR IGNORE INTO yokedcache_tags (tag, key) VALUES `)
	args := make([]any, 0, 2*len(tags))
	for i, t := range tags {
		if i > 0 {
			q.WriteByte(',')
		}
		q.WriteString("(?,?)")
		args = append(args, t, it.Key)
	}
	_, err := tx.ExecContext(ctx, q.String(), args...)
	return err
}

// Delete implements backend.Backend. An expired entry still in the table
// is removed and reported as absent.
func (s *Store) Delete(ctx context.Context, key string) (bool, error) {
	if err := s.check(); err != nil {
		return false, err
	}
	n, err := s.DeleteMany(ctx, []string{key})
	return n > 0, err
}

// deleteBatch bounds the number of SQL parameters of one statement.
const deleteBatch = 500

// deleteKeys deletes keys inside tx and returns how many were live at now
// (now 0: how many rows were deleted).
func deleteKeys(ctx context.Context, tx *sql.Tx, keys []string, now int64) (int64, error) {
	var n int64
	for len(keys) > 0 {
		chunk := keys[:min(len(keys), deleteBatch)]
		keys = keys[len(chunk):]
		q, args := inList(`DELETE FROM yokedcache_entries WHERE key IN (`, chunk, `) RETURNING expires_at`)
		rows, err := tx.QueryContext(ctx, q, args...)
		if err != nil {
			return n, err
		}
		for rows.Next() {
			var exp int64
			if err := rows.Scan(&exp); err != nil {
				rows.Close()
				return n, err
			}
			if now == 0 || live(exp, now) {
				n++
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return n, err
		}
	}
	return n, nil
}

func inList(head string, keys []string, tail string) (string, []any) {
	var b strings.Builder
	b.Grow(len(head) + 2*len(keys) + len(tail))
	b.WriteString(head)
	args := make([]any, len(keys))
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteByte('?')
		args[i] = k
	}
	b.WriteString(tail)
	return b.String(), args
}

// GetMany implements backend.BatchGetter with one prepared statement that
// takes the keys as a JSON array (key IN (SELECT value FROM json_each(?))):
// one query for any number of keys, and about 20 % faster than building
// an IN (?, ?, ...) list per call (docs/sqlite.md). Keys that JSON cannot
// carry byte for byte (invalid UTF-8, NUL) use the IN list instead. Every
// row is checked like Get's: a row whose checksum fails, or whose key was
// not asked for or came twice, is counted as damage and its key is a
// miss.
func (s *Store) GetMany(ctx context.Context, keys []string) ([][]byte, error) {
	return s.getMany(ctx, keys, nil)
}

// GetManyTTL is GetMany with each hit's remaining TTL
// (backend.TTLReader): the same one query.
func (s *Store) GetManyTTL(ctx context.Context, keys []string) ([][]byte, []time.Duration, error) {
	exps := make([]int64, len(keys))
	out, err := s.getMany(ctx, keys, exps)
	if err != nil {
		return nil, nil, err
	}
	ttls := make([]time.Duration, len(keys))
	for i, v := range out {
		if v != nil {
			ttls[i] = s.remaining(exps[i])
		}
	}
	return out, ttls, nil
}

// getMany is GetMany; exps, when not nil, receives each hit's expiry.
func (s *Store) getMany(ctx context.Context, keys []string, exps []int64) ([][]byte, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	out := make([][]byte, len(keys))
	if len(keys) == 0 {
		return out, nil
	}
	now := s.now()
	var idx map[string][]int
	if len(keys) > 8 {
		idx = make(map[string][]int, len(keys))
		for i, k := range keys {
			idx[k] = append(idx[k], i)
		}
	}
	seen := make([]bool, len(keys))
	fill := func(rows *sql.Rows, err error) error {
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var kb, stored []byte
			var expv any
			if err := rows.Scan(&kb, &stored, &expv); err != nil {
				return err
			}
			k := string(kb)
			v, err := s.checkRow(k, kb, stored)
			if err != nil {
				// The row is not the one its key column names: no slot
				// can trust it. The key it was found for is unknown
				// and stays a miss.
				continue
			}
			exp, ok := expiry(expv)
			if !ok {
				_ = s.badRow(k, "expiry is not an integer")
				continue
			}
			var slots []int
			if idx != nil {
				slots = idx[k]
			} else {
				for i, want := range keys {
					if want == k {
						slots = append(slots, i)
					}
				}
			}
			if verifyKeyCheck.Load() {
				if len(slots) == 0 {
					_ = s.badRow(k, "returned for keys that do not include it")
					continue
				}
				if seen[slots[0]] {
					_ = s.badRow(k, "returned twice")
					for _, i := range slots {
						out[i] = nil
					}
					continue
				}
				seen[slots[0]] = true
			}
			if !live(exp, now) {
				continue
			}
			for _, i := range slots {
				out[i] = v
				if exps != nil {
					exps[i] = exp
				}
			}
		}
		return rows.Err()
	}
	var err error
	if js, ok := jsonKeys(keys); ok {
		err = fill(s.stmtMany.QueryContext(ctx, js))
	} else {
		for rest := keys; len(rest) > 0 && err == nil; {
			chunk := rest[:min(len(rest), deleteBatch)]
			rest = rest[len(chunk):]
			q, args := inList(`SELECT key, value, expires_at FROM yokedcache_entries WHERE key IN (`, chunk, `)`)
			err = fill(s.db.QueryContext(ctx, q, args...))
		}
	}
	if err != nil {
		return nil, fmt.Errorf("sqlite: get many: %w", s.mapErr(err))
	}
	return out, nil
}

// jsonKeys encodes keys as a JSON array of strings, or reports false when
// a key would not survive the round trip exactly.
func jsonKeys(keys []string) (string, bool) {
	var b strings.Builder
	b.WriteByte('[')
	for i, k := range keys {
		if !utf8.ValidString(k) || strings.IndexByte(k, 0) >= 0 {
			return "", false
		}
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteByte('"')
		for j := 0; j < len(k); j++ {
			c := k[j]
			switch {
			case c == '"' || c == '\\':
				b.WriteByte('\\')
				b.WriteByte(c)
			case c < 0x20:
				fmt.Fprintf(&b, `\u%04x`, c)
			default:
				b.WriteByte(c)
			}
		}
		b.WriteByte('"')
	}
	b.WriteByte(']')
	return b.String(), true
}

// SetMany implements backend.BatchSetter: every item in one transaction.
func (s *Store) SetMany(ctx context.Context, items []backend.Item) error {
	if err := s.check(); err != nil {
		return err
	}
	var total int64
	now := s.now()
	exps := make([]int64, len(items))
	for i, it := range items {
		if err := s.checkItem(it.Key, it.Value, it.Tags); err != nil {
			return err
		}
		exp, err := expiresAt(it.TTL, now)
		if err != nil {
			return fmt.Errorf("sqlite: set many: %q: %w", it.Key, err)
		}
		exps[i] = exp
		total += entrySize(it.Key, it.Value, it.Tags)
	}
	if len(items) == 0 {
		return nil
	}
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		set := tx.StmtContext(ctx, s.stmtSet)
		for i, it := range items {
			if err := setTx(ctx, tx, set, it, exps[i], entrySize(it.Key, it.Value, it.Tags)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("sqlite: set many: %w", s.mapErr(err))
	}
	s.noteWrite(ctx, "", items, int64(len(items)), total)
	return nil
}

// DeleteMany implements backend.BatchDeleter in one transaction.
func (s *Store) DeleteMany(ctx context.Context, keys []string) (int64, error) {
	if err := s.check(); err != nil {
		return 0, err
	}
	if len(keys) == 0 {
		return 0, nil
	}
	var n int64
	now := s.now()
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		var err error
		n, err = deleteKeys(ctx, tx, keys, now)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("sqlite: delete: %w", s.mapErr(err))
	}
	return n, nil
}

// TTL implements backend.Expirer. A row reached through a damaged index
// is a miss matching backend.ErrCorrupt and backend.ErrNotFound, as in
// Get.
func (s *Store) TTL(ctx context.Context, key string) (time.Duration, error) {
	if err := s.check(); err != nil {
		return 0, err
	}
	var expv any
	var sum []byte
	err := s.stmtExists.QueryRowContext(ctx, key).Scan(&expv, &sum)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, notFound(key)
	}
	if err != nil {
		return 0, fmt.Errorf("sqlite: ttl: %w", s.mapErr(err))
	}
	if err := s.checkRowKey(key, sum); err != nil {
		return 0, err
	}
	exp, ok := expiry(expv)
	if !ok {
		return 0, s.badRow(key, "expiry is not an integer")
	}
	now := s.now()
	if !live(exp, now) {
		return 0, notFound(key)
	}
	if exp == 0 {
		return backend.NoExpiry, nil
	}
	return time.Duration(exp - now), nil
}

// Expire implements backend.Expirer.
func (s *Store) Expire(ctx context.Context, key string, ttl time.Duration) (bool, error) {
	if err := s.check(); err != nil {
		return false, err
	}
	now := s.now()
	exp, err := expiresAt(ttl, now)
	if err != nil {
		return false, fmt.Errorf("sqlite: expire: %w", err)
	}
	var n int64
	err = s.writeTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE yokedcache_entries SET expires_at = ?
			WHERE key = ? AND (expires_at = 0 OR expires_at > ?)`, exp, key, now)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return false, fmt.Errorf("sqlite: expire: %w", s.mapErr(err))
	}
	return n > 0, nil
}

// InvalidateTags implements backend.Tagger: one transaction deletes every
// entry carrying any of tags (and, by trigger, their tag rows). The count
// is exact: live entries deleted.
func (s *Store) InvalidateTags(ctx context.Context, tags []string) (int64, error) {
	if err := s.check(); err != nil {
		return 0, err
	}
	tags = backend.UniqueTags(tags)
	if len(tags) == 0 {
		return 0, nil
	}
	now := s.now()
	var n int64
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		for len(tags) > 0 {
			chunk := tags[:min(len(tags), deleteBatch)]
			tags = tags[len(chunk):]
			q, args := inList(`DELETE FROM yokedcache_entries WHERE key IN (
				SELECT key FROM yokedcache_tags WHERE tag IN (`, chunk, `)) RETURNING expires_at`)
			rows, err := tx.QueryContext(ctx, q, args...)
			if err != nil {
				return err
			}
			for rows.Next() {
				var exp int64
				if err := rows.Scan(&exp); err != nil {
					rows.Close()
					return err
				}
				if live(exp, now) {
					n++
				}
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("sqlite: invalidate tags: %w", s.mapErr(err))
	}
	return n, nil
}

// prefixEnd returns the smallest string greater than every string with
// the given prefix, or "" when there is none (the prefix is empty or all
// 0xFF bytes).
func prefixEnd(prefix string) string {
	b := []byte(prefix)
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] < 0xFF {
			b[i]++
			return string(b[:i+1])
		}
	}
	return ""
}

// scanPage is the number of keys one Scan query reads. Between pages no
// statement is open, so the consumer holds no lock and no connection.
const scanPage = 256

// rangeQuery returns a keyset-paginated query over the keys with prefix
// that come after a cursor (the first argument) and match the SQLite GLOB
// sqlPattern (when not empty), and the arguments after the cursor. The
// range on the primary key bounds the index search whatever the pattern;
// GLOB filters inside SQLite, so non-matching keys never reach Go. Keys
// containing NUL, which GLOB cuts short, are always returned (the Go
// filter decides).
func rangeQuery(cols, prefix, sqlPattern string) (string, []any) {
	q := `SELECT ` + cols + ` FROM yokedcache_entries WHERE key > ?`
	var args []any
	if prefix != "" {
		q += ` AND key >= ?`
		args = append(args, prefix)
		if end := prefixEnd(prefix); end != "" {
			q += ` AND key < ?`
			args = append(args, end)
		}
	}
	if sqlPattern != "" && sqlPattern != "*" {
		q += ` AND (key GLOB ? OR instr(key, char(0)) > 0)`
		args = append(args, sqlPattern)
	}
	return q + ` ORDER BY key LIMIT ` + fmt.Sprint(scanPage), args
}

// pages yields the live keys under the pattern's literal prefix that
// match it, a page at a time.
func (s *Store) pages(ctx context.Context, pattern string) iter.Seq2[[]string, error] {
	return func(yield func([]string, error) bool) {
		p, err := glob.Compile(pattern)
		if err != nil {
			yield(nil, fmt.Errorf("sqlite: pattern %q: %w", pattern, err))
			return
		}
		sqlPattern, _, ok := sqlGlob(pattern)
		if !ok {
			sqlPattern = ""
		}
		q, base := rangeQuery("key, expires_at", p.Prefix(), sqlPattern)
		cursor := ""
		for {
			if err := s.check(); err != nil {
				yield(nil, err)
				return
			}
			now := s.now()
			rows, err := s.db.QueryContext(ctx, q, append([]any{cursor}, base...)...)
			if err != nil {
				yield(nil, fmt.Errorf("sqlite: scan: %w", s.mapErr(err)))
				return
			}
			var page []string
			n := 0
			for rows.Next() {
				var k string
				var exp int64
				if err := rows.Scan(&k, &exp); err != nil {
					rows.Close()
					yield(nil, fmt.Errorf("sqlite: scan: %w", s.mapErr(err)))
					return
				}
				n++
				cursor = k
				// GLOB narrowed the rows; the shared glob matcher has
				// the last word (for keys with NUL, and sets that GLOB
				// could only approximate).
				if live(exp, now) && !backend.IsInternalKey(k) && p.Match(k) {
					page = append(page, k)
				}
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				yield(nil, fmt.Errorf("sqlite: scan: %w", s.mapErr(err)))
				return
			}
			if len(page) > 0 && !yield(page, nil) {
				return
			}
			if n < scanPage {
				return
			}
		}
	}
}

// Scan implements backend.Scanner: keyset pagination over the primary key
// bounded by the pattern's literal prefix, filtered with the shared glob
// matcher. The pattern is matched exactly (and internal keys skipped).
func (s *Store) Scan(ctx context.Context, pattern string) iter.Seq2[string, error] {
	return func(yield func(string, error) bool) {
		for page, err := range s.pages(ctx, pattern) {
			if err != nil {
				yield("", err)
				return
			}
			for _, k := range page {
				if !yield(k, nil) {
					return
				}
			}
		}
	}
}

// DeletePattern implements backend.PatternDeleter: the matching keys of
// each page of the scan are deleted in one transaction.
func (s *Store) DeletePattern(ctx context.Context, pattern string) (int64, error) {
	if err := s.check(); err != nil {
		return 0, err
	}
	var total int64
	for page, err := range s.pages(ctx, pattern) {
		if err != nil {
			return total, err
		}
		n, err := s.DeleteMany(ctx, page)
		total += n
		if err != nil {
			return total, err
		}
	}
	return total, nil
}

// Flush implements backend.Flusher: one range delete on the primary key
// (the trigger deletes the tag rows).
func (s *Store) Flush(ctx context.Context, prefix string) error {
	if err := s.check(); err != nil {
		return err
	}
	q := `DELETE FROM yokedcache_entries`
	var args []any
	if prefix != "" {
		q += ` WHERE key >= ?`
		args = append(args, prefix)
		if end := prefixEnd(prefix); end != "" {
			q += ` AND key < ?`
			args = append(args, end)
		}
	}
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, q, args...)
		return err
	})
	if err != nil {
		return fmt.Errorf("sqlite: flush: %w", s.mapErr(err))
	}
	return nil
}

// Stats implements backend.Stater: live keys and their logical bytes
// under prefix, counted with a range query on the primary key.
func (s *Store) Stats(ctx context.Context, prefix string) (backend.Stats, error) {
	if err := s.check(); err != nil {
		return backend.Stats{}, err
	}
	q := `SELECT count(*), coalesce(sum(size), 0) FROM yokedcache_entries WHERE (expires_at = 0 OR expires_at > ?)`
	args := []any{s.now()}
	scope := "backend"
	if prefix != "" {
		scope = "prefix"
		q += ` AND key >= ?`
		args = append(args, prefix)
		if end := prefixEnd(prefix); end != "" {
			q += ` AND key < ?`
			args = append(args, end)
		}
	}
	st := backend.Stats{Scope: scope, Evictions: s.evictions.Load(), Expirations: s.expirations.Load()}
	if err := s.db.QueryRowContext(ctx, q, args...).Scan(&st.Keys, &st.Bytes); err != nil {
		return backend.Stats{}, fmt.Errorf("sqlite: stats: %w", s.mapErr(err))
	}
	st.Extra = map[string]any{"damaged_reads": s.damage.Reads()}
	var pages, pageSize int64
	if err := s.db.QueryRowContext(ctx, `SELECT page_count * page_size, page_size FROM pragma_page_count(), pragma_page_size()`).Scan(&pages, &pageSize); err == nil {
		st.Extra["file_bytes"] = pages
		st.Extra["page_size"] = pageSize
	}
	return st, nil
}

// Ping implements backend.Pinger.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.check(); err != nil {
		return err
	}
	var one int
	if err := s.db.QueryRowContext(ctx, `SELECT 1`).Scan(&one); err != nil {
		return fmt.Errorf("sqlite: ping: %w", s.mapErr(err))
	}
	return nil
}

// HealthDetails implements backend.HealthChecker: "degraded" once a
// read met a damaged row or page (with the count, the last damage and the
// PRAGMA quick_check hint), after a quarantine on open, or when the
// journal mode is not WAL.
func (s *Store) HealthDetails(ctx context.Context) (backend.HealthDetails, error) {
	if err := s.check(); err != nil {
		return backend.HealthDetails{}, err
	}
	start := time.Now()
	err := s.Ping(ctx)
	lat := time.Since(start)
	ds := s.db.Stats()
	d := backend.HealthDetails{Status: "healthy", Details: map[string]any{
		"path":             s.pathName(),
		"probe_latency":    lat.String(),
		"open_connections": ds.OpenConnections,
		"in_use":           ds.InUse,
		"idle":             ds.Idle,
		"wait_count":       ds.WaitCount,
	}}
	if err != nil {
		d.Status = "unhealthy"
		d.Details["error"] = err.Error()
		return d, nil
	}
	d.Details["damaged_reads"] = s.damage.Reads()
	if n := s.damage.Reads(); n > 0 {
		d.Status = "degraded"
		last := s.damage.Last()
		d.Details["last_damage"] = last
		d.Warnings = append(d.Warnings, fmt.Sprintf("%d reads met damaged rows or pages (served as misses); "+
			"run PRAGMA quick_check on %s, and if it reports errors stop the processes using it and delete it "+
			"(with its -wal and -shm files) to start empty", n, s.pathName()))
	}
	if s.quarantined != "" {
		d.Status = "degraded"
		d.Details["quarantined"] = s.quarantined
		d.Warnings = append(d.Warnings, "a file that was not a SQLite database was moved aside on open: "+s.quarantined)
	}
	var mode string
	if err := s.db.QueryRowContext(ctx, `PRAGMA journal_mode`).Scan(&mode); err == nil {
		d.Details["journal_mode"] = mode
		if !s.memory && s.ownDB && !strings.EqualFold(mode, "wal") {
			d.Status = "degraded"
			d.Warnings = append(d.Warnings, "journal mode is "+mode+", not WAL: readers and writers block each other")
		}
	}
	return d, nil
}

func (s *Store) pathName() string {
	if s.opts.DB != nil {
		return "(caller's *sql.DB)"
	}
	return s.opts.Path
}

// Name implements backend.Namer.
func (s *Store) Name() string { return "sqlite" }

// As implements backend.Aser: a **sql.DB receives the database.
func (s *Store) As(target any) bool {
	if p, ok := target.(**sql.DB); ok && p != nil {
		*p = s.db
		return true
	}
	return false
}

// DB returns the database the Store uses.
func (s *Store) DB() *sql.DB { return s.db }
