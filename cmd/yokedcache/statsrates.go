package main

import (
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"

	"github.com/yokedcache/yokedcache"
	yprom "github.com/yokedcache/yokedcache/prometheus"
)

// statsSnap is one refresh of stats --watch.
type statsSnap struct {
	at time.Time
	st yokedcache.Stats
}

// statsRates is the change of the cumulative counters between two
// refreshes, per second.
type statsRates struct {
	IntervalSeconds float64 `json:"interval_seconds"`
	// ReadsPerSec and HitRatio are the backend's, server-wide (Source
	// names the counters); absent when the backend reports none. HitRatio
	// is absent when there was no read in the interval.
	ReadsPerSec *float64 `json:"reads_per_sec,omitempty"`
	HitRatio    *float64 `json:"hit_ratio,omitempty"`
	// CommandsPerSec is Redis' total_commands_processed per second.
	CommandsPerSec    *float64 `json:"commands_per_sec,omitempty"`
	EvictionsPerSec   float64  `json:"evictions_per_sec"`
	ExpirationsPerSec float64  `json:"expirations_per_sec"`
	// KeysChange is the change in keys, when both refreshes know them.
	KeysChange *int64 `json:"keys_change,omitempty"`
	Source     string `json:"source,omitempty"`
	// Near has one entry per near-cache tier present in both refreshes.
	Near []nearRates `json:"near,omitempty"`
}

// nearRates are a near-cache tier's local reads per second and hit ratio
// over the interval (HitRatio absent without reads).
type nearRates struct {
	Route       string   `json:"route"`
	Backend     string   `json:"backend"`
	ReadsPerSec float64  `json:"reads_per_sec"`
	HitRatio    *float64 `json:"hit_ratio,omitempty"`
}

// serverCounters are cumulative server-wide counters found in a backend's
// Stats.Extra.
type serverCounters struct {
	hits, misses, commands int64
	hasReads, hasCommands  bool
	source                 string
}

// extras returns the Extra maps of st: its own, or each route's (routes of
// one backend repeat the same map, counted once).
func extras(st yokedcache.Stats) []map[string]any {
	if len(st.Routes) == 0 {
		return []map[string]any{st.Extra}
	}
	var out []map[string]any
	seen := map[string]bool{}
	for _, r := range st.Routes {
		if r.Extra == nil {
			continue
		}
		// Routes sharing a backend share its numbers; identify them by
		// backend type and counters.
		c := countersIn(r.Extra)
		id := fmt.Sprint(r.Backend, c.hits, c.misses, c.commands)
		if seen[id] {
			continue
		}
		seen[id] = true
		out = append(out, r.Extra)
	}
	return out
}

// countersIn reads the server counters of one backend's Extra: Redis'
// server_keyspace_hits/misses and server_total_commands_processed, or
// memcached's per-server get_hits/get_misses.
func countersIn(extra map[string]any) serverCounters {
	var c serverCounters
	h, hok := extra["server_keyspace_hits"].(int64)
	m, mok := extra["server_keyspace_misses"].(int64)
	if hok && mok {
		c.hits, c.misses, c.hasReads, c.source = h, m, true, "server-wide (Redis INFO keyspace_hits/misses)"
	}
	if n, ok := extra["server_total_commands_processed"].(int64); ok {
		c.commands, c.hasCommands = n, true
	}
	if servers, ok := extra["servers"].(map[string]any); ok {
		for _, v := range servers {
			s, ok := v.(map[string]any)
			if !ok {
				continue
			}
			h, hok := s["get_hits"].(int64)
			m, mok := s["get_misses"].(int64)
			if hok && mok {
				c.hits += h
				c.misses += m
				c.hasReads, c.source = true, "server-wide (memcached get_hits/get_misses)"
			}
		}
	}
	return c
}

func sumCounters(st yokedcache.Stats) serverCounters {
	var t serverCounters
	for _, e := range extras(st) {
		c := countersIn(e)
		t.hits += c.hits
		t.misses += c.misses
		t.commands += c.commands
		t.hasReads = t.hasReads || c.hasReads
		t.hasCommands = t.hasCommands || c.hasCommands
		if c.source != "" {
			t.source = c.source
		}
	}
	return t
}

// rates computes the rates between two refreshes. A counter that went
// down (a restarted server) gives no rate for that interval.
func rates(prev, cur *statsSnap) *statsRates {
	secs := cur.at.Sub(prev.at).Seconds()
	if secs <= 0 {
		return nil
	}
	r := &statsRates{IntervalSeconds: secs}
	per := func(a, b int64) float64 { return float64(max(b-a, 0)) / secs }
	r.EvictionsPerSec = per(prev.st.Evictions, cur.st.Evictions)
	r.ExpirationsPerSec = per(prev.st.Expirations, cur.st.Expirations)
	if prev.st.Keys >= 0 && cur.st.Keys >= 0 {
		d := cur.st.Keys - prev.st.Keys
		r.KeysChange = &d
	}
	p, c := sumCounters(prev.st), sumCounters(cur.st)
	if p.hasReads && c.hasReads && c.hits >= p.hits && c.misses >= p.misses {
		dh, dm := c.hits-p.hits, c.misses-p.misses
		reads := float64(dh+dm) / secs
		r.ReadsPerSec = &reads
		if dh+dm > 0 {
			ratio := float64(dh) / float64(dh+dm)
			r.HitRatio = &ratio
		}
		r.Source = c.source
	}
	for _, cn := range cur.st.Near {
		for _, pn := range prev.st.Near {
			if pn.Route != cn.Route || pn.Backend != cn.Backend || cn.Hits < pn.Hits || cn.Misses < pn.Misses {
				continue
			}
			dh, dm := cn.Hits-pn.Hits, cn.Misses-pn.Misses
			nr := nearRates{Route: cn.Route, Backend: cn.Backend, ReadsPerSec: float64(dh+dm) / secs}
			if dh+dm > 0 {
				ratio := float64(dh) / float64(dh+dm)
				nr.HitRatio = &ratio
			}
			r.Near = append(r.Near, nr)
			break
		}
	}
	if p.hasCommands && c.hasCommands && c.commands >= p.commands {
		cps := float64(c.commands-p.commands) / secs
		r.CommandsPerSec = &cps
	}
	return r
}

// printPrometheus prints c's metrics in the Prometheus text format, as
// package prometheus's Collector exports them, labelled cache=<key prefix>.
func (a *app) printPrometheus(c *yokedcache.Cache) error {
	col := yprom.NewCollector(yprom.Options{Timeout: 30 * time.Second})
	if err := col.Add(c.KeyPrefix(), c); err != nil {
		return err
	}
	reg := prometheus.NewPedanticRegistry()
	if err := reg.Register(col); err != nil {
		return err
	}
	mfs, err := reg.Gather()
	if err != nil {
		return err
	}
	enc := expfmt.NewEncoder(a.stdout, expfmt.NewFormat(expfmt.TypeTextPlain))
	for _, mf := range mfs {
		if err := enc.Encode(mf); err != nil {
			return err
		}
	}
	return nil
}
