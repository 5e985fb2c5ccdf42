package bench_test

import (
	"context"
	"fmt"
	"testing"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/yokedcache/yokedcache"
	"github.com/yokedcache/yokedcache/bench/internal/rounds"
	yotel "github.com/yokedcache/yokedcache/otel"
)

// nopExporter drops the sampled spans (the cost measured is the Cache's
// and the SDK's, not an exporter's).
type nopExporter struct{}

func (nopExporter) ExportSpans(context.Context, []sdktrace.ReadOnlySpan) error { return nil }
func (nopExporter) Shutdown(context.Context) error                             { return nil }

// Tracing group: the cost of OpenTelemetry on the Cache's hot path, a
// memory GetBytes hit. Two Caches with the same content; the instrumented
// one is exported by an otel.Observer collected every 100 ms while (and
// only while) it runs, and traced by otel.NewTracer over a no-op
// TracerProvider (the target: at most 5 % over plain), or over an SDK
// TracerProvider sampling 1 % of traces (TraceIDRatioBased(0.01), spans
// batched to an exporter that drops them). The ratio
// instrumented/plain is the overhead.
//
//	go test -run '^$' -bench 'TracingOverhead' -benchtime 2s -rounds 7
func BenchmarkTracingOverhead(b *testing.B) {
	for _, tc := range []struct {
		name string
		desc string
		tp   func(b *testing.B) trace.TracerProvider
	}{
		{"tracer=noop", "a no-op TracerProvider (trace/noop)", func(*testing.B) trace.TracerProvider { return noop.NewTracerProvider() }},
		{"tracer=sdk-1pct", "an SDK TracerProvider sampling 1% (TraceIDRatioBased(0.01)), batching to a dropping exporter", func(b *testing.B) trace.TracerProvider {
			tp := sdktrace.NewTracerProvider(
				sdktrace.WithSampler(sdktrace.TraceIDRatioBased(0.01)),
				sdktrace.WithBatcher(nopExporter{}),
			)
			b.Cleanup(func() { tp.Shutdown(context.Background()) })
			return tp
		}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			ctx := context.Background()
			keys, _ := keyNames(memHitKeys)
			mk := func(tr yokedcache.Tracer) *yokedcache.Cache {
				c, err := yokedcache.New(yokedcache.Config{Tracer: tr})
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
			inst, plain := mk(yotel.NewTracer(tc.tp(b), yotel.TracerOptions{})), mk(nil)
			obs := yotel.NewObserver(yotel.Options{})
			if err := obs.Add("bench", inst); err != nil {
				b.Fatal(err)
			}
			reader := sdkmetric.NewManualReader(sdkmetric.WithProducer(obs))
			mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
			b.Cleanup(func() { mp.Shutdown(context.Background()) })
			reg, err := obs.Register(mp.Meter(yotel.ScopeName))
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { reg.Unregister() })
			s := &periodic{collect: func() error {
				var rm metricdata.ResourceMetrics
				return reader.Collect(context.Background(), &rm)
			}}
			b.Cleanup(s.halt)
			get := func(c *yokedcache.Cache) func(w *rounds.Worker) error {
				return func(w *rounds.Worker) error {
					_, err := c.GetBytes(ctx, keys[w.Intn(memHitKeys)])
					return err
				}
			}
			rounds.Run(b, rounds.Group{
				Title: fmt.Sprintf("Get hit with OTel metrics collected every %v and spans from %s: %d keys of 100 B, random reads", scrapeEvery, tc.desc, memHitKeys),
				Notes: []string{
					"both contenders are yokedcache.New Caches with the same keys; plain has no Tracer and no Observer",
					"instrumented: Config.Tracer = otel.NewTracer(provider), registered with an otel.Observer whose ManualReader collects every 100ms during its runs only",
					"ratio instrumented/plain: the tracer's and the metrics' cost on the hot path",
				},
				Contenders: []rounds.Contender{
					{Name: "instrumented", Before: func() error { s.start(); return nil }, Op: get(inst)},
					{Name: "plain", Before: func() error { s.halt(); return nil }, Op: get(plain)},
				},
			})
			s.halt()
			b.ReportMetric(float64(s.n), "collections")
		})
	}
}
