package disk

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"

	"github.com/yokedcache/yokedcache/backend"
)

// Compile-time checks of the capabilities.
var (
	_ backend.Backend        = (*Store)(nil)
	_ backend.BatchGetter    = (*Store)(nil)
	_ backend.BatchSetter    = (*Store)(nil)
	_ backend.BatchDeleter   = (*Store)(nil)
	_ backend.Exister        = (*Store)(nil)
	_ backend.Expirer        = (*Store)(nil)
	_ backend.Tagger         = (*Store)(nil)
	_ backend.Scanner        = (*Store)(nil)
	_ backend.PatternDeleter = (*Store)(nil)
	_ backend.Flusher        = (*Store)(nil)
	_ backend.Stater         = (*Store)(nil)
	_ backend.Pinger         = (*Store)(nil)
	_ backend.HealthChecker  = (*Store)(nil)
	_ backend.Namer          = (*Store)(nil)
	_ backend.Aser           = (*Store)(nil)
)

// Store is the disk backend. It is safe for concurrent use.
type Store struct {
	o       Options
	path    string
	db      *bolt.DB
	clock   backend.Clock
	maxSize int64 // -1: no bound

	closed    atomic.Bool
	closeOnce sync.Once
	stop      chan struct{}
	done      chan struct{}

	evictions   atomic.Int64
	expirations atomic.Int64
	corrupt     atomic.Bool
	quarantined string // path of the file set aside on open, if any
}

// New opens (or creates) the store in o.Directory. It starts a sweep
// goroutine (unless o.CleanupInterval < 0) that Close stops.
func New(o Options) (*Store, error) {
	o, err := o.resolved()
	if err != nil {
		return nil, err
	}
	if err := prepareDir(o.Directory, o.AllowWorldWritable); err != nil {
		return nil, err
	}
	s := &Store{
		o:       o,
		path:    filepath.Join(o.Directory, FileName),
		clock:   o.Clock,
		maxSize: o.MaxSizeBytes,
	}
	if err := checkFile(s.path, o.AllowWorldWritable); err != nil {
		return nil, err
	}
	db, err := s.open()
	if err != nil && !errors.Is(err, ErrLocked) && isCorruption(err) {
		if qerr := s.quarantine(err); qerr != nil {
			return nil, qerr
		}
		db, err = s.open()
	}
	if err != nil {
		return nil, err
	}
	s.db = db
	if o.CleanupInterval > 0 {
		s.stop = make(chan struct{})
		s.done = make(chan struct{})
		tick, stopTick := s.clock.NewTicker(o.CleanupInterval)
		go s.sweeper(tick, stopTick)
	}
	return s, nil
}

// prepareDir creates dir with mode 0700, or checks an existing one.
func prepareDir(dir string, allowWW bool) error {
	fi, err := os.Stat(dir)
	if errors.Is(err, fs.ErrNotExist) {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return fmt.Errorf("disk: create directory: %w", err)
		}
		fi, err = os.Stat(dir)
	}
	if err != nil {
		return fmt.Errorf("disk: directory: %w", err)
	}
	if !fi.IsDir() {
		return errInvalid("%s is not a directory", dir)
	}
	if fi.Mode().Perm()&0o002 != 0 && !allowWW {
		return errInvalid("directory %s is world-writable (mode %#o): anyone could replace the cache's contents; "+
			"use a private directory (chmod o-w) or set AllowWorldWritable", dir, fi.Mode().Perm())
	}
	return nil
}

// checkFile refuses a store file that is a symlink, not a regular file, or
// world-writable.
func checkFile(path string, allowWW bool) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("disk: store file: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return errInvalid("%s is not a regular file (mode %s)", path, fi.Mode())
	}
	if fi.Mode().Perm()&0o002 != 0 && !allowWW {
		return errInvalid("store file %s is world-writable (mode %#o); chmod o-w it or set AllowWorldWritable", path, fi.Mode().Perm())
	}
	return nil
}

// corruptionError marks a failure of the store file's contents (as opposed
// to a lock, permission or I/O failure).
type corruptionError struct{ err error }

func (e *corruptionError) Error() string { return "disk: store file is corrupt: " + e.err.Error() }
func (e *corruptionError) Unwrap() []error {
	return []error{e.err, backend.ErrCorrupt}
}

func isCorruption(err error) bool {
	var ce *corruptionError
	return errors.As(err, &ce) ||
		errors.Is(err, bolterrors.ErrInvalid) ||
		errors.Is(err, bolterrors.ErrChecksum) ||
		errors.Is(err, bolterrors.ErrVersionMismatch) ||
		errors.Is(err, bolterrors.ErrInvalidMapping)
}

// open opens the bbolt file, creates the buckets and verifies it. bbolt
// panics on some kinds of damaged pages; open turns those into
// corruptionErrors.
func (s *Store) open() (db *bolt.DB, err error) {
	defer func() {
		if r := recover(); r != nil {
			// The file descriptor of a panicking Open cannot be closed;
			// the file is renamed aside by the caller, so its lock does
			// not matter.
			if db != nil {
				_ = db.Close()
			}
			db, err = nil, &corruptionError{fmt.Errorf("panic while opening: %v", r)}
		}
	}()
	db, err = bolt.Open(s.path, 0o600, &bolt.Options{
		Timeout: s.o.LockTimeout,
		NoSync:  !s.o.Sync,
		// The freelist is written with every commit. Without it
		// (NoFreelistSync) bbolt rebuilds it on open by walking the tree
		// in a goroutine of its own, where a damaged page panics beyond
		// any recover and kills the process.
		NoFreelistSync: false,
		FreelistType:   bolt.FreelistMapType,
	})
	if errors.Is(err, bolterrors.ErrTimeout) {
		return nil, fmt.Errorf("disk: %s is in use: lock not acquired within %s: %w", s.path, s.o.LockTimeout, ErrLocked)
	}
	if err != nil {
		if isCorruption(err) {
			return nil, &corruptionError{err}
		}
		return nil, fmt.Errorf("disk: open %s: %w", s.path, err)
	}
	if err := initialize(db); err != nil {
		_ = db.Close()
		return nil, err
	}
	if !s.o.SkipVerify {
		if err := verify(db); err != nil {
			_ = db.Close()
			return nil, err
		}
	}
	return db, nil
}

func initialize(db *bolt.DB) error {
	err := db.Update(func(tx *bolt.Tx) error {
		m := tx.Bucket(bucketMeta)
		if m == nil {
			if tx.Bucket(bucketData) != nil || tx.Bucket(bucketTags) != nil {
				return &corruptionError{errors.New("metadata bucket missing")}
			}
			var err error
			if m, err = tx.CreateBucket(bucketMeta); err != nil {
				return err
			}
			if err := m.Put(metaFormat, []byte(formatVersion)); err != nil {
				return err
			}
		} else if f := m.Get(metaFormat); string(f) != formatVersion {
			return &corruptionError{fmt.Errorf("unknown format %q (want %q)", f, formatVersion)}
		}
		for _, name := range [][]byte{bucketData, bucketTags, bucketExpiry} {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil && isCorruption(err) {
		var ce *corruptionError
		if !errors.As(err, &ce) {
			err = &corruptionError{err}
		}
	}
	return err
}

func verify(db *bolt.DB) error {
	return db.View(func(tx *bolt.Tx) error {
		var errs []error
		// Read the channel to its end so that the checker's goroutine ends.
		for err := range tx.Check() {
			if len(errs) < 10 {
				errs = append(errs, err)
			}
		}
		if len(errs) > 0 {
			return &corruptionError{errors.Join(errs...)}
		}
		return nil
	})
}

// quarantine renames the damaged file aside so that a fresh store can be
// created, and logs it.
func (s *Store) quarantine(cause error) error {
	aside := s.path + ".corrupt-" + strconv.FormatInt(time.Now().UnixNano(), 10)
	if err := os.Rename(s.path, aside); err != nil {
		return fmt.Errorf("disk: store file is corrupt (%v) and could not be set aside: %w", cause, err)
	}
	s.quarantined = aside
	s.o.Logger.Error("yokedcache disk: store file is corrupt; moved it aside and started an empty store",
		"path", s.path, "quarantined", aside, "error", cause)
	return nil
}

// ---- transactions ----

func (s *Store) mapErr(err error) error {
	if errors.Is(err, bolterrors.ErrDatabaseNotOpen) {
		return fmt.Errorf("disk: %w", backend.ErrClosed)
	}
	return err
}

func (s *Store) recoverCorrupt(errp *error) {
	if r := recover(); r != nil {
		s.corrupt.Store(true)
		s.o.Logger.Error("yokedcache disk: damaged page read; reopen the store to quarantine the file",
			"path", s.path, "panic", fmt.Sprint(r))
		*errp = fmt.Errorf("disk: damaged store file: %v: %w", r, backend.ErrCorrupt)
	}
}

func (s *Store) view(fn func(d *bolt.Bucket) error) (err error) {
	if s.closed.Load() {
		return fmt.Errorf("disk: %w", backend.ErrClosed)
	}
	defer s.recoverCorrupt(&err)
	return s.mapErr(s.db.View(func(tx *bolt.Tx) error { return fn(tx.Bucket(bucketData)) }))
}

// wtx is a write transaction with the store's bookkeeping.
type wtx struct {
	s             *Store
	now           int64
	d, t, x, m    *bolt.Bucket
	keys, bytes   int64
	evicted, expd int64
}

func (s *Store) update(fn func(w *wtx) error) (err error) {
	if s.closed.Load() {
		return fmt.Errorf("disk: %w", backend.ErrClosed)
	}
	defer s.recoverCorrupt(&err)
	var ev, ex int64
	err = s.db.Update(func(tx *bolt.Tx) error {
		w := &wtx{
			s:   s,
			now: s.clock.Now().UnixNano(),
			d:   tx.Bucket(bucketData), t: tx.Bucket(bucketTags),
			x: tx.Bucket(bucketExpiry), m: tx.Bucket(bucketMeta),
		}
		w.keys, w.bytes = getInt(w.m, metaKeys), getInt(w.m, metaBytes)
		k0, b0 := w.keys, w.bytes
		if err := fn(w); err != nil {
			return err
		}
		if w.keys != k0 {
			if err := w.m.Put(metaKeys, putInt(w.keys)); err != nil {
				return err
			}
		}
		if w.bytes != b0 {
			if err := w.m.Put(metaBytes, putInt(w.bytes)); err != nil {
				return err
			}
		}
		ev, ex = w.evicted, w.expd
		return nil
	})
	if err == nil {
		s.evictions.Add(ev)
		s.expirations.Add(ex)
	}
	return s.mapErr(err)
}

func getInt(b *bolt.Bucket, k []byte) int64 {
	v := b.Get(k)
	if len(v) != 8 {
		return 0
	}
	return int64(binary.BigEndian.Uint64(v))
}

func putInt(n int64) []byte { return binary.BigEndian.AppendUint64(nil, uint64(n)) }

func (w *wtx) live(exp int64) bool { return exp == 0 || exp > w.now }

// remove deletes key's record (rec, as read in this transaction) and its
// index entries. It reports whether the entry was live.
func (w *wtx) remove(key, rec []byte) (bool, error) {
	r, derr := decodeRecord(key, rec, true)
	if derr == nil {
		if r.expireAt != 0 {
			if err := w.x.Delete(expiryKey(r.expireAt, key)); err != nil {
				return false, err
			}
		}
		for _, tag := range r.tags {
			if err := w.t.Delete(tagKey(tag, key)); err != nil {
				return false, err
			}
		}
	}
	w.keys--
	w.bytes -= entrySize(key, rec)
	if err := w.d.Delete(key); err != nil {
		return false, err
	}
	return derr == nil && w.live(r.expireAt), nil
}

// put writes one entry, replacing key's previous record and tags.
func (w *wtx) put(key string, value []byte, o backend.SetOptions) error {
	if err := checkKey(key); err != nil {
		return err
	}
	for _, tag := range o.Tags {
		if tag == "" || len(tag) > MaxTagBytes {
			return fmt.Errorf("disk: tag of %d bytes (want 1-%d): %w", len(tag), MaxTagBytes, backend.ErrInvalidKey)
		}
	}
	k := []byte(key)
	var exp int64
	if o.TTL != backend.NoExpiry {
		if o.TTL <= 0 {
			return fmt.Errorf("disk: ttl %s: %w", o.TTL, backend.ErrInvalidTTL)
		}
		exp = w.now + int64(o.TTL)
	}
	rec := encodeRecord(exp, dedupe(o.Tags), value)
	size := entrySize(k, rec)
	if len(value) > MaxValueBytes || (w.s.maxSize > 0 && size > w.s.maxSize) {
		return fmt.Errorf("disk: %d-byte value (limit %d bytes): %w", len(value), w.s.limit(), backend.ErrValueTooLarge)
	}
	if old := w.d.Get(k); old != nil {
		if _, err := w.remove(k, old); err != nil {
			return err
		}
	}
	if err := w.d.Put(k, rec); err != nil {
		return err
	}
	if exp != 0 {
		if err := w.x.Put(expiryKey(exp, k), nil); err != nil {
			return err
		}
	}
	for _, tag := range dedupe(o.Tags) {
		if err := w.t.Put(tagKey(tag, k), nil); err != nil {
			return err
		}
	}
	w.keys++
	w.bytes += size
	return nil
}

// limit is the largest value accepted.
func (s *Store) limit() int64 {
	if s.maxSize > 0 && s.maxSize < MaxValueBytes {
		return s.maxSize
	}
	return MaxValueBytes
}

func dedupe(tags []string) []string {
	if len(tags) < 2 {
		return tags
	}
	out := make([]string, 0, len(tags))
	for _, t := range tags {
		dup := false
		for _, o := range out {
			if o == t {
				dup = true
				break
			}
		}
		if !dup {
			out = append(out, t)
		}
	}
	return out
}

func checkKey(key string) error {
	if key == "" || len(key) > MaxKeyBytes {
		return fmt.Errorf("disk: key of %d bytes (want 1-%d): %w", len(key), MaxKeyBytes, backend.ErrInvalidKey)
	}
	return nil
}

// evict removes entries until the store is within 95 % of its bound:
// soonest-to-expire first, then entries without expiry in key order.
// keep is not evicted.
func (w *wtx) evict(keep map[string]struct{}) error {
	if w.s.maxSize <= 0 || w.bytes <= w.s.maxSize {
		return nil
	}
	target := w.s.maxSize / 100 * 95
	for _, fromExpiry := range []bool{true, false} {
		var after []byte
		for w.bytes > target {
			batch, last := w.collect(fromExpiry, after, keep)
			if len(batch) == 0 {
				break
			}
			after = last
			for _, k := range batch {
				rec := w.d.Get(k)
				if rec == nil {
					continue
				}
				exp, _ := recordExpiry(rec)
				if _, err := w.remove(k, rec); err != nil {
					return err
				}
				if w.live(exp) {
					w.evicted++
				} else {
					w.expd++
				}
				if w.bytes <= target {
					break
				}
			}
		}
	}
	return nil
}

// collect returns up to 256 stored keys in eviction order after the cursor
// position after (nil: from the start), and the new position.
func (w *wtx) collect(fromExpiry bool, after []byte, keep map[string]struct{}) (keys [][]byte, last []byte) {
	b := w.d
	if fromExpiry {
		b = w.x
	}
	c := b.Cursor()
	var k []byte
	if after == nil {
		k, _ = c.First()
	} else {
		k, _ = c.Seek(after)
		if bytes.Equal(k, after) {
			k, _ = c.Next()
		}
	}
	for ; k != nil && len(keys) < 256; k, _ = c.Next() {
		last = bytes.Clone(k)
		key := k
		if fromExpiry {
			key = k[8:]
		}
		if _, ok := keep[string(key)]; ok {
			continue
		}
		keys = append(keys, bytes.Clone(key))
	}
	return keys, last
}

// ---- sweep ----

func (s *Store) sweeper(tick <-chan time.Time, stopTick func()) {
	defer close(s.done)
	defer stopTick()
	for {
		select {
		case <-s.stop:
			return
		case <-tick:
			if _, err := s.Sweep(context.Background()); err != nil && !errors.Is(err, backend.ErrClosed) {
				s.o.Logger.Warn("yokedcache disk: sweep failed", "path", s.path, "error", err)
			}
		}
	}
}

// Sweep removes every expired entry, with its tag index entries, now, and
// returns how many it removed. The sweep goroutine calls it every
// CleanupInterval; it works in transactions of at most 1000 entries so
// that writers are not held up.
func (s *Store) Sweep(ctx context.Context) (int64, error) {
	var total int64
	for {
		if err := ctx.Err(); err != nil {
			return total, err
		}
		if s.closed.Load() {
			return total, fmt.Errorf("disk: %w", backend.ErrClosed)
		}
		var n int
		err := s.update(func(w *wtx) error {
			var keys [][]byte
			c := w.x.Cursor()
			for k, _ := c.First(); k != nil && len(keys) < 1000; k, _ = c.Next() {
				if int64(binary.BigEndian.Uint64(k[:8])) > w.now {
					break
				}
				keys = append(keys, bytes.Clone(k[8:]))
			}
			n = len(keys)
			for _, k := range keys {
				rec := w.d.Get(k)
				exp, _ := recordExpiry(rec)
				if rec == nil || w.live(exp) {
					continue
				}
				if _, err := w.remove(k, rec); err != nil {
					return err
				}
				w.expd++
				total++
			}
			return nil
		})
		if err != nil {
			return total, err
		}
		if n < 1000 {
			return total, nil
		}
	}
}

// Close stops the sweep goroutine and closes the file. Later calls,
// Close included, return ErrClosed.
func (s *Store) Close() error {
	first := false
	var closeErr error
	s.closeOnce.Do(func() {
		first = true
		s.closed.Store(true)
		if s.stop != nil {
			close(s.stop)
			<-s.done
		}
		closeErr = s.db.Close()
	})
	if !first {
		return fmt.Errorf("disk: %w", backend.ErrClosed)
	}
	return closeErr
}
