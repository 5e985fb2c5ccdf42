package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	sqlite3 "modernc.org/sqlite" // also registers the "sqlite" database/sql driver

	"github.com/yokedcache/yokedcache/backend"
	"github.com/yokedcache/yokedcache/internal/loglimit"
)

// DriverName is the database/sql driver the Store opens Options.Path with
// (modernc.org/sqlite, pure Go).
const DriverName = "sqlite"

// SchemaVersion is the version of the tables this package writes. A
// database with a newer version is refused; older versions are migrated
// on open.
const SchemaVersion = 2

// entryOverhead is the fixed per-entry size counted towards MaxSizeBytes,
// approximating SQLite's row and index overhead.
const entryOverhead = 48

// ErrSchemaTooNew reports a database written by a newer version of this
// package.
var ErrSchemaTooNew = errors.New("sqlite: database schema is newer than this version supports")

// Store is a backend.Backend on a SQLite database. It is safe for
// concurrent use, and several Stores (in one or several processes) may
// share one database file.
type Store struct {
	db     *sql.DB
	ownDB  bool
	opts   Options
	clock  backend.Clock
	log    *slog.Logger
	memory bool

	closed atomic.Bool
	// wmu serializes this Store's write transactions, so that its
	// goroutines queue in Go instead of spinning in SQLite's busy handler;
	// other processes are arbitrated by SQLite's locks and busy timeout.
	wmu sync.Mutex

	stmtGet, stmtSet, stmtExists, stmtMany *sql.Stmt

	evictions, expirations atomic.Int64
	// sinceCheck estimates the entries and bytes written since the size
	// bound was last measured.
	sinceBytes, sinceEntries atomic.Int64
	lastBytes, lastEntries   atomic.Int64

	stop chan struct{}
	wg   sync.WaitGroup

	quarantined string // path the file was moved to by New, if any

	damage loglimit.Damage // damaged rows met by reads (integrity.go)
}

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
	_ backend.TTLReader      = (*Store)(nil)
	_ backend.Pinger         = (*Store)(nil)
	_ backend.HealthChecker  = (*Store)(nil)
	_ backend.Namer          = (*Store)(nil)
	_ backend.SetCopier      = (*Store)(nil)
	_ backend.Aser           = (*Store)(nil)
)

// The schema, version 1. Table names carry a prefix so that a database
// passed in Options.DB can hold the application's own tables too.
//
// entries is a rowid table: a Get is two B-tree searches (the key's
// unique index, then the row). Through the Cache that measured about 5 %
// slower than a WITHOUT ROWID table for 100-byte values, but a third
// faster for 16 KiB ones (3-6 times with raw statements), whose rows a
// WITHOUT ROWID table keeps in overflow chains of the key's B-tree
// (docs/sqlite.md). expires_at is unix nanoseconds, 0 for
// never; ntags counts the entry's rows in tags so that the triggers skip
// untagged entries without a lookup.
var schemaV1 = []string{
	`CREATE TABLE IF NOT EXISTS yokedcache_entries (
		key        TEXT    NOT NULL PRIMARY KEY,
		value      BLOB    NOT NULL,
		expires_at INTEGER NOT NULL DEFAULT 0,
		size       INTEGER NOT NULL DEFAULT 0,
		ntags      INTEGER NOT NULL DEFAULT 0
	)`,
	`CREATE INDEX IF NOT EXISTS yokedcache_entries_expires_at
		ON yokedcache_entries(expires_at) WHERE expires_at > 0`,
	`CREATE TABLE IF NOT EXISTS yokedcache_tags (
		tag TEXT NOT NULL,
		key TEXT NOT NULL,
		PRIMARY KEY (tag, key)
	) WITHOUT ROWID`,
	`CREATE INDEX IF NOT EXISTS yokedcache_tags_key ON yokedcache_tags(key)`,
	// Deleting an entry (Delete, sweep, eviction, Flush, InvalidateTags)
	// deletes its tags in the same statement.
	`CREATE TRIGGER IF NOT EXISTS yokedcache_entries_delete_tags
		AFTER DELETE ON yokedcache_entries WHEN OLD.ntags > 0
		BEGIN DELETE FROM yokedcache_tags WHERE key = OLD.key; END`,
	// Replacing an entry's value (an upsert) drops its old tags; the new
	// ones are inserted after the upsert in the same transaction.
	`CREATE TRIGGER IF NOT EXISTS yokedcache_entries_replace_tags
		AFTER UPDATE OF value ON yokedcache_entries WHEN OLD.ntags > 0
		BEGIN DELETE FROM yokedcache_tags WHERE key = OLD.key; END`,
}

// Version 2 stores in front of every value the 8-byte checksum of its
// key and value (rowSum; integrity.go), which every read verifies: a row
// reached through a damaged index, or with a damaged key or value, is a
// miss matching backend.ErrCorrupt instead of another key's value. In the
// value column rather than a column of its own, because each column a
// query returns costs modernc's driver a few % of a Get. Rows written
// by version 1 get their checksum during the migration (backfillSums),
// with the trigger that drops tags on a value update suspended.
var (
	schemaV2pre  = []string{`DROP TRIGGER IF EXISTS yokedcache_entries_replace_tags`}
	schemaV2post = []string{schemaV1[len(schemaV1)-1]}
)

// migrations[v] upgrades a database from version v to v+1; fill[v], when
// set, runs after migrations[v] in the same transaction, then post[v].
var (
	migrations = [][]string{
		0: schemaV1,
		1: schemaV2pre,
	}
	fill = map[int]func(context.Context, *sql.Tx) error{
		1: backfillSums,
	}
	post = map[int][]string{
		1: schemaV2post,
	}
)

const (
	sqlGet    = `SELECT value, expires_at FROM yokedcache_entries WHERE key = ?`
	sqlMany   = `SELECT key, value, expires_at FROM yokedcache_entries WHERE key IN (SELECT value FROM json_each(?))`
	sqlExists = `SELECT expires_at, substr(value, 1, 8) FROM yokedcache_entries WHERE key = ?`
	sqlSet    = `INSERT INTO yokedcache_entries (key, value, expires_at, size, ntags) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (key) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at,
		size = excluded.size, ntags = excluded.ntags`
)

// New opens (or creates) the database Options describe and returns a Store.
func New(opts Options) (*Store, error) {
	o, err := opts.resolved()
	if err != nil {
		return nil, err
	}
	s := &Store{opts: o, clock: o.Clock, log: o.Logger, stop: make(chan struct{})}
	if o.DB != nil {
		s.db = o.DB
	} else {
		if err := s.open(); err != nil {
			return nil, err
		}
		s.ownDB = true
	}
	ctx, cancel := context.WithTimeout(context.Background(), o.BusyTimeout+5*time.Second)
	defer cancel()
	err = s.migrate(ctx)
	if err != nil && s.ownDB && !s.memory && sqliteCode(err) == sqliteNotADB {
		// Not a SQLite database at all: no process can be using it, so
		// set it aside and start empty, like the disk backend.
		s.closeDB()
		if qerr := s.quarantine(err); qerr != nil {
			return nil, qerr
		}
		if err := s.open(); err != nil {
			return nil, err
		}
		err = s.migrate(ctx)
	}
	if err == nil && s.ownDB && !s.memory {
		err = s.integrityCheck(ctx)
	}
	if err != nil {
		s.closeDB()
		return nil, s.mapErr(err)
	}
	for _, p := range []struct {
		dst **sql.Stmt
		q   string
	}{{&s.stmtGet, sqlGet}, {&s.stmtSet, sqlSet}, {&s.stmtExists, sqlExists}, {&s.stmtMany, sqlMany}} {
		if *p.dst, err = s.db.PrepareContext(ctx, p.q); err != nil {
			s.closeDB()
			return nil, fmt.Errorf("sqlite: prepare: %w", err)
		}
	}
	if err := s.enforceBound(ctx, nil); err != nil {
		s.closeDB()
		return nil, fmt.Errorf("sqlite: size bound: %w", err)
	}
	if o.CleanupInterval > 0 {
		tick, stopTick := s.clock.NewTicker(o.CleanupInterval)
		s.wg.Add(1)
		go s.sweeper(tick, stopTick)
	}
	return s, nil
}

// uriPath escapes a file name for a SQLite "file:" URI.
func uriPath(p string) string {
	r := strings.NewReplacer("%", "%25", "?", "%3F", "#", "%23")
	return r.Replace(filepath.ToSlash(p))
}

func (s *Store) open() error {
	o := s.opts
	var dsn string
	if o.Path == MemoryPath {
		s.memory = true
		dsn = "file::memory:?_txlock=immediate"
	} else {
		abs, err := filepath.Abs(o.Path)
		if err != nil {
			return errInvalid("path %q: %v", o.Path, err)
		}
		if err := prepareFile(abs); err != nil {
			return err
		}
		sync := "NORMAL"
		if o.SyncFull {
			sync = "FULL"
		}
		dsn = fmt.Sprintf("file:%s?_txlock=immediate&_pragma=busy_timeout(%d)&_pragma=journal_mode(WAL)&_pragma=synchronous(%s)",
			uriPath(abs), o.BusyTimeout.Milliseconds(), sync)
	}
	db, err := sql.Open(DriverName, dsn)
	if err != nil {
		return fmt.Errorf("sqlite: open %q: %w", o.Path, err)
	}
	if s.memory {
		// Every connection to ":memory:" is a database of its own: keep
		// exactly one, for ever.
		db.SetMaxOpenConns(1)
		db.SetMaxIdleConns(1)
		db.SetConnMaxLifetime(0)
		db.SetConnMaxIdleTime(0)
	} else {
		db.SetMaxOpenConns(o.MaxOpenConns)
		db.SetMaxIdleConns(o.MaxOpenConns)
	}
	s.db = db
	return nil
}

func (s *Store) closeDB() {
	for _, st := range []*sql.Stmt{s.stmtGet, s.stmtSet, s.stmtExists, s.stmtMany} {
		if st != nil {
			_ = st.Close()
		}
	}
	if s.ownDB {
		_ = s.db.Close()
	}
}

// migrate brings the schema to SchemaVersion. The version lives in the
// yokedcache_meta table rather than PRAGMA user_version, which belongs to
// the application when it passes its own database in Options.DB.
func (s *Store) migrate(ctx context.Context) error {
	// Idempotent, and a single statement: safe when several processes
	// open a new file at once. writeTx needs the table (see there).
	if _, err := s.db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS yokedcache_meta (
		name TEXT NOT NULL PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID`); err != nil {
		return fmt.Errorf("sqlite: create schema: %w", err)
	}
	return s.writeTx(ctx, func(tx *sql.Tx) error {
		var v int
		err := tx.QueryRowContext(ctx, `SELECT value FROM yokedcache_meta WHERE name = 'schema_version'`).Scan(&v)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("sqlite: read schema version: %w", err)
		}
		if v > SchemaVersion {
			return fmt.Errorf("sqlite: schema version %d, this version supports up to %d: %w", v, SchemaVersion, ErrSchemaTooNew)
		}
		for ; v < SchemaVersion; v++ {
			for _, q := range migrations[v] {
				if _, err := tx.ExecContext(ctx, q); err != nil {
					return fmt.Errorf("sqlite: migrate schema to version %d: %w", v+1, err)
				}
			}
			if f := fill[v]; f != nil {
				if err := f(ctx, tx); err != nil {
					return fmt.Errorf("sqlite: migrate schema to version %d: %w", v+1, err)
				}
			}
			for _, q := range post[v] {
				if _, err := tx.ExecContext(ctx, q); err != nil {
					return fmt.Errorf("sqlite: migrate schema to version %d: %w", v+1, err)
				}
			}
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO yokedcache_meta (name, value) VALUES ('schema_version', ?)
			ON CONFLICT (name) DO UPDATE SET value = excluded.value`, v)
		if err != nil {
			return fmt.Errorf("sqlite: write schema version: %w", err)
		}
		return nil
	})
}

// writeTx runs fn in a write transaction that holds SQLite's write lock
// from its start, so that it can never fail half-way with "database is
// locked" because another connection or process wrote after it read. On a
// database this Store opened, BEGIN is BEGIN IMMEDIATE (the driver's
// _txlock); on a database passed in Options.DB, whose driver settings are
// the caller's, the transaction's first statement is a write that changes
// nothing, which takes the lock the same way (under the busy timeout).
func (s *Store) writeTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if !s.ownDB {
		if _, err := tx.ExecContext(ctx, `DELETE FROM yokedcache_meta WHERE 0`); err != nil {
			_ = tx.Rollback()
			return err
		}
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	return tx.Commit()
}

// Close stops the sweep and closes the database when the Store opened it.
// Later calls return backend.ErrClosed.
func (s *Store) Close() error {
	if !s.closed.CompareAndSwap(false, true) {
		return fmt.Errorf("sqlite: close: %w", backend.ErrClosed)
	}
	close(s.stop)
	s.wg.Wait()
	s.closeDB()
	return nil
}

func (s *Store) sweeper(tick <-chan time.Time, stopTick func()) {
	defer s.wg.Done()
	defer stopTick()
	for {
		select {
		case <-s.stop:
			return
		case <-tick:
		}
		ctx, cancel := context.WithCancel(context.Background())
		go func() {
			select {
			case <-s.stop:
			case <-ctx.Done():
			}
			cancel()
		}()
		if _, err := s.Sweep(ctx); err != nil && !s.closed.Load() {
			s.log.Error("sqlite: sweep failed", "err", err)
		}
		if err := s.enforceBound(ctx, nil); err != nil && !s.closed.Load() {
			s.log.Error("sqlite: size bound enforcement failed", "err", err)
		}
		cancel()
	}
}

// sweepBatch is the number of expired rows one sweep transaction deletes,
// so that the write lock is released regularly.
const sweepBatch = 1000

// Sweep deletes every expired entry now and returns how many it deleted.
// The sweep goroutine calls it every Options.CleanupInterval.
func (s *Store) Sweep(ctx context.Context) (int64, error) {
	if err := s.check(); err != nil {
		return 0, err
	}
	var total int64
	for {
		now := s.now()
		var n int64
		err := s.writeTx(ctx, func(tx *sql.Tx) error {
			res, err := tx.ExecContext(ctx, `DELETE FROM yokedcache_entries WHERE key IN (
				SELECT key FROM yokedcache_entries WHERE expires_at > 0 AND expires_at <= ? LIMIT ?)`,
				now, sweepBatch)
			if err != nil {
				return err
			}
			n, err = res.RowsAffected()
			return err
		})
		if err != nil {
			return total, fmt.Errorf("sqlite: sweep: %w", s.mapErr(err))
		}
		total += n
		s.expirations.Add(n)
		if n < sweepBatch {
			return total, nil
		}
	}
}

// noteWrite records a write for the size bound and enforces it when the
// estimate says it may be exceeded, never evicting what the write wrote:
// key (a Set) or items (a SetMany).
func (s *Store) noteWrite(ctx context.Context, key string, items []backend.Item, entries, bytes int64) {
	if s.opts.MaxSizeBytes == 0 && s.opts.MaxEntries == 0 {
		return
	}
	e := s.sinceEntries.Add(entries)
	b := s.sinceBytes.Add(bytes)
	over := (s.opts.MaxEntries > 0 && s.lastEntries.Load()+e > s.opts.MaxEntries) ||
		(s.opts.MaxSizeBytes > 0 && s.lastBytes.Load()+b > s.opts.MaxSizeBytes)
	if over {
		// The write itself succeeded: a failed eviction is logged, and
		// retried by the next write or sweep.
		keep := map[string]struct{}{}
		if items == nil {
			keep[key] = struct{}{}
		}
		for _, it := range items {
			keep[it.Key] = struct{}{}
		}
		if err := s.enforceBound(ctx, keep); err != nil && !s.closed.Load() {
			s.log.Warn("sqlite: size bound enforcement failed", "err", err)
		}
	}
}

// enforceBound measures the store and, when it is over a bound, evicts
// down to 95 % of it: soonest-to-expire first (so expired rows go first),
// then entries without expiry in key order. The keys in keep (those the
// write that triggered it wrote) are not evicted.
func (s *Store) enforceBound(ctx context.Context, keep map[string]struct{}) error {
	if s.opts.MaxSizeBytes == 0 && s.opts.MaxEntries == 0 {
		return nil
	}
	return s.writeTx(ctx, func(tx *sql.Tx) error {
		// Measured inside the write lock, so that concurrent writers
		// (other processes too) do not all evict.
		var n, b int64
		if err := tx.QueryRowContext(ctx, `SELECT count(*), coalesce(sum(size), 0) FROM yokedcache_entries`).Scan(&n, &b); err != nil {
			return err
		}
		s.sinceEntries.Store(0)
		s.sinceBytes.Store(0)
		defer func() { s.lastEntries.Store(n); s.lastBytes.Store(b) }()
		overN := s.opts.MaxEntries > 0 && n > s.opts.MaxEntries
		overB := s.opts.MaxSizeBytes > 0 && b > s.opts.MaxSizeBytes
		if !overN && !overB {
			return nil
		}
		targetN, targetB := s.opts.MaxEntries*95/100, s.opts.MaxSizeBytes*95/100
		for _, q := range []string{
			`SELECT key, size FROM yokedcache_entries WHERE expires_at > 0 ORDER BY expires_at LIMIT ?`,
			`SELECT key, size FROM yokedcache_entries WHERE expires_at = 0 ORDER BY key LIMIT ?`,
		} {
			for (s.opts.MaxEntries > 0 && n > targetN) || (s.opts.MaxSizeBytes > 0 && b > targetB) {
				var keys []string
				// Kept keys are skipped, so read enough rows for 500 others.
				rows, err := tx.QueryContext(ctx, q, 500+len(keep))
				if err != nil {
					return err
				}
				for rows.Next() && ((s.opts.MaxEntries > 0 && n > targetN) || (s.opts.MaxSizeBytes > 0 && b > targetB)) {
					var k string
					var sz int64
					if err := rows.Scan(&k, &sz); err != nil {
						rows.Close()
						return err
					}
					if _, ok := keep[k]; ok {
						continue
					}
					keys = append(keys, k)
					n--
					b -= sz
				}
				rows.Close()
				if err := rows.Err(); err != nil {
					return err
				}
				if len(keys) == 0 {
					break
				}
				if _, err := deleteKeys(ctx, tx, keys, 0); err != nil {
					return err
				}
				s.evictions.Add(int64(len(keys)))
			}
		}
		return nil
	})
}

func (s *Store) now() int64 { return s.clock.Now().UnixNano() }

func (s *Store) check() error {
	if s.closed.Load() {
		return backend.ErrClosed
	}
	return nil
}

// mapErr turns errors caused by a concurrent Close into ErrClosed, and
// SQLite's "not a database" and "database disk image is malformed" into
// errors that also match backend.ErrCorrupt.
func (s *Store) mapErr(err error) error {
	if err != nil && s.closed.Load() && !errors.Is(err, backend.ErrClosed) {
		return fmt.Errorf("%w (%v)", backend.ErrClosed, err)
	}
	if c := sqliteCode(err); c == sqliteCorrupt || c == sqliteNotADB {
		ce := &corruptError{err}
		s.noteDamage(ce)
		return ce
	}
	return err
}

// SQLite's primary result codes for a damaged database.
const (
	sqliteCorrupt = 11 // SQLITE_CORRUPT
	sqliteNotADB  = 26 // SQLITE_NOTADB
)

// sqliteCode returns the primary SQLite result code in err, or 0.
func sqliteCode(err error) int {
	var e *sqlite3.Error
	if err != nil && errors.As(err, &e) {
		return e.Code() & 0xff
	}
	return 0
}

// corruptError matches backend.ErrCorrupt as well as the SQLite error.
type corruptError struct{ err error }

func (e *corruptError) Error() string   { return e.err.Error() }
func (e *corruptError) Unwrap() []error { return []error{e.err, backend.ErrCorrupt} }

// quarantine renames a database file that is not a SQLite database aside
// (with any -wal and -shm files next to it), so that New can create a
// fresh one, and logs it.
func (s *Store) quarantine(cause error) error {
	path, err := filepath.Abs(s.opts.Path)
	if err != nil {
		return errInvalid("path %q: %v", s.opts.Path, err)
	}
	aside := path + ".corrupt-" + strconv.FormatInt(time.Now().UnixNano(), 10)
	// Set aside private: a file created by an older build may be 0644.
	_ = os.Chmod(path, 0o600)
	if err := os.Rename(path, aside); err != nil {
		return &corruptError{fmt.Errorf("sqlite: %s is not a database (%v) and could not be set aside: %w", path, cause, err)}
	}
	for _, suffix := range []string{"-wal", "-shm"} {
		if err := os.Rename(path+suffix, aside+suffix); err != nil && !errors.Is(err, os.ErrNotExist) {
			return &corruptError{fmt.Errorf("sqlite: %s is not a database (%v) and its %s file could not be set aside: %w", path, cause, suffix, err)}
		}
	}
	s.quarantined = aside
	s.log.Error("sqlite: database file is not a SQLite database; moved it aside and started an empty database",
		"path", path, "quarantined", aside, "err", cause)
	return nil
}

// expiresAt converts a TTL (> 0, or backend.NoExpiry) to the stored
// expiry: 0 for NoExpiry, otherwise now + ttl in Unix nanoseconds,
// saturated at math.MaxInt64 (the year 2262) instead of wrapping, and at
// least 1, so that a stored expiry is never 0 by accident nor negative
// (the sweep and eviction read only expires_at > 0). A TTL of 0 or below
// is an error matching backend.ErrInvalidTTL, as on the disk backend.
func expiresAt(ttl time.Duration, now int64) (int64, error) {
	if ttl == backend.NoExpiry {
		return 0, nil
	}
	if ttl <= 0 {
		return 0, fmt.Errorf("ttl %s (want > 0 or backend.NoExpiry): %w", ttl, backend.ErrInvalidTTL)
	}
	return max(backend.ExpiresAt(now, ttl), 1), nil
}

func live(exp, now int64) bool { return exp == 0 || exp > now }
