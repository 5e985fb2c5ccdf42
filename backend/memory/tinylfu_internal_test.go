package memory

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/yokedcache/yokedcache/backend"
)

func TestSketchCountsSaturatesAndAges(t *testing.T) {
	var s sketch
	s.init(1000)
	if f := s.frequency(42); f != 0 {
		t.Fatalf("fresh sketch frequency = %d", f)
	}
	for i := range 20 {
		s.increment(42)
		if want := min(uint64(i+1), 15); s.frequency(42) != want {
			t.Fatalf("after %d increments frequency = %d; want %d", i+1, s.frequency(42), want)
		}
	}
	// Other keys barely disturb it, and are mostly estimated exactly.
	exact := 0
	for k := range uint64(500) {
		h := mix(k + 1000)
		s.increment(h)
		s.increment(h)
		if s.frequency(h) == 2 {
			exact++
		}
	}
	if exact < 450 {
		t.Errorf("only %d of 500 keys incremented twice are estimated at 2", exact)
	}
	if s.frequency(42) != 15 {
		t.Errorf("frequency(42) = %d after other keys; want 15", s.frequency(42))
	}
	// Reaching resetAt increments halves every counter.
	for i := 0; s.additions != 0 && i < s.resetAt; i++ {
		before := s.additions
		s.increment(uint64(i) * 0x9E3779B97F4A7C15)
		if s.additions < before { // the reset happened
			break
		}
	}
	if f := s.frequency(42); f != 7 {
		t.Errorf("after the reset frequency(42) = %d; want 15/2 = 7", f)
	}
}

// checkInvariants verifies every shard's lists against its map and the
// global counts.
func checkInvariants(t *testing.T, s *Store) {
	t.Helper()
	total, bytes := 0, int64(0)
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		seen := 0
		lists := []*list{&sh.main}
		if sh.lfu != nil {
			lists = append(lists, &sh.lfu.probation, &sh.lfu.protected)
		}
		for q, l := range lists {
			n := 0
			for e := l.root.next; e != &l.root; e = e.next {
				if int(e.q) != q {
					t.Fatalf("shard %d: entry %q on list %d has q=%d", i, e.key, q, e.q)
				}
				if sh.m[e.key] != e {
					t.Fatalf("shard %d: listed entry %q is not the map's", i, e.key)
				}
				n++
				bytes += e.size()
			}
			if n != l.n {
				t.Fatalf("shard %d list %d: counted %d entries, n = %d", i, q, n, l.n)
			}
			seen += n
		}
		if seen != len(sh.m) {
			t.Fatalf("shard %d: %d listed, %d in the map", i, seen, len(sh.m))
		}
		if sh.lfu != nil && sh.lfu.protected.n > sh.lfu.protectedMax {
			t.Fatalf("shard %d: protected %d over its maximum %d", i, sh.lfu.protected.n, sh.lfu.protectedMax)
		}
		total += len(sh.m)
		sh.mu.Unlock()
	}
	if int64(total) != s.count.Load() || (s.maxB > 0 && bytes != s.bytes.Load()) {
		t.Fatalf("shards hold %d entries / %d bytes; global counts say %d / %d", total, bytes, s.count.Load(), s.bytes.Load())
	}
}

func TestPolicyInvariantsUnderRandomOperations(t *testing.T) {
	ctx := context.Background()
	for _, p := range []Policy{PolicyLRU, PolicyTinyLFU} {
		for _, o := range []Options{{MaxSize: 200, Shards: 4}, {MaxSize: 7, Shards: 8}, {MaxSize: -1, MaxBytes: 20_000, Shards: 2}} {
			t.Run(fmt.Sprintf("%s/%d/%d/%d", p, o.MaxSize, o.MaxBytes, o.Shards), func(t *testing.T) {
				o.Policy, o.CleanupInterval = p, -1
				s, err := New(o)
				if err != nil {
					t.Fatal(err)
				}
				defer s.Close()
				r := rand.New(rand.NewPCG(7, 8))
				for i := range 20_000 {
					k := fmt.Sprint("k", int(r.ExpFloat64()*100))
					switch r.IntN(10) {
					case 0, 1, 2:
						_ = s.Set(ctx, k, make([]byte, r.IntN(300)), backend.SetOptions{TTL: time.Hour, Tags: []string{"t" + k[1:2]}})
					case 3:
						_, _ = s.Delete(ctx, k)
					case 4:
						if r.IntN(50) == 0 {
							_, _ = s.InvalidateTags(ctx, []string{"t1"})
						}
					default:
						_, _ = s.Get(ctx, k)
					}
					if i%500 == 0 {
						checkInvariants(t, s)
					}
					if o.MaxSize > 0 && s.Len() > o.MaxSize {
						t.Fatalf("Len %d over MaxSize %d", s.Len(), o.MaxSize)
					}
					if b := s.bytes.Load(); o.MaxBytes > 0 && b > o.MaxBytes && s.Len() > 1 {
						t.Fatalf("%d bytes over MaxBytes %d", b, o.MaxBytes)
					}
				}
				checkInvariants(t, s)
			})
		}
	}
}
