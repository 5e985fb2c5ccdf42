package backendtest

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/yokedcache/yokedcache"
)

var errLoader = errors.New("backendtest: loader failed")

func getOrLoadLeaves() []leaf {
	return []leaf{
		{
			name:   "concurrent misses run the loader once",
			clause: "concurrent misses for the same key in one process run the loader once; every waiter gets the result",
			run: func(e *env) {
				const callers = 50
				var calls atomic.Int64
				gate := make(chan struct{})
				loader := func(ctx contextT) (record, error) {
					calls.Add(1)
					time.Sleep(50 * time.Millisecond)
					return recordValue(), nil
				}
				var wg sync.WaitGroup
				errs := make([]error, callers)
				vals := make([]record, callers)
				for i := range callers {
					wg.Add(1)
					go func() {
						defer wg.Done()
						<-gate
						vals[i], errs[i] = yokedcache.Fetch(e.ctx, e.c, "k", loader)
					}()
				}
				close(gate)
				wg.Wait()
				want := recordValue()
				for i := range callers {
					if errs[i] != nil {
						e.Fatalf("caller %d: Fetch: %v", i, errs[i])
					}
					if !equalRecord(vals[i], want) {
						e.Fatalf("caller %d got %+v; want the loaded value", i, vals[i])
					}
				}
				if n := calls.Load(); n != 1 {
					e.Fatalf("%d concurrent Fetch misses ran the loader %d times; want 1", callers, n)
				}
				got, err := yokedcache.Get[record](e.ctx, e.c, "k")
				if err != nil || !equalRecord(got, want) {
					e.Fatalf("Get after Fetch = %+v, %v; want the loaded value cached", got, err)
				}
				// A hit does not call the loader.
				if _, err := yokedcache.Fetch(e.ctx, e.c, "k", loader); err != nil || calls.Load() != 1 {
					e.Fatalf("Fetch of a cached key: %v, loader calls %d; want no new call", err, calls.Load())
				}
			},
		},
		{
			name:   "every waiter gets the loader's error",
			clause: "every waiter gets the result or the error.",
			run: func(e *env) {
				const callers = 20
				var calls atomic.Int64
				gate := make(chan struct{})
				var wg sync.WaitGroup
				errs := make([]error, callers)
				for i := range callers {
					wg.Add(1)
					go func() {
						defer wg.Done()
						<-gate
						var dst string
						errs[i] = e.c.GetOrSet(e.ctx, "k", &dst, func(contextT) (any, error) {
							calls.Add(1)
							time.Sleep(30 * time.Millisecond)
							return nil, errLoader
						})
					}()
				}
				close(gate)
				wg.Wait()
				for i, err := range errs {
					if !errors.Is(err, errLoader) {
						e.Fatalf("caller %d: GetOrSet = %v; want the loader's error", i, err)
					}
				}
				if n := calls.Load(); n < 1 || n > callers {
					e.Fatalf("loader ran %d times", n)
				}
				e.wantMiss(e.c, "k")
			},
		},
		{
			name:   "a cancelled caller does not cancel the shared load",
			clause: "One caller's cancelled context never cancels the shared load for the others; each caller still returns when its own context ends.",
			run: func(e *env) {
				var calls atomic.Int64
				started := make(chan struct{})
				release := make(chan struct{})
				var loaderCtxErr atomic.Value
				loader := func(ctx contextT) (string, error) {
					if calls.Add(1) == 1 {
						close(started)
					}
					<-release
					loaderCtxErr.Store(errString(ctx.Err()))
					return "loaded", nil
				}
				actx, cancelA := context.WithCancel(e.ctx)
				aDone := make(chan error, 1)
				go func() {
					_, err := yokedcache.Fetch(actx, e.c, "k", loader)
					aDone <- err
				}()
				select {
				case <-started:
				case <-time.After(5 * time.Second):
					e.Fatalf("loader did not start")
				}
				bDone := make(chan struct{})
				var bVal string
				var bErr error
				go func() {
					defer close(bDone)
					bVal, bErr = yokedcache.Fetch(e.ctx, e.c, "k", loader)
				}()
				time.Sleep(20 * time.Millisecond) // let B join the flight
				cancelA()
				select {
				case err := <-aDone:
					if !errors.Is(err, context.Canceled) {
						e.Fatalf("cancelled caller's Fetch = %v; want context.Canceled", err)
					}
				case <-time.After(time.Second):
					e.Fatalf("cancelled caller did not return within 1s while the load was in flight")
				}
				close(release)
				select {
				case <-bDone:
				case <-time.After(5 * time.Second):
					e.Fatalf("second caller did not return after the load finished")
				}
				if bErr != nil || bVal != "loaded" {
					e.Fatalf("second caller's Fetch = %q, %v; want the loaded value", bVal, bErr)
				}
				if s, _ := loaderCtxErr.Load().(string); s != "" {
					e.Fatalf("the loader's context was cancelled (%s) by the first caller", s)
				}
				if n := calls.Load(); n != 1 {
					e.Fatalf("loader ran %d times; want 1", n)
				}
				e.wantHit(e.c, "k", "loaded")
			},
		},
		{
			name:   "a load whose only caller gave up still completes and is cached",
			clause: "One caller's cancelled context never cancels the shared load",
			run: func(e *env) {
				release := make(chan struct{})
				started := make(chan struct{})
				ctx, cancel := context.WithCancel(e.ctx)
				defer cancel()
				go func() { <-started; cancel() }() // give up once the load runs
				_, err := yokedcache.Fetch(ctx, e.c, "k", func(lctx contextT) (string, error) {
					close(started)
					<-release
					if lctx.Err() != nil {
						return "", lctx.Err()
					}
					return "late", nil
				})
				if !errors.Is(err, context.Canceled) {
					e.Fatalf("Fetch whose context was cancelled during the load = %v; want context.Canceled", err)
				}
				close(release)
				deadline := time.Now().Add(5 * time.Second)
				for {
					if s, ok := e.getString(e.c, "k"); ok {
						if s != "late" {
							e.Fatalf("cached %q; want \"late\"", s)
						}
						return
					}
					if time.Now().After(deadline) {
						e.Fatalf("the detached load never stored its value")
					}
					time.Sleep(5 * time.Millisecond)
				}
			},
		},
		{
			name:   "loader errors are not cached",
			clause: "Loader errors are not cached (unless negative caching is explicitly configured).",
			run: func(e *env) {
				calls := 0
				_, err := yokedcache.Fetch(e.ctx, e.c, "k", func(contextT) (int, error) { calls++; return 0, errLoader })
				if !errors.Is(err, errLoader) {
					e.Fatalf("Fetch with a failing loader = %v; want the loader's error", err)
				}
				e.asYError(err, "fetch", "k")
				e.wantMiss(e.c, "k")
				v, err := yokedcache.Fetch(e.ctx, e.c, "k", func(contextT) (int, error) { calls++; return 7, nil })
				if err != nil || v != 7 || calls != 2 {
					e.Fatalf("Fetch after a failed load = %v, %v with %d loader calls; want 7 from a second call", v, err, calls)
				}
				n, err := yokedcache.Get[int](e.ctx, e.c, "k")
				if err != nil || n != 7 {
					e.Fatalf("Get after Fetch = %v, %v; want 7", n, err)
				}
			},
		},
		{
			name:   "GetOrSet loads into a destination",
			clause: "GetOrSet/Fetch(key, loader): concurrent misses for the same key in one process run the loader once",
			run: func(e *env) {
				calls := 0
				loader := func(contextT) (any, error) { calls++; return recordValue(), nil }
				var s1, s2 record
				e.must(e.c.GetOrSet(e.ctx, "k", &s1, loader, yokedcache.WithTTL(time.Hour)), "GetOrSet (miss)")
				e.must(e.c.GetOrSet(e.ctx, "k", &s2, loader), "GetOrSet (hit)")
				if calls != 1 || !equalRecord(s1, recordValue()) || !equalRecord(s2, recordValue()) {
					e.Fatalf("GetOrSet: %d loader calls, values %+v / %+v; want 1 call and the loaded value twice", calls, s1, s2)
				}
				// A loaded nil is a cached hit.
				nilCalls := 0
				for range 2 {
					p, err := yokedcache.Fetch(e.ctx, e.c, "nil", func(contextT) (*record, error) { nilCalls++; return nil, nil })
					if err != nil || p != nil {
						e.Fatalf("Fetch of a nil value = %v, %v; want nil, nil", p, err)
					}
				}
				if nilCalls != 1 {
					e.Fatalf("a loaded nil was loaded %d times; want 1 (a cached nil is a hit)", nilCalls)
				}
				// A value the codec cannot encode is an error, not a hit.
				_, err := yokedcache.Fetch(e.ctx, e.c, "chan", func(contextT) (chan int, error) { return make(chan int), nil })
				if !errors.Is(err, yokedcache.ErrInvalidValue) {
					e.Fatalf("Fetch of an unencodable value = %v; want ErrInvalidValue", err)
				}
			},
		},
		{
			name:   "a loader panic is an error, not a crash",
			clause: "every waiter gets the result or the error.",
			run: func(e *env) {
				_, err := yokedcache.Fetch(e.ctx, e.c, "k", func(contextT) (string, error) { panic("boom") })
				if err == nil {
					e.Fatalf("Fetch with a panicking loader succeeded")
				}
				e.asYError(err, "fetch", "k")
				e.wantMiss(e.c, "k")
				var dst string
				err = e.c.GetOrSet(e.ctx, "k", &dst, func(contextT) (any, error) { panic(errLoader) })
				if err == nil {
					e.Fatalf("GetOrSet with a panicking loader succeeded")
				}
				v, err := yokedcache.Fetch(e.ctx, e.c, "k", func(contextT) (string, error) { return "ok", nil })
				if err != nil || v != "ok" {
					e.Fatalf("Fetch after a panicking load = %q, %v", v, err)
				}
			},
		},
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func equalRecord(a, b record) bool {
	return a.ID == b.ID && a.Name == b.Name && a.Score == b.Score && a.Active == b.Active &&
		len(a.Tags) == len(b.Tags) && len(a.Attrs) == len(b.Attrs) && string(a.Raw) == string(b.Raw) &&
		(a.Child == nil) == (b.Child == nil) && (a.Child == nil || a.Child.Name == b.Child.Name)
}
