package yokedcachetest_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/yokedcache/yokedcache"
	"github.com/yokedcache/yokedcache/yokedcachetest"
)

func TestClockTickers(t *testing.T) {
	start := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	c := yokedcachetest.NewClock(start)
	tick, stop := c.NewTicker(time.Minute)
	defer stop()
	c.Advance(59 * time.Second)
	select {
	case <-tick:
		t.Fatal("ticker fired before its period")
	default:
	}
	c.Advance(time.Second)
	select {
	case got := <-tick:
		if !got.Equal(start.Add(time.Minute)) {
			t.Fatalf("tick at %v", got)
		}
	default:
		t.Fatal("ticker did not fire after its period")
	}
	// A long jump fires once (ticks are dropped like time.Ticker) and is cheap.
	c.Advance(10 * 365 * 24 * time.Hour)
	<-tick
	c.Advance(30 * time.Second)
	select {
	case <-tick:
		t.Fatal("ticker fired off its schedule after a long jump")
	default:
	}
	c.Advance(30 * time.Second)
	select {
	case <-tick:
	default:
		t.Fatal("ticker lost its schedule after a long jump")
	}
}

func TestNewExpiresWithoutSleeping(t *testing.T) {
	ctx := context.Background()
	c, clock := yokedcachetest.New(t)
	if err := c.Set(ctx, "k", "v", yokedcache.WithTTL(time.Hour)); err != nil {
		t.Fatal(err)
	}
	clock.Advance(time.Hour - time.Nanosecond)
	if _, err := c.GetBytes(ctx, "k"); err != nil {
		t.Fatalf("entry gone before its exact TTL (jitter must be off): %v", err)
	}
	clock.Advance(time.Nanosecond)
	if _, err := c.GetBytes(ctx, "k"); !errors.Is(err, yokedcache.ErrNotFound) {
		t.Fatalf("entry alive after TTL: %v", err)
	}
}
