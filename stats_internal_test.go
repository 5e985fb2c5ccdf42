package yokedcache

import (
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"
)

func TestLatencyBucketsTile(t *testing.T) {
	if b := bucketOf(0); b != 0 {
		t.Errorf("bucketOf(0) = %d; want 0", b)
	}
	if b := bucketOf(-5); b != 0 {
		t.Errorf("bucketOf(-5) = %d; want 0", b)
	}
	for i := range histBuckets - 1 {
		hi := bucketUpper(i)
		if got := bucketOf(hi); got != i {
			t.Fatalf("bucketOf(upper(%d)=%v) = %d; want %d (bounds are inclusive)", i, hi, got, i)
		}
		if got := bucketOf(hi + 1); got != i+1 {
			t.Fatalf("bucketOf(upper(%d)+1=%v) = %d; want %d", i, hi+1, got, i+1)
		}
		if i > 0 {
			lo := bucketUpper(i - 1)
			if w := hi - lo; w*4 > lo {
				t.Fatalf("bucket %d (%v, %v] is wider than a quarter of its lower bound", i, lo, hi)
			}
		}
	}
	if got := bucketOf(time.Hour); got != histBuckets-1 {
		t.Errorf("bucketOf(1h) = %d; want the overflow bucket %d", got, histBuckets-1)
	}
	for _, b := range latencyBounds {
		i := bucketOf(b)
		if bucketUpper(i) != b {
			t.Errorf("exported bound %v is not an internal bucket bound (bucket %d ends at %v)", b, i, bucketUpper(i))
		}
	}
}

// The exported Counts agree with counting the timings against
// LatencyBounds directly, and the percentiles with sorting them.
func TestLatencyPercentilesAndCounts(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	var l latency
	var ds []time.Duration
	for range 20000 {
		// Log-uniform over 100ns..50ms, plus a few outliers above 34s.
		d := time.Duration(100 * math.Exp2(r.Float64()*19))
		ds = append(ds, d)
		l.record(d)
	}
	for _, d := range []time.Duration{40 * time.Second, time.Minute} {
		ds = append(ds, d)
		l.record(d)
	}
	var h hist
	h.add(&l)
	ol := h.opLatency()
	slices.Sort(ds)
	if ol.Samples != int64(len(ds)) || ol.Max != ds[len(ds)-1] {
		t.Fatalf("Samples=%d Max=%v; want %d, %v", ol.Samples, ol.Max, len(ds), ds[len(ds)-1])
	}
	want := make([]int64, len(latencyBounds)+1)
	for _, d := range ds {
		i, _ := slices.BinarySearch(latencyBounds, d) // first bound >= d
		want[i]++
	}
	if !slices.Equal(ol.Counts, want) {
		t.Errorf("Counts = %v; want %v", ol.Counts, want)
	}
	for _, c := range []struct {
		q   float64
		got time.Duration
	}{{0.5, ol.P50}, {0.9, ol.P90}, {0.99, ol.P99}} {
		exact := ds[int(c.q*float64(len(ds)))-1]
		if c.got < exact*3/4 || c.got > exact*5/4 {
			t.Errorf("p%v = %v; exact %v: want within 25%%", c.q*100, c.got, exact)
		}
	}
	var empty hist
	if q := empty.quantile(0.5); q != 0 {
		t.Errorf("quantile of an empty histogram = %v; want 0", q)
	}
}

func TestLatencyConstant(t *testing.T) {
	var l latency
	for range 100 {
		l.record(3 * time.Millisecond)
	}
	var h hist
	h.add(&l)
	ol := h.opLatency()
	for _, p := range []time.Duration{ol.P50, ol.P90, ol.P99} {
		if p > 3*time.Millisecond || p < 3*time.Millisecond*3/4 {
			t.Errorf("percentile %v of a constant 3ms; want in [2.25ms, 3ms]", p)
		}
	}
}

func TestLatencyConcurrentRecord(t *testing.T) {
	var l latency
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 1000 {
				l.record(time.Duration(g*1000+i) * time.Microsecond)
			}
		})
	}
	wg.Wait()
	var h hist
	h.add(&l)
	ol := h.opLatency()
	var sum int64
	for _, c := range ol.Counts {
		sum += c
	}
	if ol.Samples != 8000 || sum != 8000 {
		t.Errorf("Samples=%d, sum of Counts=%d after 8000 concurrent records; want 8000", ol.Samples, sum)
	}
}

// BenchmarkLatencyRecord is the cost of one timed operation's record (1 in
// 16 operations pay it).
func BenchmarkLatencyRecord(b *testing.B) {
	var l latency
	b.RunParallel(func(pb *testing.PB) {
		d := time.Duration(100)
		for pb.Next() {
			l.record(d)
			d = d*7/5 + 13
			if d > time.Second {
				d = 100
			}
		}
	})
}
