package yokedcache_test

import (
	"context"
	"errors"
	"testing"

	"github.com/yokedcache/yokedcache"
	"github.com/yokedcache/yokedcache/yokedcachetest"
)

// A stored value that does not decode into the caller's type (a schema
// change after a deploy) is a miss for Fetch and GetOrSet: the loader runs
// and its value replaces the entry. Plain Get keeps reporting it.
func TestFetchRepairsValueOfAnotherType(t *testing.T) {
	ctx := context.Background()
	c, _ := yokedcachetest.New(t)

	if err := c.Set(ctx, "k", map[string]int{"a": 1}); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := c.Get(ctx, "k", &n); !errors.Is(err, yokedcache.ErrCorrupt) || !errors.Is(err, yokedcache.ErrNotFound) {
		t.Fatalf("Get of a map into *int = %v; want ErrCorrupt and ErrNotFound", err)
	}
	loads := 0
	loader := func(context.Context) (int, error) { loads++; return 7, nil }
	for i := range 3 {
		v, err := yokedcache.Fetch(ctx, c, "k", loader)
		if err != nil || v != 7 {
			t.Fatalf("Fetch[int] #%d over a stored map = %v, %v; want 7", i, v, err)
		}
	}
	if loads != 1 {
		t.Fatalf("loader ran %d times; want once (then the repaired entry hits)", loads)
	}
	if v, err := yokedcache.Get[int](ctx, c, "k"); err != nil || v != 7 {
		t.Fatalf("Get[int] after the repair = %v, %v; want 7", v, err)
	}

	// GetOrSet likewise.
	if err := c.Set(ctx, "g", "text"); err != nil {
		t.Fatal(err)
	}
	gloads := 0
	gloader := func(context.Context) (any, error) { gloads++; return 9, nil }
	for i := range 3 {
		var got int
		if err := c.GetOrSet(ctx, "g", &got, gloader); err != nil || got != 9 {
			t.Fatalf("GetOrSet(*int) #%d over a stored string = %v, %v; want 9", i, got, err)
		}
	}
	if gloads != 1 {
		t.Fatalf("GetOrSet loader ran %d times; want once", gloads)
	}

	// Fetch[[]byte] over a JSON value decides as Get[[]byte] does.
	if err := c.Set(ctx, "b", []int{1, 2}); err != nil {
		t.Fatal(err)
	}
	bloads := 0
	for range 2 {
		b, err := yokedcache.Fetch(ctx, c, "b", func(context.Context) ([]byte, error) { bloads++; return []byte("raw"), nil })
		if err != nil || string(b) != "raw" {
			t.Fatalf("Fetch[[]byte] over a JSON value = %q, %v; want raw", b, err)
		}
	}
	if bloads != 1 {
		t.Fatalf("Fetch[[]byte] loader ran %d times; want once", bloads)
	}

	// A value of the right type is still served without loading.
	if err := c.Set(ctx, "ok", 3); err != nil {
		t.Fatal(err)
	}
	if v, err := yokedcache.Fetch(ctx, c, "ok", func(context.Context) (int, error) { t.Error("loader ran on a hit"); return 0, nil }); err != nil || v != 3 {
		t.Fatalf("Fetch hit = %v, %v", v, err)
	}
}
