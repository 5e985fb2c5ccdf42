package prometheus_test

import (
	"context"
	"strconv"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/yokedcache/yokedcache"
	yprom "github.com/yokedcache/yokedcache/prometheus"
)

// BenchmarkScrape is the cost of one scrape (Registry.Gather) of a memory
// Cache holding 5,000 keys, every operation type timed at least once.
func BenchmarkScrape(b *testing.B) {
	ctx := context.Background()
	c, err := yokedcache.New(yokedcache.Config{})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	for i := range 5000 {
		k := "k:" + strconv.Itoa(i)
		if err := c.Set(ctx, k, "value"); err != nil {
			b.Fatal(err)
		}
		_, _ = c.GetBytes(ctx, k)
	}
	_, _ = c.InvalidateTags(ctx, "none")
	col := yprom.NewCollector(yprom.Options{})
	if err := col.Add("bench", c); err != nil {
		b.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(col)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := reg.Gather(); err != nil {
			b.Fatal(err)
		}
	}
}
