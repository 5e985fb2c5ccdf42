package yokedcache_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"

	"github.com/yokedcache/yokedcache"
	"github.com/yokedcache/yokedcache/backend"
)

// recTracer records the operations started and how they ended.
type recTracer struct {
	mu    sync.Mutex
	spans []*recSpan
}

type recSpan struct {
	t      *recTracer
	op     yokedcache.OpInfo
	parent *recSpan // the span in the context given to Start
	ended  bool
	out    yokedcache.Outcome
}

type spanKey struct{}

func (t *recTracer) Start(ctx context.Context, op yokedcache.OpInfo) (context.Context, yokedcache.Span) {
	s := &recSpan{t: t, op: op}
	s.parent, _ = ctx.Value(spanKey{}).(*recSpan)
	t.mu.Lock()
	t.spans = append(t.spans, s)
	t.mu.Unlock()
	return context.WithValue(ctx, spanKey{}, s), s
}

func (s *recSpan) End(o yokedcache.Outcome) {
	s.t.mu.Lock()
	defer s.t.mu.Unlock()
	if s.ended {
		panic("span ended twice: " + s.op.Op)
	}
	s.ended, s.out = true, o
}

// take returns the spans recorded since the last call.
func (t *recTracer) take(tb testing.TB) []*recSpan {
	tb.Helper()
	t.mu.Lock()
	defer t.mu.Unlock()
	out := t.spans
	t.spans = nil
	for _, s := range out {
		if !s.ended {
			tb.Errorf("span %s not ended", s.op.Op)
		}
	}
	return out
}

// ctxSpy is a backend that records the span in the context of its reads,
// and names a server.
type ctxSpy struct {
	backend.Backend
	mu  sync.Mutex
	got []*recSpan
}

func (b *ctxSpy) Get(ctx context.Context, key string) ([]byte, error) {
	s, _ := ctx.Value(spanKey{}).(*recSpan)
	b.mu.Lock()
	b.got = append(b.got, s)
	b.mu.Unlock()
	return b.Backend.Get(ctx, key)
}

func (b *ctxSpy) Addr() string { return "cache.example:6379" }

func TestTracerHook(t *testing.T) {
	ctx := context.Background()
	tr := &recTracer{}
	spy := &ctxSpy{Backend: newMem(t)}
	c, err := yokedcache.New(yokedcache.Config{
		Backend: newMem(t),
		Routes:  []yokedcache.Route{{Prefix: "spy", Backend: spy}},
		Tracer:  tr,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	one := func(what string) *recSpan {
		t.Helper()
		spans := tr.take(t)
		if len(spans) != 1 {
			t.Fatalf("%s: %d spans; want 1", what, len(spans))
		}
		return spans[0]
	}
	check := func(what string, s *recSpan, want yokedcache.OpInfo, miss bool, failed bool) {
		t.Helper()
		if s.op != want {
			t.Errorf("%s: OpInfo %+v; want %+v", what, s.op, want)
		}
		if s.out.Miss != miss || (s.out.Err != nil) != failed {
			t.Errorf("%s: outcome %+v; want miss %v, failed %v", what, s.out, miss, failed)
		}
	}

	if err := c.Set(ctx, "a", "v"); err != nil {
		t.Fatal(err)
	}
	check("Set", one("Set"), yokedcache.OpInfo{Op: "set", Key: "a", Backend: "memory"}, false, false)
	if _, err := c.GetBytes(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	check("GetBytes hit", one("GetBytes"), yokedcache.OpInfo{Op: "get", Key: "a", Backend: "memory"}, false, false)
	if _, err := c.GetView(ctx, "nope"); !errors.Is(err, yokedcache.ErrNotFound) {
		t.Fatalf("GetView miss = %v", err)
	}
	check("GetView miss", one("GetView"), yokedcache.OpInfo{Op: "get", Key: "nope", Backend: "memory"}, true, false)
	if _, err := c.GetBytes(ctx, ""); !errors.Is(err, yokedcache.ErrInvalidKey) {
		t.Fatalf("GetBytes of an empty key = %v", err)
	}
	check("GetBytes invalid", one("GetBytes invalid"), yokedcache.OpInfo{Op: "get", Backend: "memory"}, false, true)

	// The span's context reaches the backend; Addr comes from
	// backend.Addresser.
	if _, err := c.Exists(ctx, "spy:1"); err != nil {
		t.Fatal(err)
	}
	s := one("Exists")
	check("Exists", s, yokedcache.OpInfo{Op: "exists", Key: "spy:1", Route: "spy", Backend: "custom", Addr: "cache.example:6379"}, false, false)
	if len(spy.got) != 1 || spy.got[0] != s {
		t.Errorf("the backend's read saw spans %v; want the Exists span", spy.got)
	}

	// A batch: the operation's span, and one round trip per backend under
	// it; the backend reads under its round trip's span.
	spy.got = nil
	if _, err := c.GetMany(ctx, []string{"a", "spy:1", "b"}); err != nil {
		t.Fatal(err)
	}
	spans := tr.take(t)
	if len(spans) != 3 {
		t.Fatalf("GetMany: %d spans; want 3", len(spans))
	}
	check("GetMany", spans[0], yokedcache.OpInfo{Op: "get_many", Keys: 3, Backend: "router", FanOut: true}, false, false)
	trips := spans[1:]
	slices.SortFunc(trips, func(a, b *recSpan) int { return len(a.op.Route) - len(b.op.Route) })
	check("GetMany default", trips[0], yokedcache.OpInfo{Op: "get_many", Backend: "memory", RoundTrip: true}, false, false)
	check("GetMany spy", trips[1], yokedcache.OpInfo{Op: "get_many", Route: "spy", Backend: "custom", Addr: "cache.example:6379", RoundTrip: true}, false, false)
	for _, rt := range trips {
		if rt.parent != spans[0] {
			t.Errorf("round trip %+v is not under the GetMany span", rt.op)
		}
	}
	if len(spy.got) != 1 || spy.got[0] != trips[1] {
		t.Errorf("the backend's read saw spans %v; want the round trip's", spy.got)
	}

	// Fetch nests its read; a loader error is the Fetch's failure.
	boom := errors.New("boom")
	_, err = yokedcache.Fetch(ctx, c, "f", func(context.Context) (string, error) { return "", boom })
	if !errors.Is(err, boom) {
		t.Fatalf("Fetch = %v", err)
	}
	spans = tr.take(t)
	if len(spans) != 2 || spans[0].op.Op != "fetch" || spans[1].op.Op != "get" || spans[1].parent != spans[0] {
		t.Fatalf("Fetch spans %v; want fetch, then get under it", spans)
	}
	if !errors.Is(spans[0].out.Err, boom) || !spans[1].out.Miss {
		t.Errorf("Fetch outcomes %+v, %+v; want the loader's error, then a miss", spans[0].out, spans[1].out)
	}

	// Every other traced operation starts one span (and round trips).
	for _, tc := range []struct {
		op  string
		run func() error
	}{
		{"delete", func() error { _, err := c.Delete(ctx, "a"); return err }},
		{"ttl", func() error { _, err := c.TTL(ctx, "a"); return err }},
		{"expire", func() error { _, err := c.Expire(ctx, "a", yokedcache.NoExpiry); return err }},
		{"touch", func() error { _, err := c.Touch(ctx, "a"); return err }},
		{"get_or_set", func() error {
			var s string
			return c.GetOrSet(ctx, "g", &s, func(context.Context) (any, error) { return "v", nil })
		}},
		{"set_many", func() error { return c.SetMany(ctx, map[string]any{"x": "1", "spy:x": "2"}) }},
		{"delete_many", func() error { _, err := c.DeleteMany(ctx, "x", "spy:x"); return err }},
		{"fetch_many", func() error {
			_, err := yokedcache.FetchMany(ctx, c, []string{"m1", "m2"}, func(_ context.Context, missing []string) (map[string]string, error) {
				out := map[string]string{}
				for _, k := range missing {
					out[k] = "v"
				}
				return out, nil
			})
			return err
		}},
		{"invalidate_pattern", func() error { _, err := c.InvalidatePattern(ctx, "m*"); return err }},
		{"flush", func() error { return c.Flush(ctx) }},
		{"ping", func() error { return c.Ping(ctx) }},
	} {
		_ = tc.run()
		spans := tr.take(t)
		if len(spans) == 0 {
			t.Errorf("%s: no span", tc.op)
			continue
		}
		top := 0
		for _, s := range spans {
			if s.parent == nil {
				top++
				if s.op.Op != tc.op {
					t.Errorf("%s: span %s", tc.op, s.op.Op)
				}
			}
		}
		if top != 1 {
			t.Errorf("%s: %d operation spans; want 1", tc.op, top)
		}
	}
}

// Without a Tracer, reads of the memory backend allocate as before (the
// same bounds as TestGetViewAllocs and TestGetBytesAllocs), and with one
// the hook adds only the tracer's own allocations.
func TestTracerNilAllocs(t *testing.T) {
	ctx := context.Background()
	for _, tr := range []yokedcache.Tracer{nil, nopTracer{}} {
		c, err := yokedcache.New(yokedcache.Config{Tracer: tr})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if err := c.Set(ctx, "k", []byte("value")); err != nil {
			t.Fatal(err)
		}
		if n := testing.AllocsPerRun(200, func() { _, _ = c.GetView(ctx, "k") }); n != 0 {
			t.Errorf("tracer %T: GetView allocates %v times per call; want 0", tr, n)
		}
		if n := testing.AllocsPerRun(200, func() { _, _ = c.GetBytes(ctx, "k") }); n > 1 {
			t.Errorf("tracer %T: GetBytes allocates %v times per call; want at most 1", tr, n)
		}
		if n := testing.AllocsPerRun(200, func() { _, _ = yokedcache.Get[[]byte](ctx, c, "k") }); n > 1 {
			t.Errorf("tracer %T: Get[[]byte] allocates %v times per call; want at most 1", tr, n)
		}
	}
}

// nopTracer starts nothing and allocates nothing.
type nopTracer struct{}

func (nopTracer) Start(ctx context.Context, _ yokedcache.OpInfo) (context.Context, yokedcache.Span) {
	return ctx, nopTracer{}
}

func (nopTracer) End(yokedcache.Outcome) {}
