package memory_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/url"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/yokedcache/yokedcache/backend"
	"github.com/yokedcache/yokedcache/backend/backendtest"
	"github.com/yokedcache/yokedcache/backend/memory"
	"github.com/yokedcache/yokedcache/yokedcachetest"
)

func TestMain(m *testing.M) {
	// Every Store's sweep goroutine must stop on Close.
	goleak.VerifyTestMain(m)
}

func TestConformance(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts memory.Options
	}{
		{"shards=1", memory.Options{Shards: 1}},
		{"default", memory.Options{}},
		{"tinylfu", memory.Options{Policy: memory.PolicyTinyLFU}},
		{"tinylfu/shards=1", memory.Options{Policy: memory.PolicyTinyLFU, Shards: 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			backendtest.Run(t, backendtest.Harness{
				Name: "memory/" + tc.name,
				New: func(t *testing.T, clock backend.Clock) (backend.Backend, error) {
					o := tc.opts
					o.Clock = clock
					return memory.New(o)
				},
			})
		})
	}
}

var ctx = context.Background()

func newStore(t *testing.T, o memory.Options) *memory.Store {
	t.Helper()
	s, err := memory.New(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func set(t *testing.T, s *memory.Store, k string, ttl time.Duration) {
	t.Helper()
	if err := s.Set(ctx, k, []byte("value-"+k), backend.SetOptions{TTL: ttl}); err != nil {
		t.Fatalf("Set(%q): %v", k, err)
	}
}

func present(t *testing.T, s *memory.Store, k string) bool {
	t.Helper()
	return s.Contains(k)
}

func TestLRUEvictsLeastRecentlyUsed(t *testing.T) {
	s := newStore(t, memory.Options{MaxSize: 3, Shards: 1})
	for _, k := range []string{"a", "b", "c"} {
		set(t, s, k, time.Hour)
	}
	// a is the least recently used; reading it promotes it, so b becomes
	// the victim.
	if _, err := s.Get(ctx, "a"); err != nil {
		t.Fatalf("Get(a): %v", err)
	}
	set(t, s, "d", time.Hour)
	for k, want := range map[string]bool{"a": true, "b": false, "c": true, "d": true} {
		if got := present(t, s, k); got != want {
			t.Errorf("after Get(a) and Set(d) on a full 3-entry LRU: present(%q) = %v; want %v", k, got, want)
		}
	}
	// Exists does not promote: c is now the least recently used.
	if !present(t, s, "c") {
		t.Fatal("c missing")
	}
	set(t, s, "e", time.Hour)
	if present(t, s, "c") {
		t.Errorf("Set(e) kept c; the least recently used entry (Exists must not promote) should be evicted")
	}
	// Overwriting an existing key does not evict.
	set(t, s, "a", time.Hour)
	for _, k := range []string{"a", "d", "e"} {
		if !present(t, s, k) {
			t.Errorf("overwriting a evicted %q", k)
		}
	}
	st, err := s.Stats(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if st.Keys != 3 || st.Evictions != 2 {
		t.Errorf("Stats keys=%d evictions=%d; want 3 and 2", st.Keys, st.Evictions)
	}
}

func TestLRUOrderUnderRepeatedUse(t *testing.T) {
	s := newStore(t, memory.Options{MaxSize: 3, Shards: 1})
	for i := range 100 {
		set(t, s, "hot", time.Hour)
		if _, err := s.Get(ctx, "hot"); err != nil {
			t.Fatalf("iteration %d: the most recently used entry was evicted", i)
		}
		set(t, s, fmt.Sprint("cold", i), time.Hour)
	}
	if !present(t, s, "hot") {
		t.Fatal("the entry used on every iteration was evicted")
	}
}

func TestMaxSizeBoundsEveryShardLayout(t *testing.T) {
	for _, shards := range []int{0, 1, 4} {
		s := newStore(t, memory.Options{MaxSize: 100, Shards: shards})
		for i := range 1000 {
			set(t, s, fmt.Sprint("k", i), time.Hour)
		}
		st, err := s.Stats(ctx, "")
		if err != nil {
			t.Fatal(err)
		}
		if st.Keys > 100+int64(max(shards, 1)) || st.Keys < 50 {
			t.Errorf("shards=%d: %d keys after 1000 sets with MaxSize 100", shards, st.Keys)
		}
		if st.Evictions != 1000-st.Keys {
			t.Errorf("shards=%d: evictions %d; want %d", shards, st.Evictions, 1000-st.Keys)
		}
	}
}

func TestMaxBytesBound(t *testing.T) {
	const limit = 64 << 10
	s := newStore(t, memory.Options{MaxSize: -1, MaxBytes: limit, Shards: 1})
	val := make([]byte, 1000)
	for i := range 500 {
		if err := s.Set(ctx, fmt.Sprint("k", i), val, backend.SetOptions{TTL: time.Hour}); err != nil {
			t.Fatal(err)
		}
	}
	st, err := s.Stats(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if st.Bytes > limit {
		t.Errorf("Stats.Bytes = %d over MaxBytes %d", st.Bytes, limit)
	}
	if st.Bytes < limit/2 || st.Keys < 30 {
		t.Errorf("Stats bytes=%d keys=%d: the byte bound evicted far too much", st.Bytes, st.Keys)
	}
	if st.Evictions != 500-st.Keys {
		t.Errorf("evictions %d; want %d", st.Evictions, 500-st.Keys)
	}
	// The most recent entry survives; the oldest are gone.
	if !present(t, s, "k499") || present(t, s, "k0") {
		t.Errorf("byte-bound eviction is not LRU: k499 present=%v, k0 present=%v", present(t, s, "k499"), present(t, s, "k0"))
	}
	// One value larger than the whole bound is still stored alone.
	big := make([]byte, 2*limit)
	if err := s.Set(ctx, "big", big, backend.SetOptions{TTL: time.Hour}); err != nil {
		t.Fatal(err)
	}
	if !present(t, s, "big") {
		t.Error("a value larger than MaxBytes was dropped")
	}
}

func TestSweepRemovesExpiredEntriesWithoutReads(t *testing.T) {
	clock := yokedcachetest.NewClock(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	s := newStore(t, memory.Options{Clock: clock, CleanupInterval: time.Minute, Shards: 1})
	for i := range 10 {
		set(t, s, fmt.Sprint("short", i), 30*time.Second)
	}
	set(t, s, "long", time.Hour)
	set(t, s, "forever", backend.NoExpiry)
	clock.Advance(45 * time.Second) // expired, but the sweep has not run
	st, err := s.Stats(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if st.Expirations != 0 {
		t.Fatalf("expirations = %d before any sweep or read", st.Expirations)
	}
	if all := st.Extra["entries_all_prefixes"]; all != int64(12) {
		t.Fatalf("entries before the sweep = %v; want 12 (expired but not yet swept)", all)
	}
	clock.Advance(20 * time.Second) // past CleanupInterval: the sweeper runs
	deadline := time.Now().Add(5 * time.Second)
	for {
		st, err = s.Stats(ctx, "")
		if err != nil {
			t.Fatal(err)
		}
		if st.Expirations == 10 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the sweep did not remove the expired entries: expirations=%d extra=%v", st.Expirations, st.Extra)
		}
		time.Sleep(2 * time.Millisecond)
	}
	if st.Keys != 2 || st.Extra["entries_all_prefixes"] != int64(2) {
		t.Errorf("after the sweep keys=%d extra=%v; want 2 live entries", st.Keys, st.Extra)
	}
	if !present(t, s, "long") || !present(t, s, "forever") {
		t.Error("the sweep removed live entries")
	}
}

func TestSweepDisabled(t *testing.T) {
	clock := yokedcachetest.NewClock(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	s := newStore(t, memory.Options{Clock: clock, CleanupInterval: -1})
	set(t, s, "k", time.Second)
	clock.Advance(time.Hour)
	if present(t, s, "k") {
		t.Error("lazy expiry: an expired entry is present")
	}
}

func TestCloseStopsTheSweeper(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	for range 20 {
		s, err := memory.New(memory.Options{CleanupInterval: time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		set(t, s, "k", time.Millisecond)
		time.Sleep(time.Millisecond)
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); !errors.Is(err, backend.ErrClosed) {
			t.Fatalf("second Close = %v; want ErrClosed", err)
		}
	}
}

func TestNewRejectsInvalidOptions(t *testing.T) {
	for _, o := range []memory.Options{
		{MaxSize: -2}, {MaxBytes: -1}, {Shards: -1}, {CleanupInterval: -time.Second},
	} {
		if s, err := memory.New(o); !errors.Is(err, backend.ErrInvalidConfig) {
			if s != nil {
				_ = s.Close()
			}
			t.Errorf("New(%+v) = %v; want ErrInvalidConfig", o, err)
		}
	}
	// New does not modify the caller's Options.
	o := memory.Options{}
	s := newStore(t, o)
	_ = s
	if o != (memory.Options{}) {
		t.Errorf("New modified its Options argument: %+v", o)
	}
}

func TestParseURL(t *testing.T) {
	o, err := memory.ParseURL("mem://?max_size=5&shards=2")
	if err != nil {
		t.Fatal(err)
	}
	if o.MaxSize != 5 || o.Shards != 2 {
		t.Fatalf("ParseURL = %+v; want MaxSize 5, Shards 2", o)
	}
	o, err = memory.ParseURL("memory://?max_bytes=64MiB&cleanup_interval=90&max_size=-1")
	if err != nil {
		t.Fatal(err)
	}
	if o.MaxBytes != 64<<20 || o.CleanupInterval != 90*time.Second || o.MaxSize != -1 {
		t.Fatalf("ParseURL = %+v", o)
	}
	o, err = memory.ParseURL("mem://?cleanup_interval=1m30s")
	if err != nil || o.CleanupInterval != 90*time.Second {
		t.Fatalf("ParseURL(cleanup_interval=1m30s) = %+v, %v", o, err)
	}
	for _, bad := range []string{
		"mem://?unknown=1", "mem://?max_size=abc", "mem://?max_size=-5", "mem://?shards=-1",
		"mem://?shards=99999", "mem://?max_bytes=lots", "mem://?cleanup_interval=soon", "mem://?cleanup_interval=NaN",
		"mem://host", "mem:///path", "mem://user:secret@", "redis://localhost", "", "::",
		"mem://?max_size=5&typo_param=1",
	} {
		_, err := memory.ParseURL(bad)
		if !errors.Is(err, backend.ErrInvalidConfig) {
			t.Errorf("ParseURL(%q) = %v; want ErrInvalidConfig", bad, err)
		}
		if err != nil && containsSecret(err.Error()) {
			t.Errorf("ParseURL(%q) error prints the password: %v", bad, err)
		}
	}
}

func containsSecret(s string) bool {
	for i := 0; i+6 <= len(s); i++ {
		if s[i:i+6] == "secret" {
			return true
		}
	}
	return false
}

func TestOpenFromRegistry(t *testing.T) {
	for _, raw := range []string{"mem://", "memory://?max_size=10", "MEM://?shards=4"} {
		b, err := backend.Open(ctx, raw)
		if err != nil {
			t.Fatalf("backend.Open(%q): %v", raw, err)
		}
		if backend.Name(b) != "memory" {
			t.Errorf("backend.Open(%q) name %q", raw, backend.Name(b))
		}
		if err := b.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := backend.Open(ctx, "mem://?nope=1"); !errors.Is(err, backend.ErrInvalidConfig) {
		t.Errorf("backend.Open with an unknown parameter = %v; want ErrInvalidConfig", err)
	}
	// The opener's Options are defaults the URL overrides.
	u, _ := url.Parse("mem://?shards=2")
	b, err := memory.URLOpener{Options: memory.Options{MaxSize: 7}}.OpenURL(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	for i := range 20 {
		if err := b.Set(ctx, fmt.Sprint("k", i), []byte("v"), backend.SetOptions{TTL: time.Hour}); err != nil {
			t.Fatal(err)
		}
	}
	st, err := b.(backend.Stater).Stats(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if st.Keys > 8 {
		t.Errorf("URLOpener default MaxSize 7 ignored: %d keys", st.Keys)
	}
}

func FuzzParseURL(f *testing.F) {
	for _, s := range []string{
		"mem://", "mem://?max_size=5&shards=2", "memory://?max_bytes=1GiB&cleanup_interval=5m",
		"mem://?max_size=-1", "mem://?shards=4096", "mem://?max_bytes=1.5KB", "mem://h?x=%zz", "",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		o, err := memory.ParseURL(raw)
		if err != nil {
			if !errors.Is(err, backend.ErrInvalidConfig) {
				t.Fatalf("ParseURL(%q) error %v does not match ErrInvalidConfig", raw, err)
			}
			return
		}
		if o.MaxSize < -1 || o.MaxBytes < 0 || o.Shards < 0 || o.Shards > 4096 || (o.CleanupInterval < 0 && o.CleanupInterval != -1) {
			t.Fatalf("ParseURL(%q) accepted out-of-range options %+v", raw, o)
		}
		// Whatever parses must open (small bounds only, to stay cheap).
		if o.MaxSize == 0 || o.MaxSize > 1000 {
			o.MaxSize = 1000
		}
		if o.Shards > 64 {
			o.Shards = 64
		}
		s, err := memory.New(o)
		if err != nil {
			t.Fatalf("New(ParseURL(%q) = %+v): %v", raw, o, err)
		}
		_ = s.Close()
	})
}

// TestConcurrentMixedOperations hammers one small store from several
// goroutines (under -race) with every operation, sweeps and clock moves,
// then checks the bounds still hold.
func TestConcurrentMixedOperations(t *testing.T) {
	clock := yokedcachetest.NewClock(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	s := newStore(t, memory.Options{MaxSize: 64, Shards: 4, Clock: clock, CleanupInterval: time.Second})
	const workers, ops = 6, 1500
	done := make(chan struct{})
	for w := range workers {
		go func() {
			defer func() { done <- struct{}{} }()
			for i := range ops {
				k := fmt.Sprintf("p:k%d", (i*7+w)%200)
				switch i % 10 {
				case 0, 1, 2:
					_ = s.Set(ctx, k, []byte("v"), backend.SetOptions{TTL: time.Duration(1+i%5) * time.Second, Tags: []string{fmt.Sprint("t", i%3)}})
				case 3, 4, 5:
					_, _ = s.Get(ctx, k)
				case 6:
					_, _ = s.Delete(ctx, k)
				case 7:
					_, _ = s.InvalidateTags(ctx, []string{fmt.Sprint("t", i%3)})
				case 8:
					for range s.Scan(ctx, "p:k1*") {
					}
				case 9:
					clock.Advance(300 * time.Millisecond)
					_, _ = s.Expire(ctx, k, time.Second)
					_, _ = s.GetMany(ctx, []string{k, "p:k1"})
				}
			}
		}()
	}
	for range workers {
		<-done
	}
	st, err := s.Stats(ctx, "p:")
	if err != nil {
		t.Fatal(err)
	}
	if st.Keys > 64+4 || st.Keys < 0 {
		t.Fatalf("Stats.Keys = %d with MaxSize 64", st.Keys)
	}
	if _, err := s.InvalidateTags(ctx, []string{"t0", "t1", "t2"}); err != nil {
		t.Fatal(err)
	}
	clock.Advance(time.Hour)
	s.Sweep()
	st, err = s.Stats(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if st.Keys != 0 || st.Extra["entries_all_prefixes"] != int64(0) || st.Bytes != 0 {
		t.Fatalf("after invalidating every tag and expiring everything: keys=%d bytes=%d extra=%v; want an empty store", st.Keys, st.Bytes, st.Extra)
	}
}

// A TTL longer than the int64 clock can add saturates: the entry lives
// (practically) for ever instead of expiring at once.
func TestHugeTTLSaturates(t *testing.T) {
	clock := yokedcachetest.NewClock(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	s := newStore(t, memory.Options{Clock: clock, CleanupInterval: -1})
	set(t, s, "k", time.Duration(math.MaxInt64))
	if _, err := s.Get(ctx, "k"); err != nil {
		t.Fatalf("Get after Set with TTL MaxInt64 = %v; want a hit", err)
	}
	set(t, s, "e", time.Minute)
	if ok, err := s.Expire(ctx, "e", time.Duration(math.MaxInt64)); err != nil || !ok {
		t.Fatalf("Expire(e, MaxInt64) = %v, %v", ok, err)
	}
	clock.Advance(100 * 365 * 24 * time.Hour)
	for _, k := range []string{"k", "e"} {
		if _, err := s.Get(ctx, k); err != nil {
			t.Fatalf("Get(%q) a century later = %v; want a hit", k, err)
		}
		if d, err := s.TTL(ctx, k); err != nil || d <= 0 {
			t.Fatalf("TTL(%q) = %v, %v; want a positive remaining time", k, d, err)
		}
	}
}
