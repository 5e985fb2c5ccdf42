package memcached_test

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/bradfitz/gomemcache/memcache"

	"github.com/yokedcache/yokedcache"
	"github.com/yokedcache/yokedcache/backend/memcached"
	"github.com/yokedcache/yokedcache/internal/testserver"
)

// serverKeys lists the keys a memcached server holds (lru_crawler
// metadump), the way an operator's tool would find them.
func serverKeys(t *testing.T, addr string) []string {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := fmt.Fprintf(conn, "lru_crawler metadump all\r\n"); err != nil {
		t.Fatal(err)
	}
	var keys []string
	sc := bufio.NewScanner(conn)
	for sc.Scan() {
		line := sc.Text()
		if line == "END" {
			return keys
		}
		if strings.HasPrefix(line, "ERROR") || strings.HasPrefix(line, "BUSY") {
			t.Fatalf("metadump: %s", line)
		}
		f := strings.Fields(line)
		if len(f) > 0 && strings.HasPrefix(f[0], "key=") {
			k, err := url.QueryUnescape(strings.TrimPrefix(f[0], "key="))
			if err != nil {
				t.Fatal(err)
			}
			keys = append(keys, k)
		}
	}
	t.Fatalf("metadump: %v", sc.Err())
	return nil
}

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
	for _, k := range serverKeys(t, srv.Addr) {
		it, err := raw.Get(k)
		if err != nil {
			continue
		}
		if bytes.Contains(it.Value, []byte(marker)) {
			t.Fatalf("item %q holds the plain text", k)
		}
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
	tampered := 0
	for _, k := range serverKeys(t, srv.Addr) {
		it, err := raw.Get(k)
		if err != nil || !bytes.Contains(it.Value, []byte("good-value")) {
			continue
		}
		it.Value[len(it.Value)-1] ^= 0x20
		if err := raw.Set(it); err != nil {
			t.Fatal(err)
		}
		tampered++
	}
	if tampered != 1 {
		t.Fatalf("found %d items holding the signed value; want 1", tampered)
	}
	if _, err := yokedcache.Get[string](ctx, signed, "k"); !errors.Is(err, yokedcache.ErrCorrupt) {
		t.Fatalf("Get of a tampered value = %v; want ErrCorrupt", err)
	}
	if st, _ := signed.Stats(ctx); st.Unauthenticated != 1 {
		t.Fatalf("Stats.Unauthenticated = %d; want 1", st.Unauthenticated)
	}
}
