package prometheus_test

import (
	"context"
	"fmt"
	"log"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/yokedcache/yokedcache"
	yprom "github.com/yokedcache/yokedcache/prometheus"
)

// A Collector exports a Cache under the label cache="sessions"; a real
// program serves the registry with promhttp.HandlerFor.
func ExampleCollector() {
	ctx := context.Background()
	c, err := yokedcache.New(yokedcache.Config{})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	_ = c.Set(ctx, "session:1", "alice")
	_, _ = c.GetBytes(ctx, "session:1") // a hit
	_, _ = c.GetBytes(ctx, "session:2") // a miss

	col := yprom.NewCollector(yprom.Options{})
	if err := col.Add("sessions", c); err != nil {
		log.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(col)
	mfs, err := reg.Gather()
	if err != nil {
		log.Fatal(err)
	}
	for _, mf := range mfs {
		switch mf.GetName() {
		case "yokedcache_hits_total", "yokedcache_misses_total", "yokedcache_keys":
			for _, m := range mf.GetMetric() {
				v := m.GetCounter().GetValue() + m.GetGauge().GetValue()
				fmt.Println(mf.GetName(), v)
			}
		}
	}
	// Output:
	// yokedcache_hits_total 1
	// yokedcache_keys 1
	// yokedcache_misses_total 1
}
