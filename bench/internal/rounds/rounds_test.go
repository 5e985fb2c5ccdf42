package rounds

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

func TestMedian(t *testing.T) {
	for _, c := range []struct {
		in   []float64
		want float64
	}{
		{[]float64{3}, 3},
		{[]float64{5, 1, 3}, 3},
		{[]float64{4, 1, 3, 2}, 2.5},
	} {
		if got := median(c.in); got != c.want {
			t.Errorf("median(%v) = %v, want %v", c.in, got, c.want)
		}
	}
}

// TestRunTable runs a two-contender group through testing.Benchmark and
// checks that every round measured both, in order, and that the table
// names both with a ratio.
func TestRunTable(t *testing.T) {
	var trace []string
	res := testing.Benchmark(func(b *testing.B) {
		trace = trace[:0]
		Run(b, Group{
			Title:      "smoke",
			Goroutines: 2,
			MinRounds:  3,
			Contenders: []Contender{
				{Name: "ref", Before: func() error { trace = append(trace, "ref"); return nil }, Op: func(*Worker) error { return nil }},
				{Name: "peer", Before: func() error { trace = append(trace, "peer"); return nil }, Op: func(w *Worker) error {
					if w.Intn(10) >= 10 {
						return errors.New("Intn out of range")
					}
					return nil
				}},
			},
		})
	})
	if res.N == 0 {
		t.Fatal("the benchmark did not run")
	}
	if got := strings.Join(trace, ","); !strings.HasPrefix(got, "ref,peer,ref,peer,ref,peer") {
		t.Fatalf("contenders ran as %s, want interleaved rounds", got)
	}
	if _, ok := res.Extra["ref/peer"]; !ok {
		t.Fatalf("no ratio metric in %v", res.Extra)
	}
	var out bytes.Buffer
	Print(&out)
	for _, want := range []string{"smoke", "ref", "peer", "(reference)", "min–max"} {
		if !strings.Contains(out.String(), want) {
			t.Fatalf("table lacks %q:\n%s", want, out.String())
		}
	}
}
