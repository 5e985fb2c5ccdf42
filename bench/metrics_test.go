package bench_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/yokedcache/yokedcache"
	"github.com/yokedcache/yokedcache/bench/internal/rounds"
	yprom "github.com/yokedcache/yokedcache/prometheus"
)

// scrapeEvery is the benchmark's scrape interval: 150 times more often
// than Prometheus' usual 15 s, to make any cost of scraping visible.
const scrapeEvery = 100 * time.Millisecond

// periodic calls collect every scrapeEvery while it runs (a Prometheus
// scrape, an OpenTelemetry collection); n counts the calls.
type periodic struct {
	collect func() error
	stop    chan struct{}
	done    sync.WaitGroup
	n       int
}

func (s *periodic) start() {
	if s.stop != nil {
		return
	}
	s.stop = make(chan struct{})
	s.done.Go(func() {
		t := time.NewTicker(scrapeEvery)
		defer t.Stop()
		for {
			if err := s.collect(); err != nil {
				panic(err)
			}
			s.n++
			select {
			case <-s.stop:
				return
			case <-t.C:
			}
		}
	})
}

func (s *periodic) halt() {
	if s.stop == nil {
		return
	}
	close(s.stop)
	s.done.Wait()
	s.stop = nil
}

// Metrics group: the cost of exporting a Cache to Prometheus on its hot
// path. Two Caches with the same content, one registered with a
// prometheus.Collector that is scraped every 100 ms while (and only while)
// that Cache runs. The ratio instrumented/plain is the overhead.
//
//	go test -run '^$' -bench 'MetricsOverhead' -benchtime 2s -rounds 7
func BenchmarkMetricsOverhead(b *testing.B) {
	for _, g := range []int{1, 2} {
		b.Run(fmt.Sprintf("goroutines=%d", g), func(b *testing.B) {
			ctx := context.Background()
			keys, _ := keyNames(memHitKeys)
			mk := func() *yokedcache.Cache {
				c, err := yokedcache.New(yokedcache.Config{})
				if err != nil {
					b.Fatal(err)
				}
				b.Cleanup(func() { c.Close() })
				for _, k := range keys {
					if err := c.Set(ctx, k, value100); err != nil {
						b.Fatal(err)
					}
				}
				return c
			}
			inst, plain := mk(), mk()
			col := yprom.NewCollector(yprom.Options{})
			if err := col.Add("bench", inst); err != nil {
				b.Fatal(err)
			}
			reg := prometheus.NewRegistry()
			reg.MustRegister(col)
			s := &periodic{collect: func() error { _, err := reg.Gather(); return err }}
			b.Cleanup(s.halt)
			get := func(c *yokedcache.Cache) func(w *rounds.Worker) error {
				return func(w *rounds.Worker) error {
					_, err := c.GetBytes(ctx, keys[w.Intn(memHitKeys)])
					return err
				}
			}
			rounds.Run(b, rounds.Group{
				Title:      fmt.Sprintf("Get hit with a Prometheus collector scraped every %v: %d keys of 100 B, random reads", scrapeEvery, memHitKeys),
				Goroutines: g,
				Notes: []string{
					"both contenders are yokedcache.New(Config{}) Caches with the same keys",
					"instrumented: registered with prometheus.NewCollector, scraped (Registry.Gather) every 100ms during its runs only",
					"ratio instrumented/plain: the collector's cost on the hot path, including the scrapes' CPU",
				},
				Contenders: []rounds.Contender{
					{Name: "instrumented", Before: func() error { s.start(); return nil }, Op: get(inst)},
					{Name: "plain", Before: func() error { s.halt(); return nil }, Op: get(plain)},
				},
			})
			s.halt()
			b.ReportMetric(float64(s.n), "scrapes")
		})
	}
}
