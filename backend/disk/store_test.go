package disk_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/yokedcache/yokedcache/backend"
	"github.com/yokedcache/yokedcache/backend/disk"
	"github.com/yokedcache/yokedcache/yokedcachetest"
)

var ctx = context.Background()

func TestDirectoryCreatedPrivate(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a", "cache")
	s := open(t, disk.Options{Directory: dir})
	fi, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o700 {
		t.Errorf("created directory mode %#o; want 0700", fi.Mode().Perm())
	}
	fi, err = os.Stat(s.Path())
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("store file mode %v, %v; want 0600", fi.Mode().Perm(), err)
	}
}

func TestWorldWritableDirectoryRefused(t *testing.T) {
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	_, err := disk.New(disk.Options{Directory: dir, Logger: quietLogger()})
	if !errors.Is(err, backend.ErrInvalidConfig) || !strings.Contains(err.Error(), "world-writable") {
		t.Fatalf("New on a 0777 directory: %v; want ErrInvalidConfig saying world-writable", err)
	}
	if _, err := os.Stat(filepath.Join(dir, disk.FileName)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a refused directory got a store file: %v", err)
	}
	// Sticky bit does not make it acceptable either (only o-w does).
	if err := os.Chmod(dir, 0o1777); err != nil {
		t.Fatal(err)
	}
	if _, err := disk.New(disk.Options{Directory: dir, Logger: quietLogger()}); !errors.Is(err, backend.ErrInvalidConfig) {
		t.Fatalf("New on a 1777 directory: %v; want ErrInvalidConfig", err)
	}
	open(t, disk.Options{Directory: dir, AllowWorldWritable: true})
}

func TestWorldWritableOrSymlinkFileRefused(t *testing.T) {
	dir := t.TempDir()
	s := open(t, disk.Options{Directory: dir})
	s.Close()
	path := filepath.Join(dir, disk.FileName)
	if err := os.Chmod(path, 0o666); err != nil {
		t.Fatal(err)
	}
	if _, err := disk.New(disk.Options{Directory: dir, Logger: quietLogger()}); !errors.Is(err, backend.ErrInvalidConfig) {
		t.Fatalf("New with a 0666 store file: %v; want ErrInvalidConfig", err)
	}
	dir2 := t.TempDir()
	if err := os.Symlink(path, filepath.Join(dir2, disk.FileName)); err != nil {
		t.Fatal(err)
	}
	if _, err := disk.New(disk.Options{Directory: dir2, Logger: quietLogger()}); !errors.Is(err, backend.ErrInvalidConfig) {
		t.Fatalf("New with a symlinked store file: %v; want ErrInvalidConfig", err)
	}
}

func TestNotADirectory(t *testing.T) {
	f := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(f, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := disk.New(disk.Options{Directory: f}); !errors.Is(err, backend.ErrInvalidConfig) {
		t.Fatalf("New on a file: %v; want ErrInvalidConfig", err)
	}
	if _, err := disk.New(disk.Options{}); !errors.Is(err, backend.ErrInvalidConfig) {
		t.Fatalf("New without Directory: %v; want ErrInvalidConfig", err)
	}
}

func TestSecondOpenInSameProcessIsLocked(t *testing.T) {
	dir := t.TempDir()
	open(t, disk.Options{Directory: dir})
	start := time.Now()
	_, err := disk.New(disk.Options{Directory: dir, LockTimeout: 100 * time.Millisecond, Logger: quietLogger()})
	if !errors.Is(err, disk.ErrLocked) {
		t.Fatalf("second New: %v; want ErrLocked", err)
	}
	if time.Since(start) > 2*time.Second {
		t.Fatalf("second New took %s", time.Since(start))
	}
}

// fill writes n entries and closes the store.
func fill(t *testing.T, dir string, n int) {
	t.Helper()
	s := open(t, disk.Options{Directory: dir})
	for i := range n {
		if err := s.Set(ctx, "k:"+strconv.Itoa(i), value(i), backend.SetOptions{TTL: time.Hour, Tags: []string{"t"}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestCorruptFileIsQuarantined(t *testing.T) {
	for _, tc := range []struct {
		name   string
		damage func(t *testing.T, path string, size int64)
	}{
		{"whole file garbage", func(t *testing.T, path string, size int64) {
			writeAt(t, path, 0, randomBytes(int(size)))
		}},
		{"both meta pages garbage", func(t *testing.T, path string, _ int64) {
			writeAt(t, path, 0, randomBytes(2*os.Getpagesize()))
		}},
		{"data page garbage", func(t *testing.T, path string, size int64) {
			// Every page after the metadata and freelist: B+tree pages.
			ps := int64(os.Getpagesize())
			for off := 4 * ps; off < size; off += 3 * ps {
				writeAt(t, path, off, randomBytes(int(ps)))
			}
		}},
		{"truncated to a few bytes", func(t *testing.T, path string, _ int64) {
			if err := os.Truncate(path, 100); err != nil {
				t.Fatal(err)
			}
		}},
		{"text file", func(t *testing.T, path string, _ int64) {
			if err := os.WriteFile(path, []byte("not a database\n"), 0o600); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			fill(t, dir, 2000)
			path := filepath.Join(dir, disk.FileName)
			fi, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			tc.damage(t, path, fi.Size())

			var logs bytes.Buffer
			s := open(t, disk.Options{Directory: dir, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
			if !strings.Contains(logs.String(), "corrupt") || !strings.Contains(logs.String(), "level=ERROR") {
				t.Errorf("no error log about the quarantine; logs: %s", logs.String())
			}
			aside, _ := filepath.Glob(path + ".corrupt-*")
			if len(aside) != 1 {
				t.Fatalf("quarantined files: %v; want one", aside)
			}
			if st, err := s.Stats(ctx, ""); err != nil || st.Keys != 0 {
				t.Errorf("after quarantine Stats = %+v, %v; want an empty store", st, err)
			}
			if h, _ := s.HealthDetails(ctx); h.Status != "degraded" || h.Details["quarantined"] != aside[0] {
				t.Errorf("health after quarantine = %+v; want degraded naming %s", h, aside[0])
			}
			if err := s.Set(ctx, "k", []byte("v"), backend.SetOptions{TTL: time.Hour}); err != nil {
				t.Fatal(err)
			}
			if got, err := s.Get(ctx, "k"); err != nil || string(got) != "v" {
				t.Fatalf("Get after quarantine = %q, %v", got, err)
			}
		})
	}
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}

func writeAt(t *testing.T, path string, off int64, b []byte) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
}

// buckets counts the entries of the store's internal buckets.
func buckets(t *testing.T, s *disk.Store) map[string]int {
	t.Helper()
	var db *bolt.DB
	if !s.As(&db) {
		t.Fatal("As(**bolt.DB) = false")
	}
	out := map[string]int{}
	err := db.View(func(tx *bolt.Tx) error {
		return tx.ForEach(func(name []byte, b *bolt.Bucket) error {
			out[string(name)] = b.Stats().KeyN
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestExpirySweepRemovesTagBookkeeping(t *testing.T) {
	clock := yokedcachetest.NewClock(time.Unix(1_700_000_000, 0))
	s := open(t, disk.Options{Directory: t.TempDir(), Clock: clock, CleanupInterval: time.Minute})
	for i := range 100 {
		ttl := 30 * time.Second
		if i%4 == 0 {
			ttl = time.Hour
		}
		if err := s.Set(ctx, "k:"+strconv.Itoa(i), value(i), backend.SetOptions{TTL: ttl, Tags: []string{"a", "b:" + strconv.Itoa(i%3)}}); err != nil {
			t.Fatal(err)
		}
	}
	if got := buckets(t, s); got["d"] != 100 || got["t"] != 200 {
		t.Fatalf("buckets before expiry = %v", got)
	}
	clock.Advance(31 * time.Second) // expired, not swept yet: lazy expiry
	if _, err := s.Get(ctx, "k:1"); !errors.Is(err, backend.ErrNotFound) {
		t.Fatalf("Get of an expired entry: %v; want ErrNotFound", err)
	}
	if ok, _ := storeHas(ctx, s, "k:1"); ok {
		t.Fatal("Exists of an expired entry = true")
	}
	clock.Advance(30 * time.Second) // the sweep ticker fires
	deadline := time.Now().Add(5 * time.Second)
	for buckets(t, s)["d"] != 25 {
		if time.Now().After(deadline) {
			t.Fatalf("sweep did not run: %v", buckets(t, s))
		}
		time.Sleep(5 * time.Millisecond)
	}
	if got := buckets(t, s); got["t"] != 50 {
		t.Errorf("after the sweep, buckets = %v; want 50 tag index entries", got)
	}
	st, _ := s.Stats(ctx, "")
	if st.Keys != 25 || st.Expirations != 75 {
		t.Errorf("Stats after sweep = %+v; want 25 keys, 75 expirations", st)
	}
	if n, err := s.InvalidateTags(ctx, []string{"a"}); err != nil || n != 25 {
		t.Errorf("InvalidateTags(a) = %d, %v; want 25", n, err)
	}
	if got := buckets(t, s); got["d"] != 0 || got["t"] != 0 {
		t.Errorf("buckets after invalidating everything = %v; want empty", got)
	}
	if st, _ := s.Stats(ctx, ""); st.Keys != 0 || st.Bytes != 0 {
		t.Errorf("counters after deleting everything = %+v; want 0 keys, 0 bytes", st)
	}
}

func TestResetReplacesTags(t *testing.T) {
	s := open(t, disk.Options{Directory: t.TempDir()})
	must(t, s.Set(ctx, "k", []byte("1"), backend.SetOptions{TTL: time.Hour, Tags: []string{"old", "old"}}))
	must(t, s.Set(ctx, "k", []byte("2"), backend.SetOptions{TTL: backend.NoExpiry, Tags: []string{"new"}}))
	if got := buckets(t, s); got["d"] != 1 || got["t"] != 1 {
		t.Fatalf("buckets after re-set = %v; want 1 entry, 1 tag", got)
	}
	if n, _ := s.InvalidateTags(ctx, []string{"old"}); n != 0 {
		t.Fatalf("InvalidateTags(old) after re-set = %d; want 0", n)
	}
	if ok, err := s.Expire(ctx, "k", time.Minute); !ok || err != nil {
		t.Fatalf("Expire = %v, %v", ok, err)
	}
	if got := buckets(t, s); got["t"] != 1 {
		t.Fatalf("buckets after Expire = %v; want the tag kept", got)
	}
	if ttl, _ := s.TTL(ctx, "k"); ttl <= 50*time.Second || ttl > time.Minute {
		t.Fatalf("TTL after Expire = %v; want about 1m", ttl)
	}
	if n, _ := s.InvalidateTags(ctx, []string{"new", "new"}); n != 1 {
		t.Fatalf("InvalidateTags(new) = %d; want 1", n)
	}
}

func TestSizeBoundEvictsSoonestExpiryFirst(t *testing.T) {
	const bound = 64 << 10
	s := open(t, disk.Options{Directory: t.TempDir(), MaxSizeBytes: bound})
	val := bytes.Repeat([]byte("v"), 1000)
	// Forever entries first, then entries expiring later and later.
	for i := range 10 {
		must(t, s.Set(ctx, "forever:"+strconv.Itoa(i), val, backend.SetOptions{TTL: backend.NoExpiry}))
	}
	for i := range 200 {
		must(t, s.Set(ctx, "ttl:"+strconv.Itoa(i), val, backend.SetOptions{TTL: time.Hour + time.Duration(i)*time.Second}))
		st, _ := s.Stats(ctx, "")
		if st.Bytes > bound {
			t.Fatalf("after %d sets, %d bytes > bound %d", i, st.Bytes, bound)
		}
	}
	for i := range 10 {
		if ok, _ := storeHas(ctx, s, "forever:"+strconv.Itoa(i)); !ok {
			t.Errorf("forever:%d was evicted before entries with a TTL", i)
		}
	}
	if ok, _ := storeHas(ctx, s, "ttl:199"); !ok {
		t.Error("the entry just written was evicted")
	}
	if ok, _ := storeHas(ctx, s, "ttl:0"); ok {
		t.Error("ttl:0 (soonest expiry) survived")
	}
	st, _ := s.Stats(ctx, "")
	if st.Evictions == 0 {
		t.Errorf("Stats.Evictions = 0 after going over the bound")
	}
	// A value larger than the bound is refused, not stored.
	err := s.Set(ctx, "huge", make([]byte, bound+1), backend.SetOptions{TTL: time.Hour})
	if !errors.Is(err, backend.ErrValueTooLarge) {
		t.Fatalf("Set over the bound: %v; want ErrValueTooLarge", err)
	}
}

func TestMaxSizeGB(t *testing.T) {
	s := open(t, disk.Options{Directory: t.TempDir(), MaxSizeGB: 0.000001}) // 1000 bytes
	err := s.Set(ctx, "k", make([]byte, 2000), backend.SetOptions{TTL: time.Hour})
	if !errors.Is(err, backend.ErrValueTooLarge) {
		t.Fatalf("2000 bytes with MaxSizeGB 1e-6: %v; want ErrValueTooLarge", err)
	}
	for _, o := range []disk.Options{{MaxSizeGB: -1}, {MaxSizeBytes: -2}, {LockTimeout: -1}} {
		o.Directory = t.TempDir()
		if _, err := disk.New(o); !errors.Is(err, backend.ErrInvalidConfig) {
			t.Errorf("New(%+v): %v; want ErrInvalidConfig", o, err)
		}
	}
}

func TestScanIsOrderedAndPrefixBounded(t *testing.T) {
	s := open(t, disk.Options{Directory: t.TempDir()})
	for i := range 1200 { // more than one chunk
		must(t, s.Set(ctx, "p:"+strconv.Itoa(10000+i), []byte("v"), backend.SetOptions{TTL: time.Hour}))
	}
	must(t, s.Set(ctx, "q:1", []byte("v"), backend.SetOptions{TTL: time.Hour}))
	must(t, s.Set(ctx, "p:\xff:internal", []byte("v"), backend.SetOptions{TTL: time.Hour}))
	var got []string
	for k, err := range s.Scan(ctx, "p:1*") {
		must(t, err)
		got = append(got, k)
	}
	if len(got) != 1200 || got[0] != "p:10000" || got[1199] != "p:11199" {
		t.Fatalf("Scan(p:1*) = %d keys, first %q last %q", len(got), got[0], got[len(got)-1])
	}
	for i := 1; i < len(got); i++ {
		if got[i-1] >= got[i] {
			t.Fatalf("Scan not in key order at %d: %q, %q", i, got[i-1], got[i])
		}
	}
	if n, err := s.DeletePattern(ctx, "p:1[01]?[05]*"); err != nil || n != 240 {
		t.Fatalf("DeletePattern = %d, %v", n, err)
	}
	if n, err := s.DeletePattern(ctx, "p:*"); err != nil || n != 1200-240 {
		t.Fatalf("DeletePattern(p:*) = %d, %v; want %d", n, err, 1200-240)
	}
	if ok, _ := storeHas(ctx, s, "p:\xff:internal"); !ok {
		t.Fatal("DeletePattern deleted an internal key")
	}
	must(t, s.Flush(ctx, "p:"))
	if ok, _ := storeHas(ctx, s, "p:\xff:internal"); ok {
		t.Fatal("Flush kept an internal key under its prefix")
	}
	if ok, _ := storeHas(ctx, s, "q:1"); !ok {
		t.Fatal("Flush(p:) deleted q:1")
	}
	st, _ := s.Stats(ctx, "q:")
	if st.Scope != "prefix" || st.Keys != 1 {
		t.Errorf("Stats(q:) = %+v; want 1 key, scope prefix", st)
	}
}

func TestClosedAndContext(t *testing.T) {
	s, err := disk.New(disk.Options{Directory: t.TempDir()})
	must(t, err)
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := s.Get(cctx, "k"); !errors.Is(err, context.Canceled) {
		t.Errorf("Get with a cancelled context: %v", err)
	}
	for _, err := range s.Scan(cctx, "*") {
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Scan with a cancelled context: %v", err)
		}
	}
	must(t, s.Close())
	if _, err := s.Get(ctx, "k"); !errors.Is(err, backend.ErrClosed) {
		t.Errorf("Get after Close: %v", err)
	}
	if err := s.Ping(ctx); !errors.Is(err, backend.ErrClosed) {
		t.Errorf("Ping after Close: %v", err)
	}
	if _, err := s.Sweep(ctx); !errors.Is(err, backend.ErrClosed) {
		t.Errorf("Sweep after Close: %v", err)
	}
}

func TestNameAsHealth(t *testing.T) {
	s := open(t, disk.Options{Directory: t.TempDir()})
	if backend.Name(s) != "disk" {
		t.Errorf("Name = %q", backend.Name(s))
	}
	var x *int
	if s.As(&x) {
		t.Error("As(**int) = true")
	}
	h, err := s.HealthDetails(ctx)
	if err != nil || h.Status != "healthy" || h.Details["path"] != s.Path() {
		t.Errorf("HealthDetails = %+v, %v", h, err)
	}
	must(t, s.Ping(ctx))
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestSizeBoundHeldUnderMixedLoad(t *testing.T) {
	const bound = 256 << 10
	clock := yokedcachetest.NewClock(time.Unix(1_700_000_000, 0))
	s := open(t, disk.Options{Directory: t.TempDir(), MaxSizeBytes: bound, Clock: clock, CleanupInterval: -1})
	for i := range 3000 {
		o := backend.SetOptions{TTL: time.Duration(1+i%50) * time.Minute, Tags: []string{"t" + strconv.Itoa(i%5)}}
		if i%3 == 0 {
			o.TTL = backend.NoExpiry
		}
		key := "k:" + strconv.Itoa((i*7919)%5000)
		must(t, s.Set(ctx, key, value(i), o))
		if ok, _ := storeHas(ctx, s, key); !ok {
			t.Fatalf("write %d: the entry just written was evicted", i)
		}
		if st, _ := s.Stats(ctx, ""); st.Bytes > bound {
			t.Fatalf("write %d: %d bytes over the %d bound", i, st.Bytes, bound)
		}
		if i%500 == 0 {
			clock.Advance(10 * time.Minute) // some entries expire
		}
	}
	st, _ := s.Stats(ctx, "")
	got := buckets(t, s)
	if st.Keys != int64(got["d"]) || st.Evictions+st.Expirations == 0 {
		t.Fatalf("Stats = %+v, buckets %v: counters disagree or nothing was evicted", st, got)
	}
	// Tag index entries went with the evicted entries.
	n := 0
	for i := range 5 {
		c, err := s.InvalidateTags(ctx, []string{"t" + strconv.Itoa(i)})
		must(t, err)
		n += int(c)
	}
	if got := buckets(t, s); got["t"] != 0 || got["d"] != 0 {
		t.Fatalf("after invalidating every tag: buckets %v, invalidated %d of %d", got, n, st.Keys)
	}
}

func TestCountersSurviveCleanClose(t *testing.T) {
	dir := t.TempDir()
	s := open(t, disk.Options{Directory: dir})
	for i := range 50 {
		must(t, s.Set(ctx, "k:"+strconv.Itoa(i), value(i), backend.SetOptions{TTL: time.Hour}))
	}
	before, _ := s.Stats(ctx, "")
	must(t, s.Close())
	s = open(t, disk.Options{Directory: dir})
	after, _ := s.Stats(ctx, "")
	if before.Keys != 50 || after.Keys != before.Keys || after.Bytes != before.Bytes {
		t.Fatalf("Stats before close %+v, after reopen %+v", before, after)
	}
}

func TestCorruptRecordIsAnErrorNotAPanic(t *testing.T) {
	s := open(t, disk.Options{Directory: t.TempDir()})
	must(t, s.Set(ctx, "good", []byte("v"), backend.SetOptions{TTL: time.Hour}))
	var db *bolt.DB
	s.As(&db)
	for _, bad := range [][]byte{{}, {9, 0, 0}, {1, 0, 0, 0, 0, 0, 0, 0, 0, 0xff}, {1, 0, 0, 0, 0, 0, 0, 0, 0, 2, 200}} {
		must(t, db.Update(func(tx *bolt.Tx) error { return tx.Bucket([]byte("d")).Put([]byte("bad"), bad) }))
		if _, err := s.Get(ctx, "bad"); !errors.Is(err, backend.ErrCorrupt) {
			t.Errorf("Get of record %x: %v; want ErrCorrupt", bad, err)
		}
		if got, err := s.GetMany(ctx, []string{"good", "bad"}); !errors.Is(err, backend.ErrCorrupt) && (err != nil || got[1] != nil) {
			t.Errorf("GetMany with record %x: %q, %v", bad, got, err)
		}
		for k, err := range s.Scan(ctx, "*") {
			if err != nil || k == "bad" && len(bad) < 9 {
				t.Errorf("Scan with record %x: %q, %v", bad, k, err)
			}
		}
		if _, err := s.Delete(ctx, "bad"); err != nil {
			t.Errorf("Delete of record %x: %v", bad, err)
		}
	}
	if got, err := s.Get(ctx, "good"); err != nil || string(got) != "v" {
		t.Fatalf("Get(good) = %q, %v", got, err)
	}
}

// A TTL too large to add to the current time saturates at the latest
// representable expiry instead of wrapping into the past.
func TestHugeTTLSaturates(t *testing.T) {
	s := open(t, disk.Options{Directory: t.TempDir(), CleanupInterval: -1})
	for _, d := range []time.Duration{math.MaxInt64, 250 * 365 * 24 * time.Hour} {
		must(t, s.Set(ctx, "k", []byte("v"), backend.SetOptions{TTL: d}))
		if got, err := s.Get(ctx, "k"); err != nil || string(got) != "v" {
			t.Fatalf("Get after Set with TTL %v = %q, %v", d, got, err)
		}
		want := min(d, time.Until(time.Unix(0, math.MaxInt64)))
		if got, err := s.TTL(ctx, "k"); err != nil || got > want || got < want-time.Minute {
			t.Fatalf("TTL after Set with TTL %v = %v, %v; want about %v", d, got, err, want)
		}
		must(t, s.Set(ctx, "k", []byte("v"), backend.SetOptions{TTL: time.Minute}))
		if ok, err := s.Expire(ctx, "k", d); !ok || err != nil {
			t.Fatalf("Expire(%v) = %v, %v", d, ok, err)
		}
		if n, err := s.Sweep(ctx); n != 0 || err != nil {
			t.Fatalf("Sweep = %d, %v; want nothing swept", n, err)
		}
		if got, err := s.Get(ctx, "k"); err != nil || string(got) != "v" {
			t.Fatalf("Get after Expire(%v) = %q, %v", d, got, err)
		}
	}
}

// A corrupt record is a miss matching both ErrCorrupt and ErrNotFound (as
// on memcached), and GetMany returns the other keys.
func TestCorruptRecordIsAMiss(t *testing.T) {
	s := open(t, disk.Options{Directory: t.TempDir(), CleanupInterval: -1})
	keys := []string{"k0", "k1", "bad", "k3"}
	for _, k := range keys {
		must(t, s.Set(ctx, k, []byte("v:"+k), backend.SetOptions{TTL: time.Hour}))
	}
	var db *bolt.DB
	s.As(&db)
	must(t, db.Update(func(tx *bolt.Tx) error { return tx.Bucket([]byte("d")).Put([]byte("bad"), []byte{1, 0}) }))
	_, err := s.Get(ctx, "bad")
	if !errors.Is(err, backend.ErrCorrupt) || !errors.Is(err, backend.ErrNotFound) {
		t.Fatalf("Get of a corrupt record = %v; want ErrCorrupt and ErrNotFound", err)
	}
	got, err := s.GetMany(ctx, keys)
	if err != nil {
		t.Fatalf("GetMany with one corrupt record: %v", err)
	}
	for i, k := range keys {
		if want := "v:" + k; k == "bad" && got[i] != nil || k != "bad" && string(got[i]) != want {
			t.Errorf("GetMany[%q] = %q", k, got[i])
		}
	}
}

// Sweep returns the number of entries it removed: an expired entry that
// is re-set between its read and its delete is neither removed nor
// counted.
func TestSweepCountsOnlyRemovedEntries(t *testing.T) {
	clock := yokedcachetest.NewClock(time.Unix(1_700_000_000, 0))
	s := open(t, disk.Options{Directory: t.TempDir(), Clock: clock, CleanupInterval: -1})
	const n = 3000
	for round := range 3 {
		items := make([]backend.Item, n)
		for i := range items {
			items[i] = backend.Item{Key: "k:" + strconv.Itoa(i), Value: []byte("v"), SetOptions: backend.SetOptions{TTL: time.Second}}
		}
		must(t, s.SetMany(ctx, items))
		clock.Advance(2 * time.Second)
		before, _ := s.Stats(ctx, "")
		done := make(chan struct{})
		go func() {
			defer close(done)
			for i := n - 1; i >= 0; i -= 7 {
				_ = s.Set(ctx, "k:"+strconv.Itoa(i), []byte("v"), backend.SetOptions{TTL: time.Hour})
			}
		}()
		swept, err := s.Sweep(ctx)
		<-done
		must(t, err)
		after, _ := s.Stats(ctx, "")
		if got := after.Expirations - before.Expirations; swept != got {
			t.Fatalf("round %d: Sweep returned %d, but %d expirations were counted", round, swept, got)
		}
		_, err = s.DeletePattern(ctx, "*")
		must(t, err)
	}
}
