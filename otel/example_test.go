package otel_test

import (
	"context"
	"fmt"
	"log"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/yokedcache/yokedcache"
	yotel "github.com/yokedcache/yokedcache/otel"
)

// An Observer reports a Cache's Stats at each collection; passing it to
// the reader as a Producer adds the duration histograms. A real program
// uses a periodic reader and an exporter instead of the ManualReader.
func ExampleObserver() {
	ctx := context.Background()
	c, err := yokedcache.New(yokedcache.Config{})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	_ = c.Set(ctx, "session:1", "alice")
	_, _ = c.GetBytes(ctx, "session:1")

	obs := yotel.NewObserver(yotel.Options{})
	if err := obs.Add("sessions", c); err != nil {
		log.Fatal(err)
	}
	reader := sdkmetric.NewManualReader(sdkmetric.WithProducer(obs))
	provider := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	defer provider.Shutdown(ctx)
	reg, err := obs.Register(provider.Meter(yotel.ScopeName))
	if err != nil {
		log.Fatal(err)
	}
	defer reg.Unregister()

	var rm metricdata.ResourceMetrics
	if err := reader.Collect(ctx, &rm); err != nil {
		log.Fatal(err)
	}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if sum, ok := m.Data.(metricdata.Sum[int64]); ok && (m.Name == "yokedcache.hits" || m.Name == "yokedcache.sets") {
				fmt.Println(m.Name, sum.DataPoints[0].Value)
			}
		}
	}
	// Unordered output:
	// yokedcache.hits 1
	// yokedcache.sets 1
}

// NewTracer makes every Cache operation a span. A real program batches
// the spans to an exporter instead of recording them in memory.
func ExampleNewTracer() {
	ctx := context.Background()
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	defer tp.Shutdown(ctx)

	c, err := yokedcache.New(yokedcache.Config{
		Tracer: yotel.NewTracer(tp, yotel.TracerOptions{}), // keys are not recorded
	})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	_ = c.Set(ctx, "session:1", "alice")
	_, _ = c.GetBytes(ctx, "session:2")

	for _, s := range rec.Ended() {
		fmt.Println(s.Name(), s.SpanKind())
		for _, kv := range s.Attributes() {
			fmt.Printf("  %s=%s\n", kv.Key, kv.Value.String())
		}
	}
	// Output:
	// set client
	//   db.system.name=yokedcache.memory
	//   db.operation.name=set
	// get client
	//   db.system.name=yokedcache.memory
	//   db.operation.name=get
	//   yokedcache.miss=true
}
