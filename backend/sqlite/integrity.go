package sqlite

import (
	"context"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"unsafe"

	"github.com/yokedcache/yokedcache/backend"
)

// IntegrityCheck selects the check New runs on a file database before it
// serves it (Options.IntegrityCheck, URL parameter integrity_check).
type IntegrityCheck string

// The integrity checks on open.
const (
	// IntegrityOff runs no check on open (the default): damage is found
	// by the per-row checks as entries are read.
	IntegrityOff IntegrityCheck = "off"
	// IntegrityQuick runs PRAGMA quick_check: every page and record is
	// well formed (it does not compare indexes with their tables).
	IntegrityQuick IntegrityCheck = "quick"
	// IntegrityFull runs PRAGMA integrity_check: quick_check plus every
	// index compared with its table, so that keys an index lost are found.
	IntegrityFull IntegrityCheck = "full"
)

func (c IntegrityCheck) valid() bool {
	switch c {
	case "", IntegrityOff, IntegrityQuick, IntegrityFull:
		return true
	}
	return false
}

// castagnoli is the CRC-32C table (hardware accelerated on amd64 and
// arm64).
var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// sumSize is the size of the checksum stored in front of every value.
const sumSize = 8

// rowSum is the checksum stored, big-endian, in the first 8 bytes of a
// row's value column: in the high 32 bits the CRC-32C of the key, in the
// low 32 bits the CRC-32C of the key followed by the value. The key
// column a query returns may come from the index (SQLite reads indexed
// columns from the index even when it also reads the row), so it cannot
// show that the index led to another key's row; the key's CRC in the row
// can (Exists and TTL read only it), and the low half also catches a
// damaged key or value. (No length is needed between key and value: the
// high half pins the key.)
func rowSum(key string, value []byte) uint64 {
	hk := keyCRC(key)
	return uint64(hk)<<32 | uint64(crc32.Update(hk, castagnoli, value))
}

// keyCRC is the high half of rowSum. The CRC only reads the key's bytes:
// no copy.
func keyCRC(key string) uint32 {
	return crc32.Update(0, castagnoli, unsafe.Slice(unsafe.StringData(key), len(key)))
}

// sealValue returns what the value column stores for key and value: the
// checksum, then the value.
func sealValue(key string, value []byte) []byte {
	b := make([]byte, sumSize, sumSize+len(value))
	binary.BigEndian.PutUint64(b, rowSum(key, value))
	return append(b, value...)
}

// verifyKeyCheck, when false, skips the per-row key and checksum checks.
// It exists only for the A/B benchmark of their cost (bench_test.go).
var verifyKeyCheck atomic.Bool

func init() { verifyKeyCheck.Store(true) }

// mismatchError reports a row that is not the requested key's, or whose
// checksum fails. It matches backend.ErrCorrupt and backend.ErrNotFound:
// the entry is a miss, which the Cache counts and logs as corrupt.
type mismatchError struct{ msg string }

func (e *mismatchError) Error() string   { return e.msg }
func (e *mismatchError) Unwrap() []error { return []error{backend.ErrCorrupt, backend.ErrNotFound} }

// badRow records a damaged row found for key and returns the miss error.
func (s *Store) badRow(key string, why string) error {
	err := &mismatchError{fmt.Sprintf("sqlite: %q: damaged row (%s); run PRAGMA quick_check on %s: %v",
		key, why, s.pathName(), backend.ErrCorrupt)}
	s.noteDamage(err)
	return err
}

// noteDamage counts a damaged row or page and logs it, at most once per
// 10 s (the Damage limiter's default).
func (s *Store) noteDamage(err error) {
	// Options.Clock: tests see exactly which lines.
	log, reads, notLogged := s.damage.Note(err, s.clock.Now())
	if !log {
		return
	}
	s.log.Error("sqlite: a read found a damaged row; it is treated as a miss. Run PRAGMA quick_check on the database",
		"path", s.pathName(), "err", err, "damaged_reads", reads, "not_logged", notLogged)
}

// checkRow verifies that a value column read for key is key's (its
// checksum matches key and the value after it) and returns the value.
// gotKey, when the query read the key column, must be key too (though
// SQLite may have read it from the index that led to the row).
func (s *Store) checkRow(key string, gotKey, stored []byte) ([]byte, error) {
	if len(stored) < sumSize {
		return nil, s.badRow(key, fmt.Sprintf("%d-byte value column, shorter than its checksum", len(stored)))
	}
	val := stored[sumSize:]
	if !verifyKeyCheck.Load() {
		return val, nil
	}
	if gotKey != nil && string(gotKey) != key {
		return nil, s.badRow(key, fmt.Sprintf("the index led to the row of %q", gotKey))
	}
	if binary.BigEndian.Uint64(stored) != rowSum(key, val) {
		return nil, s.badRow(key, "checksum mismatch: another key's row, or a damaged key or value")
	}
	return val, nil
}

// checkRowKey verifies, from the first 8 bytes of the value column only,
// that a row read for key is key's: the high half of its checksum is
// key's CRC.
func (s *Store) checkRowKey(key string, prefix []byte) error {
	if len(prefix) < sumSize {
		return s.badRow(key, "value column shorter than its checksum")
	}
	if verifyKeyCheck.Load() && uint32(binary.BigEndian.Uint64(prefix)>>32) != keyCRC(key) {
		return s.badRow(key, "the row's key checksum is not this key's: another key's row or a damaged row")
	}
	return nil
}

// expiry returns the expires_at column scanned into v, reporting false
// when a damaged row holds something other than an integer there.
func expiry(v any) (int64, bool) {
	n, ok := v.(int64)
	return n, ok
}

// backfillSums is the Go half of the migration to schema version 2: it
// puts the checksum in front of the value of every row written by
// version 1, in tx, a batch of rows at a time in rowid order. The
// checksum covers the row as found: a row that was already damaged before
// the upgrade is kept as it is (a read through a damaged index is still
// caught, by the key half).
func backfillSums(ctx context.Context, tx *sql.Tx) error {
	after := int64(math.MinInt64)
	for {
		rows, err := tx.QueryContext(ctx, `SELECT rowid, key, value FROM yokedcache_entries
			WHERE rowid > ? ORDER BY rowid LIMIT 1000`, after)
		if err != nil {
			return err
		}
		type row struct {
			id  int64
			val []byte
		}
		var batch []row
		for rows.Next() {
			var id int64
			var k string
			var v []byte
			if err := rows.Scan(&id, &k, &v); err != nil {
				rows.Close()
				return err
			}
			batch = append(batch, row{id, sealValue(k, v)})
			after = id
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for _, r := range batch {
			if _, err := tx.ExecContext(ctx, `UPDATE yokedcache_entries SET value = ? WHERE rowid = ?`, r.val, r.id); err != nil {
				return err
			}
		}
		if len(batch) < 1000 {
			return nil
		}
	}
}

// ---- files ----

// permError refuses a file that group or others can read or write.
func permError(path string, mode fs.FileMode) error {
	return errInvalid("%s has mode %#o: readable or writable by group or others, it would expose or let others change the cache; "+
		"fix it with chmod 600 %s", path, mode.Perm(), path)
}

// prepareFile creates the database's directory (0700) when missing and
// the database file (0600, whatever the umask) when missing, so that
// SQLite's -wal and -shm files, which take the database file's mode, are
// private too. An existing database, -wal or -shm file that group or
// others can read or write is refused with an error matching
// backend.ErrInvalidConfig.
func prepareFile(path string) error {
	dir := filepath.Dir(path)
	if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return fmt.Errorf("sqlite: create directory %s: %w", dir, err)
		}
	} else if err != nil {
		return fmt.Errorf("sqlite: directory %s: %w", dir, err)
	}
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		fi, err := os.Stat(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return fmt.Errorf("sqlite: %s: %w", p, err)
		}
		if !fi.Mode().IsRegular() {
			return errInvalid("%s is not a regular file (mode %s)", p, fi.Mode())
		}
		// Windows reports 0666 for every writable file: no Unix modes.
		if runtime.GOOS != "windows" && fi.Mode().Perm()&0o077 != 0 {
			return permError(p, fi.Mode())
		}
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("sqlite: create %s: %w", path, err)
	}
	// O_CREAT's mode is already at most 0600 under any umask; Chmod makes
	// it exactly 0600.
	err = f.Chmod(0o600)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("sqlite: create %s: %w", path, err)
	}
	return nil
}

// integrityCheck runs the configured PRAGMA on open and returns an error
// matching backend.ErrCorrupt naming the path and the first problems when
// the database is damaged.
func (s *Store) integrityCheck(ctx context.Context) error {
	var pragma string
	switch s.opts.IntegrityCheck {
	case IntegrityQuick:
		pragma = "quick_check"
	case IntegrityFull:
		pragma = "integrity_check"
	default:
		return nil
	}
	rows, err := s.db.QueryContext(ctx, "PRAGMA "+pragma+"(20)")
	if err != nil {
		return fmt.Errorf("sqlite: PRAGMA %s on %s: %w", pragma, s.pathName(), s.mapErr(err))
	}
	defer rows.Close()
	var problems []string
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			return fmt.Errorf("sqlite: PRAGMA %s on %s: %w", pragma, s.pathName(), s.mapErr(err))
		}
		if line != "ok" {
			problems = append(problems, line)
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("sqlite: PRAGMA %s on %s: %w", pragma, s.pathName(), s.mapErr(err))
	}
	if len(problems) > 0 {
		return &corruptError{fmt.Errorf("sqlite: PRAGMA %s found damage in %s: %s; "+
			"stop the processes using it and delete or move it (with its -wal and -shm files) to start empty",
			pragma, s.pathName(), strings.Join(problems, "; "))}
	}
	return nil
}
