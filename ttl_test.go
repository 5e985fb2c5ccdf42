package yokedcache_test

import (
	"context"
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/yokedcache/yokedcache"
	"github.com/yokedcache/yokedcache/yokedcachetest"
)

// TTLs above MaxTTL are rejected with ErrInvalidTTL before any backend
// sees them; MaxTTL itself works. (Before: WithTTL(math.MaxInt64)
// returned nil and the entry was an immediate miss.)
func TestMaxTTL(t *testing.T) {
	ctx := context.Background()
	c, clock := yokedcachetest.New(t)
	if err := c.Set(ctx, "max", "v", yokedcache.WithTTL(yokedcache.MaxTTL)); err != nil {
		t.Fatal(err)
	}
	if d, err := c.TTL(ctx, "max"); err != nil || d != yokedcache.MaxTTL {
		t.Fatalf("TTL after Set(MaxTTL) = %v, %v", d, err)
	}
	if err := c.Set(ctx, "k", "v", yokedcache.WithTTL(time.Minute)); err != nil {
		t.Fatal(err)
	}
	for _, d := range []time.Duration{yokedcache.MaxTTL + 1, 2 * yokedcache.MaxTTL, math.MaxInt64} {
		check := func(what string, err error) {
			t.Helper()
			if !errors.Is(err, yokedcache.ErrInvalidTTL) {
				t.Errorf("%s with TTL %v = %v; want ErrInvalidTTL", what, d, err)
			}
		}
		check("Set", c.Set(ctx, "over", "v", yokedcache.WithTTL(d)))
		check("SetMany", c.SetMany(ctx, map[string]any{"over": "v"}, yokedcache.WithTTL(d)))
		_, err := yokedcache.Fetch(ctx, c, "over", func(context.Context) (string, error) { return "v", nil }, yokedcache.WithTTL(d))
		check("Fetch", err)
		var s string
		check("GetOrSet", c.GetOrSet(ctx, "over", &s, func(context.Context) (any, error) { return "v", nil }, yokedcache.WithTTL(d)))
		_, err = c.Expire(ctx, "k", d)
		check("Expire", err)
		_, err = c.Touch(ctx, "k", yokedcache.WithTTL(d))
		check("Touch", err)
	}
	if ok, _ := c.Exists(ctx, "over"); ok {
		t.Fatal("a rejected write stored a value")
	}
	if d, err := c.TTL(ctx, "k"); err != nil || d != time.Minute {
		t.Fatalf("TTL after rejected Expire/Touch = %v, %v; want 1m unchanged", d, err)
	}
	if ok, err := c.Expire(ctx, "k", yokedcache.MaxTTL); err != nil || !ok {
		t.Fatalf("Expire(k, MaxTTL) = %v, %v", ok, err)
	}
	clock.Advance(yokedcache.MaxTTL - time.Second)
	if _, err := yokedcache.Get[string](ctx, c, "max"); err != nil {
		t.Fatalf("Get a second before MaxTTL passed = %v", err)
	}
	clock.Advance(time.Second)
	if _, err := yokedcache.Get[string](ctx, c, "max"); !errors.Is(err, yokedcache.ErrNotFound) {
		t.Fatalf("Get after MaxTTL passed = %v; want ErrNotFound", err)
	}

	// Jitter never takes a TTL past MaxTTL.
	j, _ := yokedcachetest.New(t, yokedcache.Config{TTLJitterPercent: 50, Rand: func() float64 { return 0.999 }})
	if err := j.Set(ctx, "k", "v", yokedcache.WithTTL(yokedcache.MaxTTL)); err != nil {
		t.Fatal(err)
	}
	if d, err := j.TTL(ctx, "k"); err != nil || d != yokedcache.MaxTTL {
		t.Fatalf("jittered TTL of MaxTTL = %v, %v; want capped at MaxTTL", d, err)
	}

	// Configured defaults are bounded too.
	for _, cfg := range []yokedcache.Config{
		{DefaultTTL: yokedcache.MaxTTL + time.Second},
		{Routes: []yokedcache.Route{{Prefix: "user", DefaultTTL: math.MaxInt64}}},
	} {
		if c, err := yokedcache.New(cfg); !errors.Is(err, yokedcache.ErrInvalidConfig) {
			if c != nil {
				c.Close()
			}
			t.Errorf("New(%+v) = %v; want ErrInvalidConfig", cfg, err)
		}
	}
	if c, err := yokedcache.New(yokedcache.Config{DefaultTTL: yokedcache.MaxTTL}); err != nil {
		t.Errorf("New with DefaultTTL = MaxTTL: %v", err)
	} else {
		c.Close()
	}
}

func TestFromEnvDefaultTTLOverMax(t *testing.T) {
	_, err := yokedcache.FromEnvMap(func(k string) (string, bool) {
		if k == yokedcache.EnvDefaultTTL {
			return "31622400", true // 366 days
		}
		return "", false
	})
	if !errors.Is(err, yokedcache.ErrInvalidConfig) || !strings.Contains(err.Error(), yokedcache.EnvDefaultTTL) {
		t.Fatalf("YOKEDCACHE_DEFAULT_TTL=366 days: err = %v; want ErrInvalidConfig naming the variable", err)
	}
}
