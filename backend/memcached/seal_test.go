package memcached_test

import (
	"bytes"
	"errors"
	"log/slog"
	"testing"

	"github.com/bradfitz/gomemcache/memcache"

	"github.com/yokedcache/yokedcache"
	"github.com/yokedcache/yokedcache/backend/memcached"
	"github.com/yokedcache/yokedcache/internal/testserver"
)

// Signed and encrypted values on a shared memcached: a value whose bytes a
// raw client changed is a miss counted in Stats.Unauthenticated, and
// encrypted values hold no plain text on the server.
func TestSealedValues(t *testing.T) {
	ctx := t.Context()
	srv := testserver.StartMemcached(t, testserver.MemcachedOptions{})
	open := func(cfg yokedcache.Config) *yokedcache.Cache {
		b, err := memcached.New(memcached.Options{Servers: []string{srv.Addr}, Timeout: testTimeout})
		if err != nil {
			t.Fatal(err)
		}
		cfg.Backend, cfg.Logger = b, slog.New(slog.DiscardHandler)
		c, err := yokedcache.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
		return c
	}
	raw := memcache.New(srv.Addr)

	const marker = "PLAINTEXT-MARKER-0815"
	enc := open(yokedcache.Config{KeyPrefix: "sealenc", EncryptionKeys: [][]byte{bytes.Repeat([]byte{9}, 32)}})
	if err := enc.Set(ctx, "k", marker, yokedcache.WithTags("t")); err != nil {
		t.Fatal(err)
	}
	// Printable keys are stored verbatim (keys.go), so a raw client
	// finds the item under the stored key.
	it, err := raw.Get("sealenc:k")
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(it.Value, []byte(marker)) {
		t.Fatalf("the item holds the plain text: %q", it.Value)
	}
	if v, err := yokedcache.Get[string](ctx, enc, "k"); err != nil || v != marker {
		t.Fatalf("decrypted = %q, %v", v, err)
	}

	signed := open(yokedcache.Config{KeyPrefix: "sealsig", SigningKeys: [][]byte{bytes.Repeat([]byte{7}, 32)}})
	if err := signed.Set(ctx, "k", "good-value"); err != nil {
		t.Fatal(err)
	}
	if v, err := yokedcache.Get[string](ctx, signed, "k"); err != nil || v != "good-value" {
		t.Fatalf("signed read = %q, %v", v, err)
	}
	// A raw client changes one byte of the value (the item's last byte,
	// inside the signed bytes) and writes the item back as it found it
	// otherwise.
	it, err = raw.Get("sealsig:k")
	if err != nil || !bytes.Contains(it.Value, []byte("good-value")) {
		t.Fatalf("raw Get(sealsig:k) = %v, %v; want the signed item", it, err)
	}
	it.Value[len(it.Value)-1] ^= 0x20
	if err := raw.Set(it); err != nil {
		t.Fatal(err)
	}
	if _, err := yokedcache.Get[string](ctx, signed, "k"); !errors.Is(err, yokedcache.ErrCorrupt) {
		t.Fatalf("Get of a tampered value = %v; want ErrCorrupt", err)
	}
	if st, _ := signed.Stats(ctx); st.Unauthenticated != 1 {
		t.Fatalf("Stats.Unauthenticated = %d; want 1", st.Unauthenticated)
	}
}
