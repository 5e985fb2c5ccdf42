package yokedcache_test

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/yokedcache/yokedcache"
	"github.com/yokedcache/yokedcache/backend"
	"github.com/yokedcache/yokedcache/backend/memory"
)

var errBadKey = errors.New("backend down")

// failingKeys is a get/set/delete backend (no batch interfaces) that fails
// writes and deletes of keys containing "bad".
type failingKeys struct{ b backend.Backend }

func (f failingKeys) Get(ctx context.Context, k string) ([]byte, error) { return f.b.Get(ctx, k) }
func (f failingKeys) Set(ctx context.Context, k string, v []byte, o backend.SetOptions) error {
	if strings.Contains(k, "bad") {
		return errBadKey
	}
	return f.b.Set(ctx, k, v, o)
}
func (f failingKeys) Delete(ctx context.Context, k string) (bool, error) {
	if strings.Contains(k, "bad") {
		return false, errBadKey
	}
	return f.b.Delete(ctx, k)
}
func (f failingKeys) Close() error { return f.b.Close() }

func newMem(t *testing.T) backend.Backend {
	t.Helper()
	m, err := memory.New(memory.Options{CleanupInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestStatsLatencyOfDeletesAndInvalidations(t *testing.T) {
	ctx := context.Background()
	c, err := yokedcache.New(yokedcache.Config{Backend: newMem(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for i := range 400 {
		k := strconv.Itoa(i)
		if _, err := c.Delete(ctx, k); err != nil {
			t.Fatal(err)
		}
		if _, err := c.DeleteMany(ctx, k, "x"+k); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.InvalidatePattern(ctx, "user:*"); err != nil {
		t.Fatal(err)
	}
	st, err := c.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, op := range []string{"delete", "delete_many"} {
		if l := st.Latency[op]; l.Samples == 0 || l.Max < l.Avg {
			t.Errorf("Stats.Latency[%q] = %+v after 400 calls; want samples", op, l)
		}
		l := st.Latency[op]
		if l.P50 <= 0 || l.P50 > l.P90 || l.P90 > l.P99 || l.P99 > l.Max {
			t.Errorf("Stats.Latency[%q] percentiles p50=%v p90=%v p99=%v max=%v; want 0 < p50 <= p90 <= p99 <= max", op, l.P50, l.P90, l.P99, l.Max)
		}
		var n int64
		for _, c := range l.Counts {
			n += c
		}
		if len(l.Counts) != len(yokedcache.LatencyBounds())+1 || n != l.Samples {
			t.Errorf("Stats.Latency[%q].Counts = %v; want %d buckets summing to Samples=%d", op, l.Counts, len(yokedcache.LatencyBounds())+1, l.Samples)
		}
	}
	if l := st.Latency["invalidate"]; l.Samples != 1 {
		t.Errorf("Stats.Latency[invalidate] = %+v after one InvalidatePattern; want 1 sample", l)
	}
}

// Partial failures still count what was written or deleted.
func TestStatsCountPartialBatches(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		cfg  func(t *testing.T) yokedcache.Config
	}{
		// The Cache's own per-key fallback (no BatchSetter/BatchDeleter).
		{"fallback", func(t *testing.T) yokedcache.Config { return yokedcache.Config{Backend: failingKeys{newMem(t)}} }},
		// A router whose "bad" route fails while the default route works.
		{"router", func(t *testing.T) yokedcache.Config {
			return yokedcache.Config{
				Backend: newMem(t),
				Routes:  []yokedcache.Route{{Prefix: "bad", Backend: failingKeys{newMem(t)}}},
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := yokedcache.New(tc.cfg(t))
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			err = c.SetMany(ctx, map[string]any{"a": 1, "b": 2, "c": 3, "bad:1": 4})
			if !errors.Is(err, errBadKey) {
				t.Fatalf("SetMany with a failing key = %v; want the backend error", err)
			}
			n, err := c.DeleteMany(ctx, "a", "b", "bad:1")
			if !errors.Is(err, errBadKey) || n != 2 {
				t.Fatalf("DeleteMany with a failing key = %d, %v; want 2 and the backend error", n, err)
			}
			st, _ := c.Stats(ctx)
			if st.Sets != 3 || st.Deletes != 2 || st.Errors != 2 {
				t.Fatalf("Stats sets=%d deletes=%d errors=%d; want 3, 2, 2", st.Sets, st.Deletes, st.Errors)
			}
		})
	}
}

// PerRoute gives every exporter one view: the routes of a routed Cache,
// or one default-route entry carrying the totals and the Stats error.
func TestStatsPerRoute(t *testing.T) {
	st := yokedcache.Stats{Backend: "memory", Hits: 3, Misses: 1, Keys: 7, Scope: "prefix"}
	got := st.PerRoute(errors.New("down"))
	if len(got) != 1 || got[0].Route != "" || got[0].Hits != 3 || got[0].Keys != 7 || got[0].Backend != "memory" || got[0].Error != "down" {
		t.Fatalf("unrouted PerRoute = %+v", got)
	}
	st.Routes = []yokedcache.RouteStats{{Route: ""}, {Route: "hot", Hits: 2}}
	if got := st.PerRoute(nil); len(got) != 2 || got[1].Hits != 2 {
		t.Fatalf("routed PerRoute = %+v", got)
	}
}
