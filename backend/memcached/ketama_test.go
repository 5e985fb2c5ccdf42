package memcached

import (
	"crypto/md5"
	"encoding/binary"
	"fmt"
	"math"
	"testing"
)

func servers(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("10.0.0.%d:11211", i+1)
	}
	return out
}

func TestKetamaContinuumShape(t *testing.T) {
	s := newSelector(servers(3), true)
	if len(s.continuum) != 3*pointsPerServer {
		t.Fatalf("continuum has %d points; want %d", len(s.continuum), 3*pointsPerServer)
	}
	// The first four points of server 0 come from md5("10.0.0.1:11211-0").
	d := md5.Sum([]byte("10.0.0.1:11211-0"))
	for h := 0; h < 4; h++ {
		want := binary.LittleEndian.Uint32(d[h*4:])
		found := false
		for _, p := range s.continuum {
			if p.hash == want && p.server == 0 {
				found = true
			}
		}
		if !found {
			t.Fatalf("point %d of md5(%q) = %#x missing from the continuum", h, "10.0.0.1:11211-0", want)
		}
	}
	for i := 1; i < len(s.continuum); i++ {
		if s.continuum[i-1].hash > s.continuum[i].hash {
			t.Fatal("continuum not sorted")
		}
	}
}

func TestKetamaLookupIsFirstPointAtOrAfter(t *testing.T) {
	s := newSelector(servers(3), true)
	for i := 0; i < 2000; i++ {
		k := fmt.Sprintf("key-%d", i)
		h := ketamaHash(k)
		want := s.continuum[0].server // wrap
		for _, p := range s.continuum {
			if p.hash >= h {
				want = p.server
				break
			}
		}
		if got := s.index(k); got != want {
			t.Fatalf("index(%q) = %d; want %d", k, got, want)
		}
	}
}

func TestKetamaAddingAServerRemapsAQuarter(t *testing.T) {
	const n = 10000
	three := newSelector(servers(3), true)
	four := newSelector(servers(4), true)
	moved := 0
	for i := 0; i < n; i++ {
		k := fmt.Sprintf("yokedcache:user:%d", i)
		a, b := three.index(k), four.index(k)
		if a != b {
			moved++
			if b != 3 {
				t.Fatalf("key %q moved from server %d to old server %d; keys may only move to the new one", k, a, b)
			}
		}
	}
	frac := float64(moved) / n
	t.Logf("adding a 4th server remapped %d of %d keys (%.1f%%)", moved, n, 100*frac)
	if frac < 0.15 || frac > 0.35 {
		t.Fatalf("remapped %.1f%% of keys; want about 25%% (15-35%%)", 100*frac)
	}
	// The modulo rule, for contrast, remaps most keys.
	m3, m4 := newSelector(servers(3), false), newSelector(servers(4), false)
	movedMod := 0
	for i := 0; i < n; i++ {
		k := fmt.Sprintf("yokedcache:user:%d", i)
		if m3.index(k) != m4.index(k) {
			movedMod++
		}
	}
	t.Logf("modulo remapped %d of %d keys", movedMod, n)
	if movedMod < n/2 {
		t.Fatalf("modulo remapped only %d keys; expected most", movedMod)
	}
}

func TestKetamaBalanced(t *testing.T) {
	for _, ns := range []int{2, 3, 4, 5} {
		s := newSelector(servers(ns), true)
		counts := make([]int, ns)
		const n = 10000
		for i := 0; i < n; i++ {
			counts[s.index(fmt.Sprintf("k:%d", i))]++
		}
		mean := float64(n) / float64(ns)
		for i, c := range counts {
			if dev := math.Abs(float64(c)-mean) / mean; dev > 0.25 {
				t.Errorf("%d servers: server %d has %d keys, %.0f%% off the mean %.0f", ns, i, c, 100*dev, mean)
			}
		}
		t.Logf("%d servers: %v", ns, counts)
	}
}

func TestModulaMatchesGomemcache(t *testing.T) {
	// gomemcache's ServerList: crc32.ChecksumIEEE(key) % n.
	s := newSelector(servers(3), false)
	if got := s.index("foo"); got != 0x8c736521%3 {
		t.Fatalf("index(foo) = %d; want crc32(foo)%%3 = %d", got, 0x8c736521%3)
	}
}

func BenchmarkKetamaIndex(b *testing.B) {
	s := newSelector(servers(3), true)
	for b.Loop() {
		s.index("yokedcache:user:42")
	}
}
