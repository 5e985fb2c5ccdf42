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
