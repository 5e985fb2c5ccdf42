package yokedcache_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/yokedcache/yokedcache"
	"github.com/yokedcache/yokedcache/backend"
	"github.com/yokedcache/yokedcache/backend/disk"
	"github.com/yokedcache/yokedcache/backend/memory"
	"github.com/yokedcache/yokedcache/backend/sqlite"
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

func sealKey(b byte, n int) []byte { return bytes.Repeat([]byte{b}, n) }

// Signed values: a value rewritten by a raw client, moved to another key,
// or signed with an unknown key is a miss matching ErrCorrupt, counted in
// Stats.Unauthenticated; the old key keeps verifying during a rotation.
func TestSigningKeys(t *testing.T) {
	ctx := context.Background()
	store, err := memory.New(memory.Options{CleanupInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	k1, k2 := sealKey(1, 32), sealKey(2, 16)
	newCache := func(keys ...[]byte) *yokedcache.Cache {
		c, err := yokedcache.New(yokedcache.Config{Backend: nopClose{store}, SigningKeys: keys, Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
		return c
	}
	old := newCache(k1)
	if err := old.Set(ctx, "a", "value-a"); err != nil {
		t.Fatal(err)
	}
	if err := old.Set(ctx, "user", user{ID: 7, Name: "Ann"}); err != nil {
		t.Fatal(err)
	}
	// Rotation: the new key signs, the old one still verifies.
	rotated := newCache(k2, k1)
	if v, err := yokedcache.Get[string](ctx, rotated, "a"); err != nil || v != "value-a" {
		t.Fatalf("rotated read of an old value = %q, %v", v, err)
	}
	if u, err := yokedcache.Get[user](ctx, rotated, "user"); err != nil || u.Name != "Ann" {
		t.Fatalf("rotated typed read = %+v, %v", u, err)
	}
	if err := rotated.Set(ctx, "b", "value-b"); err != nil {
		t.Fatal(err)
	}
	// A process that only has the old key cannot verify the new value.
	if _, err := yokedcache.Get[string](ctx, old, "b"); !errors.Is(err, yokedcache.ErrCorrupt) || !errors.Is(err, yokedcache.ErrNotFound) {
		t.Fatalf("value signed with an unknown key = %v; want a corrupt miss", err)
	}
	// Bytes moved to another key do not verify.
	raw, _ := store.Get(ctx, "yokedcache:a")
	_ = store.Set(ctx, "yokedcache:moved", raw, backend.SetOptions{TTL: time.Minute})
	if _, err := yokedcache.Get[string](ctx, rotated, "moved"); !errors.Is(err, yokedcache.ErrCorrupt) {
		t.Fatalf("value moved to another key = %v; want ErrCorrupt", err)
	}
	// An unsigned value (a raw client, or a process without keys) is a miss.
	plain := newCache()
	if err := plain.Set(ctx, "unsigned", "v"); err != nil {
		t.Fatal(err)
	}
	if _, err := yokedcache.Get[string](ctx, rotated, "unsigned"); !errors.Is(err, yokedcache.ErrCorrupt) {
		t.Fatalf("unsigned value = %v; want ErrCorrupt", err)
	}
	// A flipped byte in a signed value is a miss.
	raw, _ = store.Get(ctx, "yokedcache:b")
	flipped := append([]byte(nil), raw...)
	flipped[len(flipped)/2] ^= 0x40
	_ = store.Set(ctx, "yokedcache:b", flipped, backend.SetOptions{TTL: time.Minute})
	if _, err := yokedcache.Get[string](ctx, rotated, "b"); !errors.Is(err, yokedcache.ErrCorrupt) {
		t.Fatalf("tampered value = %v; want ErrCorrupt", err)
	}
	if st, _ := rotated.Stats(ctx); st.Unauthenticated != 3 || st.Corrupt < 3 {
		t.Fatalf("Stats.Unauthenticated = %d (Corrupt %d); want 3", st.Unauthenticated, st.Corrupt)
	}
	// Fetch reloads over a value that does not verify.
	v, err := yokedcache.Fetch(ctx, rotated, "unsigned", func(context.Context) (string, error) { return "reloaded", nil })
	if err != nil || v != "reloaded" {
		t.Fatalf("Fetch over an unsigned value = %q, %v", v, err)
	}
	if v, err := yokedcache.Get[string](ctx, rotated, "unsigned"); err != nil || v != "reloaded" {
		t.Fatalf("after Fetch = %q, %v", v, err)
	}
}

// Encrypted values are not readable in the store; a wrong key is a
// counted miss; key checks reject bad keys without printing them.
func TestEncryptionKeys(t *testing.T) {
	ctx := context.Background()
	store, err := memory.New(memory.Options{CleanupInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	enc := func(keys ...[]byte) *yokedcache.Cache {
		c, err := yokedcache.New(yokedcache.Config{Backend: nopClose{store}, EncryptionKeys: keys, KeepDecoded: true, Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
		return c
	}
	c := enc(sealKey(3, 32))
	const marker = "PLAINTEXT-MARKER-4711"
	if err := c.Set(ctx, "secret", map[string]string{"note": marker}, yokedcache.WithTags("t")); err != nil {
		t.Fatal(err)
	}
	raw, _ := store.Get(ctx, "yokedcache:secret")
	if bytes.Contains(raw, []byte(marker)) {
		t.Fatal("the stored bytes contain the plain text")
	}
	for range 2 {
		if m, err := yokedcache.Get[map[string]string](ctx, c, "secret"); err != nil || m["note"] != marker {
			t.Fatalf("decrypted read = %v, %v", m, err)
		}
	}
	if n, err := c.InvalidateTags(ctx, "t"); err != nil || n != 1 {
		t.Fatalf("InvalidateTags on an encrypted value = %d, %v", n, err)
	}
	if err := c.Set(ctx, "secret", marker); err != nil {
		t.Fatal(err)
	}
	other := enc(sealKey(4, 32))
	if _, err := yokedcache.Get[string](ctx, other, "secret"); !errors.Is(err, yokedcache.ErrCorrupt) {
		t.Fatalf("wrong key = %v; want ErrCorrupt", err)
	}
	if st, _ := other.Stats(ctx); st.Unauthenticated != 1 {
		t.Fatalf("Stats.Unauthenticated = %d; want 1", st.Unauthenticated)
	}
	// Key rotation: the new key first, the old one still decrypts.
	rotated := enc(sealKey(5, 32), sealKey(3, 32))
	if v, err := yokedcache.Get[string](ctx, rotated, "secret"); err != nil || v != marker {
		t.Fatalf("rotated = %q, %v", v, err)
	}
	// Bad keys: a clear error that never shows the key.
	for name, cfg := range map[string]yokedcache.Config{
		"short signing key":    {SigningKeys: [][]byte{[]byte("SECRETKEY")}},
		"16-byte AES key":      {EncryptionKeys: [][]byte{[]byte("SECRETKEY-SECRET")}},
		"the same key twice":   {SigningKeys: [][]byte{sealKey(9, 32), sealKey(9, 32)}},
		"encryption key twice": {EncryptionKeys: [][]byte{sealKey(8, 32), sealKey(8, 32)}},
	} {
		_, err := yokedcache.New(cfg)
		if !errors.Is(err, yokedcache.ErrInvalidConfig) || strings.Contains(err.Error(), "SECRET") {
			t.Errorf("%s: New = %v; want ErrInvalidConfig without the key", name, err)
		}
	}
}

// Keys come from the environment and files as base64 and are never
// printed.
func TestKeyConfigNeverPrinted(t *testing.T) {
	b64 := "c2VjcmV0LXNpZ25pbmcta2V5LTAxMjM0NTY3ODk=" // "secret-signing-key-0123456789"
	cfg, err := yokedcache.FromEnvMap(func(k string) (string, bool) {
		if k == "YOKEDCACHE_SIGNING_KEYS" {
			return b64 + ", " + b64[:len(b64)-1], true
		}
		return "", false
	})
	if err != nil || len(cfg.SigningKeys) != 2 || string(cfg.SigningKeys[0]) != "secret-signing-key-0123456789" {
		t.Fatalf("FromEnv = %q, %v", cfg.SigningKeys, err)
	}
	out := cfg.String() + fmt.Sprintf("%+v", cfg.Redacted())
	if strings.Contains(out, "secret-signing") || strings.Contains(out, b64) {
		t.Fatalf("a key is printed: %s", out)
	}
	_, err = yokedcache.FromEnvMap(func(k string) (string, bool) {
		if k == "YOKEDCACHE_ENCRYPTION_KEYS" {
			return "not*base64*secretvalue", true
		}
		return "", false
	})
	if !errors.Is(err, yokedcache.ErrInvalidConfig) || strings.Contains(err.Error(), "secretvalue") {
		t.Fatalf("bad key = %v", err)
	}
}

// nopClose shares one store between several Caches of a test: closing a
// Cache leaves the store open.
type nopClose struct{ *memory.Store }

func (nopClose) Close() error { return nil }

type user struct {
	ID   int    `json:"id"`
	Name string `json:"name"`
}

// Encrypted values leave no plain text in the files of the persistent
// backends.
func TestEncryptedFilesHoldNoPlaintext(t *testing.T) {
	ctx := context.Background()
	const marker = "PLAINTEXT-MARKER-1234"
	dir := t.TempDir()
	sq, err := sqlite.New(sqlite.Options{Path: filepath.Join(dir, "cache.db")})
	if err != nil {
		t.Fatal(err)
	}
	dk, err := disk.New(disk.Options{Directory: filepath.Join(dir, "disk")})
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range []backend.Backend{sq, dk} {
		c, err := yokedcache.New(yokedcache.Config{Backend: b, EncryptionKeys: [][]byte{sealKey(6, 32)}})
		if err != nil {
			t.Fatal(err)
		}
		for i := range 50 {
			if err := c.Set(ctx, fmt.Sprint("k", i), marker+fmt.Sprint(i)); err != nil {
				t.Fatal(err)
			}
		}
		if v, err := yokedcache.Get[string](ctx, c, "k7"); err != nil || v != marker+"7" {
			t.Fatalf("%s: read = %q, %v", c.Backend(), v, err)
		}
		if err := c.Close(); err != nil {
			t.Fatal(err)
		}
	}
	err = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if bytes.Contains(data, []byte(marker)) {
			t.Errorf("%s holds the plain text", path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// Open takes the keys as URL parameters and never prints them.
func TestOpenWithKeys(t *testing.T) {
	ctx := context.Background()
	k := "c2VjcmV0LXNpZ25pbmcta2V5LTAxMjM0NTY3ODk"
	c, err := yokedcache.Open(ctx, "mem://?signing_keys="+k)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Set(ctx, "a", "b"); err != nil {
		t.Fatal(err)
	}
	if v, err := yokedcache.Get[string](ctx, c, "a"); err != nil || v != "b" {
		t.Fatalf("Get = %q, %v", v, err)
	}
	_, err = yokedcache.Open(ctx, "mem://?encryption_keys=c2VjcmV0LXNpZ25pbmcta2V5")
	if !errors.Is(err, yokedcache.ErrInvalidConfig) || strings.Contains(err.Error(), "c2VjcmV0") {
		t.Fatalf("Open with a 15-byte key = %v; want ErrInvalidConfig without the key", err)
	}
}
