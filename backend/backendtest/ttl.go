package backendtest

import (
	"errors"
	"math"
	"time"

	"github.com/yokedcache/yokedcache"
)

// wantTTL asserts TTL(key) is within the tolerance below want (time may
// have passed since it was set) and not above want plus the tolerance.
func (e *env) wantTTL(c *yokedcache.Cache, key string, want time.Duration) {
	e.t.Helper()
	got, err := c.TTL(e.ctx, key)
	if err != nil {
		e.Fatalf("TTL(%q): %v", key, err)
	}
	if want == yokedcache.NoExpiry {
		if got != yokedcache.NoExpiry {
			e.Fatalf("TTL(%q) = %v; want NoExpiry", key, got)
		}
		return
	}
	tol := e.tolerance()
	if got < want-tol || got > want+tol {
		e.Fatalf("TTL(%q) = %v; want %v (±%v)", key, got, want, tol)
	}
}

func ttlLeaves() []leaf {
	return []leaf{
		{
			name:   "unset TTL means DefaultTTL",
			clause: "Every entry has a TTL; 0/unset means DefaultTTL",
			cfg: func(c *yokedcache.Config) {
				c.DefaultTTL = 7 * time.Minute
			},
			run: func(e *env) {
				if e.clock == nil {
					// A server clock: a short default to wait out.
					c := e.newCache(e.b, e.prefix, func(c *yokedcache.Config) { c.DefaultTTL = e.shortTTL() })
					setAt := time.Now()
					e.set(c, "short", "v")
					e.must(c.Set(e.ctx, "zero", "v", yokedcache.WithTTL(0)), "Set WithTTL(0)")
					e.wantHitSince(c, "short", "v", setAt, e.shortTTL())
					e.waitExpired("short", e.shortTTL())
					e.waitExpired("zero", e.shortTTL())
				}
				e.set(e.c, "k", "v")
				e.must(e.c.Set(e.ctx, "k0", "v", yokedcache.WithTTL(0)), "Set WithTTL(0)")
				if e.supports(FeatureTTL) {
					e.wantTTL(e.c, "k", 7*time.Minute)
					e.wantTTL(e.c, "k0", 7*time.Minute)
				}
				if e.clock != nil {
					e.advance(7*time.Minute - time.Second)
					e.wantHit(e.c, "k", "v")
					e.waitExpired("k", time.Second)
					e.wantMiss(e.c, "k0")
				}
				// The built-in default is 5 minutes.
				if yokedcache.DefaultTTL != 5*time.Minute {
					e.Fatalf("DefaultTTL = %v; want 5 minutes", yokedcache.DefaultTTL)
				}
			},
		},
		{
			name:   "a negative TTL is an error",
			clause: "A negative TTL is an error.",
			run: func(e *env) {
				// NoExpiry is -1 ns: every other negative duration is an error.
				for _, d := range []time.Duration{-2, -time.Millisecond, -time.Second, -time.Hour} {
					err := e.c.Set(e.ctx, "k", "v", yokedcache.WithTTL(d))
					if !errors.Is(err, yokedcache.ErrInvalidTTL) {
						e.Fatalf("Set WithTTL(%v) = %v; want ErrInvalidTTL", d, err)
					}
					err = e.c.SetMany(e.ctx, map[string]any{"k": "v"}, yokedcache.WithTTL(d))
					if !errors.Is(err, yokedcache.ErrInvalidTTL) {
						e.Fatalf("SetMany WithTTL(%v) = %v; want ErrInvalidTTL", d, err)
					}
					_, err = yokedcache.Fetch(e.ctx, e.c, "k", func(contextT) (string, error) { return "v", nil }, yokedcache.WithTTL(d))
					if !errors.Is(err, yokedcache.ErrInvalidTTL) {
						e.Fatalf("Fetch WithTTL(%v) = %v; want ErrInvalidTTL", d, err)
					}
				}
				e.wantMiss(e.c, "k")
				e.set(e.c, "k", "v")
				for _, d := range []time.Duration{0, -time.Second} {
					_, err := e.c.Expire(e.ctx, "k", d)
					if !errors.Is(err, yokedcache.ErrInvalidTTL) {
						e.Fatalf("Expire(%v) = %v; want ErrInvalidTTL", d, err)
					}
				}
				_, err := e.c.Touch(e.ctx, "k", yokedcache.WithTTL(-time.Second))
				if !errors.Is(err, yokedcache.ErrInvalidTTL) {
					e.Fatalf("Touch WithTTL(-1s) = %v; want ErrInvalidTTL", err)
				}
				e.wantHit(e.c, "k", "v")
			},
		},
		{
			name:   "MaxTTL works and a longer TTL is rejected",
			clause: "Every entry has a TTL ... A negative TTL is an error. (Any TTL up to yokedcache.MaxTTL works on every backend; a longer one is an error matching ErrInvalidTTL, never a silent immediate miss.)",
			run: func(e *env) {
				maxTTL := yokedcache.MaxTTL
				e.set(e.c, "max", "v", yokedcache.WithTTL(maxTTL))
				e.must(e.c.SetMany(e.ctx, map[string]any{"many": "v"}, yokedcache.WithTTL(maxTTL)), "SetMany WithTTL(MaxTTL)")
				v, err := yokedcache.Fetch(e.ctx, e.c, "fetched", func(contextT) (string, error) { return "v", nil }, yokedcache.WithTTL(maxTTL))
				if err != nil || v != "v" {
					e.Fatalf("Fetch WithTTL(MaxTTL) = %q, %v; want the loader's value", v, err)
				}
				// Jitter never takes a TTL past the maximum.
				jc := e.newCache(e.b, e.prefix, func(c *yokedcache.Config) {
					c.TTLJitterPercent = 50
					c.Rand = func() float64 { return 0.999 }
				})
				e.set(jc, "jittered", "v", yokedcache.WithTTL(maxTTL))
				e.set(e.c, "k", "v", yokedcache.WithTTL(time.Minute))
				long := []string{"max", "many", "fetched", "jittered"}
				for _, k := range long {
					e.wantHit(e.c, k, "v")
				}
				if e.supports(FeatureTTL) {
					for _, k := range long {
						e.wantTTL(e.c, k, maxTTL)
					}
					ok, err := e.c.Expire(e.ctx, "k", maxTTL)
					if err != nil || !ok {
						e.Fatalf("Expire(k, MaxTTL) = %v, %v; want true", ok, err)
					}
					e.wantTTL(e.c, "k", maxTTL)
					ok, err = e.c.Touch(e.ctx, "k", yokedcache.WithTTL(maxTTL))
					if err != nil || !ok {
						e.Fatalf("Touch(k, WithTTL(MaxTTL)) = %v, %v; want true", ok, err)
					}
				}
				for _, d := range []time.Duration{maxTTL + 1, maxTTL + time.Second, 2 * maxTTL, math.MaxInt64} {
					if err := e.c.Set(e.ctx, "over", "v", yokedcache.WithTTL(d)); !errors.Is(err, yokedcache.ErrInvalidTTL) {
						e.Fatalf("Set WithTTL(%v) = %v; want ErrInvalidTTL", d, err)
					}
					if err := e.c.SetMany(e.ctx, map[string]any{"over": "v"}, yokedcache.WithTTL(d)); !errors.Is(err, yokedcache.ErrInvalidTTL) {
						e.Fatalf("SetMany WithTTL(%v) = %v; want ErrInvalidTTL", d, err)
					}
					if _, err := yokedcache.Fetch(e.ctx, e.c, "over", func(contextT) (string, error) { return "v", nil }, yokedcache.WithTTL(d)); !errors.Is(err, yokedcache.ErrInvalidTTL) {
						e.Fatalf("Fetch WithTTL(%v) = %v; want ErrInvalidTTL", d, err)
					}
					if _, err := e.c.Expire(e.ctx, "k", d); !errors.Is(err, yokedcache.ErrInvalidTTL) {
						e.Fatalf("Expire(k, %v) = %v; want ErrInvalidTTL", d, err)
					}
					if _, err := e.c.Touch(e.ctx, "k", yokedcache.WithTTL(d)); !errors.Is(err, yokedcache.ErrInvalidTTL) {
						e.Fatalf("Touch(k, WithTTL(%v)) = %v; want ErrInvalidTTL", d, err)
					}
				}
				e.wantMiss(e.c, "over")
				e.wantHit(e.c, "k", "v")
				if e.supports(FeatureTTL) {
					e.wantTTL(e.c, "k", maxTTL) // the rejected calls changed nothing
				}
				if e.clock != nil {
					e.advance(maxTTL - time.Minute)
					e.wantHit(e.c, "max", "v")
					e.waitExpired("max", time.Minute)
				}
			},
		},
		{
			name:   "no expiry must be explicit",
			clause: "Optional \"no expiry\" must be explicit.",
			run: func(e *env) {
				e.set(e.c, "forever", "v", yokedcache.WithTTL(yokedcache.NoExpiry))
				e.set(e.c, "default", "v")
				if e.supports(FeatureTTL) {
					e.wantTTL(e.c, "forever", yokedcache.NoExpiry)
					if d, err := e.c.TTL(e.ctx, "default"); err != nil || d == yokedcache.NoExpiry {
						e.Fatalf("TTL of an entry set without WithTTL = %v, %v; want DefaultTTL, not NoExpiry", d, err)
					}
				}
				if e.clock != nil {
					e.advance(30 * 24 * time.Hour)
					e.wantHit(e.c, "forever", "v")
					e.wantMiss(e.c, "default")
				} else {
					e.wantHit(e.c, "forever", "v")
				}
			},
		},
		{
			name:   "jitter spreads TTLs by the percentage",
			clause: "Jitter of ±TTLJitterPercent (default 10 %) spreads expiries; setting it to 0 gives exact TTLs.",
			run: func(e *env) {
				e.needTTL()
				if yokedcache.DefaultTTLJitterPercent != 10 {
					e.Fatalf("DefaultTTLJitterPercent = %d; want 10", yokedcache.DefaultTTLJitterPercent)
				}
				const base = 100 * time.Second
				for _, tc := range []struct {
					r    float64
					want time.Duration
				}{{0, 90 * time.Second}, {0.999, base + time.Duration(float64(base)*0.1*0.998)}, {0.5, base}} {
					c := e.newCache(e.b, e.prefix, func(c *yokedcache.Config) {
						c.TTLJitterPercent = 10
						c.Rand = func() float64 { return tc.r }
					})
					e.set(c, "j", "v", yokedcache.WithTTL(base))
					e.wantTTL(c, "j", tc.want)
					e.set(c, "exact", "v", yokedcache.WithTTL(base), yokedcache.WithExactTTL())
					e.wantTTL(c, "exact", base)
				}
				// NoJitter gives exact TTLs whatever the randomness.
				c := e.newCache(e.b, e.prefix, func(c *yokedcache.Config) {
					c.TTLJitterPercent = yokedcache.NoJitter
					c.Rand = func() float64 { return 0 }
				})
				e.set(c, "nj", "v", yokedcache.WithTTL(base))
				e.wantTTL(c, "nj", base)
			},
		},
		{
			name:   "an expired entry is a miss everywhere",
			clause: "After the TTL passes, the entry is a miss on every backend",
			run: func(e *env) {
				ttl := e.shortTTL()
				setAt := time.Now()
				e.set(e.c, "gone", "v", yokedcache.WithTTL(ttl))
				e.set(e.c, "gone2", "v", yokedcache.WithTTL(ttl))
				e.set(e.c, "stays", "v", yokedcache.WithTTL(time.Hour))
				e.wantHitSince(e.c, "gone", "v", setAt, ttl)
				e.waitExpired("gone", ttl)
				e.waitExpired("gone2", ttl) // set a moment later
				e.wantMiss(e.c, "gone")
				e.wantMiss(e.c, "gone2")
				vals, err := e.c.GetMany(e.ctx, []string{"gone", "gone2", "stays"})
				e.must(err, "GetMany")
				if len(vals) != 1 {
					e.Fatalf("GetMany after the TTL passed returned %d values; want only the live one", len(vals))
				}
				e.wantKeys(e.c, "*", []string{"stays"})
				if e.supports(FeatureTTL) {
					if _, err := e.c.TTL(e.ctx, "gone"); !errors.Is(err, yokedcache.ErrNotFound) {
						e.Fatalf("TTL of an expired entry = %v; want ErrNotFound", err)
					}
					ok, err := e.c.Expire(e.ctx, "gone", time.Hour)
					if err != nil || ok {
						e.Fatalf("Expire of an expired entry = %v, %v; want false, nil", ok, err)
					}
					e.wantMiss(e.c, "gone")
				}
				ok, err := e.c.Delete(e.ctx, "gone2")
				if err != nil || ok {
					e.Fatalf("Delete of an expired entry = %v, %v; want false, nil", ok, err)
				}
				loads := 0
				v, err := yokedcache.Fetch(e.ctx, e.c, "gone", func(contextT) (string, error) { loads++; return "new", nil })
				if err != nil || v != "new" || loads != 1 {
					e.Fatalf("Fetch of an expired entry = %q, %v (%d loads); want the loader's value", v, err, loads)
				}
				// Directly on the backend too.
				if _, err := e.b.Get(e.ctx, e.skey("gone2")); !errors.Is(err, yokedcache.ErrNotFound) {
					e.Fatalf("backend Get of an expired key = %v; want ErrNotFound", err)
				}
			},
		},
		{
			name:   "TTL reports the remaining time",
			clause: "TTL(key) reports the remaining time",
			run: func(e *env) {
				e.needTTL()
				e.set(e.c, "k", "v", yokedcache.WithTTL(10*time.Minute))
				e.wantTTL(e.c, "k", 10*time.Minute)
				if e.clock != nil {
					e.advance(3 * time.Minute)
					e.wantTTL(e.c, "k", 7*time.Minute)
				}
				if _, err := e.c.TTL(e.ctx, "absent"); !errors.Is(err, yokedcache.ErrNotFound) {
					e.Fatalf("TTL of an absent key = %v; want ErrNotFound", err)
				}
			},
		},
		{
			name:   "Expire changes the TTL",
			clause: "Expire(key, ttl) changes it",
			run: func(e *env) {
				e.needTTL()
				e.set(e.c, "k", "v", yokedcache.WithTTL(time.Minute))
				ok, err := e.c.Expire(e.ctx, "k", 20*time.Minute)
				if err != nil || !ok {
					e.Fatalf("Expire(k, 20m) = %v, %v; want true", ok, err)
				}
				e.wantTTL(e.c, "k", 20*time.Minute)
				if e.clock != nil {
					e.advance(2 * time.Minute)
					e.wantHit(e.c, "k", "v")
				}
				ok, err = e.c.Expire(e.ctx, "k", yokedcache.NoExpiry)
				if err != nil || !ok {
					e.Fatalf("Expire(k, NoExpiry) = %v, %v; want true", ok, err)
				}
				e.wantTTL(e.c, "k", yokedcache.NoExpiry)
				short := e.shortTTL()
				setAt := time.Now()
				ok, err = e.c.Expire(e.ctx, "k", short)
				if err != nil || !ok {
					e.Fatalf("Expire(k, %v) = %v, %v; want true", short, ok, err)
				}
				e.wantHitSince(e.c, "k", "v", setAt, short)
				e.waitExpired("k", short)
				ok, err = e.c.Expire(e.ctx, "absent", time.Minute)
				if err != nil || ok {
					e.Fatalf("Expire of an absent key = %v, %v; want false, nil", ok, err)
				}
				e.wantMiss(e.c, "absent")
			},
		},
		{
			name:   "Touch resets the TTL only when asked",
			clause: "Touch/access does not silently extend it unless asked.",
			run: func(e *env) {
				e.needTTL()
				e.set(e.c, "k", "v", yokedcache.WithTTL(time.Minute))
				if e.clock != nil {
					e.advance(50 * time.Second)
				}
				ok, err := e.c.Touch(e.ctx, "k")
				if err != nil || !ok {
					e.Fatalf("Touch(k) = %v, %v; want true", ok, err)
				}
				e.wantTTL(e.c, "k", 10*time.Minute) // the suite's DefaultTTL
				if e.clock != nil {
					e.advance(2 * time.Minute)
					e.wantHit(e.c, "k", "v")
				}
				ok, err = e.c.Touch(e.ctx, "k", yokedcache.WithTTL(3*time.Minute))
				if err != nil || !ok {
					e.Fatalf("Touch(k, WithTTL(3m)) = %v, %v; want true", ok, err)
				}
				e.wantTTL(e.c, "k", 3*time.Minute)
				ok, err = e.c.Touch(e.ctx, "absent")
				if err != nil || ok {
					e.Fatalf("Touch of an absent key = %v, %v; want false, nil", ok, err)
				}
				e.wantMiss(e.c, "absent")
			},
		},
		{
			name:   "reads do not extend the TTL",
			clause: "Touch/access does not silently extend it unless asked.",
			run: func(e *env) {
				ttl := e.shortTTL()
				e.set(e.c, "k", "v", yokedcache.WithTTL(ttl))
				read := func() {
					e.wantHit(e.c, "k", "v")
					if ok, err := e.c.Exists(e.ctx, "k"); err != nil || !ok {
						e.Fatalf("Exists(k) = %v, %v; want true", ok, err)
					}
					if vals, err := e.c.GetMany(e.ctx, []string{"k"}); err != nil || len(vals) != 1 {
						e.Fatalf("GetMany(k) = %d values, %v", len(vals), err)
					}
					if e.supports(FeatureTTL) {
						if _, err := e.c.TTL(e.ctx, "k"); err != nil {
							e.Fatalf("TTL(k): %v", err)
						}
					}
					if e.supports(FeatureScan) {
						e.keys(e.c, "*")
					}
				}
				if e.clock != nil {
					for range 3 {
						e.advance(ttl / 4)
						read()
					}
					e.waitExpired("k", ttl/4)
					return
				}
				// Every kind of read, every 10 ms until the entry expires: a
				// read that extended the TTL would keep it alive past the
				// deadline.
				e.waitExpiredReading("k", ttl, func() {
					if _, err := e.c.Exists(e.ctx, "k"); err != nil {
						e.Fatalf("Exists(k): %v", err)
					}
					if _, err := e.c.GetMany(e.ctx, []string{"k"}); err != nil {
						e.Fatalf("GetMany(k): %v", err)
					}
					if e.supports(FeatureTTL) {
						if _, err := e.c.TTL(e.ctx, "k"); err != nil && !errors.Is(err, yokedcache.ErrNotFound) {
							e.Fatalf("TTL(k): %v", err)
						}
					}
					if e.supports(FeatureScan) {
						e.keys(e.c, "*")
					}
				})
			},
		},
	}
}
