// Command metrics serves a Cache's Prometheus metrics on /metrics while
// the Cache does work: a few goroutines read user profiles through
// GetOrSet (misses load from a slow "database"), update and delete some.
//
//	go run ./examples/metrics -addr :9464 -duration 30s
//	curl -s localhost:9464/metrics | grep yokedcache_
//
// It stops after -duration (0: until interrupted with Ctrl-C). Set
// YOKEDCACHE_REDIS_URL (or YOKEDCACHE_URL) to run it on another backend.
// See docs/observability.md for what each metric means.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/yokedcache/yokedcache"
	yprom "github.com/yokedcache/yokedcache/prometheus"
)

func main() {
	addr := flag.String("addr", "localhost:9464", "address to serve /metrics on")
	duration := flag.Duration("duration", 30*time.Second, "how long to run (0: until interrupted)")
	workers := flag.Int("workers", 4, "goroutines using the cache")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if *duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, *duration)
		defer cancel()
	}
	if err := run(ctx, *addr, *workers); err != nil {
		log.Fatal(err)
	}
}

func run(ctx context.Context, addr string, workers int) error {
	c, err := yokedcache.New(yokedcache.Config{
		KeyPrefix:  "metrics-example",
		URL:        os.Getenv("YOKEDCACHE_URL"),
		RedisURL:   os.Getenv("YOKEDCACHE_REDIS_URL"),
		DefaultTTL: 5 * time.Second, // short, so that misses keep coming
	})
	if err != nil {
		return err
	}
	defer c.Close()

	// One registry with the cache's collector and the Go runtime's.
	col := yprom.NewCollector(yprom.Options{Timeout: 2 * time.Second})
	if err := col.Add("profiles", c); err != nil {
		return err
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(col, collectors.NewGoCollector())
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Print(err)
		}
	}()
	fmt.Printf("serving http://%s/metrics (Ctrl-C to stop)\n", ln.Addr())

	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() { work(ctx, c, uint64(w)) })
	}
	<-ctx.Done()
	wg.Wait()
	shutdown, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdown); err != nil {
		return err
	}
	st, err := c.Stats(context.Background())
	if err != nil {
		return err
	}
	fmt.Printf("done: %d hits, %d misses (hit ratio %.1f%%), %d loads, get p99 %v\n",
		st.Hits, st.Misses, 100*st.HitRate, st.Loads, st.Latency["get"].P99)
	return nil
}

// work reads profiles with a skewed key choice (a few hot users), loading
// misses from a slow source, and now and then updates or deletes one.
func work(ctx context.Context, c *yokedcache.Cache, seed uint64) {
	r := rand.New(rand.NewPCG(seed, 42))
	load := func(ctx context.Context) (any, error) {
		select { // a slow database
		case <-time.After(time.Duration(1+rand.IntN(5)) * time.Millisecond): // global rand: a load may run on another goroutine
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		return map[string]any{"name": "user", "plan": "pro"}, nil
	}
	for ctx.Err() == nil {
		id := int(r.ExpFloat64() * 50) // hot users near 0
		key := "user:" + strconv.Itoa(id)
		var profile map[string]any
		switch n := r.IntN(100); {
		case n < 90:
			if err := c.GetOrSet(ctx, key, &profile, load); err != nil && ctx.Err() == nil {
				log.Print(err)
			}
		case n < 97:
			_ = c.Set(ctx, key, map[string]any{"name": "user", "plan": "free"})
		default:
			_, _ = c.Delete(ctx, key)
		}
		time.Sleep(200 * time.Microsecond)
	}
}
