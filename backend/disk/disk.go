package disk

import (
	"bytes"
	"cmp"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"

	"github.com/yokedcache/yokedcache/backend"
	"github.com/yokedcache/yokedcache/internal/loglimit"
)

// Compile-time checks of the capabilities.
var (
	_ backend.Backend        = (*Store)(nil)
	_ backend.BatchGetter    = (*Store)(nil)
	_ backend.BatchSetter    = (*Store)(nil)
	_ backend.BatchDeleter   = (*Store)(nil)
	_ backend.Expirer        = (*Store)(nil)
	_ backend.Tagger         = (*Store)(nil)
	_ backend.Scanner        = (*Store)(nil)
	_ backend.PatternDeleter = (*Store)(nil)
	_ backend.Flusher        = (*Store)(nil)
	_ backend.Stater         = (*Store)(nil)
	_ backend.Pinger         = (*Store)(nil)
	_ backend.HealthChecker  = (*Store)(nil)
	_ backend.Namer          = (*Store)(nil)
	_ backend.SetCopier      = (*Store)(nil)
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
	stop      context.CancelFunc // stops the sweeper, also mid-sweep
	done      chan struct{}

	// keys and bytes count every entry of the store (expired ones not yet
	// swept included); they are written to the file on Close and rebuilt
	// by a scan after a crash.
	keys, bytes atomic.Int64

	hand []byte // eviction position in key order; under the writer lock

	evictions   atomic.Int64
	expirations atomic.Int64
	corrupt     atomic.Bool
	quarantined string // path of the file set aside on open, if any

	damage loglimit.Damage // damaged records met by reads (integrity.go)
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
		var sctx context.Context
		sctx, s.stop = context.WithCancel(context.Background())
		s.done = make(chan struct{})
		tick, stopTick := s.clock.NewTicker(o.CleanupInterval)
		go s.sweeper(sctx, tick, stopTick)
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
// readable or writable by group or others (unless allowWW).
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
		return errInvalid("store file %s is world-writable (mode %#o); chmod 600 %s or set AllowWorldWritable", path, fi.Mode().Perm(), path)
	}
	// Windows reports 0666 for every writable file: no Unix modes.
	if runtime.GOOS != "windows" && fi.Mode().Perm()&0o077 != 0 && !allowWW {
		return errInvalid("store file %s has mode %#o: readable or writable by group or others, it would expose the cache; "+
			"fix it with chmod 600 %s (or set AllowWorldWritable)", path, fi.Mode().Perm(), path)
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

// open opens the bbolt file, verifies it and creates the buckets. bbolt
// panics on some kinds of damaged pages, and reads outside its memory map
// fault; open turns both into corruptionErrors.
func (s *Store) open() (db *bolt.DB, err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
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
	if err := checkLength(s.path); err != nil {
		return nil, err
	}
	if !s.o.SkipVerify {
		if err := s.precheck(); err != nil {
			return nil, err
		}
	}
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
	if !s.o.SkipVerify {
		// Before initialize, which reads and writes the tree.
		if err := verify(db); err != nil {
			_ = db.Close()
			return nil, err
		}
	}
	if s.o.IntegrityCheck == IntegrityFull {
		if err := verifyRecords(db); err != nil {
			_ = db.Close()
			return nil, err
		}
	}
	if err := migrateRecords(db); err != nil {
		_ = db.Close()
		if isCorruption(err) {
			var ce *corruptionError
			if !errors.As(err, &ce) {
				err = &corruptionError{err}
			}
			return nil, err
		}
		return nil, fmt.Errorf("disk: migrate records of %s: %w", s.path, err)
	}
	if err := s.initialize(db); err != nil {
		_ = db.Close()
		return nil, err
	}
	return db, nil
}

// precheck validates the structure of an existing store file (see
// checkPages) before bbolt opens it for writing, which reads its freelist,
// and before bbolt's consistency check walks it. It holds the file's
// shared lock meanwhile, through a read-only bbolt handle (which reads
// only the meta pages), so that no other process is writing it.
func (s *Store) precheck() error {
	if fi, err := os.Stat(s.path); errors.Is(err, fs.ErrNotExist) || err == nil && fi.Size() == 0 {
		return nil // bbolt creates it
	}
	ro, err := bolt.Open(s.path, 0o600, &bolt.Options{ReadOnly: true, Timeout: s.o.LockTimeout})
	if errors.Is(err, bolterrors.ErrTimeout) {
		return fmt.Errorf("disk: %s is in use: lock not acquired within %s: %w", s.path, s.o.LockTimeout, ErrLocked)
	}
	if err != nil {
		if isCorruption(err) {
			return &corruptionError{err}
		}
		return fmt.Errorf("disk: open %s: %w", s.path, err)
	}
	err = checkPages(s.path, ro.Info().PageSize)
	if cerr := ro.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("disk: close %s: %w", s.path, cerr)
	}
	return err
}

// checkLength refuses, as corrupt, an existing non-empty store file
// shorter than its two meta pages (cut short by a torn write or a lost
// tail), which bbolt reports with an error of no known kind.
func checkLength(path string) error {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("disk: open %s: %w", path, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil || fi.Size() == 0 {
		return err
	}
	hdr := make([]byte, pageHeaderSize+12)
	if _, err := f.ReadAt(hdr, 0); err != nil {
		return &corruptionError{fmt.Errorf("file is %d bytes, shorter than a meta page", fi.Size())}
	}
	m := hdr[pageHeaderSize:]
	if native.Uint32(m) != boltMagic {
		return nil // bbolt reports the bad magic (ErrInvalid)
	}
	if ps := int64(native.Uint32(m[8:])); fi.Size() < 2*ps {
		return &corruptionError{fmt.Errorf("file is %d bytes, shorter than its two %d-byte meta pages", fi.Size(), ps)}
	}
	return nil
}

func (s *Store) initialize(db *bolt.DB) error {
	err := writeTx(db, func(tx *bolt.Tx) error {
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
			if err := m.Put(metaRecords, []byte(recordsV2)); err != nil {
				return err
			}
		} else if f := m.Get(metaFormat); string(f) != formatVersion {
			return &corruptionError{fmt.Errorf("unknown format %q (want %q)", f, formatVersion)}
		}
		for _, name := range [][]byte{bucketData, bucketTags} {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return err
			}
		}
		if m.Get(metaClean) != nil {
			s.keys.Store(getInt(m, metaKeys))
			s.bytes.Store(getInt(m, metaBytes))
			return m.Delete(metaClean)
		}
		// Not closed cleanly (or new): count the entries.
		var keys, size int64
		err := tx.Bucket(bucketData).ForEach(func(k, v []byte) error {
			keys++
			size += entrySize(k, v)
			return nil
		})
		s.keys.Store(keys)
		s.bytes.Store(size)
		return err
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
	// Set aside private whatever its mode was.
	_ = os.Chmod(s.path, 0o600)
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

// view and update run fn with faults turned into panics: a read outside
// the memory map (a damaged page read with SkipVerify, or a file changed
// underneath) then panics, bbolt rolls the transaction back, and
// recoverCorrupt returns ErrCorrupt, instead of the runtime killing the
// process.
func (s *Store) view(fn func(d *bolt.Bucket) error) (err error) {
	if s.closed.Load() {
		return fmt.Errorf("disk: %w", backend.ErrClosed)
	}
	defer s.recoverCorrupt(&err)
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	return s.mapErr(s.db.View(func(tx *bolt.Tx) error { return fn(tx.Bucket(bucketData)) }))
}

// wtx is a write transaction with the store's bookkeeping.
type wtx struct {
	s             *Store
	now           int64
	d, t, m       *bolt.Bucket
	keys, bytes   int64
	evicted, expd int64
}

func (s *Store) update(fn func(w *wtx) error) (err error) {
	if s.closed.Load() {
		return fmt.Errorf("disk: %w", backend.ErrClosed)
	}
	defer s.recoverCorrupt(&err)
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	var ev, ex, k0, b0 int64
	applied := false
	defer func() {
		if r := recover(); r != nil {
			if applied {
				s.keys.Store(k0)
				s.bytes.Store(b0)
			}
			panic(r) // for recoverCorrupt
		}
	}()
	err = writeTx(s.db, func(tx *bolt.Tx) error {
		w := &wtx{
			s:   s,
			now: s.clock.Now().UnixNano(),
			d:   tx.Bucket(bucketData), t: tx.Bucket(bucketTags),
			m: tx.Bucket(bucketMeta),
		}
		// The counters change only here, under bbolt's writer lock.
		k0, b0 = s.keys.Load(), s.bytes.Load()
		w.keys, w.bytes = k0, b0
		if err := fn(w); err != nil {
			return err
		}
		s.keys.Store(w.keys)
		s.bytes.Store(w.bytes)
		applied = true
		ev, ex = w.evicted, w.expd
		return nil
	})
	if err == nil {
		s.evictions.Add(ev)
		s.expirations.Add(ex)
	} else if applied {
		// The commit failed after the counters moved: put them back.
		s.keys.Store(k0)
		s.bytes.Store(b0)
	}
	return s.mapErr(err)
}

// writeTx is db.Update, except when fn or the commit panics (a fault on a
// damaged page): db.Update's rollback then rereads the freelist page,
// which faults again on a truncated file and leaves bbolt's writer lock
// held for ever (every later write, and Close, would block). writeTx
// rolls back in memory only, which reads no page.
func writeTx(db *bolt.DB, fn func(*bolt.Tx) error) error {
	tx, err := db.Begin(true)
	if err != nil {
		return err
	}
	finished := false
	defer func() {
		if !finished {
			_ = tx.Rollback()
		}
	}()
	if err := fn(tx); err != nil {
		finished = true
		_ = tx.Rollback()
		return err
	}
	err = tx.Commit()
	finished = true
	return err
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

// removeKey deletes key's entry, if any, and reports whether it was live.
func (w *wtx) removeKey(key []byte) (bool, error) {
	rec := w.d.Get(key)
	if rec == nil {
		return false, nil
	}
	return w.remove(key, rec)
}

// remove deletes key's record (rec, as read in this transaction) and its
// index entries. It reports whether the entry was live.
func (w *wtx) remove(key, rec []byte) (bool, error) {
	r, derr := decodeRecord(key, rec, true)
	if derr == nil {
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
		exp = backend.ExpiresAt(w.now, o.TTL)
	}
	rec := encodeRecord(k, exp, backend.UniqueTags(o.Tags), value)
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
	for _, tag := range backend.UniqueTags(o.Tags) {
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

func checkKey(key string) error {
	if key == "" || len(key) > MaxKeyBytes {
		return fmt.Errorf("disk: key of %d bytes (want 1-%d): %w", len(key), MaxKeyBytes, backend.ErrInvalidKey)
	}
	return nil
}

// evict removes entries until the store is within 95 % of its bound. It
// samples evictSample entries at a moving hand in key order (wrapping
// around) and removes the evictPerSample of them that expire soonest:
// expired entries first, entries without expiry last. keep is not
// evicted.
func (w *wtx) evict(keep map[string]struct{}) error {
	if !w.over() {
		return nil
	}
	target := w.s.maxSize / 100 * 95
	for w.bytes > target {
		cands := w.sample(keep)
		if len(cands) == 0 {
			return nil // only kept entries are left
		}
		slices.SortFunc(cands, func(a, b candidate) int { return cmp.Compare(a.rank, b.rank) })
		for i, c := range cands {
			if i == evictPerSample || w.bytes <= target {
				break
			}
			rec := w.d.Get(c.key)
			if rec == nil {
				continue
			}
			if _, err := w.remove(c.key, rec); err != nil {
				return err
			}
			if c.rank <= w.now {
				w.expd++
			} else {
				w.evicted++
			}
		}
	}
	return nil
}

const (
	evictSample    = 64
	evictPerSample = 16
)

type candidate struct {
	key  []byte
	rank int64 // expireAt, MaxInt64 for no expiry
}

// sample reads up to evictSample entries from the eviction hand, wrapping
// around at the end of the keys, and moves the hand past them.
func (w *wtx) sample(keep map[string]struct{}) []candidate {
	c := w.d.Cursor()
	k, v := seekAfter(c, nil, w.s.hand)
	var out []candidate
	wrapped := false
	for seen := 0; seen < evictSample; seen++ {
		if k == nil {
			if wrapped {
				break
			}
			wrapped = true
			if k, v = c.First(); k == nil {
				break
			}
		}
		if wrapped && (w.s.hand == nil || bytes.Compare(k, w.s.hand) > 0) {
			break // went all the way round
		}
		if _, ok := keep[string(k)]; !ok {
			exp, _ := recordExpiry(v)
			if exp == 0 {
				exp = math.MaxInt64
			}
			out = append(out, candidate{key: bytes.Clone(k), rank: exp})
		}
		k, v = c.Next()
	}
	if len(out) > 0 {
		w.s.hand = out[len(out)-1].key
	} else {
		w.s.hand = nil
	}
	return out
}

// ---- sweep ----

func (s *Store) sweeper(ctx context.Context, tick <-chan time.Time, stopTick func()) {
	defer close(s.done)
	defer stopTick()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick:
			if _, err := s.Sweep(ctx); err != nil && !errors.Is(err, backend.ErrClosed) && ctx.Err() == nil {
				s.o.Logger.Warn("yokedcache disk: sweep failed", "path", s.path, "error", err)
			}
		}
	}
}

// Sweep removes every expired entry, with its tag index entries, now, and
// returns how many it removed. The sweep goroutine calls it every
// CleanupInterval. It reads the keys in chunks, each in a short read
// transaction, and deletes what expired in a write transaction per chunk,
// so that neither readers nor writers are held up.
func (s *Store) Sweep(ctx context.Context) (int64, error) {
	var total int64
	var after []byte
	for {
		if err := ctx.Err(); err != nil {
			return total, err
		}
		var expired [][]byte
		var done bool
		err := s.view(func(d *bolt.Bucket) error {
			now := s.now()
			c := d.Cursor()
			k, v := seekAfter(c, nil, after)
			for i := 0; k != nil && i < sweepChunk; i++ {
				after = bytes.Clone(k)
				if exp, _ := recordExpiry(v); !live(exp, now) {
					expired = append(expired, after)
				}
				k, v = c.Next()
			}
			done = k == nil
			return nil
		})
		if err == nil && len(expired) > 0 {
			var removed int64
			err = s.update(func(w *wtx) error {
				removed = 0
				for _, k := range expired {
					rec := w.d.Get(k)
					if exp, ok := recordExpiry(rec); rec == nil || (ok && w.live(exp)) {
						continue // deleted or re-set meanwhile: not counted
					}
					if _, err := w.remove(k, rec); err != nil {
						return err
					}
					w.expd++
					removed++
				}
				return nil
			})
			if err == nil {
				total += removed
			}
		}
		if err != nil {
			return total, err
		}
		if done {
			return total, nil
		}
	}
}

// sweepChunk is the number of entries Sweep reads per transaction.
const sweepChunk = 4096

// Close stops the sweep goroutine and closes the file. Later calls,
// Close included, return ErrClosed.
func (s *Store) Close() error {
	first := false
	var closeErr error
	s.closeOnce.Do(func() {
		first = true
		s.closed.Store(true)
		if s.stop != nil {
			s.stop()
			<-s.done
		}
		// Save the counters so that the next open need not count.
		err := s.saveCounters()
		closeErr = errors.Join(err, s.db.Close())
	})
	if !first {
		return fmt.Errorf("disk: %w", backend.ErrClosed)
	}
	return closeErr
}

// saveCounters writes the entry counters and the clean-close mark, with
// faults turned into ErrCorrupt like update.
func (s *Store) saveCounters() (err error) {
	defer s.recoverCorrupt(&err)
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	return writeTx(s.db, func(tx *bolt.Tx) error {
		m := tx.Bucket(bucketMeta)
		for k, v := range map[string]int64{string(metaKeys): s.keys.Load(), string(metaBytes): s.bytes.Load()} {
			if err := m.Put([]byte(k), putInt(v)); err != nil {
				return err
			}
		}
		return m.Put(metaClean, []byte{1})
	})
}
