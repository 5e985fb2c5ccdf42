package disk_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/yokedcache/yokedcache/backend"
	"github.com/yokedcache/yokedcache/backend/disk"
	"github.com/yokedcache/yokedcache/yokedcachetest"
)

func keyN(i int) string { return fmt.Sprintf("r5:k%04d", i) }
func valN(i int) []byte { return fmt.Appendf(nil, "val#%04d#%s", i, strings.Repeat("x", i%50)) }

// fillKeys writes n entries keyN(i) -> valN(i) into a store in dir and closes
// it.
func fillKeys(t *testing.T, dir string, n int) {
	t.Helper()
	s := open(t, disk.Options{Directory: dir, CleanupInterval: -1})
	items := make([]backend.Item, n)
	for i := range n {
		items[i] = backend.Item{Key: keyN(i), Value: valN(i), SetOptions: backend.SetOptions{TTL: time.Hour}}
	}
	must(t, s.SetMany(ctx, items))
	must(t, s.Close())
}

// rawUpdate runs fn on the store file with bbolt directly.
func rawUpdate(t *testing.T, dir string, fn func(d, m *bolt.Bucket) error) {
	t.Helper()
	db, err := bolt.Open(filepath.Join(dir, disk.FileName), 0o600, nil)
	must(t, err)
	must(t, db.Update(func(tx *bolt.Tx) error { return fn(tx.Bucket([]byte("d")), tx.Bucket([]byte("m"))) }))
	must(t, db.Close())
}

// A record that is valid, but another key's (as a damaged element table
// can hand out), or whose bytes changed, is a miss matching ErrCorrupt and
// ErrNotFound on every read path, counted, logged once, and health is
// degraded with the hint.
func TestNeighbourRecordIsACorruptMiss(t *testing.T) {
	dir := t.TempDir()
	fillKeys(t, dir, 400)
	rawUpdate(t, dir, func(d, _ *bolt.Bucket) error {
		if err := d.Put([]byte(keyN(150)), bytes.Clone(d.Get([]byte(keyN(151))))); err != nil {
			return err
		}
		rec := bytes.Clone(d.Get([]byte(keyN(152))))
		rec[12] ^= 0x01 // a value byte
		return d.Put([]byte(keyN(152)), rec)
	})

	// Without the check this is the bug: the neighbour's value.
	prev := disk.SetKeyCheck(false)
	s := open(t, disk.Options{Directory: dir, CleanupInterval: -1})
	got, err := s.Get(ctx, keyN(150))
	disk.SetKeyCheck(prev)
	if err != nil || !bytes.Equal(got, valN(151)) {
		t.Fatalf("without the check, Get = %q, %v; want the neighbour's value (test setup broken?)", got, err)
	}
	must(t, s.Close())

	var logs bytes.Buffer
	clock := yokedcachetest.NewClock(time.Now())
	s = open(t, disk.Options{Directory: dir, CleanupInterval: -1, Clock: clock, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	for range 100 {
		for _, i := range []int{150, 152} {
			got, err = s.Get(ctx, keyN(i))
			if !errors.Is(err, backend.ErrCorrupt) || !errors.Is(err, backend.ErrNotFound) {
				t.Fatalf("Get(%s) = %q, %v; want a miss matching ErrCorrupt and ErrNotFound", keyN(i), got, err)
			}
		}
	}
	many, err := s.GetMany(ctx, []string{keyN(149), keyN(150), keyN(151), keyN(152)})
	must(t, err)
	if !bytes.Equal(many[0], valN(149)) || many[1] != nil || !bytes.Equal(many[2], valN(151)) || many[3] != nil {
		t.Fatalf("GetMany = %q; want value, miss, value, miss", many)
	}
	if _, err := s.TTL(ctx, keyN(150)); !errors.Is(err, backend.ErrCorrupt) || !errors.Is(err, backend.ErrNotFound) {
		t.Fatalf("TTL = %v; want a miss matching ErrCorrupt and ErrNotFound", err)
	}
	if ok, err := storeHas(ctx, s, keyN(150)); ok || err != nil {
		t.Fatalf("Exists = %v, %v; want false", ok, err)
	}
	var listed []string
	for k, err := range s.Scan(ctx, "r5:k015*") {
		must(t, err)
		listed = append(listed, k)
	}
	if strings.Contains(strings.Join(listed, " "), keyN(150)) || len(listed) != 8 {
		t.Fatalf("Scan = %v; want the 8 sound keys of r5:k015*", listed)
	}
	if n := strings.Count(logs.String(), "level=ERROR"); n != 1 {
		t.Errorf("%d log lines for 200+ damaged reads; want 1 (rate-limited):\n%s", n, logs.String())
	}
	clock.Advance(11 * time.Second)
	_, _ = s.Get(ctx, keyN(150))
	if n := strings.Count(logs.String(), "level=ERROR"); n != 2 {
		t.Errorf("after 11 s, %d log lines; want 2:\n%s", n, logs.String())
	}
	h, err := s.HealthDetails(ctx)
	must(t, err)
	if h.Status != "degraded" || !strings.Contains(strings.Join(h.Warnings, " "), "integrity_check=full") {
		t.Fatalf("HealthDetails = %+v; want degraded with the integrity_check=full hint", h)
	}
	if n, _ := h.Details["damaged_reads"].(int64); n < 200 {
		t.Fatalf("damaged_reads = %v; want every damaged read counted", h.Details["damaged_reads"])
	}
	for i := range 400 {
		if i == 150 || i == 152 {
			continue
		}
		if got, err := s.Get(ctx, keyN(i)); err != nil || !bytes.Equal(got, valN(i)) {
			t.Fatalf("Get(%s) = %q, %v", keyN(i), got, err)
		}
	}
	must(t, s.Close())

	// integrity_check=quick (the default) does not read records; full
	// does, and quarantines the file.
	s = open(t, disk.Options{Directory: dir, CleanupInterval: -1, IntegrityCheck: disk.IntegrityQuick})
	must(t, s.Close())
	s = open(t, disk.Options{Directory: dir, CleanupInterval: -1, IntegrityCheck: disk.IntegrityFull})
	if h, _ := s.HealthDetails(ctx); h.Status != "degraded" || h.Details["quarantined"] == nil {
		t.Fatalf("after IntegrityCheck full on a damaged file, health = %+v; want degraded, quarantined", h)
	}
	if _, err := s.Get(ctx, keyN(1)); !errors.Is(err, backend.ErrNotFound) {
		t.Fatalf("Get after quarantine = %v; want a miss (empty store)", err)
	}
}

// v1Record encodes a record the way builds before the checksum did.
func v1Record(exp int64, value []byte) []byte {
	b := []byte{1}
	b = binary.BigEndian.AppendUint64(b, uint64(exp))
	b = binary.AppendUvarint(b, 0)
	return append(b, value...)
}

// Records written by earlier builds (version 1, no checksum) are
// rewritten with a checksum on open and read as before.
func TestVersion1RecordsAreMigrated(t *testing.T) {
	dir := t.TempDir()
	fillKeys(t, dir, 1)
	const n = 2500 // more than one migration batch
	rawUpdate(t, dir, func(d, m *bolt.Bucket) error {
		if err := m.Delete([]byte("records")); err != nil {
			return err
		}
		for i := range n {
			if err := d.Put([]byte(keyN(i)), v1Record(0, valN(i))); err != nil {
				return err
			}
		}
		return nil
	})
	s := open(t, disk.Options{Directory: dir, CleanupInterval: -1, IntegrityCheck: disk.IntegrityFull})
	for i := range n {
		if got, err := s.Get(ctx, keyN(i)); err != nil || !bytes.Equal(got, valN(i)) {
			t.Fatalf("Get(%s) after migration = %q, %v", keyN(i), got, err)
		}
	}
	var db *bolt.DB
	s.As(&db)
	must(t, db.View(func(tx *bolt.Tx) error {
		return tx.Bucket([]byte("d")).ForEach(func(k, v []byte) error {
			if v[0] != 2 {
				return fmt.Errorf("record %q is version %d after migration", k, v[0])
			}
			return nil
		})
	}))
	if st, err := s.Stats(ctx, ""); err != nil || st.Keys != n {
		t.Fatalf("Stats after migration = %+v, %v; want %d keys", st, err, n)
	}
	must(t, s.Close())
	// Once migrated, a version 1 record is damage.
	rawUpdate(t, dir, func(d, _ *bolt.Bucket) error { return d.Put([]byte(keyN(7)), v1Record(0, valN(8))) })
	s = open(t, disk.Options{Directory: dir, CleanupInterval: -1})
	if _, err := s.Get(ctx, keyN(7)); !errors.Is(err, backend.ErrCorrupt) {
		t.Fatalf("Get of a version 1 record after migration = %v; want ErrCorrupt", err)
	}
}

// A store file that group or others can read or write is refused, naming
// the path and the fix.
func TestSharedStoreFileRefused(t *testing.T) {
	dir := t.TempDir()
	fillKeys(t, dir, 1)
	path := filepath.Join(dir, disk.FileName)
	for _, m := range []os.FileMode{0o644, 0o640, 0o604, 0o660} {
		must(t, os.Chmod(path, m))
		_, err := disk.New(disk.Options{Directory: dir, Logger: quietLogger()})
		if !errors.Is(err, backend.ErrInvalidConfig) || !strings.Contains(err.Error(), "chmod 600 "+path) {
			t.Fatalf("New with a %#o store file = %v; want ErrInvalidConfig naming %q", m, err, "chmod 600 "+path)
		}
	}
	must(t, os.Chmod(path, 0o600))
	open(t, disk.Options{Directory: dir})
}

// storeHas reports whether b holds a live value under the stored key
// (what a removed Exists method used to answer), by reading it.
func storeHas(ctx context.Context, b backend.Backend, key string) (bool, error) {
	_, err := b.Get(ctx, key)
	if errors.Is(err, backend.ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}
