package yokedcache_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/yokedcache/yokedcache"
	"github.com/yokedcache/yokedcache/backend"
	"github.com/yokedcache/yokedcache/backend/memory"
	"github.com/yokedcache/yokedcache/codec"
	"github.com/yokedcache/yokedcache/internal/envelope"
	"github.com/yokedcache/yokedcache/yokedcachetest"
)

func TestConfigValidation(t *testing.T) {
	bad := []yokedcache.Config{
		{KeyPrefix: "app:"},
		{KeyPrefix: "\xff"},
		{DefaultTTL: -time.Second},
		{TTLJitterPercent: 70},
		{TTLJitterPercent: -5},
		{Memory: memory.Options{MaxSize: -3}},
		{MaxValueSize: -1},
		{Compression: 9},
		{URL: "mem://", RedisURL: "redis://localhost"},
		{URL: "nosuch://x"},
		{URL: "::not a url"},
		{RedisURL: "mem://"},
		{URL: "mem://?bogus=1"},
		{LoaderTimeout: -1},
	}
	for _, cfg := range bad {
		c, err := yokedcache.New(cfg)
		if err == nil {
			c.Close()
			t.Errorf("New(%+v) succeeded; want ErrInvalidConfig", cfg)
			continue
		}
		if !errors.Is(err, yokedcache.ErrInvalidConfig) {
			t.Errorf("New(%+v) = %v; want ErrInvalidConfig", cfg, err)
		}
	}
}

func TestURLPasswordNotInErrors(t *testing.T) {
	_, err := yokedcache.New(yokedcache.Config{URL: "nosuch://user:s3cret@host/"})
	if err == nil || strings.Contains(err.Error(), "s3cret") {
		t.Fatalf("error %v leaks the password or is nil", err)
	}
}

func TestBadInputTypedErrors(t *testing.T) {
	ctx := context.Background()
	c, _ := yokedcachetest.New(t)
	long := strings.Repeat("k", yokedcache.MaxKeyLength+1)
	for _, tc := range []struct {
		name string
		err  error
		want error
	}{
		{"empty key", c.Set(ctx, "", 1), yokedcache.ErrInvalidKey},
		{"invalid utf8", c.Set(ctx, "a\xffb", 1), yokedcache.ErrInvalidKey},
		{"oversize key", c.Set(ctx, long, 1), yokedcache.ErrInvalidKey},
		{"get empty key", c.Get(ctx, "", new(int)), yokedcache.ErrInvalidKey},
		{"unencodable chan", c.Set(ctx, "k", make(chan int)), yokedcache.ErrInvalidValue},
		{"unencodable func", c.Set(ctx, "k", func() {}), yokedcache.ErrInvalidValue},
		{"negative ttl", c.Set(ctx, "k", 1, yokedcache.WithTTL(-time.Second)), yokedcache.ErrInvalidTTL},
		{"empty tag", c.Set(ctx, "k", 1, yokedcache.WithTags("")), yokedcache.ErrInvalidValue},
	} {
		if !errors.Is(tc.err, tc.want) {
			t.Errorf("%s: got %v, want %v", tc.name, tc.err, tc.want)
		}
		var ye *yokedcache.Error
		if !errors.As(tc.err, &ye) || ye.Op == "" {
			t.Errorf("%s: %v is not a *yokedcache.Error with an Op", tc.name, tc.err)
		}
	}
	// Nothing was written by the failed calls.
	if ok, _ := c.Exists(ctx, "k"); ok {
		t.Fatal("a rejected Set wrote a value")
	}
}

func TestCorruptStoredBytes(t *testing.T) {
	ctx := context.Background()
	st, err := memory.New(memory.Options{CleanupInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	c, err := yokedcache.New(yokedcache.Config{Backend: st})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Set(ctx, "k", map[string]int{"a": 1}); err != nil {
		t.Fatal(err)
	}
	raw, _ := st.Get(ctx, "yokedcache:k")
	bad := bytes.Clone(raw)
	bad[len(bad)-1] ^= 0x20
	st.Set(ctx, "yokedcache:k", bad, backend.SetOptions{TTL: time.Minute})
	var v map[string]int
	err = c.Get(ctx, "k", &v)
	if !errors.Is(err, yokedcache.ErrCorrupt) || !errors.Is(err, yokedcache.ErrNotFound) {
		t.Fatalf("Get of corrupt bytes = %v; want ErrCorrupt and ErrNotFound", err)
	}
	if v != nil {
		t.Fatalf("corrupt read filled the destination: %v", v)
	}
	if st, _ := c.Stats(ctx); st.Corrupt != 1 || st.Misses != 1 || st.Hits != 0 {
		t.Fatalf("after one corrupt read: corrupt=%d misses=%d hits=%d; want 1, 1, 0", st.Corrupt, st.Misses, st.Hits)
	}
	// Fetch treats it as a miss and repairs the entry.
	got, err := yokedcache.Fetch(ctx, c, "k", func(context.Context) (map[string]int, error) {
		return map[string]int{"a": 2}, nil
	})
	if err != nil || got["a"] != 2 {
		t.Fatalf("Fetch over corrupt value = %v, %v", got, err)
	}
	if err := c.Get(ctx, "k", &v); err != nil || v["a"] != 2 {
		t.Fatalf("Get after repair = %v, %v", v, err)
	}
}

func TestCodecMismatchIsCorruptMiss(t *testing.T) {
	ctx := context.Background()
	c, _ := yokedcachetest.New(t)
	_ = c.Set(ctx, "s", "text")
	var n int
	if err := c.Get(ctx, "s", &n); !errors.Is(err, yokedcache.ErrCorrupt) {
		t.Fatalf("string into *int = %v; want ErrCorrupt", err)
	}
	_ = c.Set(ctx, "n", 5)
	if _, err := c.GetBytes(ctx, "n"); !errors.Is(err, yokedcache.ErrCorrupt) {
		t.Fatalf("GetBytes of a JSON value = %v; want ErrCorrupt", err)
	}
	if err := c.Get(ctx, "n", nil); !errors.Is(err, yokedcache.ErrInvalidValue) {
		t.Fatalf("nil destination = %v; want ErrInvalidValue", err)
	}
}

type upperCodec struct{}

func (upperCodec) ID() byte     { return 200 }
func (upperCodec) Name() string { return "upper" }
func (upperCodec) Marshal(v any) ([]byte, error) {
	return []byte(strings.ToUpper(v.(interface{ String() string }).String())), nil
}
func (upperCodec) Unmarshal(d []byte, v any) error {
	*(v.(*string)) = string(d)
	return nil
}

type word string

func (w word) String() string { return string(w) }

func TestUserCodecAndReservedIDs(t *testing.T) {
	ctx := context.Background()
	c, _ := yokedcachetest.New(t, yokedcache.Config{Codec: upperCodec{}})
	if err := c.Set(ctx, "w", word("hello")); err != nil {
		t.Fatal(err)
	}
	var s string
	if err := c.Get(ctx, "w", &s); err != nil || s != "HELLO" {
		t.Fatalf("user codec round trip = %q, %v", s, err)
	}
	if _, err := yokedcache.New(yokedcache.Config{Codec: reservedCodec{}}); !errors.Is(err, yokedcache.ErrInvalidConfig) {
		t.Fatalf("reserved codec id accepted: %v", err)
	}
}

type reservedCodec struct{ upperCodec }

func (reservedCodec) ID() byte { return codec.IDJSON }

func TestCompressionApplied(t *testing.T) {
	ctx := context.Background()
	st, _ := memory.New(memory.Options{CleanupInterval: -1})
	c, err := yokedcache.New(yokedcache.Config{Backend: st, Compression: codec.S2, CompressionThreshold: 100})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	big := strings.Repeat("compressible ", 1000)
	if err := c.Set(ctx, "big", big); err != nil {
		t.Fatal(err)
	}
	raw, _ := st.Get(ctx, "yokedcache:big")
	if len(raw) >= len(big)/2 {
		t.Fatalf("stored %d bytes for a %d-byte compressible value", len(raw), len(big))
	}
	env, err := envelope.Decode(raw, 0)
	if err != nil || env.Compression != codec.S2 {
		t.Fatalf("envelope compression = %v, %v; want s2", env.Compression, err)
	}
	var got string
	if err := c.Get(ctx, "big", &got); err != nil || got != big {
		t.Fatalf("round trip failed: %v", err)
	}
}

func TestValueTooLarge(t *testing.T) {
	ctx := context.Background()
	c, _ := yokedcachetest.New(t, yokedcache.Config{MaxValueSize: 1000})
	if err := c.Set(ctx, "k", make([]byte, 1001)); !errors.Is(err, yokedcache.ErrValueTooLarge) {
		t.Fatalf("Set over MaxValueSize = %v", err)
	}
}

func TestGetBytesAllocs(t *testing.T) {
	ctx := context.Background()
	c, _ := yokedcachetest.New(t)
	_ = c.Set(ctx, "user:1", bytes.Repeat([]byte{'x'}, 100))
	n := testing.AllocsPerRun(1000, func() {
		if _, err := c.GetBytes(ctx, "user:1"); err != nil {
			t.Fatal(err)
		}
	})
	if n > 1 {
		t.Fatalf("GetBytes hit allocates %.1f times; want <= 1", n)
	}
	n = testing.AllocsPerRun(1000, func() {
		if _, err := yokedcache.Get[[]byte](ctx, c, "user:1"); err != nil {
			t.Fatal(err)
		}
	})
	if n > 1 {
		t.Fatalf("Get[[]byte] hit allocates %.1f times; want <= 1", n)
	}
}

func TestTTLWithFakeClock(t *testing.T) {
	ctx := context.Background()
	c, clock := yokedcachetest.New(t)
	_ = c.Set(ctx, "k", "v", yokedcache.WithTTL(time.Minute))
	clock.Advance(59 * time.Second)
	if ttl, err := c.TTL(ctx, "k"); err != nil || ttl != time.Second {
		t.Fatalf("TTL = %v, %v; want 1s", ttl, err)
	}
	clock.Advance(time.Second)
	if _, err := c.GetBytes(ctx, "k"); !errors.Is(err, yokedcache.ErrNotFound) {
		t.Fatalf("Get after TTL = %v; want ErrNotFound", err)
	}
}

func TestJitterBounds(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		r    float64
		want time.Duration
	}{{0, 90 * time.Second}, {0.5, 100 * time.Second}, {0.9999999999, 110 * time.Second}} {
		r := tc.r
		c, _ := yokedcachetest.New(t, yokedcache.Config{TTLJitterPercent: 10, Rand: func() float64 { return r }})
		_ = c.Set(ctx, "k", 1, yokedcache.WithTTL(100*time.Second))
		ttl, _ := c.TTL(ctx, "k")
		if d := ttl - tc.want; d < -time.Millisecond || d > time.Millisecond {
			t.Errorf("rand %v: TTL %v, want %v", r, ttl, tc.want)
		}
		_ = c.Set(ctx, "e", 1, yokedcache.WithTTL(100*time.Second), yokedcache.WithExactTTL())
		if ttl, _ := c.TTL(ctx, "e"); ttl != 100*time.Second {
			t.Errorf("WithExactTTL: TTL %v", ttl)
		}
	}
}

func TestErrorMessage(t *testing.T) {
	c, _ := yokedcachetest.New(t)
	err := c.Get(context.Background(), "user:9", new(int))
	if got, want := err.Error(), `yokedcache: get "user:9": not found`; got != want {
		t.Fatalf("error text %q, want %q", got, want)
	}
}

// onlyBackend hides every optional interface of the wrapped backend.
type onlyBackend struct{ backend.Backend }

// Exists agrees with Get on bytes that do not decode, whatever optional
// capabilities the backend has (an earlier existence capability said true
// while Get said not found; it is gone).
func TestExistsAgreesWithGetOnUndecodableBytes(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		wrap func(*memory.Store) backend.Backend
	}{
		{"full store", func(s *memory.Store) backend.Backend { return s }},
		{"get only", func(s *memory.Store) backend.Backend { return onlyBackend{s} }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, err := memory.New(memory.Options{CleanupInterval: -1})
			if err != nil {
				t.Fatal(err)
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
			unknown, err := envelope.Encode(200, []byte("x"), nil, envelope.EncodeOptions{Threshold: -1})
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

// flaky is a backend.SetCopier whose Set fails every other call and keeps
// the key and value it was given on failure, as a pipelined client keeps a
// command it has not written yet.
type flaky struct {
	backend.Backend
	n    int
	kept []struct {
		key   string
		value []byte
		want  string
	}
}

func (f *flaky) SetCopies() bool { return true }

func (f *flaky) Set(ctx context.Context, key string, value []byte, o backend.SetOptions) error {
	f.n++
	if f.n%2 == 0 {
		f.kept = append(f.kept, struct {
			key   string
			value []byte
			want  string
		}{key, value, key + "=" + string(value)})
		return errors.New("flaky: timed out")
	}
	return f.Backend.Set(ctx, strings.Clone(key), append([]byte(nil), value...), o) // a copier copies
}

// TestSetReusesBuffersOnlyAfterSuccess: with a SetCopier backend the Cache
// reuses its key+envelope buffers, but never one whose Set failed.
func TestSetReusesBuffersOnlyAfterSuccess(t *testing.T) {
	ctx := context.Background()
	m, err := memory.New(memory.Options{})
	if err != nil {
		t.Fatal(err)
	}
	f := &flaky{Backend: m}
	c, err := yokedcache.New(yokedcache.Config{Backend: f})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for i := range 200 {
		err := c.Set(ctx, fmt.Sprint("key-", i), fmt.Sprint("value-", i))
		if (i%2 == 1) != (err != nil) {
			t.Fatalf("Set %d = %v", i, err)
		}
	}
	for _, k := range f.kept {
		if got := k.key + "=" + string(k.value); got != k.want {
			t.Fatalf("a failed Set's key and value were overwritten by a later Set: %q, want %q", got, k.want)
		}
	}
	for i := 0; i < 200; i += 2 {
		if got, err := yokedcache.Get[string](ctx, c, fmt.Sprint("key-", i)); err != nil || got != fmt.Sprint("value-", i) {
			t.Fatalf("Get key-%d = %q, %v", i, got, err)
		}
	}
}

// TestInvalidCodecOpensNothing: New rejects a bad codec before it opens
// any configured backend, so nothing is left open to leak.
func TestInvalidCodecOpensNothing(t *testing.T) {
	var opened atomic.Int64
	backend.Register("yokedcache-test-counting", backend.URLOpenerFunc(func(context.Context, *url.URL) (backend.Backend, error) {
		opened.Add(1)
		return memory.New(memory.Options{})
	}))
	_, err := yokedcache.New(yokedcache.Config{
		URL:    "yokedcache-test-counting://",
		Routes: []yokedcache.Route{{Prefix: "r:", URL: "yokedcache-test-counting://"}},
		Codec:  reservedCodec{},
	})
	if !errors.Is(err, yokedcache.ErrInvalidConfig) {
		t.Fatalf("New with a codec on a reserved id = %v, want ErrInvalidConfig", err)
	}
	if n := opened.Load(); n != 0 {
		t.Fatalf("New opened %d backends before rejecting the codec", n)
	}
}

type keptUser struct {
	ID    int      `json:"id"`
	Name  string   `json:"name"`
	Roles []string `json:"roles"`
}

// With KeepDecoded, typed reads on the memory backend decode a value once
// and share it until the next write; without it every read decodes its
// own copy.
func TestKeepDecoded(t *testing.T) {
	ctx := context.Background()
	for _, keep := range []bool{false, true} {
		c, err := yokedcache.New(yokedcache.Config{KeepDecoded: keep})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if err := c.Set(ctx, "u", keptUser{1, "Ann", []string{"admin"}}); err != nil {
			t.Fatal(err)
		}
		a, err := yokedcache.Get[keptUser](ctx, c, "u")
		if err != nil || a.Name != "Ann" {
			t.Fatalf("Get = %+v, %v", a, err)
		}
		b, _ := yokedcache.Get[keptUser](ctx, c, "u")
		shared := &a.Roles[0] == &b.Roles[0]
		if shared != keep {
			t.Fatalf("KeepDecoded=%v: second read shares the first's slice: %v", keep, shared)
		}
		// A struct field is a copy either way.
		b.Name = "changed"
		if c2, _ := yokedcache.Get[keptUser](ctx, c, "u"); c2.Name != "Ann" {
			t.Fatalf("KeepDecoded=%v: a caller's change to a field reached the cache: %+v", keep, c2)
		}
		// A write replaces the kept value.
		if err := c.Set(ctx, "u", keptUser{2, "Bob", nil}); err != nil {
			t.Fatal(err)
		}
		if d, err := yokedcache.Get[keptUser](ctx, c, "u"); err != nil || d.Name != "Bob" {
			t.Fatalf("KeepDecoded=%v: after Set, Get = %+v, %v", keep, d, err)
		}
		// Another type reads the same bytes by decoding them.
		if m, err := yokedcache.Get[map[string]any](ctx, c, "u"); err != nil || m["name"] != "Bob" {
			t.Fatalf("KeepDecoded=%v: Get as a map = %v, %v", keep, m, err)
		}
		if v, err := yokedcache.Get[keptUser](ctx, c, "u"); err != nil || v.ID != 2 {
			t.Fatalf("KeepDecoded=%v: Get after another type = %+v, %v", keep, v, err)
		}
		// Misses stay misses.
		if _, err := yokedcache.Get[keptUser](ctx, c, "none"); !errors.Is(err, yokedcache.ErrNotFound) {
			t.Fatalf("KeepDecoded=%v: miss = %v", keep, err)
		}
		st, _ := c.Stats(ctx)
		if st.Hits != 6 || st.Misses != 1 {
			t.Fatalf("KeepDecoded=%v: hits %d misses %d; want 6 and 1", keep, st.Hits, st.Misses)
		}
	}
}

// GetView of the memory backend allocates nothing.
func TestGetViewAllocs(t *testing.T) {
	ctx := context.Background()
	c, err := yokedcache.New(yokedcache.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Set(ctx, "k", []byte("value")); err != nil {
		t.Fatal(err)
	}
	if v, err := c.GetView(ctx, "k"); err != nil || string(v) != "value" {
		t.Fatalf("GetView = %q, %v", v, err)
	}
	if n := testing.AllocsPerRun(200, func() { _, _ = c.GetView(ctx, "k") }); n != 0 {
		t.Fatalf("GetView allocates %v times per call; want 0", n)
	}
	if n := testing.AllocsPerRun(200, func() { _, _ = c.GetBytes(ctx, "k") }); n > 1 {
		t.Fatalf("GetBytes allocates %v times per call; want at most 1 (the copy)", n)
	}
}
