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
	s := newSelector(servers(3), nil, true)
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
	s := newSelector(servers(3), nil, true)
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
	three := newSelector(servers(3), nil, true)
	four := newSelector(servers(4), nil, true)
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
	m3, m4 := newSelector(servers(3), nil, false), newSelector(servers(4), nil, false)
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
		s := newSelector(servers(ns), nil, true)
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
	s := newSelector(servers(3), nil, false)
	if got := s.index("foo"); got != 0x8c736521%3 {
		t.Fatalf("index(foo) = %d; want crc32(foo)%%3 = %d", got, 0x8c736521%3)
	}
}

func BenchmarkKetamaIndex(b *testing.B) {
	s := newSelector(servers(3), nil, true)
	for b.Loop() {
		s.index("yokedcache:user:42")
	}
}

// TestKetamaLibketamaVectors checks keys against the server list of
// libketama's own test file (weighted), with the hashes and servers that
// libketama computes for them.
func TestKetamaLibketamaVectors(t *testing.T) {
	names := []string{
		"10.0.1.1:11211", "10.0.1.2:11211", "10.0.1.3:11211", "10.0.1.4:11211",
		"10.0.1.5:11211", "10.0.1.6:11211", "10.0.1.7:11211", "10.0.1.8:11211",
	}
	weights := []int{600, 300, 200, 350, 1000, 800, 950, 100}
	s := newSelector(names, weights, true)
	for _, v := range []struct {
		key    string
		hash   uint32
		server string
	}{
		{"12936", 3769287096, "10.0.1.7:11211"},
		{"27804", 435768809, "10.0.1.5:11211"},
		{"37045", 1996655674, "10.0.1.2:11211"},
		{"50829", 2954822664, "10.0.1.1:11211"},
		{"65422", 1423001712, "10.0.1.6:11211"},
		{"74912", 3809055594, "10.0.1.6:11211"},
	} {
		if h := ketamaHash(v.key); h != v.hash {
			t.Errorf("ketamaHash(%q) = %d; libketama: %d", v.key, h, v.hash)
		}
		if got := names[s.index(v.key)]; got != v.server {
			t.Errorf("server of %q = %s; libketama: %s", v.key, got, v.server)
		}
	}
}

func TestKetamaWeights(t *testing.T) {
	s := newSelector(servers(2), []int{2, 1}, true)
	// floor(2/3*40*2) = 53 and floor(1/3*40*2) = 26 digests, 4 points each.
	if got := len(s.continuum); got != 4*(53+26) {
		t.Fatalf("continuum has %d points; want %d", got, 4*(53+26))
	}
	counts := make([]int, 2)
	for i := 0; i < 10000; i++ {
		counts[s.index(fmt.Sprintf("k:%d", i))]++
	}
	if share := float64(counts[0]) / 10000; share < 0.58 || share > 0.75 {
		t.Fatalf("weight 2 of 3 got %.0f%% of keys; want about 67%%", 100*share)
	}
}
