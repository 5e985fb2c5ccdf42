package disk_test

import (
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/yokedcache/yokedcache/backend"
	"github.com/yokedcache/yokedcache/backend/disk"
)

// firstDataLeaf fills a store in dir, closes it, and returns the page
// size and the id of the leftmost leaf page of the data bucket (found by
// descending from the bucket's root through the first child of each
// branch page).
func firstDataLeaf(t *testing.T, dir string) (ps, leaf int64) {
	t.Helper()
	s := open(t, disk.Options{Directory: dir, CleanupInterval: -1})
	for i := range 2000 {
		must(t, s.Set(ctx, "k:"+strconv.Itoa(i), value(i), backend.SetOptions{TTL: time.Hour, Tags: []string{"t"}}))
	}
	var db *bolt.DB
	s.As(&db)
	ps = int64(db.Info().PageSize)
	must(t, db.View(func(tx *bolt.Tx) error {
		leaf = int64(tx.Bucket([]byte("d")).Root())
		return nil
	}))
	must(t, s.Close())
	f, err := os.Open(filepath.Join(dir, disk.FileName))
	must(t, err)
	defer f.Close()
	for {
		hdr := make([]byte, 16+16)
		_, err := f.ReadAt(hdr, leaf*ps)
		must(t, err)
		switch binary.NativeEndian.Uint16(hdr[8:]) {
		case 0x02: // leaf
			return ps, leaf
		case 0x01: // branch: pos, ksize u32, pgid u64
			leaf = int64(binary.NativeEndian.Uint64(hdr[16+8:]))
		default:
			t.Fatalf("page %d is neither a branch nor a leaf", leaf)
		}
	}
}

func putUint32(t *testing.T, path string, off int64, v uint32) {
	t.Helper()
	writeAt(t, path, off, binary.NativeEndian.AppendUint32(nil, v))
}

// Damage that bbolt's own check misses or chokes on is found by the
// store's page check and the file is quarantined, quickly: a key size
// pointing far past its page passed bbolt's check and later made a read
// fault and kill the process; a page header claiming 4 billion overflow
// pages made bbolt's check loop for minutes.
func TestDamagedPagesAreQuarantinedQuickly(t *testing.T) {
	for _, tc := range []struct {
		name   string
		damage func(t *testing.T, path string, ps, leaf int64)
	}{
		{"key size past the page", func(t *testing.T, path string, ps, leaf int64) {
			// The second element's ksize (flags, pos, ksize, vsize).
			putUint32(t, path, leaf*ps+16+16+8, 0x59000006)
		}},
		{"huge overflow count", func(t *testing.T, path string, ps, leaf int64) {
			putUint32(t, path, leaf*ps+12, 0xFFFFFFF0)
		}},
		{"element table past the page", func(t *testing.T, path string, ps, leaf int64) {
			writeAt(t, path, leaf*ps+10, []byte{0xFF, 0xFE})
		}},
		{"page id mismatch", func(t *testing.T, path string, ps, leaf int64) {
			writeAt(t, path, leaf*ps, binary.NativeEndian.AppendUint64(nil, uint64(leaf+1)))
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			ps, leaf := firstDataLeaf(t, dir)
			path := filepath.Join(dir, disk.FileName)
			tc.damage(t, path, ps, leaf)

			type result struct {
				s   *disk.Store
				err error
			}
			done := make(chan result, 1)
			go func() {
				s, err := disk.New(disk.Options{Directory: dir, Logger: quietLogger(), CleanupInterval: -1})
				done <- result{s, err}
			}()
			var r result
			select {
			case r = <-done:
			case <-time.After(20 * time.Second):
				t.Fatal("New did not return within 20s")
			}
			must(t, r.err)
			s := r.s
			t.Cleanup(func() { _ = s.Close() })
			aside, _ := filepath.Glob(path + ".corrupt-*")
			if len(aside) != 1 {
				t.Fatalf("quarantined files: %v; want one", aside)
			}
			if h, _ := s.HealthDetails(ctx); h.Status != "degraded" {
				t.Errorf("health after quarantine = %+v; want degraded", h)
			}
			for k, err := range s.Scan(ctx, "*") {
				t.Fatalf("Scan of the fresh store yielded %q, %v", k, err)
			}
			must(t, s.Set(ctx, "k", []byte("v"), backend.SetOptions{TTL: time.Hour}))
			if got, err := s.Get(ctx, "k"); err != nil || string(got) != "v" {
				t.Fatalf("Get after quarantine = %q, %v", got, err)
			}
		})
	}
}

// A read outside the memory map (here: the file truncated while open)
// returns an error matching ErrCorrupt instead of killing the process
// with a fault.
func TestFaultWhileReadingIsErrCorrupt(t *testing.T) {
	for _, skip := range []bool{false, true} {
		t.Run("SkipVerify="+strconv.FormatBool(skip), func(t *testing.T) {
			dir := t.TempDir()
			s := open(t, disk.Options{Directory: dir, CleanupInterval: -1, SkipVerify: skip})
			for i := range 2000 {
				must(t, s.Set(ctx, "k:"+strconv.Itoa(i), value(i), backend.SetOptions{TTL: time.Hour}))
			}
			var db *bolt.DB
			s.As(&db)
			ps := int64(db.Info().PageSize)
			must(t, os.Truncate(filepath.Join(dir, disk.FileName), 2*ps))

			if _, err := s.Get(ctx, "k:1999"); !errors.Is(err, backend.ErrCorrupt) {
				t.Errorf("Get from a truncated file = %v; want ErrCorrupt", err)
			}
			if _, err := s.GetMany(ctx, []string{"k:1", "k:1999"}); !errors.Is(err, backend.ErrCorrupt) {
				t.Errorf("GetMany from a truncated file = %v; want ErrCorrupt", err)
			}
			var scanErr error
			for _, err := range s.Scan(ctx, "*") {
				if err != nil {
					scanErr = err
					break
				}
			}
			if !errors.Is(scanErr, backend.ErrCorrupt) {
				t.Errorf("Scan of a truncated file = %v; want ErrCorrupt", scanErr)
			}
			// A write that faults releases bbolt's writer lock: the next
			// write and Close do not block.
			for range 2 {
				if err := s.Set(ctx, "k:5", []byte("v"), backend.SetOptions{TTL: time.Hour}); !errors.Is(err, backend.ErrCorrupt) {
					t.Errorf("Set into a truncated file = %v; want ErrCorrupt", err)
				}
			}
			if h, _ := s.HealthDetails(ctx); h.Status != "unhealthy" {
				t.Errorf("health after a fault = %+v; want unhealthy", h)
			}
			_ = s.Close() // must neither fault nor block
		})
	}
}
