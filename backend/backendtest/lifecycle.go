package backendtest

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/yokedcache/yokedcache"
	"github.com/yokedcache/yokedcache/backend"
)

func statsLeaves() []leaf {
	return []leaf{
		{
			name:   "operations are counted",
			clause: "Hits, misses, sets, deletes, invalidations, errors and per-operation latency are counted",
			run: func(e *env) {
				for i := range 4 {
					e.set(e.c, fmt.Sprint("k", i), "v")
				}
				e.must(e.c.SetMany(e.ctx, map[string]any{"m1": 1, "m2": 2}), "SetMany")
				e.wantHit(e.c, "k0", "v")
				e.wantHit(e.c, "k1", "v")
				_, _ = e.getString(e.c, "absent")
				vals, err := e.c.GetMany(e.ctx, []string{"m1", "m2", "absent2"})
				e.must(err, "GetMany")
				if len(vals) != 2 {
					e.Fatalf("GetMany = %d hits; want 2", len(vals))
				}
				if ok, err := e.c.Delete(e.ctx, "k0"); err != nil || !ok {
					e.Fatalf("Delete(k0) = %v, %v", ok, err)
				}
				if ok, err := e.c.Delete(e.ctx, "absent"); err != nil || ok {
					e.Fatalf("Delete(absent) = %v, %v", ok, err)
				}
				if n, err := e.c.DeleteMany(e.ctx, "k1", "absent"); err != nil || n != 1 {
					e.Fatalf("DeleteMany = %d, %v", n, err)
				}
				var wantInv int64
				if e.supports(FeatureScan) {
					n, err := e.c.InvalidatePattern(e.ctx, "m*")
					e.must(err, "InvalidatePattern")
					if n != 2 {
						e.Fatalf("InvalidatePattern(m*) = %d; want 2", n)
					}
					wantInv += 2
				}
				if e.supports(FeatureTags) && !e.h.TagCountUnknown {
					e.set(e.c, "t", "v", yokedcache.WithTags("t"))
					_, err := e.c.InvalidateTags(e.ctx, "t")
					e.must(err, "InvalidateTags")
					wantInv++
				}
				st, err := e.stats(e.c)
				if err != nil && !(errors.Is(err, yokedcache.ErrUnsupported) && !e.supports(FeatureStats)) {
					e.Fatalf("Stats: %v", err)
				}
				wantSets := int64(6)
				if e.supports(FeatureTags) && !e.h.TagCountUnknown {
					wantSets++
				}
				checks := []struct {
					name      string
					got, want int64
				}{
					{"Hits", st.Hits, 4}, {"Misses", st.Misses, 2}, {"Sets", st.Sets, wantSets},
					{"Deletes", st.Deletes, 2}, {"Invalidations", st.Invalidations, wantInv}, {"Errors", st.Errors, 0},
				}
				for _, c := range checks {
					if c.got != c.want {
						e.Errorf("Stats.%s = %d; want %d", c.name, c.got, c.want)
					}
				}
				if st.HitRate < 0.66 || st.HitRate > 0.67 {
					e.Errorf("Stats.HitRate = %v; want 4/6", st.HitRate)
				}
				if st.Backend != e.backendName() {
					e.Errorf("Stats.Backend = %q; want %q", st.Backend, e.backendName())
				}
			},
		},
		{
			name:   "latency is sampled per operation",
			clause: "per-operation latency are counted with lock-free counters",
			run: func(e *env) {
				for i := range 300 {
					e.set(e.c, "k", strconv.Itoa(i))
					_, _ = e.getString(e.c, "k")
				}
				st, err := e.stats(e.c)
				if err != nil && !errors.Is(err, yokedcache.ErrUnsupported) {
					e.Fatalf("Stats: %v", err)
				}
				for _, op := range []string{"get", "set"} {
					l, ok := st.Latency[op]
					if !ok || l.Samples == 0 || l.Avg <= 0 || l.Max < l.Avg {
						e.Fatalf("Stats.Latency[%q] = %+v after 300 operations; want samples with avg > 0", op, l)
					}
				}
			},
		},
		{
			name:   "key count and memory come from the backend",
			clause: "Key count and memory use come from the backend where it can report them, scoped to this cache's prefix where possible.",
			run: func(e *env) {
				e.requireFeature(FeatureStats, func() error {
					st, err := e.stats(e.c)
					if err == nil && st.Keys == -1 {
						return yokedcache.ErrUnsupported // reported as unknown: acceptable
					}
					if err == nil {
						return fmt.Errorf("stats reported Keys = %d", st.Keys)
					}
					return err
				})
				const n = 25
				other := e.secondCache(e.prefix + "x")
				defer func() { _ = other.Flush(e.ctx) }()
				for i := range n {
					e.set(e.c, fmt.Sprint("k", i), strings.Repeat("v", 100))
				}
				e.set(other, "noise", "v")
				st, err := e.stats(e.c)
				e.must(err, "Stats")
				if st.Keys < n {
					e.Fatalf("Stats.Keys = %d after %d sets; want >= %d (Scope %q)", st.Keys, n, n, st.Scope)
				}
				if st.Scope == "" {
					e.Fatalf("Stats.Scope is empty; want what Keys covers (prefix, backend, server)")
				}
				if st.Scope == "prefix" && st.Keys != n {
					e.Fatalf("Stats.Keys = %d with Scope \"prefix\" after %d sets under the prefix; want %d", st.Keys, n, n)
				}
				if st.Bytes != -1 && st.Bytes < n*100 {
					e.Fatalf("Stats.Bytes = %d after storing %d values of 100 bytes", st.Bytes, n)
				}
				_, err = e.c.DeleteMany(e.ctx, "k0", "k1", "k2", "k3", "k4")
				e.must(err, "DeleteMany")
				st2, err := e.stats(e.c)
				e.must(err, "Stats")
				if st.Scope == "prefix" && st2.Keys != n-5 {
					e.Fatalf("Stats.Keys = %d after deleting 5 of %d; want %d", st2.Keys, n, n-5)
				}
				if st2.Keys < 0 {
					e.Fatalf("Stats.Keys = %d", st2.Keys)
				}
			},
		},
	}
}

func healthLeaves() []leaf {
	return []leaf{
		{
			name:   "Ping Health and DetailedHealthCheck report a healthy backend",
			clause: "Health(ctx) is a cheap liveness check; the detailed check reports status (healthy/degraded/unhealthy), backend type, connection/pool details ... latency of a probe",
			run: func(e *env) {
				e.must(e.c.Ping(e.ctx), "Ping")
				if !e.c.Health(e.ctx) {
					e.Fatalf("Health = false on a working backend")
				}
				r := e.c.DetailedHealthCheck(e.ctx)
				if r.Status != "healthy" {
					e.Fatalf("DetailedHealthCheck status %q (errors %q, warnings %q); want healthy", r.Status, r.Errors, r.Warnings)
				}
				if r.Backend == "" || r.Backend != e.backendName() || r.Backend != e.c.Backend() {
					e.Fatalf("DetailedHealthCheck backend %q; want %q", r.Backend, e.backendName())
				}
				if e.routed && (len(r.Routes) != 2 || r.Routes[0].Backend != backend.Name(e.b) || r.Routes[0].Status != "healthy") {
					e.Fatalf("DetailedHealthCheck routes %+v; want the default route on %q, healthy", r.Routes, backend.Name(e.b))
				}
				if r.Latency <= 0 {
					e.Fatalf("DetailedHealthCheck latency %v; want > 0", r.Latency)
				}
				if len(r.Errors) != 0 {
					e.Fatalf("DetailedHealthCheck errors %q", r.Errors)
				}
				// The probe leaves no user-visible key behind.
				e.wantKeys(e.c, "*", nil)
				if e.supports(FeatureStats) {
					st, err := e.stats(e.c)
					e.must(err, "Stats")
					if st.Scope == "prefix" && st.Keys != 0 {
						e.Fatalf("Stats.Keys = %d after a health check on an empty cache; want 0", st.Keys)
					}
				}
			},
		},
		{
			name:   "a failing backend is reported unhealthy and its errors counted",
			clause: "the detailed check reports status (healthy/degraded/unhealthy) ... Hits, misses, sets, deletes, invalidations, errors ... are counted",
			run: func(e *env) {
				e.set(e.c, "k", "v")
				// Close the backend under the Cache: every backend call now
				// fails, as with a lost server.
				e.must(e.b.Close(), "backend Close")
				var s string
				err := e.c.Get(e.ctx, "k", &s)
				if err == nil || errors.Is(err, yokedcache.ErrNotFound) {
					e.Fatalf("Get on a closed backend = %v; want an error that is not a miss", err)
				}
				if !errors.Is(err, yokedcache.ErrClosed) {
					e.Fatalf("Get on a closed backend = %v; want the backend's ErrClosed", err)
				}
				e.asYError(err, "get", "k")
				if err := e.c.Set(e.ctx, "k", "v"); !errors.Is(err, yokedcache.ErrClosed) {
					e.Fatalf("Set on a closed backend = %v; want ErrClosed", err)
				}
				st, _ := e.stats(e.c) // the backend part fails; counters remain
				if st.Errors < 2 {
					e.Fatalf("Stats.Errors = %d after two failed backend calls; want >= 2", st.Errors)
				}
				if e.c.Health(e.ctx) {
					e.Fatalf("Health = true with a closed backend")
				}
				r := e.c.DetailedHealthCheck(e.ctx)
				if e.routed {
					// One of two routes down: degraded, the route unhealthy.
					if r.Status != "degraded" || len(r.Routes) != 2 || r.Routes[0].Status != "unhealthy" || r.Routes[0].Error == "" || r.Routes[1].Status != "healthy" {
						e.Fatalf("DetailedHealthCheck with the default route's backend closed: status %q routes %+v; want degraded, the default route unhealthy with an error", r.Status, r.Routes)
					}
				} else if r.Status != "unhealthy" || len(r.Errors) == 0 {
					e.Fatalf("DetailedHealthCheck with a closed backend: status %q errors %q; want unhealthy with errors", r.Status, r.Errors)
				}
			},
		},
		{
			name:   "As fills nothing for nil or unknown types",
			clause: "Cache.As(target any) bool ... the suite checks As(nil) and unknown types return false",
			run: func(e *env) {
				if e.c.As(nil) {
					e.Fatalf("As(nil) = true")
				}
				var unknown *struct{ x int }
				if e.c.As(&unknown) {
					e.Fatalf("As(*unknown struct) = true")
				}
				var s string
				if e.c.As(&s) {
					e.Fatalf("As(*string) = true")
				}
			},
		},
	}
}

func errorsLeaves() []leaf {
	return []leaf{
		{
			name:   "every error carries the operation and key",
			clause: "Every error is wrapped with the operation and key ... and matches one of a small set of sentinels",
			run: func(e *env) {
				e.set(e.c, "k", "v")
				var s string
				type tc struct {
					op, key  string
					err      error
					sentinel error
				}
				cases := []tc{
					{"get", "absent", e.c.Get(e.ctx, "absent", &s), yokedcache.ErrNotFound},
					{"get", "", e.c.Get(e.ctx, "", &s), yokedcache.ErrInvalidKey},
					{"set", "k", e.c.Set(e.ctx, "k", "v", yokedcache.WithTTL(-2)), yokedcache.ErrInvalidTTL},
					{"set", "k", e.c.Set(e.ctx, "k", make(chan int)), yokedcache.ErrInvalidValue},
					{"delete", "\xff", second(e.c.Delete(e.ctx, "\xff")), yokedcache.ErrInvalidKey},
					{"exists", "", second(e.c.Exists(e.ctx, "")), yokedcache.ErrInvalidKey},
					{"expire", "k", second(e.c.Expire(e.ctx, "k", -3)), yokedcache.ErrInvalidTTL},
					{"get_many", "", second(e.c.GetMany(e.ctx, []string{"a", ""})), yokedcache.ErrInvalidKey},
					{"set_many", "", e.c.SetMany(e.ctx, map[string]any{"": 1}), yokedcache.ErrInvalidKey},
					{"delete_many", "", second(e.c.DeleteMany(e.ctx, "")), yokedcache.ErrInvalidKey},
					{"invalidate_tags", "", second(e.c.InvalidateTags(e.ctx, "")), yokedcache.ErrInvalidValue},
				}
				_, ferr := yokedcache.Fetch(e.ctx, e.c, "f", func(contextT) (int, error) { return 0, errLoader })
				cases = append(cases, tc{"fetch", "f", ferr, errLoader})
				_, ferr = yokedcache.Get[int](e.ctx, e.c, "absent")
				cases = append(cases, tc{"get", "absent", ferr, yokedcache.ErrNotFound})
				if e.supports(FeatureTTL) {
					cases = append(cases,
						tc{"ttl", "absent", second(e.c.TTL(e.ctx, "absent")), yokedcache.ErrNotFound},
						tc{"touch", "k", second(e.c.Touch(e.ctx, "k", yokedcache.WithTTL(-3))), yokedcache.ErrInvalidTTL})
				}
				if e.supports(FeatureScan) {
					cases = append(cases, tc{"invalidate_pattern", "", second(e.c.InvalidatePattern(e.ctx, "[")), nil})
				}
				for _, c := range cases {
					if c.err == nil {
						e.Errorf("%s(%q) returned no error", c.op, c.key)
						continue
					}
					e.asYError(c.err, c.op, c.key)
					if c.sentinel != nil && !errors.Is(c.err, c.sentinel) {
						e.Errorf("%s(%q) error %v does not match %v", c.op, c.key, c.err, c.sentinel)
					}
					if c.key != "" && !strings.Contains(c.err.Error(), strconv.Quote(c.key)) {
						e.Errorf("%s error message %q does not name the key %q", c.op, c.err.Error(), c.key)
					}
					if !strings.HasPrefix(c.err.Error(), "yokedcache: "+c.op) {
						e.Errorf("error message %q does not start with \"yokedcache: %s\"", c.err.Error(), c.op)
					}
				}
				e.wantHit(e.c, "k", "v")
			},
		},
		{
			name:   "a cancelled context is reported as such",
			clause: "connection/timeouts from the backend (still matchable with errors.Is(err, context.DeadlineExceeded) etc.)",
			run: func(e *env) {
				e.set(e.c, "k", "v")
				cancelled, cancel := context.WithCancel(e.ctx)
				cancel()
				expired, cancel2 := context.WithDeadline(e.ctx, time.Now().Add(-time.Second))
				defer cancel2()
				for _, x := range []struct {
					ctx  context.Context
					want error
				}{{cancelled, context.Canceled}, {expired, context.DeadlineExceeded}} {
					ops := e.allOps(x.ctx)
					for name, op := range ops {
						err := op()
						if !errors.Is(err, x.want) {
							e.Errorf("%s with a done context = %v; want an error matching %v", name, err, x.want)
							continue
						}
						var ye *yokedcache.Error
						if !errors.As(err, &ye) {
							e.Errorf("%s error %v is not a *yokedcache.Error", name, err)
						}
					}
				}
				e.wantHit(e.c, "k", "v")
			},
		},
	}
}

// allOps returns every Cache operation, called with ctx on this env.
func (e *env) allOps(ctx context.Context) map[string]func() error {
	c := e.c
	ops := map[string]func() error{
		"Get":        func() error { var s string; return c.Get(ctx, "k", &s) },
		"GetBytes":   func() error { return second(c.GetBytes(ctx, "k")) },
		"Set":        func() error { return c.Set(ctx, "k2", "v") },
		"Delete":     func() error { return second(c.Delete(ctx, "k")) },
		"Exists":     func() error { return second(c.Exists(ctx, "k")) },
		"GetMany":    func() error { return second(c.GetMany(ctx, []string{"k"})) },
		"SetMany":    func() error { return c.SetMany(ctx, map[string]any{"k2": "v"}) },
		"DeleteMany": func() error { return second(c.DeleteMany(ctx, "k")) },
		"Fetch": func() error {
			return second(yokedcache.Fetch(ctx, c, "k3", func(contextT) (string, error) { return "v", nil }))
		},
		"GetOrSet": func() error {
			var s string
			return c.GetOrSet(ctx, "k3", &s, func(contextT) (any, error) { return "v", nil })
		},
		"Flush": func() error { return c.Flush(ctx) },
		"Stats": func() error { return second(c.Stats(ctx)) },
		"Ping":  func() error { return c.Ping(ctx) },
	}
	if e.supports(FeatureTTL) {
		ops["TTL"] = func() error { return second(c.TTL(ctx, "k")) }
		ops["Expire"] = func() error { return second(c.Expire(ctx, "k", time.Minute)) }
		ops["Touch"] = func() error { return second(c.Touch(ctx, "k")) }
	}
	if e.supports(FeatureTags) {
		ops["InvalidateTags"] = func() error { return second(c.InvalidateTags(ctx, "t")) }
	}
	if e.supports(FeatureScan) {
		ops["InvalidatePattern"] = func() error { return second(c.InvalidatePattern(ctx, "*")) }
		ops["FuzzySearch"] = func() error { return second(c.FuzzySearch(ctx, "k")) }
		ops["Keys"] = func() error {
			for _, err := range c.Keys(ctx, "*") {
				if err != nil {
					return err
				}
			}
			return nil
		}
	}
	return ops
}

func closeLeaves() []leaf {
	return []leaf{
		{
			name:   "operations after Close return ErrClosed",
			clause: "Operations after Close return ErrClosed.",
			run: func(e *env) {
				e.set(e.c, "k", "v")
				e.must(e.c.Close(), "Close")
				for name, op := range e.allOps(e.ctx) {
					err := op()
					if !errors.Is(err, yokedcache.ErrClosed) {
						e.Errorf("%s after Close = %v; want ErrClosed", name, err)
						continue
					}
					var ye *yokedcache.Error
					if !errors.As(err, &ye) {
						e.Errorf("%s error %v is not a *yokedcache.Error", name, err)
					}
				}
				if e.c.Health(e.ctx) {
					e.Errorf("Health after Close = true")
				}
				if r := e.c.DetailedHealthCheck(e.ctx); r.Status != "unhealthy" {
					e.Errorf("DetailedHealthCheck after Close: status %q; want unhealthy", r.Status)
				}
				if err := e.c.Close(); !errors.Is(err, yokedcache.ErrClosed) {
					e.Errorf("second Close = %v; want ErrClosed", err)
				}
			},
		},
		{
			name:   "the backend refuses calls after Close",
			clause: "After Close, every call returns an error matching ErrClosed.",
			run: func(e *env) {
				b := e.newBackend(e.backendClock())
				ctx := e.ctx
				k := e.prefix + ":k"
				env := []byte{0xCB, 1, 2, 0, 0, 0, 0, 0, 0} // any bytes: the backend does not decode
				if err := b.Set(ctx, k, env, backend.SetOptions{TTL: time.Minute}); err != nil {
					e.Fatalf("backend Set: %v", err)
				}
				if _, err := b.Get(ctx, e.prefix+":absent"); !errors.Is(err, backend.ErrNotFound) {
					e.Fatalf("backend Get of an absent key = %v; want ErrNotFound", err)
				}
				if ok, err := b.Delete(ctx, e.prefix+":absent"); err != nil || ok {
					e.Fatalf("backend Delete of an absent key = %v, %v; want false, nil", ok, err)
				}
				if err := b.Close(); err != nil {
					e.Fatalf("backend Close: %v", err)
				}
				check := func(op string, err error) {
					if !errors.Is(err, backend.ErrClosed) {
						e.Errorf("backend %s after Close = %v; want ErrClosed", op, err)
					}
				}
				check("Get", second(b.Get(ctx, k)))
				check("Set", b.Set(ctx, k, env, backend.SetOptions{TTL: time.Minute}))
				check("Delete", second(b.Delete(ctx, k)))
				check("Close", b.Close())
				if x, ok := b.(backend.BatchGetter); ok {
					check("GetMany", second(x.GetMany(ctx, []string{k})))
				}
				if x, ok := b.(backend.Expirer); ok {
					check("TTL", second(x.TTL(ctx, k)))
				}
				if x, ok := b.(backend.Tagger); ok {
					check("InvalidateTags", second(x.InvalidateTags(ctx, []string{"t"})))
				}
				if x, ok := b.(backend.Scanner); ok {
					var err error
					for _, serr := range x.Scan(ctx, e.prefix+":*") {
						if serr != nil {
							err = serr
							break
						}
					}
					check("Scan", err)
				}
				if x, ok := b.(backend.Pinger); ok {
					check("Ping", x.Ping(ctx))
				}
			},
		},
	}
}
