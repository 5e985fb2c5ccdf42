package memory_test

import (
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/yokedcache/yokedcache/backend"
	"github.com/yokedcache/yokedcache/backend/memory"
)

var policies = []memory.Policy{memory.PolicyLRU, memory.PolicyTinyLFU}

// TestGlobalBoundIsExact: the bound holds for the whole store, not per
// shard. 20 000 distinct keys into MaxSize 10 000: never more than 10 000
// entries, the first eviction only once the store is full, and a full
// store at the end, whatever the shard layout and policy.
func TestGlobalBoundIsExact(t *testing.T) {
	const maxSize, inserts = 10_000, 20_000
	for _, p := range policies {
		for _, shards := range []int{0, 1, 7, 64} {
			t.Run(fmt.Sprintf("%s/shards=%d", p, shards), func(t *testing.T) {
				s := newStore(t, memory.Options{MaxSize: maxSize, Shards: shards, Policy: p, CleanupInterval: -1})
				firstEviction := -1
				for i := range inserts {
					before := s.Len()
					set(t, s, fmt.Sprint("key-", i), time.Hour)
					n := s.Len()
					if n > maxSize {
						t.Fatalf("after %d distinct inserts Len = %d; want <= MaxSize %d", i+1, n, maxSize)
					}
					if n <= before && firstEviction < 0 {
						firstEviction = before
					}
				}
				if firstEviction < maxSize*99/100 {
					t.Errorf("first eviction when the store held %d entries; want >= %d (99%% of MaxSize %d)", firstEviction, maxSize*99/100, maxSize)
				}
				st, err := s.Stats(ctx, "")
				if err != nil {
					t.Fatal(err)
				}
				if st.Keys < maxSize*99/100 || st.Keys > maxSize || int64(s.Len()) != st.Keys {
					t.Errorf("after %d inserts Stats.Keys = %d, Len = %d; want both in [%d, %d] and equal", inserts, st.Keys, s.Len(), maxSize*99/100, maxSize)
				}
				if st.Evictions != inserts-st.Keys {
					t.Errorf("evictions = %d; want %d (one per insert beyond the bound)", st.Evictions, inserts-st.Keys)
				}
			})
		}
	}
}

// TestGlobalBoundMoreShardsThanEntries: with fewer entries than shards a
// Set whose shard is empty must evict from another shard.
func TestGlobalBoundMoreShardsThanEntries(t *testing.T) {
	for _, p := range policies {
		s := newStore(t, memory.Options{MaxSize: 3, Shards: 64, Policy: p, CleanupInterval: -1})
		for i := range 500 {
			set(t, s, fmt.Sprint("k", i), time.Hour)
			if n := s.Len(); n > 3 || (i >= 2 && n != 3) {
				t.Fatalf("%s: after %d inserts Len = %d; want min(inserts, 3)", p, i+1, n)
			}
			if !present(t, s, fmt.Sprint("k", i)) {
				t.Fatalf("%s: the entry just set was evicted", p)
			}
		}
	}
}

// TestGlobalByteBound: MaxBytes holds for the whole store at every step,
// and eviction starts only near it.
func TestGlobalByteBound(t *testing.T) {
	const limit = 64 << 10
	for _, p := range policies {
		s := newStore(t, memory.Options{MaxSize: -1, MaxBytes: limit, Shards: 8, Policy: p, CleanupInterval: -1})
		val := make([]byte, 1000)
		for i := range 300 {
			if err := s.Set(ctx, fmt.Sprint("k", i), val, backend.SetOptions{TTL: time.Hour}); err != nil {
				t.Fatal(err)
			}
			st, err := s.Stats(ctx, "")
			if err != nil {
				t.Fatal(err)
			}
			if st.Bytes > limit {
				t.Fatalf("%s: after %d sets Stats.Bytes = %d over MaxBytes %d", p, i+1, st.Bytes, limit)
			}
			if st.Evictions > 0 && st.Bytes+2*1100 < limit {
				t.Fatalf("%s: evicting at %d bytes, far below MaxBytes %d", p, st.Bytes, limit)
			}
		}
		// A value larger than the bound is stored alone.
		if err := s.Set(ctx, "big", make([]byte, 2*limit), backend.SetOptions{TTL: time.Hour}); err != nil {
			t.Fatal(err)
		}
		if !present(t, s, "big") || s.Len() != 1 {
			t.Errorf("%s: a value larger than MaxBytes: present=%v Len=%d; want stored alone", p, present(t, s, "big"), s.Len())
		}
		set(t, s, "small", time.Hour)
		if present(t, s, "big") || !present(t, s, "small") {
			t.Errorf("%s: the next Set must evict the oversized entry", p)
		}
	}
}

// TestGlobalBoundConcurrentWriters: writers on every shard at once (run
// with -race) never push the store past MaxSize or MaxBytes, observed
// continuously by a reader, and leave it full.
func TestGlobalBoundConcurrentWriters(t *testing.T) {
	const maxSize, writers, perWriter = 500, 4, 3000
	for _, p := range policies {
		for _, o := range []memory.Options{
			{MaxSize: maxSize, Shards: 16},
			{MaxSize: maxSize, Shards: 64},
			{MaxSize: -1, MaxBytes: maxSize * 120, Shards: 16},
		} {
			o.Policy, o.CleanupInterval = p, -1
			s := newStore(t, o)
			var stop atomic.Bool
			var over atomic.Int64
			var watch sync.WaitGroup
			watch.Go(func() {
				for !stop.Load() {
					if n := s.Len(); o.MaxSize > 0 && n > o.MaxSize {
						over.Store(int64(n))
					}
					runtime.Gosched() // leave the writers the CPU on a busy machine
				}
			})
			var wg sync.WaitGroup
			for w := range writers {
				wg.Go(func() {
					for i := range perWriter {
						k := fmt.Sprintf("w%d-%d", w, i)
						if err := s.Set(ctx, k, []byte("0123456789"), backend.SetOptions{TTL: time.Hour}); err != nil {
							t.Error(err)
							return
						}
						if i%3 == 0 {
							_, _ = s.Get(ctx, fmt.Sprintf("w%d-%d", w, i/2))
						}
						if i%97 == 0 {
							_, _ = s.Delete(ctx, fmt.Sprintf("w%d-%d", (w+1)%writers, i))
						}
					}
				})
			}
			wg.Wait()
			stop.Store(true)
			watch.Wait()
			if n := over.Load(); n != 0 {
				t.Errorf("%s %+v: Len reached %d during concurrent writes", p, o, n)
			}
			st, err := s.Stats(ctx, "")
			if err != nil {
				t.Fatal(err)
			}
			if o.MaxSize > 0 && (st.Keys > maxSize || st.Keys < maxSize*99/100) {
				t.Errorf("%s %+v: %d keys after concurrent writes; want [%d, %d]", p, o, st.Keys, maxSize*99/100, maxSize)
			}
			if o.MaxBytes > 0 && (st.Bytes > o.MaxBytes || st.Bytes < o.MaxBytes*9/10) {
				t.Errorf("%s %+v: %d bytes after concurrent writes; want <= %d and near it", p, o, st.Bytes, o.MaxBytes)
			}
			if int64(s.Len()) != st.Extra["entries_all_prefixes"] {
				t.Errorf("%s %+v: Len %d disagrees with the shards' %v entries", p, o, s.Len(), st.Extra["entries_all_prefixes"])
			}
		}
	}
}

// TestLenCountsRemovals: deletes, tag and pattern invalidation, expiry,
// Flush and Close all give their room back.
func TestLenCountsRemovals(t *testing.T) {
	for _, p := range policies {
		clock := newClock()
		s := newStore(t, memory.Options{MaxSize: 10, Shards: 4, Policy: p, Clock: clock, CleanupInterval: -1})
		for i := range 10 {
			if err := s.Set(ctx, fmt.Sprint("p:k", i), []byte("v"), backend.SetOptions{TTL: time.Duration(i+1) * time.Minute, Tags: []string{fmt.Sprint("t", i%2)}}); err != nil {
				t.Fatal(err)
			}
		}
		check := func(want int, what string) {
			t.Helper()
			if n := s.Len(); n != want {
				t.Fatalf("%s: after %s Len = %d; want %d", p, what, n, want)
			}
		}
		check(10, "10 sets")
		set(t, s, "p:k0", time.Hour) // overwrite: no change
		check(10, "an overwrite")
		if _, err := s.Delete(ctx, "p:k0"); err != nil {
			t.Fatal(err)
		}
		check(9, "a delete")
		if _, err := s.InvalidateTags(ctx, []string{"t1"}); err != nil {
			t.Fatal(err)
		}
		check(4, "invalidating t1")
		clock.Advance(5 * time.Minute) // p:k2 and p:k4 expire
		s.Sweep()
		check(2, "a sweep")
		if _, err := s.DeletePattern(ctx, "p:k6"); err != nil {
			t.Fatal(err)
		}
		check(1, "a pattern delete")
		if err := s.Flush(ctx, "p:"); err != nil {
			t.Fatal(err)
		}
		check(0, "a flush")
		for i := range 25 {
			set(t, s, fmt.Sprint("q", i), time.Hour)
		}
		check(10, "refilling")
	}
}
