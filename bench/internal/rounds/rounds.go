// Package rounds runs interleaved comparisons of one reference contender
// (the yokedcache Cache) against its peers in the same process, and
// prints a table of per-contender ns/op and the ratio reference/peer.
//
// A group is measured in rounds: round i runs every contender in turn
// (A, B, C, ...), each alone, with the same number of goroutines and the
// same number of operations (or the same time slice), and the rounds are
// repeated. Noise from other load on the machine therefore hits every
// contender alike, and the spread across rounds shows how much it moved.
// Concurrency is measured as throughput: each contender runs alone with G
// goroutines, and ns/op is the wall time divided by the operations of all
// goroutines; calls of different contenders are never mixed on one
// client.
//
// Benchmarks call Run with b.N as the operations per contender per round
// (so -benchtime 200x runs 200 operations of each contender per round and
// -benchtime 2s lets the testing package size the whole experiment to
// about 2 s), or pass -slice to give every contender a fixed time slice
// per round instead. -rounds sets the number of rounds. The testing
// package may call a benchmark several times while it sizes b.N; the
// tables of the last call are kept and Print (from TestMain, after
// m.Run) writes them out.
package rounds

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"text/tabwriter"
	"time"
)

var (
	roundsFlag = flag.Int("rounds", 5, "rounds: interleaved repetitions of every contender per group")
	sliceFlag  = flag.Duration("slice", 0, "time slice per contender per round (0: b.N operations per contender per round)")
)

// Worker is the state of one goroutine of a contender's run. Ops get it
// to pick keys without sharing state between goroutines.
type Worker struct {
	// ID is the goroutine's index, 0 to Goroutines-1.
	ID int
	// I counts the operations this goroutine has started, from 0.
	I   int
	rng uint64
}

// Rand returns a pseudo-random number (xorshift64*, a few ns, the same
// cost for every contender).
func (w *Worker) Rand() uint64 {
	w.rng ^= w.rng >> 12
	w.rng ^= w.rng << 25
	w.rng ^= w.rng >> 27
	return w.rng * 2685821657736338717
}

// Intn returns a pseudo-random int in [0, n).
func (w *Worker) Intn(n int) int { return int(w.Rand() % uint64(n)) }

// Contender is one implementation under test.
type Contender struct {
	// Name labels the contender in the table ("Cache.GetBytes", "otter").
	Name string
	// Before, if set, runs before each of the contender's runs and is not
	// timed (for example to repopulate what the operation destroys).
	Before func() error
	// Op performs one operation.
	Op func(w *Worker) error
}

// Group is one comparison. The first contender is the reference (the
// yokedcache Cache); ratios are reference/peer, so a ratio above 1 means
// the Cache took longer per operation than the peer.
type Group struct {
	// Title describes the setup, printed above the table.
	Title string
	// Goroutines run each contender's operations concurrently. Default 1.
	Goroutines int
	// Ops, if positive, fixes the operations per contender per round,
	// ignoring b.N and -slice (for slow operations measured one by one).
	Ops int
	// MinRounds raises -rounds to at least this many rounds.
	MinRounds int
	// Notes are printed under the table.
	Notes []string
	// Contenders; the first is the reference.
	Contenders []Contender
}

// sample is one contender's run in one round.
type sample struct {
	nsPerOp     float64
	allocsPerOp float64
	bytesPerOp  float64
}

// result is a measured group.
type result struct {
	group   Group
	rounds  int
	perOp   string     // "200 ops" or "200ms"
	samples [][]sample // [contender][round]
}

var (
	mu      sync.Mutex
	order   []string
	results = map[string]*result{}
)

// Run measures g in interleaved rounds, reports the reference's median
// ns/op as the benchmark's ns/op plus per-contender metrics (median ns/op,
// allocs/op, and median ratio reference/peer), and keeps the table for
// Print.
func Run(b *testing.B, g Group) {
	b.Helper()
	if len(g.Contenders) == 0 {
		b.Fatal("rounds: group without contenders")
	}
	if g.Goroutines < 1 {
		g.Goroutines = 1
	}
	rounds := max(*roundsFlag, g.MinRounds, 1)
	ops, slice := b.N, *sliceFlag
	perOp := fmt.Sprintf("%d ops", ops)
	switch {
	case g.Ops > 0:
		ops, slice = g.Ops, 0
		perOp = fmt.Sprintf("%d ops", ops)
	case slice > 0:
		perOp = slice.String()
	}
	res := &result{group: g, rounds: rounds, perOp: perOp, samples: make([][]sample, len(g.Contenders))}
	b.ResetTimer()
	// Within a round every contender gets the same seed, so the same
	// goroutine picks the same keys in the same order.
	for r := 0; r < rounds; r++ {
		for ci, c := range g.Contenders {
			s, err := runOne(c, g.Goroutines, ops, slice, uint64(r+1))
			if err != nil {
				b.Fatalf("%s, round %d: %v", c.Name, r+1, err)
			}
			res.samples[ci] = append(res.samples[ci], s)
		}
	}
	b.StopTimer()

	ref := res.samples[0]
	b.ReportMetric(median(nsOf(ref)), "ns/op")
	for ci, c := range g.Contenders {
		name := unit(c.Name)
		b.ReportMetric(median(nsOf(res.samples[ci])), name+"-ns/op")
		b.ReportMetric(median(allocsOf(res.samples[ci])), name+"-allocs/op")
		if ci > 0 {
			b.ReportMetric(median(ratios(ref, res.samples[ci])), "ref/"+name)
		}
	}

	mu.Lock()
	defer mu.Unlock()
	if _, ok := results[b.Name()]; !ok {
		order = append(order, b.Name())
	}
	results[b.Name()] = res
}

// runOne runs contender c alone: Before, a GC (both untimed), then
// goroutines workers doing ops operations in total (split evenly) or
// running for slice. Allocations are counted process-wide, so they
// include the client's own background goroutines.
func runOne(c Contender, goroutines, ops int, slice time.Duration, seed uint64) (sample, error) {
	if c.Before != nil {
		if err := c.Before(); err != nil {
			return sample{}, fmt.Errorf("before: %w", err)
		}
	}
	runtime.GC()
	var (
		stop     atomic.Bool
		firstErr atomic.Pointer[error]
		done     sync.WaitGroup
		start    sync.WaitGroup
		counts   = make([]int, goroutines)
		ms0, ms1 runtime.MemStats
	)
	start.Add(1)
	for id := range goroutines {
		n := ops / goroutines
		if id < ops%goroutines {
			n++
		}
		done.Add(1)
		go func() {
			defer done.Done()
			w := &Worker{ID: id, rng: seed*0x9E3779B97F4A7C15 + uint64(id)*0xBF58476D1CE4E5B9 | 1}
			start.Wait()
			for slice > 0 && !stop.Load() || slice <= 0 && w.I < n {
				if err := c.Op(w); err != nil {
					recordErr(&firstErr, err)
					break
				}
				w.I++
			}
			counts[id] = w.I
		}()
	}
	runtime.ReadMemStats(&ms0)
	t0 := time.Now()
	start.Done()
	if slice > 0 {
		time.Sleep(slice)
		stop.Store(true)
	}
	done.Wait()
	elapsed := time.Since(t0)
	runtime.ReadMemStats(&ms1)
	if p := firstErr.Load(); p != nil {
		return sample{}, *p
	}
	total := 0
	for _, n := range counts {
		total += n
	}
	if total == 0 {
		return sample{}, errors.New("no operation completed")
	}
	return sample{
		nsPerOp:     float64(elapsed.Nanoseconds()) / float64(total),
		allocsPerOp: float64(ms1.Mallocs-ms0.Mallocs) / float64(total),
		bytesPerOp:  float64(ms1.TotalAlloc-ms0.TotalAlloc) / float64(total),
	}, nil
}

// recordErr keeps err in first unless an error is already there. It is a
// function of its own so that the error variable of the hot loop does not
// escape (which would cost an allocation per operation).
func recordErr(first *atomic.Pointer[error], err error) {
	first.CompareAndSwap(nil, &err)
}

// Print writes the tables of every group measured in this process, in
// the order they first ran. Call it from TestMain after m.Run.
func Print(w io.Writer) {
	mu.Lock()
	defer mu.Unlock()
	for _, name := range order {
		printResult(w, name, results[name])
	}
}

// Main runs the benchmarks, prints the tables, calls stop (if not nil;
// for example testserver.StopShared) and exits.
func Main(m *testing.M, stop func()) {
	code := m.Run()
	Print(os.Stdout)
	if stop != nil {
		stop()
	}
	os.Exit(code)
}

func printResult(w io.Writer, name string, r *result) {
	g := r.group
	fmt.Fprintf(w, "\n== %s\n   %s\n", name, g.Title)
	fmt.Fprintf(w, "   %d goroutine(s); %d interleaved rounds of %s per contender; ratio = Cache/peer per round (>1: the Cache is slower)\n",
		g.Goroutines, r.rounds, r.perOp)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "contender\tns/op median\tmin–max\tallocs/op\tB/op\tCache/peer median\tmin–max\t")
	ref := r.samples[0]
	for ci, c := range g.Contenders {
		s := r.samples[ci]
		ns := nsOf(s)
		ratio, rrange := "(reference)", ""
		if ci > 0 {
			rs := ratios(ref, s)
			ratio = fmt.Sprintf("%.2f", median(rs))
			rrange = fmt.Sprintf("%.2f–%.2f", slices.Min(rs), slices.Max(rs))
		}
		fmt.Fprintf(tw, "%s\t%s\t%s–%s\t%s\t%s\t%s\t%s\t\n", c.Name,
			num(median(ns)), num(slices.Min(ns)), num(slices.Max(ns)),
			frac(median(allocsOf(s))), bytesNum(median(bytesOf(s))), ratio, rrange)
	}
	tw.Flush()
	for _, n := range g.Notes {
		fmt.Fprintf(w, "   note: %s\n", n)
	}
}

// num formats ns or bytes per op: whole numbers above 100, else 3
// significant digits.
func num(v float64) string {
	if v >= 100 {
		return fmt.Sprintf("%.0f", v)
	}
	return fmt.Sprintf("%.3g", v)
}

// bytesNum formats bytes per op: whole numbers from 10 up, else one
// decimal (amortized background allocations round to 0.0).
func bytesNum(v float64) string {
	if v >= 10 {
		return fmt.Sprintf("%.0f", v)
	}
	return fmt.Sprintf("%.1f", v)
}

// frac formats allocations per op with two decimals.
func frac(v float64) string { return fmt.Sprintf("%.2f", v) }

func nsOf(s []sample) []float64     { return pick(s, func(x sample) float64 { return x.nsPerOp }) }
func allocsOf(s []sample) []float64 { return pick(s, func(x sample) float64 { return x.allocsPerOp }) }
func bytesOf(s []sample) []float64  { return pick(s, func(x sample) float64 { return x.bytesPerOp }) }

func pick(s []sample, f func(sample) float64) []float64 {
	out := make([]float64, len(s))
	for i, x := range s {
		out[i] = f(x)
	}
	return out
}

// ratios returns ref[i]/peer[i] for every round i.
func ratios(ref, peer []sample) []float64 {
	out := make([]float64, len(ref))
	for i := range ref {
		out[i] = ref[i].nsPerOp / peer[i].nsPerOp
	}
	return out
}

// median of v (the mean of the middle two for an even count).
func median(v []float64) float64 {
	if len(v) == 0 {
		return math.NaN()
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// unit makes a contender name usable in a metric unit (no whitespace).
func unit(name string) string {
	return strings.Map(func(r rune) rune {
		if r == ' ' || r == '\t' {
			return '_'
		}
		return r
	}, name)
}
