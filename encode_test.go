package yokedcache_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"testing"

	"github.com/yokedcache/yokedcache"
	"github.com/yokedcache/yokedcache/yokedcachetest"
)

// A destination that is not a non-nil pointer is a programming error:
// ErrInvalidValue, never a panic and never a corrupt miss.
func TestGetInvalidDestination(t *testing.T) {
	ctx := context.Background()
	var logs bytes.Buffer
	c, _ := yokedcachetest.New(t, yokedcache.Config{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err := c.Set(ctx, "s", "hi"); err != nil {
		t.Fatal(err)
	}
	if err := c.Set(ctx, "j", 5); err != nil {
		t.Fatal(err)
	}
	var (
		nilString *string
		nilInt    *int
		nilBytes  *[]byte
		nilAny    *any
		i         int
	)
	dsts := map[string]any{
		"untyped nil": nil,
		"nil *string": nilString,
		"nil *int":    nilInt,
		"nil *[]byte": nilBytes,
		"nil *any":    nilAny,
		"int":         i,
		"string":      "x",
		"struct":      struct{ A int }{},
		"map":         map[string]int{},
	}
	for name, dst := range dsts {
		for _, key := range []string{"s", "j", "absent"} {
			err := c.Get(ctx, key, dst)
			if !errors.Is(err, yokedcache.ErrInvalidValue) {
				t.Errorf("Get(%q) into %s = %v; want ErrInvalidValue", key, name, err)
			}
			if errors.Is(err, yokedcache.ErrCorrupt) || errors.Is(err, yokedcache.ErrNotFound) {
				t.Errorf("Get(%q) into %s = %v; must not look like a corrupt value or a miss", key, name, err)
			}
			var ye *yokedcache.Error
			if !errors.As(err, &ye) || ye.Op != "get" || ye.Key != key {
				t.Errorf("Get(%q) into %s = %v; want a *yokedcache.Error for get %q", key, name, err, key)
			}
		}
		loads := 0
		err := c.GetOrSet(ctx, "absent", dst, func(context.Context) (any, error) { loads++; return 1, nil })
		if !errors.Is(err, yokedcache.ErrInvalidValue) || loads != 0 {
			t.Errorf("GetOrSet into %s = %v after %d loads; want ErrInvalidValue without loading", name, err, loads)
		}
	}
	vals, err := c.GetMany(ctx, []string{"s", "j"})
	if err != nil || len(vals) != 2 {
		t.Fatalf("GetMany = %d values, %v", len(vals), err)
	}
	for name, dst := range dsts {
		for k, v := range vals {
			err := v.Decode(dst)
			if !errors.Is(err, yokedcache.ErrInvalidValue) || errors.Is(err, yokedcache.ErrCorrupt) || errors.Is(err, yokedcache.ErrNotFound) {
				t.Errorf("Value(%q).Decode into %s = %v; want only ErrInvalidValue", k, name, err)
			}
		}
	}
	st, err := c.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Corrupt != 0 || st.Misses != 0 || st.Hits != 2 {
		t.Errorf("after invalid destinations: corrupt=%d misses=%d hits=%d; want 0, 0, 2 (the GetMany)", st.Corrupt, st.Misses, st.Hits)
	}
	if logs.Len() != 0 {
		t.Errorf("invalid destinations were logged:\n%s", logs.String())
	}
	// Valid pointers still work.
	var s string
	var n int
	if err := c.Get(ctx, "s", &s); err != nil || s != "hi" {
		t.Fatalf("Get(s, &s) = %q, %v", s, err)
	}
	if err := c.Get(ctx, "j", &n); err != nil || n != 5 {
		t.Fatalf("Get(j, &n) = %d, %v", n, err)
	}
}
