package yokedcache

import (
	"math/rand/v2"
	"sync/atomic"
	"time"
)

// stripes spreads a counter over cache lines so that concurrent
// increments from different cores rarely touch the same line.
const stripes = 16

type paddedInt struct {
	n atomic.Int64
	_ [56]byte
}

// counter is a lock-free striped counter.
type counter struct{ s [stripes]paddedInt }

func (c *counter) add(n int64) { c.s[rand.Uint32()&(stripes-1)].n.Add(n) }

func (c *counter) load() int64 {
	var t int64
	for i := range c.s {
		t += c.s[i].n.Load()
	}
	return t
}

// Operations whose latency is sampled.
const (
	opGet = iota
	opSet
	opDelete
	opGetMany
	opSetMany
	opDeleteMany
	opInvalidate // InvalidateTags and InvalidatePattern, every call timed
	opCount
)

var opNames = [opCount]string{"get", "set", "delete", "get_many", "set_many", "delete_many", "invalidate"}

// latencySample is 1 in sampleEvery operations timed: timing every call
// would cost two clock reads on the hot path.
const sampleEvery = 16

type latency struct {
	count counter // sampled operations
	total counter // nanoseconds over sampled operations
	max   atomic.Int64
}

func (l *latency) record(d time.Duration) {
	l.count.add(1)
	l.total.add(int64(d))
	for {
		m := l.max.Load()
		if int64(d) <= m || l.max.CompareAndSwap(m, int64(d)) {
			return
		}
	}
}

type metrics struct {
	hits, misses, sets, deletes, invalidations, errors, corrupt, loads, loadErrors counter
	lat                                                                            [opCount]latency
}

// sample reports whether this operation should be timed.
func sample() bool { return rand.Uint32()%sampleEvery == 0 }

// OpLatency is the sampled latency of one operation type.
type OpLatency struct {
	Samples int64         `json:"samples"`
	Avg     time.Duration `json:"avg_ns"`
	Max     time.Duration `json:"max_ns"`
}

// Stats is a snapshot of a Cache's counters and what its backend reports.
//
// The counters (Hits ... Loads) are this Cache value's own, since New.
// Keys, Bytes, Evictions and Expirations come from the backend; Scope says
// what they cover ("prefix": this cache's keys only; "backend": the whole
// store; "server": the whole server) and they are -1 when unknown.
type Stats struct {
	Backend       string               `json:"backend"`
	Hits          int64                `json:"hits"`
	Misses        int64                `json:"misses"`
	HitRate       float64              `json:"hit_rate"`
	Sets          int64                `json:"sets"`
	Deletes       int64                `json:"deletes"`
	Invalidations int64                `json:"invalidations"`
	Errors        int64                `json:"errors"`
	Corrupt       int64                `json:"corrupt"`
	Loads         int64                `json:"loads"`
	LoadErrors    int64                `json:"load_errors"`
	Latency       map[string]OpLatency `json:"latency"`
	Keys          int64                `json:"keys"`
	Bytes         int64                `json:"bytes"`
	Evictions     int64                `json:"evictions"`
	Expirations   int64                `json:"expirations"`
	Scope         string               `json:"scope"`
	Extra         map[string]any       `json:"extra,omitempty"`
}

func (m *metrics) snapshot() Stats {
	s := Stats{
		Hits: m.hits.load(), Misses: m.misses.load(), Sets: m.sets.load(),
		Deletes: m.deletes.load(), Invalidations: m.invalidations.load(),
		Errors: m.errors.load(), Corrupt: m.corrupt.load(),
		Loads: m.loads.load(), LoadErrors: m.loadErrors.load(),
		Latency: make(map[string]OpLatency, opCount),
		Keys:    -1, Bytes: -1,
	}
	if t := s.Hits + s.Misses; t > 0 {
		s.HitRate = float64(s.Hits) / float64(t)
	}
	for i := range m.lat {
		n := m.lat[i].count.load()
		if n == 0 {
			continue
		}
		s.Latency[opNames[i]] = OpLatency{
			Samples: n,
			Avg:     time.Duration(m.lat[i].total.load() / n),
			Max:     time.Duration(m.lat[i].max.Load()),
		}
	}
	return s
}
