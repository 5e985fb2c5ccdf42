package sqlite_test

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/yokedcache/yokedcache/backend"
	"github.com/yokedcache/yokedcache/backend/sqlite"
	"github.com/yokedcache/yokedcache/yokedcachetest"
)

func TestMain(m *testing.M) {
	if helperMain() {
		return
	}
	goleak.VerifyTestMain(m)
}

var ctx = context.Background()

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func newStore(t *testing.T, o sqlite.Options) *sqlite.Store {
	t.Helper()
	if o.Path == "" && o.DB == nil {
		o.Path = filepath.Join(t.TempDir(), "cache.db")
	}
	if o.Logger == nil {
		o.Logger = quiet()
	}
	s, err := sqlite.New(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func set(t *testing.T, s *sqlite.Store, key, val string, ttl time.Duration, tags ...string) {
	t.Helper()
	if err := s.Set(ctx, key, []byte(val), backend.SetOptions{TTL: ttl, Tags: tags}); err != nil {
		t.Fatalf("Set(%q): %v", key, err)
	}
}

func scan(t *testing.T, s *sqlite.Store, pattern string) []string {
	t.Helper()
	var out []string
	for k, err := range s.Scan(ctx, pattern) {
		if err != nil {
			t.Fatalf("Scan(%q): %v", pattern, err)
		}
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func count(t *testing.T, s *sqlite.Store, q string, args ...any) int {
	t.Helper()
	var db *sql.DB
	if !s.As(&db) {
		t.Fatal("As(**sql.DB) = false")
	}
	var n int
	if err := db.QueryRow(q, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// Keys with SQL LIKE and GLOB metacharacters are matched literally where
// the pattern says so, by Scan and DeletePattern.
func TestPatternsLiteralMetacharacters(t *testing.T) {
	for _, path := range []string{"", sqlite.MemoryPath} {
		t.Run(fmt.Sprintf("path=%q", path), func(t *testing.T) {
			s := newStore(t, sqlite.Options{Path: path})
			keys := []string{"p:50%", "p:50x", "p:a_b", "p:axb", "p:[x]", "p:x", "p:*", "p:star", "p:?", "p:q",
				`p:back\slash`, "p:ab", "p:ä", "p:]", "p:n\x00l"}
			for _, k := range keys {
				set(t, s, k, "v", time.Hour)
			}
			cases := []struct {
				pattern string
				want    []string
			}{
				{`p:50%`, []string{"p:50%"}},
				{`p:50%*`, []string{"p:50%"}},
				{`p:a_b`, []string{"p:a_b"}},
				{`p:\[x]`, []string{"p:[x]"}},
				{`p:[[]x]`, []string{"p:[x]"}},
				{`p:\*`, []string{"p:*"}},
				{`p:\?`, []string{"p:?"}},
				{`p:?`, []string{"p:*", "p:?", "p:]", "p:q", "p:x", "p:ä"}},
				{`p:[!x*]`, []string{"p:?", "p:]", "p:q", "p:ä"}},
				{`p:[^x*]`, []string{"p:?", "p:]", "p:q", "p:ä"}},
				{`p:[]]`, []string{"p:]"}},
				{`p:back\\slash`, []string{`p:back\slash`}},
				{`p:a?b`, []string{"p:a_b", "p:axb"}},
				{`p:*%*`, []string{"p:50%"}},
				{`*_*`, []string{"p:a_b"}},
				{"p:n?l", []string{"p:n\x00l"}},
				{"p:n\x00*", []string{"p:n\x00l"}},
				{`p:[!a-z]*`, []string{"p:*", "p:50%", "p:50x", "p:?", "p:[x]", "p:]", "p:ä"}},
				{`p:[]a]*`, []string{"p:]", "p:a_b", "p:ab", "p:axb"}},
			}
			for _, c := range cases {
				want := slices.Clone(c.want)
				slices.Sort(want)
				if got := scan(t, s, c.pattern); !slices.Equal(got, want) {
					t.Errorf("Scan(%q) = %q, want %q", c.pattern, got, want)
				}
			}
			n, err := s.DeletePattern(ctx, `p:a_b`)
			if err != nil || n != 1 {
				t.Fatalf("DeletePattern(p:a_b) = %d, %v; want 1", n, err)
			}
			n, err = s.DeletePattern(ctx, `p:\*`)
			if err != nil || n != 1 {
				t.Fatalf(`DeletePattern(p:\*) = %d, %v; want 1`, n, err)
			}
			for _, k := range []string{"p:axb", "p:star", "p:50%", "p:[x]"} {
				if _, err := s.Get(ctx, k); err != nil {
					t.Errorf("Get(%q) after the literal deletes: %v", k, err)
				}
			}
			for _, k := range []string{"p:a_b", "p:*"} {
				if _, err := s.Get(ctx, k); !errors.Is(err, backend.ErrNotFound) {
					t.Errorf("Get(%q) = %v, want ErrNotFound", k, err)
				}
			}
		})
	}
}

// Scan never yields internal keys and DeletePattern never deletes them;
// Scan reads page by page and another operation may run inside the loop
// (even on :memory:, which has a single connection).
func TestScanPagesAndInternalKeys(t *testing.T) {
	s := newStore(t, sqlite.Options{Path: sqlite.MemoryPath})
	for i := range 1000 {
		set(t, s, fmt.Sprintf("k:%04d", i), "v", time.Hour)
	}
	internal := "k:\xfftag:x"
	set(t, s, internal, "v", time.Hour)
	n := 0
	for k, err := range s.Scan(ctx, "k:*") {
		if err != nil {
			t.Fatal(err)
		}
		if backend.IsInternalKey(k) {
			t.Fatalf("Scan yielded internal key %q", k)
		}
		if _, err := s.Get(ctx, k); err != nil { // a call inside the loop must not deadlock
			t.Fatal(err)
		}
		n++
	}
	if n != 1000 {
		t.Fatalf("Scan yielded %d keys, want 1000", n)
	}
	// Stopping early is fine.
	for range s.Scan(ctx, "k:*") {
		break
	}
	d, err := s.DeletePattern(ctx, "k:*")
	if err != nil || d != 1000 {
		t.Fatalf("DeletePattern = %d, %v; want 1000", d, err)
	}
	if _, err := s.Get(ctx, internal); err != nil {
		t.Fatalf("internal key deleted by DeletePattern: %v", err)
	}
	if _, err := s.DeletePattern(ctx, "k:[unclosed"); err == nil {
		t.Fatal("DeletePattern with a malformed pattern succeeded")
	}
}

func TestTTLAndSweep(t *testing.T) {
	clock := yokedcachetest.NewClock(time.Unix(1_700_000_000, 0))
	s := newStore(t, sqlite.Options{Clock: clock, CleanupInterval: time.Minute})
	set(t, s, "short", "v", 10*time.Second, "t")
	set(t, s, "long", "v", time.Hour)
	set(t, s, "never", "v", backend.NoExpiry)
	if ttl, err := s.TTL(ctx, "short"); err != nil || ttl != 10*time.Second {
		t.Fatalf("TTL(short) = %v, %v", ttl, err)
	}
	if ttl, err := s.TTL(ctx, "never"); err != nil || ttl != backend.NoExpiry {
		t.Fatalf("TTL(never) = %v, %v", ttl, err)
	}
	clock.Advance(10 * time.Second)
	if _, err := s.Get(ctx, "short"); !errors.Is(err, backend.ErrNotFound) {
		t.Fatalf("Get(short) at its expiry = %v, want ErrNotFound", err)
	}
	if ok, _ := storeHas(ctx, s, "short"); ok {
		t.Fatal("Exists(short) after expiry")
	}
	if ok, err := s.Expire(ctx, "short", time.Hour); ok || err != nil {
		t.Fatalf("Expire on an expired key = %v, %v", ok, err)
	}
	if got := count(t, s, `SELECT count(*) FROM yokedcache_entries`); got != 3 {
		t.Fatalf("%d rows before the sweep, want 3 (lazy expiry does not delete)", got)
	}
	clock.Advance(time.Minute) // fires the sweep
	deadline := time.Now().Add(10 * time.Second)
	for count(t, s, `SELECT count(*) FROM yokedcache_entries`) != 2 {
		if time.Now().After(deadline) {
			t.Fatal("the sweep did not delete the expired row")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if got := count(t, s, `SELECT count(*) FROM yokedcache_tags`); got != 0 {
		t.Fatalf("%d tag rows left after the sweep, want 0", got)
	}
	st, err := s.Stats(ctx, "")
	if err != nil || st.Keys != 2 || st.Expirations != 1 {
		t.Fatalf("Stats = %+v, %v; want 2 keys, 1 expiration", st, err)
	}
}

func TestTagsReplaceAndCleanup(t *testing.T) {
	s := newStore(t, sqlite.Options{})
	set(t, s, "a", "1", time.Hour, "x", "y", "x")
	set(t, s, "b", "1", time.Hour, "y")
	set(t, s, "a", "2", time.Hour, "z") // replaces x, y
	if got := count(t, s, `SELECT count(*) FROM yokedcache_tags WHERE key = 'a'`); got != 1 {
		t.Fatalf("a has %d tag rows after re-set, want 1", got)
	}
	if n, err := s.InvalidateTags(ctx, []string{"x"}); err != nil || n != 0 {
		t.Fatalf("InvalidateTags(x) = %d, %v; want 0 (a no longer carries x)", n, err)
	}
	if n, err := s.InvalidateTags(ctx, []string{"y", "z"}); err != nil || n != 2 {
		t.Fatalf("InvalidateTags(y, z) = %d, %v; want 2", n, err)
	}
	set(t, s, "c", "1", time.Hour, "q")
	set(t, s, "c", "2", time.Hour) // an untagged re-set drops the tags
	if n, _ := s.InvalidateTags(ctx, []string{"q"}); n != 0 {
		t.Fatalf("InvalidateTags(q) = %d after an untagged re-set, want 0", n)
	}
	set(t, s, "d", "1", time.Hour, "q")
	if ok, err := s.Delete(ctx, "d"); !ok || err != nil {
		t.Fatalf("Delete(d) = %v, %v", ok, err)
	}
	if got := count(t, s, `SELECT count(*) FROM yokedcache_tags`); got != 0 {
		t.Fatalf("%d tag rows left, want 0", got)
	}
}

func TestSizeBound(t *testing.T) {
	clock := yokedcachetest.NewClock(time.Unix(1_700_000_000, 0))
	s := newStore(t, sqlite.Options{Clock: clock, MaxEntries: 100, CleanupInterval: -1})
	set(t, s, "soon", "v", time.Minute)
	for i := range 300 {
		set(t, s, fmt.Sprintf("k:%03d", i), "v", time.Hour+time.Duration(i)*time.Second)
	}
	n := count(t, s, `SELECT count(*) FROM yokedcache_entries`)
	if n > 100 || n < 90 {
		t.Fatalf("%d entries with MaxEntries 100", n)
	}
	if _, err := s.Get(ctx, "soon"); !errors.Is(err, backend.ErrNotFound) {
		t.Fatalf("the soonest-to-expire entry survived eviction: %v", err)
	}
	if _, err := s.Get(ctx, "k:299"); err != nil {
		t.Fatalf("the latest-expiring entry was evicted: %v", err)
	}
	st, _ := s.Stats(ctx, "")
	if st.Evictions < 200 {
		t.Fatalf("Evictions = %d, want >= 200", st.Evictions)
	}

	b := newStore(t, sqlite.Options{MaxSizeBytes: 10_000, CleanupInterval: -1})
	val := string(make([]byte, 500))
	for i := range 100 {
		set(t, b, fmt.Sprintf("k:%03d", i), val, backend.NoExpiry)
	}
	st, err := b.Stats(ctx, "")
	if err != nil || st.Bytes > 10_000 {
		t.Fatalf("Stats = %+v, %v; want Bytes <= 10000", st, err)
	}
	if err := b.Set(ctx, "big", make([]byte, 20_000), backend.SetOptions{TTL: time.Hour}); !errors.Is(err, backend.ErrValueTooLarge) {
		t.Fatalf("Set over the bound = %v, want ErrValueTooLarge", err)
	}
}

// A :memory: store is usable from many goroutines (one connection).
func TestMemoryConcurrent(t *testing.T) {
	s := newStore(t, sqlite.Options{Path: sqlite.MemoryPath})
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 200 {
				k := fmt.Sprintf("g%d:%d", g, i)
				if err := s.Set(ctx, k, []byte(k), backend.SetOptions{TTL: time.Hour, Tags: []string{"t"}}); err != nil {
					t.Error(err)
					return
				}
				if v, err := s.Get(ctx, k); err != nil || string(v) != k {
					t.Errorf("Get(%q) = %q, %v", k, v, err)
					return
				}
			}
		})
	}
	wg.Wait()
	if n, err := s.InvalidateTags(ctx, []string{"t"}); err != nil || n != 1600 {
		t.Fatalf("InvalidateTags = %d, %v; want 1600", n, err)
	}
}

// Two :memory: stores are two databases.
func TestMemoryIsPrivate(t *testing.T) {
	a := newStore(t, sqlite.Options{Path: sqlite.MemoryPath})
	b := newStore(t, sqlite.Options{Path: sqlite.MemoryPath})
	set(t, a, "k", "v", time.Hour)
	if _, err := b.Get(ctx, "k"); !errors.Is(err, backend.ErrNotFound) {
		t.Fatalf("second :memory: store sees the first's key: %v", err)
	}
}

func TestExistingDB(t *testing.T) {
	db, err := sql.Open(sqlite.DriverName, filepath.Join(t.TempDir(), "app.db")+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	s, err := sqlite.New(sqlite.Options{DB: db, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	set(t, s, "k", "v", time.Hour, "t")
	var got *sql.DB
	if !s.As(&got) || got != db {
		t.Fatal("As(**sql.DB) does not return the caller's DB")
	}
	if s.As(nil) || s.As(new(string)) {
		t.Fatal("As accepts nil or an unknown type")
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := db.Ping(); err != nil {
		t.Fatalf("Close closed the caller's DB: %v", err)
	}
	// A second Store on it sees the data: the schema is migrated once.
	s2, err := sqlite.New(sqlite.Options{DB: db, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if v, err := s2.Get(ctx, "k"); err != nil || string(v) != "v" {
		t.Fatalf("Get = %q, %v", v, err)
	}
}

func TestSchemaVersion(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cache.db")
	s := newStore(t, sqlite.Options{Path: path})
	if got := count(t, s, `SELECT value FROM yokedcache_meta WHERE name = 'schema_version'`); got != sqlite.SchemaVersion {
		t.Fatalf("schema_version = %d, want %d", got, sqlite.SchemaVersion)
	}
	var db *sql.DB
	s.As(&db)
	if _, err := db.Exec(`UPDATE yokedcache_meta SET value = 99 WHERE name = 'schema_version'`); err != nil {
		t.Fatal(err)
	}
	_ = s.Close()
	if _, err := sqlite.New(sqlite.Options{Path: path, Logger: quiet()}); !errors.Is(err, sqlite.ErrSchemaTooNew) {
		t.Fatalf("New on a newer schema = %v, want ErrSchemaTooNew", err)
	}
}

func TestClosedAndOptions(t *testing.T) {
	s := newStore(t, sqlite.Options{})
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, "k"); !errors.Is(err, backend.ErrClosed) {
		t.Fatalf("Get after Close = %v", err)
	}
	if err := s.Set(ctx, "k", []byte("v"), backend.SetOptions{TTL: time.Hour}); !errors.Is(err, backend.ErrClosed) {
		t.Fatalf("Set after Close = %v", err)
	}
	for k, err := range s.Scan(ctx, "*") {
		if !errors.Is(err, backend.ErrClosed) {
			t.Fatalf("Scan after Close yielded %q, %v; want ErrClosed", k, err)
		}
	}
	if err := s.Close(); !errors.Is(err, backend.ErrClosed) {
		t.Fatalf("second Close = %v", err)
	}
	for _, o := range []sqlite.Options{
		{},
		{Path: "x.db", DB: &sql.DB{}},
		{Path: "x.db", BusyTimeout: -1},
		{Path: "x.db", MaxEntries: -1},
		{Path: "x.db", MaxSizeBytes: -1},
	} {
		if _, err := sqlite.New(o); !errors.Is(err, backend.ErrInvalidConfig) {
			t.Errorf("New(%+v) = %v, want ErrInvalidConfig", o, err)
		}
	}
	// A missing directory is created, private (it used to fail with
	// SQLite's "unable to open database file (14)", naming no path).
	dir := filepath.Join(t.TempDir(), "missing", "dir")
	s, err := sqlite.New(sqlite.Options{Path: filepath.Join(dir, "c.db"), Logger: quiet()})
	if err != nil {
		t.Fatalf("New in a missing directory: %v", err)
	}
	defer s.Close()
	if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("created directory: %v, %v; want mode 0700", fi, err)
	}
}

func TestHealthAndStats(t *testing.T) {
	s := newStore(t, sqlite.Options{})
	set(t, s, "a:1", "v", time.Hour)
	set(t, s, "a:2", "v", time.Hour)
	set(t, s, "b:1", "v", time.Hour)
	st, err := s.Stats(ctx, "a:")
	if err != nil || st.Keys != 2 || st.Scope != "prefix" || st.Bytes <= 0 {
		t.Fatalf("Stats(a:) = %+v, %v", st, err)
	}
	if fb, _ := st.Extra["file_bytes"].(int64); fb <= 0 {
		t.Fatalf("Stats(a:).Extra = %v, want file_bytes > 0", st.Extra)
	}
	h, err := s.HealthDetails(ctx)
	if err != nil || h.Status != "healthy" || h.Details["journal_mode"] != "wal" {
		t.Fatalf("HealthDetails = %+v, %v", h, err)
	}
	if err := s.Flush(ctx, "a:"); err != nil {
		t.Fatal(err)
	}
	if got := scan(t, s, "*"); !slices.Equal(got, []string{"b:1"}) {
		t.Fatalf("keys after Flush(a:) = %q", got)
	}
	if s.Name() != "sqlite" {
		t.Fatal(s.Name())
	}
	if got, err := s.GetMany(ctx, []string{"b:1", "x", "b:1", "bad\xff"}); err != nil || string(got[0]) != "v" || got[1] != nil || string(got[2]) != "v" || got[3] != nil {
		t.Fatalf("GetMany = %q, %v", got, err)
	}
}

// GetMany carries every key byte for byte, whatever the path (JSON array
// or IN list).
func TestGetManySpecialKeys(t *testing.T) {
	s := newStore(t, sqlite.Options{Path: sqlite.MemoryPath})
	keys := []string{`q"uote`, `back\slash`, "ctl\x01\x1f\t\n", "uni ä 漢 🙂", "\u2028sep", "del\x7f", "nul\x00x", `[*?%_]`, "k"}
	for i, k := range keys {
		set(t, s, k, fmt.Sprint(i), time.Hour)
	}
	for _, batch := range [][]string{keys[:6], keys, append(slices.Clone(keys), "missing", "k")} {
		got, err := s.GetMany(ctx, batch)
		if err != nil {
			t.Fatal(err)
		}
		for i, k := range batch {
			want := slices.Index(keys, k)
			switch {
			case want < 0 && got[i] != nil:
				t.Errorf("GetMany: %q = %q, want a miss", k, got[i])
			case want >= 0 && string(got[i]) != fmt.Sprint(want):
				t.Errorf("GetMany: %q = %q, want %q", k, got[i], fmt.Sprint(want))
			}
		}
	}
}

// A TTL too large to add to the current time saturates instead of
// wrapping into a negative expiry (an immediate miss that no sweep or
// eviction ever removed).
func TestHugeTTLSaturates(t *testing.T) {
	s := newStore(t, sqlite.Options{CleanupInterval: -1})
	for _, d := range []time.Duration{math.MaxInt64, 250 * 365 * 24 * time.Hour} {
		for _, write := range []func(){
			func() { set(t, s, "k", "v", d) },
			func() {
				must(t, s.SetMany(ctx, []backend.Item{{Key: "k", Value: []byte("v"), SetOptions: backend.SetOptions{TTL: d}}}))
			},
			func() {
				set(t, s, "k", "v", time.Minute)
				if ok, err := s.Expire(ctx, "k", d); !ok || err != nil {
					t.Fatalf("Expire(%v) = %v, %v", d, ok, err)
				}
			},
		} {
			write()
			if got, err := s.Get(ctx, "k"); err != nil || string(got) != "v" {
				t.Fatalf("Get after a write with TTL %v = %q, %v", d, got, err)
			}
			want := min(d, time.Until(time.Unix(0, math.MaxInt64)))
			if got, err := s.TTL(ctx, "k"); err != nil || got > want || got < want-time.Minute {
				t.Fatalf("TTL after a write with TTL %v = %v, %v; want about %v", d, got, err, want)
			}
			if n := count(t, s, `SELECT count(*) FROM yokedcache_entries WHERE expires_at < 0`); n != 0 {
				t.Fatalf("%d rows with a negative expires_at", n)
			}
		}
	}
}

// A TTL of 0 or below is an error, as on the disk backend (the Cache
// passes only TTLs > 0 or backend.NoExpiry): it used to mean "never
// expire".
func TestNonPositiveTTLIsInvalid(t *testing.T) {
	s := newStore(t, sqlite.Options{CleanupInterval: -1})
	for _, d := range []time.Duration{0, -time.Second, math.MinInt64 + 1} {
		if err := s.Set(ctx, "k", []byte("v"), backend.SetOptions{TTL: d}); !errors.Is(err, backend.ErrInvalidTTL) {
			t.Errorf("Set with TTL %v = %v; want ErrInvalidTTL", d, err)
		}
		if err := s.Set(ctx, "k", []byte("v"), backend.SetOptions{TTL: d, Tags: []string{"t"}}); !errors.Is(err, backend.ErrInvalidTTL) {
			t.Errorf("tagged Set with TTL %v = %v; want ErrInvalidTTL", d, err)
		}
		items := []backend.Item{
			{Key: "a", Value: []byte("v"), SetOptions: backend.SetOptions{TTL: time.Hour}},
			{Key: "b", Value: []byte("v"), SetOptions: backend.SetOptions{TTL: d}},
		}
		if err := s.SetMany(ctx, items); !errors.Is(err, backend.ErrInvalidTTL) {
			t.Errorf("SetMany with TTL %v = %v; want ErrInvalidTTL", d, err)
		}
		if _, err := s.Expire(ctx, "k", d); !errors.Is(err, backend.ErrInvalidTTL) {
			t.Errorf("Expire(%v) = %v; want ErrInvalidTTL", d, err)
		}
	}
	if n := count(t, s, `SELECT count(*) FROM yokedcache_entries`); n != 0 {
		t.Fatalf("%d rows written by refused writes", n)
	}
	set(t, s, "k", "v", backend.NoExpiry)
	if got, err := s.TTL(ctx, "k"); err != nil || got != backend.NoExpiry {
		t.Fatalf("TTL after Set with NoExpiry = %v, %v", got, err)
	}
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// The eviction a write triggers never evicts what that write wrote, even
// when it is first in eviction order (first key without expiry, soonest
// expiry).
func TestWriteDoesNotEvictItsOwnEntries(t *testing.T) {
	s := newStore(t, sqlite.Options{CleanupInterval: -1, MaxEntries: 10})
	for i := range 10 {
		set(t, s, fmt.Sprintf("m%d", i), "v", backend.NoExpiry)
	}
	set(t, s, "a", "new", backend.NoExpiry)
	if _, err := s.Get(ctx, "a"); err != nil {
		t.Fatalf("Set(a) evicted its own entry: %v", err)
	}
	if n := count(t, s, `SELECT count(*) FROM yokedcache_entries`); n > 10 {
		t.Fatalf("%d entries with MaxEntries 10", n)
	}

	s = newStore(t, sqlite.Options{CleanupInterval: -1, MaxEntries: 10})
	for i := range 10 {
		set(t, s, fmt.Sprintf("m%d", i), "v", time.Hour)
	}
	set(t, s, "short", "new", time.Minute)
	if _, err := s.Get(ctx, "short"); err != nil {
		t.Fatalf("Set(short, 1m) evicted its own entry: %v", err)
	}

	// A batch keeps all its entries, even when they alone are over the
	// bound's target.
	s = newStore(t, sqlite.Options{CleanupInterval: -1, MaxEntries: 10})
	for i := range 10 {
		set(t, s, fmt.Sprintf("m%d", i), "v", time.Hour)
	}
	var items []backend.Item
	for i := range 10 {
		items = append(items, backend.Item{Key: fmt.Sprintf("b%d", i), Value: []byte("v"), SetOptions: backend.SetOptions{TTL: time.Minute}})
	}
	must(t, s.SetMany(ctx, items))
	got, err := s.GetMany(ctx, []string{"b0", "b1", "b2", "b3", "b4", "b5", "b6", "b7", "b8", "b9"})
	must(t, err)
	for i, v := range got {
		if v == nil {
			t.Fatalf("SetMany evicted its own entry b%d", i)
		}
	}
	if n := count(t, s, `SELECT count(*) FROM yokedcache_entries`); n != 10 {
		t.Fatalf("%d entries after a SetMany of 10 with MaxEntries 10; want only the batch", n)
	}
}

// A file that is not a SQLite database is set aside and replaced by an
// empty database, like the disk backend's quarantine; a damaged database
// is reported with errors matching ErrCorrupt.
func TestCorruptFile(t *testing.T) {
	t.Run("not a database", func(t *testing.T) {
		dir := t.TempDir()
		path := filepath.Join(dir, "cache.db")
		garbage := bytes.Repeat([]byte("garbage "), 1000)
		must(t, os.WriteFile(path, garbage, 0o600))
		var logs bytes.Buffer
		s := newStore(t, sqlite.Options{Path: path, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
		aside, _ := filepath.Glob(path + ".corrupt-*")
		slices.Sort(aside)
		if len(aside) == 0 || len(aside) > 3 {
			t.Fatalf("set aside: %v; want the file (and its -wal and -shm files if SQLite left them)", aside)
		}
		if got, err := os.ReadFile(aside[0]); err != nil || !bytes.Equal(got, garbage) {
			t.Fatalf("the quarantined file does not hold the original bytes: %v", err)
		}
		if !strings.Contains(logs.String(), "level=ERROR") || !strings.Contains(logs.String(), aside[0]) {
			t.Errorf("no error log naming the quarantined file: %s", logs.String())
		}
		if h, err := s.HealthDetails(ctx); err != nil || h.Status != "degraded" || h.Details["quarantined"] != aside[0] {
			t.Errorf("HealthDetails = %+v, %v; want degraded naming %s", h, err, aside[0])
		}
		set(t, s, "k", "v", time.Hour)
		if got, err := s.Get(ctx, "k"); err != nil || string(got) != "v" {
			t.Fatalf("Get after quarantine = %q, %v", got, err)
		}
	})
	t.Run("damaged pages", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "cache.db")
		s := newStore(t, sqlite.Options{Path: path, CleanupInterval: -1})
		for i := range 2000 {
			set(t, s, fmt.Sprintf("k:%04d", i), strings.Repeat("v", 100), time.Hour)
		}
		must(t, s.Close())
		fi, err := os.Stat(path)
		must(t, err)
		// Keep page 1 (header and schema), overwrite the rest.
		f, err := os.OpenFile(path, os.O_WRONLY, 0)
		must(t, err)
		_, err = f.WriteAt(bytes.Repeat([]byte{0xA5}, int(fi.Size())-4096), 4096)
		must(t, err)
		must(t, f.Close())
		s, err = sqlite.New(sqlite.Options{Path: path, Logger: quiet(), CleanupInterval: -1})
		if err == nil {
			defer s.Close()
			_, err = s.Get(ctx, "k:1000")
		}
		if !errors.Is(err, backend.ErrCorrupt) {
			t.Fatalf("New or Get on a damaged database = %v; want ErrCorrupt", err)
		}
		if aside, _ := filepath.Glob(path + ".corrupt-*"); len(aside) != 0 {
			t.Fatalf("a damaged SQLite database was set aside: %v", aside)
		}
	})
}
