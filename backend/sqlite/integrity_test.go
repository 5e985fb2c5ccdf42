package sqlite_test

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/yokedcache/yokedcache/backend"
	"github.com/yokedcache/yokedcache/backend/sqlite"
	"github.com/yokedcache/yokedcache/yokedcachetest"
)

// fillKeys writes n entries r5:k0000... with values that do not contain
// their key, closes the store (checkpointing the WAL into the file) and
// returns the path.
func fillKeys(t *testing.T, n int) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "cache.db")
	s := newStore(t, sqlite.Options{Path: path, CleanupInterval: -1})
	items := make([]backend.Item, n)
	for i := range n {
		items[i] = backend.Item{Key: keyN(i), Value: valN(i), SetOptions: backend.SetOptions{TTL: time.Hour}}
	}
	must(t, s.SetMany(ctx, items))
	// No stale copies of records in free pages.
	_, err := s.DB().ExecContext(ctx, `VACUUM`)
	must(t, err)
	must(t, s.Close())
	if fi, err := os.Stat(path + "-wal"); err == nil && fi.Size() > 0 {
		t.Fatalf("the WAL was not checkpointed on Close (%d bytes)", fi.Size())
	}
	return path
}

func keyN(i int) string { return fmt.Sprintf("r5:k%04d", i) }
func valN(i int) []byte { return fmt.Appendf(nil, "val#%04d#%s", i, strings.Repeat("x", i%50)) }

// pointIndexAtNeighbour rewrites, in the key's unique index, the rowid
// stored for keyN(i) (rowid i+1, written in two bytes for 128 <= i+1 <
// 32768) so that it names the next row: the damage the outside probe
// made with byte flips in index leaf pages.
func pointIndexAtNeighbour(t *testing.T, path string, i int) {
	t.Helper()
	b, err := os.ReadFile(path)
	must(t, err)
	key := []byte(keyN(i))
	rowid := []byte{byte((i + 1) >> 8), byte(i + 1)}
	found := 0
	for off := 0; ; {
		j := bytes.Index(b[off:], key)
		if j < 0 {
			break
		}
		at := off + j + len(key)
		// In the index the key is followed by its rowid; in the table
		// by the value. Only the leaf page's copy (page type 0x0a) is
		// the one a lookup ends on.
		ps := int(b[16])<<8 | int(b[17])
		if ps == 1 {
			ps = 65536
		}
		if bytes.HasPrefix(b[at:], rowid) && b[at/ps*ps] == 0x0a {
			b[at+1]++
			found++
		}
		off = at
	}
	if found != 1 {
		t.Fatalf("found the index record of %s %d times; want 1", key, found)
	}
	must(t, os.WriteFile(path, b, 0o600))
}

// The reported bug: a byte flipped in an index leaf page made Get return
// another key's value with no error. With the row check it is a miss
// matching ErrCorrupt and ErrNotFound, on every read path, counted, logged
// once, and health is degraded with the quick_check hint.
func TestDamagedIndexIsACorruptMiss(t *testing.T) {
	path := fillKeys(t, 400)
	pointIndexAtNeighbour(t, path, 150)

	// Without the check this is the bug: the neighbour's value.
	prev := sqlite.SetKeyCheck(false)
	s := newStore(t, sqlite.Options{Path: path, CleanupInterval: -1})
	got, err := s.Get(ctx, keyN(150))
	sqlite.SetKeyCheck(prev)
	if err != nil || !bytes.Equal(got, valN(151)) {
		t.Fatalf("without the check, Get = %q, %v; the damage should return the neighbour's value (test setup broken?)", got, err)
	}
	must(t, s.Close())

	var logs bytes.Buffer
	clock := yokedcachetest.NewClock(time.Now())
	s = newStore(t, sqlite.Options{Path: path, CleanupInterval: -1, Clock: clock, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	for range 100 {
		got, err = s.Get(ctx, keyN(150))
		if !errors.Is(err, backend.ErrCorrupt) || !errors.Is(err, backend.ErrNotFound) {
			t.Fatalf("Get of a key whose index entry names another row = %q, %v; want a miss matching ErrCorrupt and ErrNotFound", got, err)
		}
	}
	if got, err := s.Get(ctx, keyN(151)); err != nil || !bytes.Equal(got, valN(151)) {
		t.Fatalf("Get of the neighbour = %q, %v", got, err)
	}
	many, err := s.GetMany(ctx, []string{keyN(149), keyN(150), keyN(151)})
	must(t, err)
	if !bytes.Equal(many[0], valN(149)) || many[1] != nil || !bytes.Equal(many[2], valN(151)) {
		t.Fatalf("GetMany = %q; want %s's value, a miss, %s's value", many, keyN(149), keyN(151))
	}
	// GetMany of the damaged key alone: the row found is not one asked for.
	many, err = s.GetMany(ctx, []string{keyN(150)})
	must(t, err)
	if many[0] != nil {
		t.Fatalf("GetMany of the damaged key alone = %q; want a miss", many[0])
	}
	if _, err := s.TTL(ctx, keyN(150)); !errors.Is(err, backend.ErrCorrupt) || !errors.Is(err, backend.ErrNotFound) {
		t.Fatalf("TTL = %v; want a miss matching ErrCorrupt and ErrNotFound", err)
	}
	if ok, err := storeHas(ctx, s, keyN(150)); ok || err != nil {
		t.Fatalf("Exists = %v, %v; want false", ok, err)
	}
	if n := strings.Count(logs.String(), "level=ERROR"); n != 1 {
		t.Errorf("%d log lines about damaged rows for 100+ damaged reads; want 1 (rate-limited):\n%s", n, logs.String())
	}
	clock.Advance(11 * time.Second)
	_, _ = s.Get(ctx, keyN(150))
	if n := strings.Count(logs.String(), "level=ERROR"); n != 2 || !regexp.MustCompile(`not_logged=[1-9]`).MatchString(logs.String()) {
		t.Errorf("after 11 s, %d log lines; want 2, the second counting the lines not logged:\n%s", n, logs.String())
	}
	h, err := s.HealthDetails(ctx)
	must(t, err)
	if h.Status != "degraded" || !strings.Contains(strings.Join(h.Warnings, " "), "PRAGMA quick_check") {
		t.Fatalf("HealthDetails = %+v; want degraded with the quick_check hint", h)
	}
	st, err := s.Stats(ctx, "")
	must(t, err)
	if n, _ := st.Extra["damaged_reads"].(int64); n < 103 {
		t.Fatalf("Stats damaged_reads = %v; want every damaged read counted (>= 103)", st.Extra["damaged_reads"])
	}
	// Every other key still reads its own value.
	for i := range 400 {
		if i == 150 {
			continue
		}
		if got, err := s.Get(ctx, keyN(i)); err != nil || !bytes.Equal(got, valN(i)) {
			t.Fatalf("Get(%s) = %q, %v", keyN(i), got, err)
		}
	}
}

// A damaged key or value in the row itself fails the checksum.
func TestDamagedRowFailsChecksum(t *testing.T) {
	s := newStore(t, sqlite.Options{CleanupInterval: -1})
	set(t, s, "a", "value of a", time.Hour)
	set(t, s, "b", "value of b", time.Hour)
	// Change the bytes without the checksum, as a flipped byte would.
	_, err := s.DB().ExecContext(ctx, `UPDATE yokedcache_entries SET value = CAST('value of A' AS BLOB) WHERE key = 'a'`)
	must(t, err)
	if got, err := s.Get(ctx, "a"); !errors.Is(err, backend.ErrCorrupt) || !errors.Is(err, backend.ErrNotFound) {
		t.Fatalf("Get of a damaged value = %q, %v; want a corrupt miss", got, err)
	}
	many, err := s.GetMany(ctx, []string{"a", "b"})
	must(t, err)
	if many[0] != nil || string(many[1]) != "value of b" {
		t.Fatalf("GetMany = %q", many)
	}
	if h, _ := s.HealthDetails(ctx); h.Status != "degraded" {
		t.Fatalf("health = %+v; want degraded", h)
	}
	// A Set rewrites the row whole: the key reads again.
	set(t, s, "a", "new", time.Hour)
	if got, err := s.Get(ctx, "a"); err != nil || string(got) != "new" {
		t.Fatalf("Get after re-Set = %q, %v", got, err)
	}
}

// A database written by schema version 1 (no checksums) is migrated on
// open: every row gets its checksum and reads as before.
func TestSchemaV1IsMigrated(t *testing.T) {
	path := filepath.Join(t.TempDir(), "v1.db")
	db, err := sql.Open(sqlite.DriverName, path)
	must(t, err)
	_, err = db.Exec(`CREATE TABLE yokedcache_meta (name TEXT NOT NULL PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID`)
	must(t, err)
	for _, q := range sqlite.SchemaV1 {
		_, err := db.Exec(q)
		must(t, err)
	}
	_, err = db.Exec(`INSERT INTO yokedcache_meta VALUES ('schema_version', 1)`)
	must(t, err)
	const n = 2500 // more than one backfill batch
	for i := range n {
		_, err := db.Exec(`INSERT INTO yokedcache_entries (key, value, expires_at, size) VALUES (?, ?, 0, 10)`, keyN(i), valN(i))
		must(t, err)
	}
	_, err = db.Exec(`INSERT INTO yokedcache_entries (key, value, expires_at, size, ntags) VALUES ('tagged', X'01', 0, 10, 1)`)
	must(t, err)
	_, err = db.Exec(`INSERT INTO yokedcache_tags (tag, key) VALUES ('v1tag', 'tagged')`)
	must(t, err)
	must(t, db.Close())
	must(t, os.Chmod(path, 0o600))

	s := newStore(t, sqlite.Options{Path: path, CleanupInterval: -1})
	for i := range n {
		if got, err := s.Get(ctx, keyN(i)); err != nil || !bytes.Equal(got, valN(i)) {
			t.Fatalf("Get(%s) after migration = %q, %v", keyN(i), got, err)
		}
	}
	// Every value column is the checksum and the value.
	for _, i := range []int{0, 999, 1000, 2499} {
		var stored []byte
		must(t, s.DB().QueryRowContext(ctx, `SELECT value FROM yokedcache_entries WHERE key = ?`, keyN(i)).Scan(&stored))
		if len(stored) != len(valN(i))+8 || !bytes.Equal(stored[8:], valN(i)) {
			t.Fatalf("stored %s = %q; want an 8-byte checksum, then the value", keyN(i), stored)
		}
	}
	// Tags written by version 1 survive the migration (the trigger that
	// drops tags when a value changes was suspended).
	if c := count(t, s, `SELECT count(*) FROM yokedcache_tags`); c != 1 {
		t.Fatalf("%d tag rows after migration; want the 1 written by version 1", c)
	}
	if n, err := s.InvalidateTags(ctx, []string{"v1tag"}); err != nil || n != 1 {
		t.Fatalf("InvalidateTags(v1tag) after migration = %d, %v; want 1", n, err)
	}
	if v := count(t, s, `SELECT value FROM yokedcache_meta WHERE name = 'schema_version'`); v != sqlite.SchemaVersion {
		t.Fatalf("schema version %d after migration; want %d", v, sqlite.SchemaVersion)
	}
}

// integrity_check=full on open finds an index entry naming the wrong row
// and New fails with an error matching ErrCorrupt that names the file.
func TestIntegrityCheckOnOpen(t *testing.T) {
	path := fillKeys(t, 400)
	for _, c := range []sqlite.IntegrityCheck{sqlite.IntegrityQuick, sqlite.IntegrityFull} {
		s, err := sqlite.New(sqlite.Options{Path: path, Logger: quiet(), CleanupInterval: -1, IntegrityCheck: c})
		if err != nil {
			t.Fatalf("IntegrityCheck %s on a sound database: %v", c, err)
		}
		must(t, s.Close())
	}
	pointIndexAtNeighbour(t, path, 150)
	s, err := sqlite.New(sqlite.Options{Path: path, Logger: quiet(), CleanupInterval: -1, IntegrityCheck: sqlite.IntegrityFull})
	if err == nil {
		s.Close()
		t.Fatal("IntegrityCheck full accepted an index entry naming the wrong row")
	}
	if !errors.Is(err, backend.ErrCorrupt) || !strings.Contains(err.Error(), path) {
		t.Fatalf("New = %v; want an error matching ErrCorrupt naming %s", err, path)
	}
	if _, err := sqlite.New(sqlite.Options{Path: path, IntegrityCheck: "fast"}); !errors.Is(err, backend.ErrInvalidConfig) {
		t.Fatalf("IntegrityCheck \"fast\": %v; want ErrInvalidConfig", err)
	}
}

// An existing database (or -wal, -shm file) that group or others can read
// or write is refused, naming the path and the fix.
func TestSharedFileRefused(t *testing.T) {
	for _, suffix := range []string{"", "-wal", "-shm"} {
		path := fillKeys(t, 1)
		p := path + suffix
		if suffix != "" {
			must(t, os.WriteFile(p, nil, 0o600))
		}
		for _, m := range []os.FileMode{0o644, 0o640, 0o606, 0o660} {
			must(t, os.Chmod(p, m))
			_, err := sqlite.New(sqlite.Options{Path: path, Logger: quiet()})
			if !errors.Is(err, backend.ErrInvalidConfig) || !strings.Contains(err.Error(), "chmod 600 "+p) {
				t.Fatalf("New with %s at mode %#o = %v; want ErrInvalidConfig naming %q", filepath.Base(p), m, err, "chmod 600 "+p)
			}
		}
		must(t, os.Chmod(p, 0o600))
		s, err := sqlite.New(sqlite.Options{Path: path, Logger: quiet()})
		must(t, err)
		must(t, s.Close())
	}
}

var _ = context.Background

// storeHas reports whether b holds a live value under the stored key
// (what a removed Exists method used to answer), by reading it.
func storeHas(ctx context.Context, b backend.Backend, key string) (bool, error) {
	_, err := b.Get(ctx, key)
	if errors.Is(err, backend.ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}
