package memcached_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bradfitz/gomemcache/memcache"
	"go.uber.org/goleak"

	"github.com/yokedcache/yokedcache"
	"github.com/yokedcache/yokedcache/backend"
	"github.com/yokedcache/yokedcache/backend/memcached"
	"github.com/yokedcache/yokedcache/internal/testserver"
)

func TestMain(m *testing.M) {
	testserver.Main(m)
}

// uniq returns a fresh key prefix for a test on a shared server.
func uniq(t testing.TB) string {
	return fmt.Sprintf("mt%d", time.Now().UnixNano())
}

func newStore(t testing.TB, o memcached.Options) *memcached.Store {
	t.Helper()
	s, err := memcached.New(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// testTimeout is generous: the race detector on a loaded machine can
// stall a goroutine for longer than the 500 ms default.
const testTimeout = 3 * time.Second

func shared(t testing.TB) *memcached.Store {
	t.Helper()
	return newStore(t, memcached.Options{Servers: []string{testserver.SharedMemcached(t).Addr}, Timeout: testTimeout})
}

func ttl(d time.Duration) backend.SetOptions { return backend.SetOptions{TTL: d} }

func mustGet(t *testing.T, b backend.Backend, key, want string) {
	t.Helper()
	got, err := b.Get(context.Background(), key)
	if err != nil {
		t.Fatalf("Get(%q): %v; want %q", key, err, want)
	}
	if string(got) != want {
		t.Fatalf("Get(%q) = %q; want %q", key, got, want)
	}
}

func mustMiss(t *testing.T, b backend.Backend, key string) {
	t.Helper()
	got, err := b.Get(context.Background(), key)
	if !errors.Is(err, backend.ErrNotFound) {
		t.Fatalf("Get(%q) = %q, %v; want ErrNotFound", key, got, err)
	}
}

func TestKeysThatMemcachedRejects(t *testing.T) {
	ctx := context.Background()
	s := shared(t)
	p := uniq(t) + ":"
	long := strings.Repeat("x", 300)
	keys := []string{
		p + "a b", p + "a_b", p + "a~b", p + "tab\tnew\nline", p + "caf\u00e9 \u2603",
		p + long + "1", p + long + "2", p + strings.Repeat("y", 250-len(p)), p + strings.Repeat("y", 251-len(p)),
		p + strings.Repeat("\u00e9", 1024),
	}
	for i, k := range keys {
		if err := s.Set(ctx, k, []byte(fmt.Sprint("v", i)), ttl(time.Minute)); err != nil {
			t.Fatalf("Set(%q): %v", k, err)
		}
	}
	for i, k := range keys {
		mustGet(t, s, k, fmt.Sprint("v", i))
	}
	var c *memcache.Client
	if !s.As(&c) {
		t.Fatal("As(**memcache.Client) = false")
	}
	// The readable prefix of a hashed key is visible on the server.
	items, err := c.GetMulti([]string{p + "a_b"})
	if err != nil || items[p+"a_b"] == nil {
		t.Fatalf("a safe key is not stored verbatim: %v", err)
	}
}

func TestValueTooLarge(t *testing.T) {
	ctx := context.Background()
	s := shared(t)
	k := uniq(t) + ":big"
	err := s.Set(ctx, k, make([]byte, 1<<20), ttl(time.Minute))
	if !errors.Is(err, backend.ErrValueTooLarge) {
		t.Fatalf("Set of 1 MiB = %v; want ErrValueTooLarge", err)
	}
	// The largest value the check lets through is stored by the server.
	lo, hi := 1<<19, 1<<20 // lo fits, hi does not
	for hi-lo > 1 {
		mid := (lo + hi) / 2
		if err := s.Set(ctx, k, make([]byte, mid), ttl(time.Minute)); err == nil {
			lo = mid
		} else if errors.Is(err, backend.ErrValueTooLarge) {
			hi = mid
		} else {
			t.Fatal(err)
		}
	}
	v, err := s.Get(ctx, k)
	if err != nil || len(v) != lo {
		t.Fatalf("largest accepted value (%d bytes) did not round-trip: %d bytes, %v", lo, len(v), err)
	}
	t.Logf("largest value under a %d-byte key with a 1 MiB limit: %d bytes", len(k), lo)
	if lo < 1<<20-200 {
		t.Fatalf("largest value %d is far below the limit", lo)
	}
}

func TestValueTooLargeCustomItemSize(t *testing.T) {
	ctx := context.Background()
	m := testserver.StartMemcached(t, testserver.MemcachedOptions{ItemSizeMax: 2 << 20})
	s := newStore(t, memcached.Options{Servers: []string{m.Addr}, MaxItemSize: 2 << 20, Timeout: testTimeout})
	big := bytes.Repeat([]byte("z"), 3<<19) // 1.5 MiB
	if err := s.Set(ctx, "p:big", big, ttl(time.Minute)); err != nil {
		t.Fatalf("Set of 1.5 MiB with -I 2m: %v", err)
	}
	got, err := s.Get(ctx, "p:big")
	if err != nil || !bytes.Equal(got, big) {
		t.Fatalf("Get of 1.5 MiB: %d bytes, %v", len(got), err)
	}
	if err := s.Set(ctx, "p:big", make([]byte, 2<<20), ttl(time.Minute)); !errors.Is(err, backend.ErrValueTooLarge) {
		t.Fatalf("Set of 2 MiB = %v; want ErrValueTooLarge", err)
	}
	// Options above the server's real limit: the server's refusal is
	// still ErrValueTooLarge, not a silent miss.
	small := testserver.StartMemcached(t, testserver.MemcachedOptions{})
	lying := newStore(t, memcached.Options{Servers: []string{small.Addr}, MaxItemSize: 2 << 20, Timeout: testTimeout})
	if err := lying.Set(ctx, "p:big", big, ttl(time.Minute)); !errors.Is(err, backend.ErrValueTooLarge) {
		t.Fatalf("Set of 1.5 MiB on a 1 MiB server = %v; want ErrValueTooLarge", err)
	}
}

func TestTagsAcrossInstances(t *testing.T) {
	ctx := context.Background()
	addr := testserver.SharedMemcached(t).Addr
	a := newStore(t, memcached.Options{Servers: []string{addr}, Timeout: testTimeout})
	b := newStore(t, memcached.Options{Servers: []string{addr}, Timeout: testTimeout})
	p := uniq(t)
	tagU, tagV := p+":\xfftag:users", p+":\xfftag:vip"
	must(t, a.Set(ctx, p+":u1", []byte("1"), backend.SetOptions{TTL: time.Minute, Tags: []string{tagU}}))
	must(t, a.Set(ctx, p+":u2", []byte("2"), backend.SetOptions{TTL: time.Minute, Tags: []string{tagU, tagV}}))
	must(t, a.Set(ctx, p+":other", []byte("o"), backend.SetOptions{TTL: time.Minute, Tags: []string{tagV}}))
	must(t, a.Set(ctx, p+":plain", []byte("p"), ttl(time.Minute)))
	mustGet(t, b, p+":u1", "1")
	n, err := b.InvalidateTags(ctx, []string{tagU})
	must(t, err)
	if n != -1 {
		t.Fatalf("InvalidateTags = %d; want -1 (unknown)", n)
	}
	mustMiss(t, a, p+":u1")
	mustMiss(t, a, p+":u2")
	mustGet(t, a, p+":other", "o")
	mustGet(t, a, p+":plain", "p")
	// Re-setting after the invalidation works, and re-setting replaces tags.
	must(t, a.Set(ctx, p+":u1", []byte("1b"), backend.SetOptions{TTL: time.Minute, Tags: []string{tagU}}))
	must(t, a.Set(ctx, p+":other", []byte("o2"), ttl(time.Minute)))
	mustGet(t, b, p+":u1", "1b")
	_, err = a.InvalidateTags(ctx, []string{tagV})
	must(t, err)
	mustGet(t, b, p+":other", "o2")
	vals, err := b.GetMany(ctx, []string{p + ":u1", p + ":u2", p + ":other", p + ":plain", p + ":none"})
	must(t, err)
	if string(vals[0]) != "1b" || vals[1] != nil || string(vals[2]) != "o2" || string(vals[3]) != "p" || vals[4] != nil {
		t.Fatalf("GetMany = %q", vals)
	}
}

func TestSetMany(t *testing.T) {
	ctx := context.Background()
	m := []*testserver.Memcached{
		testserver.StartMemcached(t, testserver.MemcachedOptions{}),
		testserver.StartMemcached(t, testserver.MemcachedOptions{}),
	}
	s := newStore(t, memcached.Options{Servers: []string{m[0].Addr, m[1].Addr}, Timeout: testTimeout})
	p := "p"
	tag := p + ":\xfftag:t"
	var items []backend.Item
	for i := range 40 {
		it := backend.Item{Key: fmt.Sprintf("%s:k %d", p, i), Value: []byte(fmt.Sprint(i))}
		it.TTL = time.Minute
		if i%2 == 0 {
			it.Tags = []string{tag, tag}
		}
		items = append(items, it)
	}
	must(t, s.SetMany(ctx, items))
	for i, it := range items {
		mustGet(t, s, it.Key, fmt.Sprint(i))
	}
	_, err := s.InvalidateTags(ctx, []string{tag})
	must(t, err)
	for i, it := range items {
		if i%2 == 0 {
			mustMiss(t, s, it.Key)
		} else {
			mustGet(t, s, it.Key, fmt.Sprint(i))
		}
	}
	must(t, s.Flush(ctx, p+":"))
	must(t, s.SetMany(ctx, items[:4]))
	mustGet(t, s, items[0].Key, "0")
	mustMiss(t, s, items[5].Key)
	big := []backend.Item{{Key: p + ":small", Value: []byte("x")}, {Key: p + ":big", Value: make([]byte, 1<<20)}}
	big[0].TTL, big[1].TTL = time.Minute, time.Minute
	if err := s.SetMany(ctx, big); !errors.Is(err, backend.ErrValueTooLarge) {
		t.Fatalf("SetMany with a 1 MiB item = %v; want ErrValueTooLarge", err)
	}
	mustMiss(t, s, p+":small") // nothing was sent
}

// Two Caches, as two processes would have, sharing the server.
func TestTagsAcrossCaches(t *testing.T) {
	ctx := context.Background()
	addr := testserver.SharedMemcached(t).Addr
	p := uniq(t)
	mk := func() *yokedcache.Cache {
		b := newStore(t, memcached.Options{Servers: []string{addr}, Timeout: testTimeout})
		c, err := yokedcache.New(yokedcache.Config{Backend: b, KeyPrefix: p})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	c1, c2 := mk(), mk()
	must(t, c1.Set(ctx, "user:1", "alice", yokedcache.WithTags("users")))
	var got string
	must(t, c2.Get(ctx, "user:1", &got))
	if _, err := c2.InvalidateTags(ctx, "users"); err != nil {
		t.Fatal(err)
	}
	if err := c1.Get(ctx, "user:1", &got); !errors.Is(err, yokedcache.ErrNotFound) {
		t.Fatalf("c1.Get after c2.InvalidateTags = %q, %v; want ErrNotFound", got, err)
	}
	// Flush in one is seen at once by a strict reader
	// (ReadNamespaceTTL -1); TestReadNamespaceTTL covers the default
	// window.
	sb := newStore(t, memcached.Options{Servers: []string{addr}, ReadNamespaceTTL: -1, Timeout: testTimeout})
	strict, err := yokedcache.New(yokedcache.Config{Backend: sb, KeyPrefix: p})
	if err != nil {
		t.Fatal(err)
	}
	must(t, strict.Set(ctx, "k", "v"))
	must(t, strict.Get(ctx, "k", &got))
	must(t, c2.Flush(ctx))
	if err := strict.Get(ctx, "k", &got); !errors.Is(err, yokedcache.ErrNotFound) {
		t.Fatalf("strict.Get after c2.Flush = %q, %v; want ErrNotFound", got, err)
	}
}

func TestFlushNamespace(t *testing.T) {
	ctx := context.Background()
	addr := testserver.SharedMemcached(t).Addr
	// Strict readers: another Store's Flush is seen as soon as it returns.
	a := newStore(t, memcached.Options{Servers: []string{addr}, ReadNamespaceTTL: -1, Timeout: testTimeout})
	b := newStore(t, memcached.Options{Servers: []string{addr}, ReadNamespaceTTL: -1, Timeout: testTimeout})
	p, q := uniq(t)+"p", uniq(t)+"q"
	must(t, a.Set(ctx, p+":k", []byte("1"), ttl(time.Minute)))
	must(t, a.Set(ctx, p+":a b", []byte("2"), ttl(time.Minute)))
	must(t, a.Set(ctx, q+":k", []byte("3"), ttl(time.Minute)))
	must(t, b.Flush(ctx, p+":"))
	mustMiss(t, a, p+":k")
	mustMiss(t, b, p+":a b")
	mustGet(t, a, q+":k", "3")
	// After the flush, this process's Sets are visible at once, and so are
	// the other's (b flushed; a read the new version above).
	must(t, a.Set(ctx, p+":k", []byte("4"), ttl(time.Minute)))
	mustGet(t, b, p+":k", "4")
	must(t, b.Set(ctx, p+":k2", []byte("5"), ttl(time.Minute)))
	mustGet(t, a, p+":k2", "5")
	if ok, err := a.Delete(ctx, p+":k"); err != nil || !ok {
		t.Fatalf("Delete = %v, %v; want true", ok, err)
	}
	// A prefix that is not a namespace cannot be flushed.
	err := a.Flush(ctx, p+":sub:")
	if !errors.Is(err, backend.ErrUnsupported) {
		t.Fatalf("Flush of a two-segment prefix = %v; want ErrUnsupported", err)
	}
	// With NamespaceDepth 2 it can.
	d2 := newStore(t, memcached.Options{Servers: []string{addr}, NamespaceDepth: 2, Timeout: testTimeout})
	must(t, d2.Set(ctx, p+":v2:k", []byte("x"), ttl(time.Minute)))
	must(t, d2.Set(ctx, p+":v3:k", []byte("y"), ttl(time.Minute)))
	must(t, d2.Flush(ctx, p+":v2:"))
	mustMiss(t, d2, p+":v2:k")
	mustGet(t, d2, p+":v3:k", "y")
}

func TestStrictWriteNamespaceTTL(t *testing.T) {
	ctx := context.Background()
	addr := testserver.SharedMemcached(t).Addr
	a := newStore(t, memcached.Options{Servers: []string{addr}, WriteNamespaceTTL: -1, Timeout: testTimeout})
	b := newStore(t, memcached.Options{Servers: []string{addr}, Timeout: testTimeout})
	p := uniq(t)
	must(t, a.Set(ctx, p+":k", []byte("1"), ttl(time.Minute)))
	must(t, b.Flush(ctx, p+":"))
	// No read in between: a strict Store still writes under the new version.
	must(t, a.Set(ctx, p+":k", []byte("2"), ttl(time.Minute)))
	mustGet(t, b, p+":k", "2")
}

func TestReadNamespaceTTL(t *testing.T) {
	ctx := context.Background()
	addr := testserver.SharedMemcached(t).Addr
	const window = 300 * time.Millisecond
	a := newStore(t, memcached.Options{Servers: []string{addr}, ReadNamespaceTTL: window, Timeout: testTimeout})
	b := newStore(t, memcached.Options{Servers: []string{addr}, ReadNamespaceTTL: -1, Timeout: testTimeout})
	p := uniq(t)
	tag := p + ":\xfftag:t"
	must(t, a.Set(ctx, p+":k", []byte("1"), ttl(time.Minute)))
	must(t, a.Set(ctx, p+":t", []byte("2"), backend.SetOptions{TTL: time.Minute, Tags: []string{tag}}))
	mustGet(t, a, p+":k", "1")
	mustGet(t, a, p+":t", "2")
	// Tags are always checked against the current versions.
	_, err := b.InvalidateTags(ctx, []string{tag})
	must(t, err)
	mustMiss(t, a, p+":t")
	// Another process's Flush is seen once the window has passed ...
	must(t, b.Flush(ctx, p+":"))
	time.Sleep(window + 50*time.Millisecond)
	mustMiss(t, a, p+":k")
	// ... and this Store's own Flush at once.
	must(t, a.Set(ctx, p+":k", []byte("3"), ttl(time.Minute)))
	mustGet(t, a, p+":k", "3")
	mustGet(t, b, p+":k", "3")
	must(t, a.Flush(ctx, p+":"))
	mustMiss(t, a, p+":k")
	mustMiss(t, b, p+":k")
	// A value written by another Store under a newer version is found.
	must(t, b.Set(ctx, p+":k", []byte("4"), ttl(time.Minute)))
	mustGet(t, a, p+":k", "4")
}

func TestMissingVersionCounterIsAMiss(t *testing.T) {
	ctx := context.Background()
	m := testserver.StartMemcached(t, testserver.MemcachedOptions{})
	s := newStore(t, memcached.Options{Servers: []string{m.Addr}, Timeout: testTimeout})
	must(t, s.Set(ctx, "p:k", []byte("v"), ttl(time.Minute)))
	must(t, s.Set(ctx, "p:t", []byte("v"), backend.SetOptions{TTL: time.Minute, Tags: []string{"p:\xfftag:x"}}))
	mustGet(t, s, "p:k", "v")
	must(t, m.FlushAll(ctx)) // drops values and counters alike
	mustMiss(t, s, "p:k")
	// The read saw the counter gone, so the next Set creates a new one.
	must(t, s.Set(ctx, "p:k", []byte("v2"), ttl(time.Minute)))
	mustGet(t, s, "p:k", "v2")
	mustMiss(t, s, "p:t")
}

func TestTTLAndExpire(t *testing.T) {
	ctx := context.Background()
	s := shared(t)
	p := uniq(t)
	must(t, s.Set(ctx, p+":k", []byte("v"), ttl(10*time.Second)))
	d, err := s.TTL(ctx, p+":k")
	if err != nil || d <= 9*time.Second || d > 10*time.Second {
		t.Fatalf("TTL = %v, %v; want about 10s", d, err)
	}
	ok, err := s.Expire(ctx, p+":k", time.Hour)
	if err != nil || !ok {
		t.Fatalf("Expire = %v, %v", ok, err)
	}
	if d, _ := s.TTL(ctx, p+":k"); d <= 59*time.Minute {
		t.Fatalf("TTL after Expire(1h) = %v", d)
	}
	mustGet(t, s, p+":k", "v")
	ok, err = s.Expire(ctx, p+":k", backend.NoExpiry)
	if err != nil || !ok {
		t.Fatalf("Expire(NoExpiry) = %v, %v", ok, err)
	}
	if d, _ := s.TTL(ctx, p+":k"); d != backend.NoExpiry {
		t.Fatalf("TTL after Expire(NoExpiry) = %v", d)
	}
	if ok, err := s.Expire(ctx, p+":missing", time.Hour); ok || err != nil {
		t.Fatalf("Expire(missing) = %v, %v; want false", ok, err)
	}
	if _, err := s.TTL(ctx, p+":missing"); !errors.Is(err, backend.ErrNotFound) {
		t.Fatalf("TTL(missing) = %v; want ErrNotFound", err)
	}
	// Sub-second expiry is exact (the header), not memcached's seconds.
	must(t, s.Set(ctx, p+":short", []byte("v"), ttl(300*time.Millisecond)))
	mustGet(t, s, p+":short", "v")
	time.Sleep(350 * time.Millisecond)
	mustMiss(t, s, p+":short")
	if ok, _ := storeHas(ctx, s, p+":short"); ok {
		t.Fatal("Exists of an expired key = true")
	}
	// Expire shortens too.
	must(t, s.Set(ctx, p+":k3", []byte("v"), ttl(time.Hour)))
	if ok, err := s.Expire(ctx, p+":k3", 200*time.Millisecond); !ok || err != nil {
		t.Fatalf("Expire = %v, %v", ok, err)
	}
	time.Sleep(250 * time.Millisecond)
	mustMiss(t, s, p+":k3")
}

func TestDeleteExists(t *testing.T) {
	ctx := context.Background()
	s := shared(t)
	p := uniq(t)
	must(t, s.Set(ctx, p+":k", []byte("v"), ttl(time.Minute)))
	if ok, err := storeHas(ctx, s, p+":k"); !ok || err != nil {
		t.Fatalf("Exists = %v, %v", ok, err)
	}
	if ok, err := s.Delete(ctx, p+":k"); !ok || err != nil {
		t.Fatalf("Delete = %v, %v; want true", ok, err)
	}
	if ok, err := s.Delete(ctx, p+":k"); ok || err != nil {
		t.Fatalf("second Delete = %v, %v; want false", ok, err)
	}
	if ok, err := storeHas(ctx, s, p+":k"); ok || err != nil {
		t.Fatalf("Exists after Delete = %v, %v", ok, err)
	}
	keys := []string{p + ":a", p + ":b b", p + ":c", p + ":gone", p + ":a"}
	for _, k := range keys[:3] {
		must(t, s.Set(ctx, k, []byte("v"), ttl(time.Minute)))
	}
	n, err := s.DeleteMany(ctx, keys)
	if err != nil || n != 3 {
		t.Fatalf("DeleteMany = %d, %v; want 3", n, err)
	}
	for _, k := range keys {
		mustMiss(t, s, k)
	}
	if n, err := s.DeleteMany(ctx, keys); n != 0 || err != nil {
		t.Fatalf("second DeleteMany = %d, %v; want 0", n, err)
	}
}

func TestCorruptValueIsAMiss(t *testing.T) {
	ctx := context.Background()
	s := shared(t)
	p := uniq(t)
	var c *memcache.Client
	s.As(&c)
	must(t, c.Set(&memcache.Item{Key: p + ":foreign", Value: []byte("not ours")}))
	_, err := s.Get(ctx, p+":foreign")
	if !errors.Is(err, backend.ErrCorrupt) || !errors.Is(err, backend.ErrNotFound) {
		t.Fatalf("Get of a foreign value = %v; want ErrCorrupt and ErrNotFound", err)
	}
	if ok, err := s.Delete(ctx, p+":foreign"); ok || err != nil {
		t.Fatalf("Delete of a foreign value = %v, %v; want false, nil", ok, err)
	}
}

func TestStatsPingHealthAsClose(t *testing.T) {
	ctx := context.Background()
	s := shared(t)
	must(t, s.Ping(ctx))
	st, err := s.Stats(ctx, "x:")
	must(t, err)
	if st.Scope != "server" || st.Keys < 0 || st.Bytes < 0 {
		t.Fatalf("Stats = %+v", st)
	}
	h, err := s.HealthDetails(ctx)
	must(t, err)
	if h.Status != "healthy" {
		t.Fatalf("HealthDetails = %+v", h)
	}
	if s.Name() != "memcached" {
		t.Fatalf("Name = %q", s.Name())
	}
	if s.As(nil) || s.As(new(int)) {
		t.Fatal("As of nil or *int = true")
	}
	must(t, s.Close())
	if err := s.Close(); !errors.Is(err, backend.ErrClosed) {
		t.Fatalf("second Close = %v", err)
	}
	if _, err := s.Get(ctx, "x:k"); !errors.Is(err, backend.ErrClosed) {
		t.Fatalf("Get after Close = %v", err)
	}
	if err := s.Set(ctx, "x:k", []byte("v"), ttl(time.Minute)); !errors.Is(err, backend.ErrClosed) {
		t.Fatalf("Set after Close = %v", err)
	}
}

func TestCanceledContext(t *testing.T) {
	s := shared(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.Get(ctx, "x:k"); !errors.Is(err, context.Canceled) {
		t.Fatalf("Get with a canceled context = %v", err)
	}
	if err := s.Ping(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Ping with a canceled context = %v", err)
	}
}

func TestOneServerDown(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	ctx := context.Background()
	ms := []*testserver.Memcached{
		testserver.StartMemcached(t, testserver.MemcachedOptions{}),
		testserver.StartMemcached(t, testserver.MemcachedOptions{}),
		testserver.StartMemcached(t, testserver.MemcachedOptions{}),
	}
	addrs := []string{ms[0].Addr, ms[1].Addr, ms[2].Addr}
	s := newStore(t, memcached.Options{Servers: addrs, Timeout: testTimeout})
	const n = 300
	key := func(i int) string { return fmt.Sprintf("p:key:%d", i) }
	keys := make([]string, n)
	for i := range n {
		keys[i] = key(i)
		must(t, s.Set(ctx, key(i), []byte(fmt.Sprint(i)), backend.SetOptions{TTL: time.Minute, Tags: []string{"p:\xfftag:t"}}))
	}
	onServer := whereIs(t, addrs, keys)
	ms[1].Stop()
	var up, down int
	for i := range n {
		start := time.Now()
		v, err := s.Get(ctx, key(i))
		el := time.Since(start)
		if onServer[i] == 1 {
			down++
			if err == nil || errors.Is(err, backend.ErrNotFound) {
				t.Fatalf("Get(%q) on the stopped server = %q, %v; want a connection error", key(i), v, err)
			}
			if !strings.Contains(err.Error(), ms[1].Addr) {
				t.Fatalf("error %q does not name the server %s", err, ms[1].Addr)
			}
			if el > time.Second {
				t.Fatalf("Get on the stopped server took %v; a refused connection should fail at once", el)
			}
			continue
		}
		up++
		if err != nil || string(v) != fmt.Sprint(i) {
			t.Fatalf("Get(%q) on a running server = %q, %v", key(i), v, err)
		}
	}
	t.Logf("%d keys on running servers served, %d on the stopped one failed fast", up, down)
	if up == 0 || down == 0 {
		t.Fatalf("keys not spread over servers: up=%d down=%d", up, down)
	}
	// Writes to the running servers keep working; tag invalidation reaches
	// them and reports the stopped one.
	_, err := s.InvalidateTags(ctx, []string{"p:\xfftag:t"})
	if err == nil || !strings.Contains(err.Error(), ms[1].Addr) {
		t.Fatalf("InvalidateTags with a server down = %v; want an error naming it", err)
	}
	for i := range n {
		if onServer[i] != 1 {
			mustMiss(t, s, key(i))
		}
	}
	h, err := s.HealthDetails(ctx)
	must(t, err)
	if h.Status != "degraded" || len(h.Warnings) != 1 {
		t.Fatalf("HealthDetails with one server down = %+v; want degraded", h)
	}
	if err := s.Ping(ctx); err == nil || !strings.Contains(err.Error(), ms[1].Addr) {
		t.Fatalf("Ping = %v; want an error naming the stopped server", err)
	}
	st, err := s.Stats(ctx, "p:")
	if err != nil || st.Extra["unreachable"] == nil {
		t.Fatalf("Stats with one server down = %+v, %v", st, err)
	}
	// Restarted (empty), the server serves again once its breaker's
	// cool-down (1 s) has passed: until then its keys are
	// refused at once with ErrUnavailable.
	ms[1].Start()
	for i := range n {
		if onServer[i] != 1 {
			continue
		}
		deadline := time.Now().Add(6 * time.Second) // a 1 s cool-down, and CI margin
		for {
			err := s.Set(ctx, key(i), []byte("again"), ttl(time.Minute))
			if err == nil {
				break
			}
			if !errors.Is(err, backend.ErrUnavailable) || time.Now().After(deadline) {
				t.Fatalf("Set on the restarted server = %v", err)
			}
			time.Sleep(10 * time.Millisecond)
		}
		break
	}
	for i := range n {
		must(t, s.Set(ctx, key(i), []byte("again"), ttl(time.Minute)))
	}
	for i := range n {
		mustGet(t, s, key(i), "again")
	}
	must(t, s.Close())
}

// whereIs asks every server directly which of keys (verbatim) it holds.
func whereIs(t *testing.T, addrs, keys []string) []int {
	t.Helper()
	out := make([]int, len(keys))
	for i := range out {
		out[i] = -1
	}
	for si, a := range addrs {
		c := memcache.New(a)
		items, err := c.GetMulti(keys)
		_ = c.Close()
		must(t, err)
		for i, k := range keys {
			if items[k] != nil {
				if out[i] != -1 {
					t.Fatalf("key %q on two servers", k)
				}
				out[i] = si
			}
		}
	}
	for i, k := range keys {
		if out[i] == -1 {
			t.Fatalf("key %q on no server", k)
		}
	}
	return out
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// blackHole accepts connections and never answers, like a hung server or
// a dropped network path.
func blackHole(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
	})
	return ln.Addr().String()
}

func TestHungServerIsBoundedByTimeout(t *testing.T) {
	ctx := context.Background()
	good := testserver.StartMemcached(t, testserver.MemcachedOptions{})
	hung := blackHole(t)
	const timeout = time.Second
	s := newStore(t, memcached.Options{Servers: []string{good.Addr, hung}, Timeout: timeout})
	var served, failed int
	for i := 0; i < 40 && (served == 0 || failed < 2); i++ {
		k := fmt.Sprintf("p:k%d", i)
		start := time.Now()
		err := s.Set(ctx, k, []byte("v"), ttl(time.Minute))
		el := time.Since(start)
		if err == nil {
			served++
			mustGet(t, s, k, "v")
			continue
		}
		failed++
		if !errors.Is(err, os.ErrDeadlineExceeded) || !strings.Contains(err.Error(), hung) {
			t.Fatalf("Set on the hung server = %v; want a deadline error naming %s", err, hung)
		}
		// One network step times out; a retried stale connection never
		// applies to a timeout.
		if el > 2*timeout+time.Second {
			t.Fatalf("Set on the hung server took %v; want about the timeout %v", el, timeout)
		}
	}
	if served == 0 || failed == 0 {
		t.Fatalf("served %d, failed %d: keys not spread over both servers", served, failed)
	}
	h, err := s.HealthDetails(ctx)
	must(t, err)
	if h.Status != "degraded" {
		t.Fatalf("HealthDetails = %+v; want degraded", h)
	}
}

// TestConcurrentUse runs Sets, Gets, tag invalidations and flushes from
// two Stores at once (for the race detector), and checks the ordering
// rule: a Set that completed before InvalidateTags started is invalidated.
func TestConcurrentUse(t *testing.T) {
	ctx := context.Background()
	addr := testserver.SharedMemcached(t).Addr
	a := newStore(t, memcached.Options{Servers: []string{addr}, Timeout: testTimeout})
	b := newStore(t, memcached.Options{Servers: []string{addr}, Timeout: testTimeout})
	p := uniq(t)
	tag := p + ":\xfftag:t"
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for w := range 4 {
		wg.Go(func() {
			s := a
			if w%2 == 1 {
				s = b
			}
			for i := range 100 {
				k := fmt.Sprintf("%s:w%d:%d", p, w, i%7)
				var err error
				switch i % 5 {
				case 0, 1:
					err = s.Set(ctx, k, []byte("v"), backend.SetOptions{TTL: time.Minute, Tags: []string{tag}})
				case 2:
					_, err = s.Get(ctx, k)
					if errors.Is(err, backend.ErrNotFound) {
						err = nil
					}
				case 3:
					_, err = s.InvalidateTags(ctx, []string{tag})
				case 4:
					_, err = s.GetMany(ctx, []string{k, p + ":none"})
				}
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for i := range 50 {
		k := fmt.Sprintf("%s:order:%d", p, i)
		must(t, a.Set(ctx, k, []byte("v"), backend.SetOptions{TTL: time.Minute, Tags: []string{tag}}))
		_, err := b.InvalidateTags(ctx, []string{tag})
		must(t, err)
		mustMiss(t, a, k)
		mustMiss(t, b, k)
	}
}

// A Set or read that fetched the namespace version before this Store's
// own Flush, and finishes after it, must not make the Store remember the
// pre-flush version: reads right after Flush returns would accept the
// flushed entries.
func TestOwnFlushIsSeenDespiteConcurrentSets(t *testing.T) {
	for _, o := range []memcached.Options{{}, {WriteNamespaceTTL: -1}} {
		t.Run(fmt.Sprintf("WriteNamespaceTTL=%v", o.WriteNamespaceTTL), func(t *testing.T) {
			ctx := context.Background()
			o.Servers, o.Timeout = []string{testserver.SharedMemcached(t).Addr}, testTimeout
			s := newStore(t, o)
			ns := uniq(t) + ":"
			stale := 0
			for round := range 150 {
				old := fmt.Sprintf("%sold%d", ns, round)
				must(t, s.Set(ctx, old, []byte("v"), ttl(time.Minute)))
				var stop atomic.Bool
				var wg sync.WaitGroup
				for g := range 4 {
					wg.Go(func() {
						for i := 0; !stop.Load(); i++ {
							k := fmt.Sprintf("%sbg%d_%d", ns, g, i%5)
							_ = s.Set(ctx, k, []byte("x"), ttl(time.Minute))
							_, _ = s.Get(ctx, k)
						}
					})
				}
				time.Sleep(time.Millisecond)
				err := s.Flush(ctx, ns)
				stop.Store(true)
				wg.Wait()
				must(t, err)
				if v, err := s.Get(ctx, old); err == nil {
					stale++
					t.Logf("round %d: %q read as %q after this Store's Flush returned", round, old, v)
				} else if !errors.Is(err, backend.ErrNotFound) {
					t.Fatal(err)
				}
			}
			if stale > 0 {
				t.Fatalf("%d/150 rounds: a flushed entry was a hit right after this Store's own Flush", stale)
			}
		})
	}
}

// SetMany and DeleteMany work server by server: one server down fails
// only its own part, named in the error.
func TestBatchesWithOneServerDown(t *testing.T) {
	ctx := context.Background()
	ms := []*testserver.Memcached{
		testserver.StartMemcached(t, testserver.MemcachedOptions{}),
		testserver.StartMemcached(t, testserver.MemcachedOptions{}),
	}
	addrs := []string{ms[0].Addr, ms[1].Addr}
	s := newStore(t, memcached.Options{Servers: addrs, Timeout: testTimeout})
	const tag = "p:\xfftag:t"
	var keys []string
	var items []backend.Item
	for i := range 40 {
		k := fmt.Sprintf("p:k%d", i)
		keys = append(keys, k)
		o := ttl(time.Minute)
		if i%2 == 0 {
			o.Tags = []string{tag}
		}
		items = append(items, backend.Item{Key: k, Value: []byte("v1"), SetOptions: o})
	}
	must(t, s.SetMany(ctx, items))
	where := whereIs(t, addrs, keys)
	live := 0
	for _, w := range where {
		if w == 0 {
			live++
		}
	}
	if live == 0 || live == len(keys) {
		t.Fatalf("keys not spread over the servers: %d of %d on server 0", live, len(keys))
	}
	ms[1].Stop()
	// Twice: the first failure also drops the remembered namespace
	// versions, so the second SetMany must read them per server.
	for round, v := range []string{"v2", "v3"} {
		for i := range items {
			items[i].Value = []byte(v)
		}
		err := s.SetMany(ctx, items)
		if err == nil || !strings.Contains(err.Error(), ms[1].Addr) {
			t.Fatalf("SetMany %d with a server down = %v; want an error naming %s", round, err, ms[1].Addr)
		}
		if strings.Contains(err.Error(), ms[0].Addr) {
			t.Fatalf("SetMany %d: error %q names the running server", round, err)
		}
		for i, k := range keys {
			if where[i] == 0 {
				mustGet(t, s, k, v)
			}
		}
	}
	if _, err := s.GetMany(ctx, keys); err == nil || !strings.Contains(err.Error(), ms[1].Addr) {
		t.Fatalf("GetMany with a server down = %v; want an error naming %s", err, ms[1].Addr)
	}
	n, err := s.DeleteMany(ctx, keys)
	if err == nil || !strings.Contains(err.Error(), ms[1].Addr) {
		t.Fatalf("DeleteMany with a server down = %d, %v; want an error naming %s", n, err, ms[1].Addr)
	}
	if n != int64(live) {
		t.Fatalf("DeleteMany with a server down removed %d live entries; want the %d on the running server", n, live)
	}
	for i, k := range keys {
		if where[i] == 0 {
			mustMiss(t, s, k)
		}
	}
}

// A TTL beyond memcached's latest expiration (2038) is clamped to it, and
// TTL reports the clamped time: never an overflow into an immediate miss.
func TestHugeTTLIsClamped(t *testing.T) {
	ctx := context.Background()
	s := shared(t)
	p := uniq(t)
	// Millisecond rounding and the time between the calls: a second of
	// slack above, a minute below.
	limit := time.Until(time.Unix(math.MaxInt32-1, 0)) + time.Second
	for i, d := range []time.Duration{math.MaxInt64, 250 * 365 * 24 * time.Hour} {
		k := fmt.Sprintf("%s:k%d", p, i)
		must(t, s.Set(ctx, k, []byte("v"), ttl(d)))
		mustGet(t, s, k, "v")
		got, err := s.TTL(ctx, k)
		if err != nil || got > limit || got < limit-time.Minute {
			t.Fatalf("TTL after Set with TTL %v = %v, %v; want about %v (memcached's limit)", d, got, err, limit)
		}
		must(t, s.Set(ctx, k, []byte("v"), ttl(time.Minute)))
		if ok, err := s.Expire(ctx, k, d); !ok || err != nil {
			t.Fatalf("Expire(%v) = %v, %v", d, ok, err)
		}
		mustGet(t, s, k, "v")
		if got, err := s.TTL(ctx, k); err != nil || got > limit || got < limit-time.Minute {
			t.Fatalf("TTL after Expire(%v) = %v, %v; want about %v", d, got, err, limit)
		}
	}
}

// storeHas reports whether b holds a live value under the stored key
// (what a removed Exists method used to answer), by reading it.
func storeHas(ctx context.Context, b backend.Backend, key string) (bool, error) {
	_, err := b.Get(ctx, key)
	if errors.Is(err, backend.ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}
