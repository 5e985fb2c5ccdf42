package yokedcache_test

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/yokedcache/yokedcache"
	"github.com/yokedcache/yokedcache/backend"
	"github.com/yokedcache/yokedcache/backend/memory"
	"github.com/yokedcache/yokedcache/codec"
)

// onlyBackend hides every optional interface of the wrapped backend
// (backend.Exister among them).
type onlyBackend struct{ backend.Backend }

// Exists agrees with Get on bytes that do not decode, whether or not the
// backend implements backend.Exister (before, the memory backend's Exister
// said true while Get said not found).
func TestExistsAgreesWithGetOnUndecodableBytes(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		wrap func(*memory.Store) backend.Backend
	}{
		{"exister", func(s *memory.Store) backend.Backend { return s }},
		{"get only", func(s *memory.Store) backend.Backend { return onlyBackend{s} }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, err := memory.New(memory.Options{CleanupInterval: -1})
			if err != nil {
				t.Fatal(err)
			}
			if _, ok := tc.wrap(st).(backend.Exister); ok != (tc.name == "exister") {
				t.Fatalf("test setup: Exister = %v", ok)
			}
			c, err := yokedcache.New(yokedcache.Config{Backend: tc.wrap(st)})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if err := c.Set(ctx, "good", map[string]int{"a": 1}); err != nil {
				t.Fatal(err)
			}
			raw, err := st.Get(ctx, "yokedcache:good")
			if err != nil {
				t.Fatal(err)
			}
			flipped := bytes.Clone(raw)
			flipped[len(flipped)-1] ^= 0x20
			unknown, err := codec.Encode(200, []byte("x"), nil, codec.EncodeOptions{Threshold: -1})
			if err != nil {
				t.Fatal(err)
			}
			for k, v := range map[string][]byte{"flipped": flipped, "garbage": []byte("not an envelope"), "unknown-codec": unknown} {
				if err := st.Set(ctx, "yokedcache:"+k, v, backend.SetOptions{TTL: time.Minute}); err != nil {
					t.Fatal(err)
				}
			}
			for _, k := range []string{"good", "flipped", "garbage", "unknown-codec", "absent"} {
				var v any
				getErr := c.Get(ctx, k, &v)
				ok, err := c.Exists(ctx, k)
				if err != nil {
					t.Fatalf("Exists(%q): %v", k, err)
				}
				if hit := getErr == nil; ok != hit {
					t.Errorf("Exists(%q) = %v but Get = %v", k, ok, getErr)
				}
				if k != "good" && !errors.Is(getErr, yokedcache.ErrNotFound) {
					t.Errorf("Get(%q) = %v; want ErrNotFound", k, getErr)
				}
			}
			// Each undecodable entry was counted once by Get and once by Exists.
			if s, _ := c.Stats(ctx); s.Corrupt != 6 {
				t.Errorf("Stats.Corrupt = %d; want 6", s.Corrupt)
			}
		})
	}
}
