package backendtest

import (
	"errors"
	"sync/atomic"
	"time"

	"github.com/yokedcache/yokedcache"
	"github.com/yokedcache/yokedcache/internal/envelope"
)

// staleLeaves check that the soft expiry written by stale-while-revalidate
// travels through the backend in the envelope, so that it works on every
// backend and across processes.
func staleLeaves() []leaf {
	return []leaf{
		{
			name:   "soft expiry travels in the envelope",
			clause: "Soft expiry for stale-while-revalidate lives in the envelope, so it works on every backend and across processes",
			run: func(e *env) {
				ttl := e.shortTTL()
				window := time.Minute
				opts := []yokedcache.SetOption{yokedcache.WithTTL(ttl), yokedcache.WithStaleWhileRevalidate(window)}
				var loads atomic.Int64
				v1 := func(contextT) (string, error) { loads.Add(1); return "v1", nil }
				before := e.backendClock().Now()
				got, err := yokedcache.Fetch(e.ctx, e.c, "k", v1, opts...)
				if err != nil || got != "v1" {
					e.Fatalf("Fetch = %q, %v; want v1", got, err)
				}
				// The stored bytes carry the soft expiry.
				raw, err := e.b.Get(e.ctx, e.prefix+":k")
				e.must(err, "backend Get of the stored envelope")
				env, err := envelope.Decode(raw, 0)
				e.must(err, "envelope.Decode of the stored envelope")
				lo, hi := before.Add(ttl).UnixMilli(), e.backendClock().Now().Add(ttl).UnixMilli()
				if env.FreshUntil < lo || env.FreshUntil > hi {
					e.Fatalf("stored FreshUntil = %d; want within [%d, %d] (now + TTL)", env.FreshUntil, lo, hi)
				}
				// Still fresh: a hit. Then stale (past the TTL, within
				// the window): plain reads miss, but the entry is kept.
				e.wantHit(e.c, "k", "v1")
				e.advance(ttl + e.h.gran() + 10*time.Millisecond)
				if _, err := yokedcache.Get[string](e.ctx, e.c, "k"); !errors.Is(err, yokedcache.ErrNotFound) {
					e.Fatalf("Get of a stale entry = %v; want ErrNotFound", err)
				}
				if _, err := e.b.Get(e.ctx, e.prefix+":k"); err != nil {
					e.Fatalf("the backend dropped a stale entry within its window: %v", err)
				}
				// Another process (a second Cache on the same backend and
				// prefix) serves the stale value at once and refreshes it
				// in the background, once.
				other := e.newCache(e.b, e.prefix, e.cfgMod)
				release := make(chan struct{})
				v2 := func(contextT) (string, error) { loads.Add(1); <-release; return "v2", nil }
				for range 5 {
					got, err = yokedcache.Fetch(e.ctx, other, "k", v2, opts...)
					if err != nil || got != "v1" {
						close(release)
						e.Fatalf("Fetch of a stale entry = %q, %v; want the stale v1 at once", got, err)
					}
				}
				close(release)
				// The refreshed entry is fresh for only ttl (tens of ms on
				// a server clock): a reader delayed by a busy machine may
				// first see it stale again. So look at the stored
				// envelope, which holds v2 either way.
				deadline := time.Now().Add(10 * time.Second)
				for {
					raw, err := e.b.Get(e.ctx, e.prefix+":k")
					var payload string
					if err == nil {
						if env, derr := envelope.Decode(raw, 0); derr == nil {
							payload = string(env.Payload)
						}
					}
					if payload == "v2" {
						break
					}
					if time.Now().After(deadline) {
						e.Fatalf("the background refresh never stored v2: stored payload %q, %v", payload, err)
					}
					time.Sleep(10 * time.Millisecond)
				}
				if n := loads.Load(); n != 2 {
					e.Fatalf("the loader ran %d times; want 2 (the first load and one refresh)", n)
				}
			},
		},
	}
}
