package redis_test

import (
	"bytes"
	"errors"
	"log/slog"
	"testing"

	"github.com/redis/rueidis"

	"github.com/yokedcache/yokedcache"
	"github.com/yokedcache/yokedcache/backend/redis"
	"github.com/yokedcache/yokedcache/internal/testserver"
)

// Signed and encrypted values on a shared Redis: a value rewritten by a
// raw client is a miss counted in Stats.Unauthenticated, and encrypted
// values hold no plain text on the server.
func TestSealedValues(t *testing.T) {
	ctx := t.Context()
	srv := testserver.SharedRedis(t)
	open := func(prefix string, cfg yokedcache.Config) *yokedcache.Cache {
		b, err := redis.New(redis.Options{Addrs: []string{srv.Addr}})
		if err != nil {
			t.Fatal(err)
		}
		cfg.Backend, cfg.KeyPrefix, cfg.Logger = b, prefix, slog.New(slog.DiscardHandler)
		c, err := yokedcache.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Flush(ctx); _ = c.Close() })
		return c
	}
	raw, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{srv.Addr}, DisableCache: true})
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()

	signed := open("sealsig", yokedcache.Config{SigningKeys: [][]byte{bytes.Repeat([]byte{7}, 32)}})
	if err := signed.Set(ctx, "k", "good", yokedcache.WithTags("t")); err != nil {
		t.Fatal(err)
	}
	if v, err := yokedcache.Get[string](ctx, signed, "k"); err != nil || v != "good" {
		t.Fatalf("signed read = %q, %v", v, err)
	}
	// A raw client plants a well-formed but unsigned value.
	plain := open("sealsig", yokedcache.Config{})
	if err := plain.Set(ctx, "planted", "evil"); err != nil {
		t.Fatal(err)
	}
	if err := raw.Do(ctx, raw.B().Set().Key("sealsig:k").Value("evil").Build()).Error(); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"k", "planted"} {
		if _, err := yokedcache.Get[string](ctx, signed, k); !errors.Is(err, yokedcache.ErrCorrupt) {
			t.Fatalf("Get(%s) of a raw write = %v; want ErrCorrupt", k, err)
		}
	}
	if st, _ := signed.Stats(ctx); st.Unauthenticated != 2 {
		t.Fatalf("Stats.Unauthenticated = %d; want 2", st.Unauthenticated)
	}

	const marker = "PLAINTEXT-MARKER-0815"
	enc := open("sealenc", yokedcache.Config{EncryptionKeys: [][]byte{bytes.Repeat([]byte{9}, 32)}})
	if err := enc.Set(ctx, "k", marker, yokedcache.WithTags("t")); err != nil {
		t.Fatal(err)
	}
	stored, err := raw.Do(ctx, raw.B().Get().Key("sealenc:k").Build()).AsBytes()
	if err != nil || bytes.Contains(stored, []byte(marker)) || len(stored) == 0 {
		t.Fatalf("stored bytes %q, %v: want ciphertext without the marker", stored, err)
	}
	if v, err := yokedcache.Get[string](ctx, enc, "k"); err != nil || v != marker {
		t.Fatalf("decrypted = %q, %v", v, err)
	}
	if n, err := enc.InvalidateTags(ctx, "t"); err != nil || n != 1 {
		t.Fatalf("InvalidateTags of an encrypted entry = %d, %v", n, err)
	}
}
