package memory_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/yokedcache/yokedcache/backend"
	"github.com/yokedcache/yokedcache/backend/memory"
	"github.com/yokedcache/yokedcache/yokedcachetest"
)

// objectKeeper is the optional interface package backend will declare for
// typed reads; the Store must implement it with exactly these signatures.
type objectKeeper interface {
	GetObject(ctx context.Context, key string) (val []byte, obj any, err error)
	AttachObject(key string, val []byte, obj any)
}

var _ objectKeeper = (*memory.Store)(nil)

func newClock() *yokedcachetest.Clock {
	return yokedcachetest.NewClock(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
}

func getObject(t *testing.T, s *memory.Store, k string) ([]byte, any) {
	t.Helper()
	v, obj, err := s.GetObject(ctx, k)
	if err != nil {
		t.Fatalf("GetObject(%q): %v", k, err)
	}
	return v, obj
}

func TestObjectAttachAndGet(t *testing.T) {
	for _, p := range policies {
		s := newStore(t, memory.Options{Policy: p, CleanupInterval: -1})
		val := []byte("bytes-1")
		if err := s.Set(ctx, "k", val, backend.SetOptions{TTL: time.Hour}); err != nil {
			t.Fatal(err)
		}
		v, obj := getObject(t, s, "k")
		if string(v) != "bytes-1" || obj != nil {
			t.Fatalf("%s: GetObject before any attach = %q, %v; want the bytes and a nil object", p, v, obj)
		}
		s.AttachObject("k", v, "decoded-1")
		v2, obj := getObject(t, s, "k")
		if obj != "decoded-1" || string(v2) != "bytes-1" {
			t.Fatalf("%s: GetObject after attach = %q, %v; want bytes-1, decoded-1", p, v2, obj)
		}
		// Get still returns the same bytes.
		if g, err := s.Get(ctx, "k"); err != nil || string(g) != "bytes-1" {
			t.Fatalf("%s: Get = %q, %v", p, g, err)
		}
		// A copy of the bytes (another backing array) or a prefix of
		// them does not match: nothing is attached.
		s.AttachObject("k", []byte("bytes-1"), "from-a-copy")
		s.AttachObject("k", v[:3], "from-a-prefix")
		if _, obj := getObject(t, s, "k"); obj != "decoded-1" {
			t.Errorf("%s: attaching with other bytes replaced the object: %v", p, obj)
		}
		// Attaching to a missing key does nothing (and creates nothing).
		s.AttachObject("missing", v, "x")
		if _, _, err := s.GetObject(ctx, "missing"); !errors.Is(err, backend.ErrNotFound) {
			t.Errorf("%s: GetObject(missing) = %v; want ErrNotFound", p, err)
		}
	}
}

// TestObjectSetInBetweenWins: an attach with the bytes of a replaced entry
// is ignored, and every write or removal drops the object.
func TestObjectSetInBetweenWins(t *testing.T) {
	for _, p := range policies {
		clock := newClock()
		s := newStore(t, memory.Options{Policy: p, Clock: clock, CleanupInterval: -1, MaxSize: 2, Shards: 1})
		old := []byte("old")
		if err := s.Set(ctx, "k", old, backend.SetOptions{TTL: time.Hour}); err != nil {
			t.Fatal(err)
		}
		v, _ := getObject(t, s, "k")
		if err := s.Set(ctx, "k", []byte("new"), backend.SetOptions{TTL: time.Hour}); err != nil {
			t.Fatal(err)
		}
		s.AttachObject("k", v, "decoded-old") // a racing reader's late attach
		if v, obj := getObject(t, s, "k"); string(v) != "new" || obj != nil {
			t.Fatalf("%s: after Set then a stale attach GetObject = %q, %v; want new, nil", p, v, obj)
		}

		drops := []struct {
			name string
			do   func()
		}{
			{"Set of the same bytes", func() { _ = s.Set(ctx, "k", old, backend.SetOptions{TTL: time.Hour}) }},
			{"SetMany", func() {
				_ = s.SetMany(ctx, []backend.Item{{Key: "k", Value: old, SetOptions: backend.SetOptions{TTL: time.Hour}}})
			}},
			{"Delete", func() { _, _ = s.Delete(ctx, "k") }},
			{"InvalidateTags", func() { _, _ = s.InvalidateTags(ctx, []string{"tag"}) }},
			{"eviction", func() {
				// Keys read more often than k (TinyLFU admits by frequency).
				for j := range 4 {
					o := fmt.Sprint("other", j)
					for range 20 {
						_, _ = s.Get(ctx, o)
					}
					set(t, s, o, time.Hour)
				}
			}},
			{"expiry", func() { clock.Advance(2 * time.Hour) }},
		}
		for _, d := range drops {
			if err := s.Set(ctx, "k", old, backend.SetOptions{TTL: time.Hour, Tags: []string{"tag"}}); err != nil {
				t.Fatal(err)
			}
			s.AttachObject("k", old, "decoded")
			if _, obj := getObject(t, s, "k"); obj != "decoded" {
				t.Fatalf("%s: attach before %s did not take: %v", p, d.name, obj)
			}
			d.do()
			v, obj, err := s.GetObject(ctx, "k")
			if obj != nil {
				t.Errorf("%s: after %s GetObject = %q, %v, %v; the object must be dropped with the entry", p, d.name, v, obj, err)
			}
			// Bytes re-stored later do not resurrect the object.
			if errors.Is(err, backend.ErrNotFound) {
				if err := s.Set(ctx, "k", old, backend.SetOptions{TTL: time.Hour}); err != nil {
					t.Fatal(err)
				}
				if _, obj := getObject(t, s, "k"); obj != nil {
					t.Errorf("%s: after %s and a new Set of the same bytes the old object came back", p, d.name)
				}
			}
		}
		// Attaching to an expired entry does nothing.
		if err := s.Set(ctx, "e", old, backend.SetOptions{TTL: time.Minute}); err != nil {
			t.Fatal(err)
		}
		clock.Advance(time.Hour)
		s.AttachObject("e", old, "late")
		if _, _, err := s.GetObject(ctx, "e"); !errors.Is(err, backend.ErrNotFound) {
			t.Errorf("%s: GetObject of an expired entry = %v; want ErrNotFound", p, err)
		}
	}
}

// TestObjectAttachChangesNothingElse: AttachObject changes neither the
// TTL, nor the recency (the LRU victim stays the same), nor the size
// accounting. Expire changes the TTL of the same entry and keeps its
// object (the bytes are unchanged).
func TestObjectAttachChangesNothingElse(t *testing.T) {
	clock := newClock()
	s := newStore(t, memory.Options{MaxSize: 2, Shards: 1, Clock: clock, CleanupInterval: -1})
	a := []byte("value-a")
	if err := s.Set(ctx, "a", a, backend.SetOptions{TTL: time.Hour}); err != nil {
		t.Fatal(err)
	}
	set(t, s, "b", time.Hour)
	before, err := s.Stats(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	s.AttachObject("a", a, make([]byte, 1<<20)) // a big object
	after, err := s.Stats(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if before.Bytes != after.Bytes || before.Keys != after.Keys {
		t.Errorf("AttachObject changed the accounting: bytes %d -> %d, keys %d -> %d", before.Bytes, after.Bytes, before.Keys, after.Keys)
	}
	if d, err := s.TTL(ctx, "a"); err != nil || d != time.Hour {
		t.Errorf("TTL after AttachObject = %v, %v; want 1h", d, err)
	}
	if ok, err := s.Expire(ctx, "a", 2*time.Hour); err != nil || !ok {
		t.Fatalf("Expire = %v, %v", ok, err)
	}
	if !s.Contains("a") {
		t.Fatal("a missing")
	}
	set(t, s, "c", time.Hour) // a is still the least recently used
	if present(t, s, "a") || !present(t, s, "b") {
		t.Errorf("AttachObject promoted a: after Set(c) a present=%v b present=%v; want a evicted", present(t, s, "a"), present(t, s, "b"))
	}
	// Expire keeps the object of an entry whose bytes did not change.
	d := []byte("value-d")
	if err := s.Set(ctx, "d", d, backend.SetOptions{TTL: time.Hour}); err != nil {
		t.Fatal(err)
	}
	s.AttachObject("d", d, 42)
	if ok, err := s.Expire(ctx, "d", time.Minute); err != nil || !ok {
		t.Fatalf("Expire = %v, %v", ok, err)
	}
	if _, obj := getObject(t, s, "d"); obj != 42 {
		t.Errorf("after Expire GetObject object = %v; want 42", obj)
	}
	if _, _, err := s.GetObject(ctx, "nope"); !errors.Is(err, backend.ErrNotFound) {
		t.Errorf("GetObject(nope) = %v; want ErrNotFound", err)
	}
}

// TestObjectConcurrent (run with -race): readers attach what they decode
// while writers replace values; an object returned is always the one
// decoded from the bytes returned with it.
func TestObjectConcurrent(t *testing.T) {
	for _, p := range policies {
		s := newStore(t, memory.Options{MaxSize: 64, Shards: 4, Policy: p, CleanupInterval: -1})
		var wg sync.WaitGroup
		for w := range 4 {
			wg.Go(func() {
				for i := range 3000 {
					k := fmt.Sprint("k", (i*7+w)%100)
					if i%4 == 0 {
						if err := s.Set(ctx, k, fmt.Appendf(nil, "%s=%d.%d", k, w, i), backend.SetOptions{TTL: time.Hour}); err != nil {
							t.Error(err)
							return
						}
						continue
					}
					v, obj, err := s.GetObject(ctx, k)
					if err != nil {
						continue
					}
					if obj != nil && obj.(string) != string(v) {
						t.Errorf("GetObject(%q) = %q with object %q from other bytes", k, v, obj)
						return
					}
					s.AttachObject(k, v, string(v))
				}
			})
		}
		wg.Wait()
	}
}

func TestObjectAfterClose(t *testing.T) {
	s, err := memory.New(memory.Options{})
	if err != nil {
		t.Fatal(err)
	}
	v := []byte("v")
	if err := s.Set(ctx, "k", v, backend.SetOptions{TTL: time.Hour}); err != nil {
		t.Fatal(err)
	}
	_ = s.Close()
	s.AttachObject("k", v, 1) // no effect, no panic
	if _, _, err := s.GetObject(ctx, "k"); !errors.Is(err, backend.ErrClosed) {
		t.Errorf("GetObject after Close = %v; want ErrClosed", err)
	}
}

// TestGetObjectPromotesLikeGet: GetObject has Get's recency effect, and
// Get's TTL effect (an expired entry is a miss and is removed).
func TestGetObjectPromotesLikeGet(t *testing.T) {
	clock := newClock()
	s := newStore(t, memory.Options{MaxSize: 3, Shards: 1, Clock: clock, CleanupInterval: -1})
	for _, k := range []string{"a", "b", "c"} {
		set(t, s, k, time.Hour)
	}
	getObject(t, s, "a") // a becomes the most recently used; b is the victim
	set(t, s, "d", time.Hour)
	for k, want := range map[string]bool{"a": true, "b": false, "c": true, "d": true} {
		if got := present(t, s, k); got != want {
			t.Errorf("after GetObject(a) and Set(d) on a full 3-entry LRU: present(%q) = %v; want %v", k, got, want)
		}
	}
	set(t, s, "short", time.Second)
	clock.Advance(2 * time.Second)
	before := s.Len()
	if _, _, err := s.GetObject(ctx, "short"); !errors.Is(err, backend.ErrNotFound) {
		t.Fatalf("GetObject of an expired entry = %v; want ErrNotFound", err)
	}
	if s.Len() != before-1 {
		t.Errorf("GetObject of an expired entry left it in the store: Len %d -> %d", before, s.Len())
	}
}
