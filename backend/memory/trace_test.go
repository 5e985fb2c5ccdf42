package memory_test

import (
	"math/rand"
	"os"
	"strconv"
	"testing"

	"github.com/yokedcache/yokedcache/backend"
	"github.com/yokedcache/yokedcache/backend/memory"
)

// Hit-ratio traces. Each is generated from a fixed seed, so every run sees
// the same requests and the assertions below are deterministic.
//
// The full-size traces (5M requests over a 1M-key space, cache and hot
// set 10 000) run with YOKEDCACHE_FULL_TRACES=1; by default everything is
// scaled down ten times together (500 000 requests over 100 000 keys,
// cache and hot set 1 000), which keeps the same shape and -race fast.
type traceScale struct {
	keys, cache, hot, requests int
}

var (
	traceFull  = traceScale{keys: 1_000_000, cache: 10_000, hot: 10_000, requests: 5_000_000}
	traceSmall = traceScale{keys: 100_000, cache: 1_000, hot: 1_000, requests: 500_000}
)

type trace struct {
	name string
	// minGain is how much better TinyLFU's hit ratio must be than LRU's,
	// relative to LRU's (0.05 = 5 % better): about half the gain measured
	// on the scaled traces (16.8, 5.3, 16.0 and 29 %), so that the
	// store's random hash seed (it moves the ratios by tenths of a
	// percent) cannot fail it. The reference ratios (LRU / otter v2's
	// W-TinyLFU on the full traces) were 60.27/67.35, 87.47/89.95,
	// 57.58/63.29 and 55.50/72.86; this store measured 60.25/67.36,
	// 87.43/89.89, 57.57/63.75 and 55.54/71.70 (±0.2 from run to run:
	// the hash seed is random).
	minGain float64
	gen     func(r *rand.Rand, sc traceScale) []uint64
}

var traces = []trace{
	{"zipf1.01", 0.08, func(r *rand.Rand, sc traceScale) []uint64 { return zipfTrace(r, sc, 1.01, 0) }},
	{"zipf1.2", 0.025, func(r *rand.Rand, sc traceScale) []uint64 { return zipfTrace(r, sc, 1.2, 0) }},
	{"zipf1.1+scan20%", 0.08, func(r *rand.Rand, sc traceScale) []uint64 { return zipfTrace(r, sc, 1.1, 0.2) }},
	{"moving-hot-set", 0.15, movingHotSet},
}

// zipfTrace draws sc.requests keys from a Zipf(s) distribution over
// sc.keys keys; a fraction scan of the requests are instead one-off keys
// (a scan that never repeats).
func zipfTrace(r *rand.Rand, sc traceScale, s, scan float64) []uint64 {
	z := rand.NewZipf(r, s, 1, uint64(sc.keys-1))
	out := make([]uint64, sc.requests)
	next := uint64(sc.keys)
	for i := range out {
		if scan > 0 && r.Float64() < scan {
			out[i] = next
			next++
			continue
		}
		out[i] = z.Uint64()
	}
	return out
}

// movingHotSet: 80 % of the requests go uniformly to a hot set of sc.hot
// keys, the rest uniformly to the whole key space; the hot set moves to
// other keys every fifth of the trace (every 1M requests at full size).
func movingHotSet(r *rand.Rand, sc traceScale) []uint64 {
	period := max(sc.requests/5, 1)
	out := make([]uint64, sc.requests)
	var base uint64
	for i := range out {
		if i%period == 0 {
			base = uint64(r.Intn(sc.keys/sc.hot)) * uint64(sc.hot)
		}
		if r.Float64() < 0.8 {
			out[i] = base + uint64(r.Intn(sc.hot))
		} else {
			out[i] = uint64(r.Intn(sc.keys))
		}
	}
	return out
}

// hitRatio replays keys cache-aside (Get, and Set on a miss) against a
// store of size entries and returns the fraction of hits.
func hitRatio(t testing.TB, p memory.Policy, size int, keys []uint64) float64 {
	s, err := memory.New(memory.Options{MaxSize: size, Policy: p, CleanupInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	val := []byte("v")
	buf := []byte("k")
	hits := 0
	for _, id := range keys {
		k := string(strconv.AppendUint(buf[:1], id, 10))
		if _, err := s.Get(ctx, k); err == nil {
			hits++
			continue
		}
		if err := s.Set(ctx, k, val, backend.SetOptions{TTL: backend.NoExpiry}); err != nil {
			t.Fatal(err)
		}
	}
	if s.Len() > size {
		t.Fatalf("%s: Len %d over MaxSize %d", p, s.Len(), size)
	}
	return float64(hits) / float64(len(keys))
}

// TestTinyLFUBeatsLRU replays the traces against both policies: W-TinyLFU
// must beat LRU by each trace's margin.
func TestTinyLFUBeatsLRU(t *testing.T) {
	sc := traceSmall
	if os.Getenv("YOKEDCACHE_FULL_TRACES") != "" {
		sc = traceFull
	}
	for i, tr := range traces {
		t.Run(tr.name, func(t *testing.T) {
			keys := tr.gen(rand.New(rand.NewSource(int64(1000+i))), sc)
			lru := hitRatio(t, memory.PolicyLRU, sc.cache, keys)
			lfu := hitRatio(t, memory.PolicyTinyLFU, sc.cache, keys)
			t.Logf("%s, %d requests over %d keys, cache %d: LRU %.2f %%, TinyLFU %.2f %%", tr.name, sc.requests, sc.keys, sc.cache, 100*lru, 100*lfu)
			if lfu < lru*(1+tr.minGain) {
				t.Errorf("%s: TinyLFU hit ratio %.2f %% vs LRU %.2f %%; want at least %.0f %% better", tr.name, 100*lfu, 100*lru, 100*tr.minGain)
			}
		})
	}
}
