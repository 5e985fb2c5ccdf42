package memory_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/yokedcache/yokedcache/backend"
	"github.com/yokedcache/yokedcache/backend/memory"
)

func TestPolicyNames(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want memory.Policy
	}{
		{"lru", memory.PolicyLRU}, {"LRU", memory.PolicyLRU},
		{"tinylfu", memory.PolicyTinyLFU}, {"TinyLFU", memory.PolicyTinyLFU}, {"w-tinylfu", memory.PolicyTinyLFU},
	} {
		p, err := memory.ParsePolicy(tc.in)
		if err != nil || p != tc.want {
			t.Errorf("ParsePolicy(%q) = %v, %v; want %v", tc.in, p, err, tc.want)
		}
	}
	for _, p := range policies {
		if back, err := memory.ParsePolicy(p.String()); err != nil || back != p {
			t.Errorf("ParsePolicy(%v.String()) = %v, %v", p, back, err)
		}
	}
	for _, bad := range []string{"", "lfu", "arc", "lru2"} {
		if _, err := memory.ParsePolicy(bad); !errors.Is(err, backend.ErrInvalidConfig) {
			t.Errorf("ParsePolicy(%q) = %v; want ErrInvalidConfig", bad, err)
		}
	}
	if s := memory.Policy(9).String(); s != "Policy(9)" {
		t.Errorf("Policy(9).String() = %q", s)
	}
	if s, err := memory.New(memory.Options{Policy: 9}); !errors.Is(err, backend.ErrInvalidConfig) {
		if s != nil {
			_ = s.Close()
		}
		t.Errorf("New(Policy 9) = %v; want ErrInvalidConfig", err)
	}
}

func TestPolicyURL(t *testing.T) {
	for raw, want := range map[string]memory.Policy{
		"mem://": memory.PolicyLRU, "mem://?policy=lru": memory.PolicyLRU,
		"mem://?policy=tinylfu&max_size=100": memory.PolicyTinyLFU, "memory://?policy=TinyLFU": memory.PolicyTinyLFU,
		"mem://?policy=lru&policy=tinylfu": memory.PolicyTinyLFU, // the last value wins, as for every parameter
	} {
		o, err := memory.ParseURL(raw)
		if err != nil || o.Policy != want {
			t.Errorf("ParseURL(%q) = %+v, %v; want Policy %v", raw, o, err, want)
		}
	}
	for _, bad := range []string{"mem://?policy=", "mem://?policy=lfu", "mem://?policy=tinylfu&typo=1"} {
		if _, err := memory.ParseURL(bad); !errors.Is(err, backend.ErrInvalidConfig) {
			t.Errorf("ParseURL(%q) = %v; want ErrInvalidConfig", bad, err)
		}
	}
	b, err := backend.Open(ctx, "mem://?policy=tinylfu&max_size=50")
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	s := b.(*memory.Store)
	if s.Policy() != memory.PolicyTinyLFU {
		t.Errorf("Open(policy=tinylfu).Policy() = %v", s.Policy())
	}
	st, err := s.Stats(ctx, "")
	if err != nil || st.Extra["policy"] != "tinylfu" {
		t.Errorf("Stats.Extra[policy] = %v, %v; want tinylfu", st.Extra["policy"], err)
	}
}

// TestTinyLFUResistsScan: a frequently read working set survives a scan
// of one-off keys ten times the cache size under TinyLFU (LRU loses it).
func TestTinyLFUResistsScan(t *testing.T) {
	survivors := map[memory.Policy]int{}
	for _, p := range policies {
		s := newStore(t, memory.Options{MaxSize: 100, Shards: 1, Policy: p, CleanupInterval: -1})
		for round := range 5 {
			for i := range 50 {
				k := fmt.Sprint("hot", i)
				if _, err := s.Get(ctx, k); err != nil {
					set(t, s, k, time.Hour)
				}
			}
			_ = round
		}
		for i := range 1000 {
			k := fmt.Sprint("scan", i)
			if _, err := s.Get(ctx, k); err != nil {
				set(t, s, k, time.Hour)
			}
		}
		for i := range 50 {
			if present(t, s, fmt.Sprint("hot", i)) {
				survivors[p]++
			}
		}
		if s.Len() != 100 {
			t.Errorf("%s: Len = %d; want 100", p, s.Len())
		}
	}
	if survivors[memory.PolicyTinyLFU] < 45 {
		t.Errorf("TinyLFU kept %d of 50 hot keys through a scan; want >= 45", survivors[memory.PolicyTinyLFU])
	}
	if survivors[memory.PolicyLRU] != 0 {
		t.Errorf("LRU kept %d of 50 hot keys through a scan of 1000; want 0", survivors[memory.PolicyLRU])
	}
}

// TestTinyLFUOnALoop: a loop over 1.5 × the cache's size defeats LRU
// completely (every read misses); W-TinyLFU keeps most of the cache.
func TestTinyLFUOnALoop(t *testing.T) {
	ratio := map[memory.Policy]float64{}
	for _, p := range policies {
		s := newStore(t, memory.Options{MaxSize: 1000, Shards: 1, Policy: p, CleanupInterval: -1})
		hits, n := 0, 150_000
		for i := range n {
			k := fmt.Sprint("k", i%1500)
			if _, err := s.Get(ctx, k); err == nil {
				hits++
			} else {
				set(t, s, k, time.Hour)
			}
		}
		ratio[p] = float64(hits) / float64(n)
	}
	t.Logf("loop of 1500 keys, cache 1000: LRU %.2f, TinyLFU %.2f", ratio[memory.PolicyLRU], ratio[memory.PolicyTinyLFU])
	if ratio[memory.PolicyLRU] > 0.01 || ratio[memory.PolicyTinyLFU] < 0.4 {
		t.Errorf("hit ratios on a loop: LRU %.2f (want ~0), TinyLFU %.2f (want >= 0.40; the best possible is 0.67)", ratio[memory.PolicyLRU], ratio[memory.PolicyTinyLFU])
	}
}
