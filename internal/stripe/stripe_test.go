package stripe

import (
	"sync"
	"testing"
)

func TestCounter(t *testing.T) {
	var c Counter
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 1000 {
				c.Add(2)
			}
		})
	}
	wg.Wait()
	if got := c.Load(); got != 16000 {
		t.Fatalf("Load = %d; want 16000", got)
	}
}

func TestCounterAddAt(t *testing.T) {
	var c Counter
	for r := range uint32(3 * Stripes) {
		c.AddAt(1, r)
	}
	if got := c.Load(); got != 3*Stripes {
		t.Fatalf("Load = %d; want %d", got, 3*Stripes)
	}
	for i := range c.s {
		if got := c.s[i].n.Load(); got != 3 {
			t.Fatalf("stripe %d holds %d; want 3 (AddAt spreads by r's low bits)", i, got)
		}
	}
}
