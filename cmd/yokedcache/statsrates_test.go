package main

import (
	"strings"
	"testing"
	"time"

	"github.com/yokedcache/yokedcache"
)

// rates: server counters give reads/s and the hit ratio of the interval;
// a counter that went down (a restarted server) gives none.
func TestRates(t *testing.T) {
	at := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	snap := func(sec int, hits, misses, cmds, evictions, keys int64) *statsSnap {
		return &statsSnap{at: at.Add(time.Duration(sec) * time.Second), st: yokedcache.Stats{
			Keys: keys, Evictions: evictions,
			Extra: map[string]any{"server_keyspace_hits": hits, "server_keyspace_misses": misses, "server_total_commands_processed": cmds},
		}}
	}
	r := rates(snap(0, 100, 50, 1000, 7, 10), snap(2, 190, 60, 1400, 9, 12))
	if r.IntervalSeconds != 2 || *r.ReadsPerSec != 50 || *r.HitRatio != 0.9 || *r.CommandsPerSec != 200 || r.EvictionsPerSec != 1 || *r.KeysChange != 2 {
		t.Errorf("rates = %+v", r)
	}
	r = rates(snap(0, 100, 50, 1000, 7, 10), snap(2, 5, 1, 10, 0, -1))
	if r.ReadsPerSec != nil || r.HitRatio != nil || r.CommandsPerSec != nil || r.EvictionsPerSec != 0 || r.KeysChange != nil {
		t.Errorf("rates after a restart = %+v; want none", r)
	}
	r = rates(snap(0, 100, 50, 1000, 7, 10), snap(1, 100, 50, 1000, 7, 10))
	if r.HitRatio != nil || *r.ReadsPerSec != 0 {
		t.Errorf("rates without reads = %+v; want 0 reads/s and no hit ratio", r)
	}
	// memcached: per-server get_hits/get_misses, summed.
	mc := func(sec int, h1, m1, h2, m2 int64) *statsSnap {
		return &statsSnap{at: at.Add(time.Duration(sec) * time.Second), st: yokedcache.Stats{Keys: -1, Extra: map[string]any{"servers": map[string]any{
			"a:1": map[string]any{"get_hits": h1, "get_misses": m1},
			"b:1": map[string]any{"get_hits": h2, "get_misses": m2},
		}}}}
	}
	r = rates(mc(0, 0, 0, 0, 0), mc(1, 3, 1, 5, 1))
	if *r.ReadsPerSec != 10 || *r.HitRatio != 0.8 || !strings.Contains(r.Source, "memcached") {
		t.Errorf("memcached rates = %+v", r)
	}
}

// rates: each near cache present in both refreshes gets its local reads/s
// and hit ratio; one that restarted its counters gets none.
func TestRatesNear(t *testing.T) {
	at := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	snap := func(sec int, near ...yokedcache.NearStats) *statsSnap {
		return &statsSnap{at: at.Add(time.Duration(sec) * time.Second), st: yokedcache.Stats{Keys: -1, Near: near}}
	}
	def := func(h, m int64) yokedcache.NearStats {
		return yokedcache.NearStats{Backend: "redis", Hits: h, Misses: m}
	}
	hot := func(h, m int64) yokedcache.NearStats {
		return yokedcache.NearStats{Route: "hot", Backend: "sqlite", Hits: h, Misses: m}
	}
	r := rates(snap(0, def(10, 10), hot(5, 5)), snap(2, def(28, 12), hot(1, 1)))
	if len(r.Near) != 1 || r.Near[0].Route != "" || r.Near[0].ReadsPerSec != 10 || *r.Near[0].HitRatio != 0.9 {
		t.Fatalf("near rates = %+v", r.Near)
	}
	r = rates(snap(0, def(10, 10)), snap(1, def(10, 10)))
	if len(r.Near) != 1 || r.Near[0].ReadsPerSec != 0 || r.Near[0].HitRatio != nil {
		t.Fatalf("near rates without reads = %+v", r.Near)
	}
}

func TestNearText(t *testing.T) {
	got := nearText(yokedcache.NearStats{Backend: "redis", Mode: "tracking", Live: true, Hits: 3, Misses: 1,
		Entries: 2, MaxEntries: 10000, Bytes: 2048, MaxBytes: 64 << 20, Invalidations: 4, Resets: 1, LagSeconds: 0.5})
	for _, want := range []string{"tracking (redis, live)", "3 hits, 1 misses (hit ratio 75.0%)", "2/10000 entries", "4 invalidations, 1 resets, lag 500ms"} {
		if !strings.Contains(got, want) {
			t.Errorf("nearText = %q; lacks %q", got, want)
		}
	}
	got = nearText(yokedcache.NearStats{Backend: "redis", MaxBytes: -1, Error: "connection lost"})
	for _, want := range []string{"connecting (redis, not live", "hit ratio -", "unbounded", "last error: connection lost"} {
		if !strings.Contains(got, want) {
			t.Errorf("nearText = %q; lacks %q", got, want)
		}
	}
}
