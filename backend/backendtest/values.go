package backendtest

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"strings"
	"time"

	"github.com/yokedcache/yokedcache"
	"github.com/yokedcache/yokedcache/backend"
	"github.com/yokedcache/yokedcache/codec"
	"github.com/yokedcache/yokedcache/internal/envelope"
)

// record is a struct value the suite stores.
type record struct {
	ID     int64            `json:"id" msgpack:"id"`
	Name   string           `json:"name" msgpack:"name"`
	Score  float64          `json:"score" msgpack:"score"`
	Active bool             `json:"active" msgpack:"active"`
	Tags   []string         `json:"tags" msgpack:"tags"`
	Attrs  map[string]int   `json:"attrs" msgpack:"attrs"`
	Raw    []byte           `json:"raw" msgpack:"raw"`
	Child  *record          `json:"child,omitempty" msgpack:"child,omitempty"`
	Extra  map[string][]int `json:"extra" msgpack:"extra"`
}

func recordValue() record {
	return record{
		ID: math.MaxInt64, Name: "Zoë 日本 🎉", Score: -1.5e-300, Active: true,
		Tags:  []string{"a", "", "b c"},
		Attrs: map[string]int{"x": 1, "": -1},
		Raw:   []byte{0, 1, 2, 0xff},
		Child: &record{ID: -1, Name: "child"},
		Extra: map[string][]int{"e": {}, "n": nil},
	}
}

// randomBytes returns n deterministic, incompressible bytes.
func randomBytes(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	b := make([]byte, n)
	for i := 0; i+8 <= n; i += 8 {
		v := r.Uint64()
		for j := range 8 {
			b[i+j] = byte(v >> (8 * j))
		}
	}
	for i := n &^ 7; i < n; i++ {
		b[i] = byte(r.Uint32())
	}
	return b
}

// roundTrip stores v and reads it back into a new value of v's type.
func (e *env) roundTrip(c *yokedcache.Cache, key string, v any) {
	e.t.Helper()
	if err := c.Set(e.ctx, key, v); err != nil {
		e.Fatalf("Set(%q, %T): %v", key, v, err)
	}
	dst := reflect.New(reflect.TypeOf(v))
	if err := c.Get(e.ctx, key, dst.Interface()); err != nil {
		e.Fatalf("Get(%q) into *%T: %v", key, v, err)
	}
	got := dst.Elem().Interface()
	if gb, ok := got.([]byte); ok {
		// nil and empty []byte are the same raw value.
		if !bytes.Equal(gb, v.([]byte)) {
			e.Fatalf("Get(%q) = %d bytes; want the %d bytes stored", key, len(gb), len(v.([]byte)))
		}
		return
	}
	if !reflect.DeepEqual(got, v) {
		e.Fatalf("Get(%q) = %#v; want %#v", key, trunc(fmt.Sprintf("%#v", got)), trunc(fmt.Sprintf("%#v", v)))
	}
}

func valuesLeaves() []leaf {
	const mib = 1 << 20
	return []leaf{
		{
			name:   "values round-trip exactly",
			clause: "Any value the configured codec can encode round-trips exactly, including nil, zero values, empty strings/slices, []byte, unicode text",
			run: func(e *env) {
				allBytes := make([]byte, 256)
				for i := range allBytes {
					allBytes[i] = byte(i)
				}
				vals := []any{
					0, int64(0), "", false, 0.0, record{}, []int{}, map[string]int{}, []byte{},
					[]string{}, struct{}{}, (*record)(nil), []byte(nil),
					42, int64(math.MinInt64), uint64(math.MaxUint64), math.MaxFloat64, math.SmallestNonzeroFloat64,
					"héllo wörld 日本語 🎉 \u2028\u0000 tab\t nl\n", "not utf-8 \xff\xfe", allBytes,
					[]string{"a", "", "日本"}, map[string]int{"one": 1, "": 0},
					recordValue(), &record{ID: 7, Child: &record{Name: "x"}},
					[]any{"a", 1.5, true, nil, map[string]any{"k": "v"}},
				}
				for i, v := range vals {
					e.roundTrip(e.c, fmt.Sprintf("v%d", i), v)
				}
				// With msgpack.
				mp := e.newCache(e.b, e.prefix+"mp", func(c *yokedcache.Config) { c.Codec = codec.Msgpack })
				defer func() { _ = mp.Flush(e.ctx) }()
				e.roundTrip(mp, "s", recordValue())
				e.roundTrip(mp, "z", record{})
			},
		},
		{
			name:   "a cached nil is a hit distinguishable from a miss",
			clause: "A cached nil/zero value is a **hit**, distinguishable from a miss.",
			run: func(e *env) {
				e.must(e.c.Set(e.ctx, "nil", nil), "Set(nil)")
				var a any = "sentinel"
				if err := e.c.Get(e.ctx, "nil", &a); err != nil {
					e.Fatalf("Get of a cached nil: %v; want a hit", err)
				}
				if a != nil {
					e.Fatalf("Get of a cached nil = %#v; want nil", a)
				}
				p, err := yokedcache.Get[*record](e.ctx, e.c, "nil")
				if err != nil || p != nil {
					e.Fatalf("Get[*record] of a cached nil = %v, %v; want nil, nil", p, err)
				}
				e.must(e.c.Set(e.ctx, "zero", 0), "Set(0)")
				n, err := yokedcache.Get[int](e.ctx, e.c, "zero")
				if err != nil || n != 0 {
					e.Fatalf("Get[int] of a cached 0 = %v, %v; want 0, nil", n, err)
				}
				e.must(e.c.Set(e.ctx, "empty", ""), "Set(\"\")")
				s, err := yokedcache.Get[string](e.ctx, e.c, "empty")
				if err != nil || s != "" {
					e.Fatalf("Get[string] of a cached \"\" = %q, %v; want \"\", nil", s, err)
				}
				eb, err := yokedcache.Get[[]byte](e.ctx, e.c, "empty")
				if err != nil || len(eb) != 0 {
					e.Fatalf("Get[[]byte] of a cached empty value = %q, %v", eb, err)
				}
				for _, k := range []string{"nil", "zero", "empty"} {
					ok, err := e.c.Exists(e.ctx, k)
					if err != nil || !ok {
						e.Fatalf("Exists(%q) of a cached nil/zero value = %v, %v; want true", k, ok, err)
					}
				}
				vals, err := e.c.GetMany(e.ctx, []string{"nil", "zero", "empty", "absent"})
				e.must(err, "GetMany")
				if len(vals) != 3 {
					e.Fatalf("GetMany over nil, 0, \"\" and an absent key returned %d hits; want 3", len(vals))
				}
				// A miss is different.
				_, err = yokedcache.Get[*record](e.ctx, e.c, "absent")
				if !errors.Is(err, yokedcache.ErrNotFound) {
					e.Fatalf("Get of an absent key = %v; want ErrNotFound", err)
				}
				st, err := e.c.Stats(e.ctx)
				if err != nil && !errors.Is(err, yokedcache.ErrUnsupported) {
					e.Fatalf("Stats: %v", err)
				}
				if st.Hits < 5 || st.Misses < 1 {
					e.Fatalf("Stats hits=%d misses=%d; cached nil/zero reads must count as hits", st.Hits, st.Misses)
				}
			},
		},
		{
			name:   "large values round-trip or fail with ErrValueTooLarge",
			clause: "values of several MiB (per-backend limits, e.g. Memcached's item size, give a clear error matching ErrValueTooLarge, not a silent miss)",
			run: func(e *env) {
				limit := e.h.MaxValueSize
				if limit == 0 || limit > 10*mib {
					big := randomBytes(5*mib, 1)
					e.roundTrip(e.c, "big-bytes", big)
					e.roundTrip(e.c, "big-string", strings.Repeat("yokedcache ", 5*mib/11))
					e.roundTrip(e.c, "big-struct", map[string]string{"a": string(bytes.Repeat([]byte("x"), 3*mib))})
					return
				}
				e.roundTrip(e.c, "half", randomBytes(limit/2, 2))
				over := randomBytes(limit+1, 3)
				err := e.c.Set(e.ctx, "over", over)
				if !errors.Is(err, yokedcache.ErrValueTooLarge) {
					e.Fatalf("Set of %d bytes over the %d-byte limit = %v; want ErrValueTooLarge", len(over), limit, err)
				}
				e.wantMiss(e.c, "over")
				err = e.c.SetMany(e.ctx, map[string]any{"over2": over})
				if !errors.Is(err, yokedcache.ErrValueTooLarge) {
					e.Fatalf("SetMany of %d bytes over the %d-byte limit = %v; want ErrValueTooLarge", len(over), limit, err)
				}
			},
		},
		{
			name:   "unencodable values fail with ErrInvalidValue",
			clause: "Any value the configured codec can encode round-trips exactly",
			run: func(e *env) {
				bad := map[string]any{
					"chan": make(chan int), "func": func() {}, "nan": math.NaN(),
					"inf": math.Inf(1), "complex": complex(1, 2),
				}
				for name, v := range bad {
					err := e.c.Set(e.ctx, name, v)
					if !errors.Is(err, yokedcache.ErrInvalidValue) {
						e.Errorf("Set(%s value) = %v; want ErrInvalidValue", name, err)
					}
					e.wantMiss(e.c, name)
				}
				err := e.c.SetMany(e.ctx, map[string]any{"ok": "v", "chan": make(chan int)})
				if !errors.Is(err, yokedcache.ErrInvalidValue) {
					e.Fatalf("SetMany with a channel value = %v; want ErrInvalidValue", err)
				}
				e.wantMiss(e.c, "ok")
			},
		},
		{
			name:   "stored bytes carry a versioned header",
			clause: "Stored bytes carry a small versioned header (format version, codec, compression)",
			run: func(e *env) {
				e.set(e.c, "s", "text")
				e.must(e.c.Set(e.ctx, "j", recordValue()), "Set")
				for k, want := range map[string]byte{"s": codec.IDString, "j": codec.IDJSON} {
					raw, err := e.b.Get(e.ctx, e.skey(k))
					e.must(err, "backend Get")
					env, err := envelope.Decode(raw, 0)
					if err != nil {
						e.Fatalf("stored bytes of %q do not decode as an envelope: %v", k, err)
					}
					if env.Codec != want {
						e.Fatalf("stored envelope of %q names codec %d; want %d", k, env.Codec, want)
					}
				}
			},
		},
		{
			name:   "corrupt stored bytes are a counted miss",
			clause: "Bytes that do not decode are a miss plus an error counter and a log line — never a panic, never a wrong value.",
			run: func(e *env) {
				e.set(e.c, "good", strings.Repeat("payload ", 20))
				good, err := e.b.Get(e.ctx, e.skey("good"))
				e.must(err, "backend Get")
				flipped := bytes.Clone(good)
				flipped[len(flipped)-1] ^= 0x40
				garbage := map[string][]byte{
					"text":      []byte("not an envelope at all"),
					"one byte":  {0xCB},
					"truncated": good[:len(good)/2],
					"flipped":   flipped,
					"json":      []byte(`{"value":"x"}`),
					"header":    good[:envelope.HeaderSize],
				}
				n := 0
				for name, g := range garbage {
					k := "bad-" + strings.ReplaceAll(name, " ", "-")
					e.must(e.b.Set(e.ctx, e.skey(k), g, backend.SetOptions{TTL: time.Hour}), "backend Set")
					var s string
					err := e.c.Get(e.ctx, k, &s)
					n++
					if !errors.Is(err, yokedcache.ErrCorrupt) || !errors.Is(err, yokedcache.ErrNotFound) {
						e.Errorf("Get over %s bytes = %q, %v; want an error matching ErrCorrupt and ErrNotFound", name, s, err)
					}
					var any1 any
					err = e.c.Get(e.ctx, k, &any1)
					n++
					if !errors.Is(err, yokedcache.ErrNotFound) {
						e.Errorf("Get(*any) over %s bytes = %v, %v; want a miss", name, any1, err)
					}
					if _, err := yokedcache.Get[[]byte](e.ctx, e.c, k); !errors.Is(err, yokedcache.ErrCorrupt) {
						e.Errorf("Get[[]byte] over %s bytes = %v; want ErrCorrupt", name, err)
					}
					n++
					vals, err := e.c.GetMany(e.ctx, []string{k, "good"})
					e.must(err, "GetMany over a corrupt value")
					n++
					if _, ok := vals[k]; ok || len(vals) != 1 {
						e.Errorf("GetMany over %s bytes returned %d values (corrupt included: %v); want only the good one", name, len(vals), ok)
					}
					loads := 0
					v, err := yokedcache.Fetch(e.ctx, e.c, k, func(contextT) (string, error) {
						loads++
						return "reloaded", nil
					})
					n++
					if err != nil || v != "reloaded" || loads != 1 {
						e.Errorf("Fetch over %s bytes = %q, %v with %d loads; want the loader's value", name, v, err, loads)
					}
					e.wantHit(e.c, k, "reloaded")
				}
				st, err := e.c.Stats(e.ctx)
				if err != nil && !errors.Is(err, yokedcache.ErrUnsupported) {
					e.Fatalf("Stats: %v", err)
				}
				if st.Corrupt < int64(n) {
					e.Fatalf("Stats.Corrupt = %d after %d reads of corrupt bytes; want >= %d", st.Corrupt, n, n)
				}
				if w := e.logs.warnings.Load(); w < int64(n) {
					e.Fatalf("%d warnings logged after %d reads of corrupt bytes; want a log line for each", w, n)
				}
			},
		},
		{
			name:   "compression above the threshold is applied and recorded",
			clause: "Compression above a configurable threshold is actually applied and recorded in the header.",
			cfg: func(c *yokedcache.Config) {
				c.Compression = codec.S2
				c.CompressionThreshold = 512
			},
			run: func(e *env) {
				big := strings.Repeat("compressible text ", 4096)
				e.set(e.c, "big", big)
				e.set(e.c, "small", "short")
				e.must(e.c.Set(e.ctx, "struct", map[string]string{"k": big}), "Set")
				for k, want := range map[string]codec.Compression{"big": codec.S2, "small": codec.None, "struct": codec.S2} {
					raw, err := e.b.Get(e.ctx, e.skey(k))
					e.must(err, "backend Get")
					env, err := envelope.Decode(raw, 0)
					e.must(err, "envelope.Decode")
					if env.Compression != want {
						e.Fatalf("value %q stored with compression %v; want %v", k, env.Compression, want)
					}
					if want != codec.None && len(raw) > len(big)/4 {
						e.Fatalf("compressed value %q takes %d stored bytes for %d bytes of text", k, len(raw), len(big))
					}
				}
				e.wantHit(e.c, "big", big)
				e.wantHit(e.c, "small", "short")
				m, err := yokedcache.Get[map[string]string](e.ctx, e.c, "struct")
				if err != nil || m["k"] != big {
					e.Fatalf("compressed struct round trip: %v", err)
				}
				// Zstd reads back too, and a reader with another setting
				// decodes what the header says.
				z := e.newCache(e.b, e.prefix, func(c *yokedcache.Config) { c.Compression = codec.Zstd; c.CompressionThreshold = 512 })
				e.set(z, "zbig", big)
				raw, err := e.b.Get(e.ctx, e.skey("zbig"))
				e.must(err, "backend Get")
				env, err := envelope.Decode(raw, 0)
				if err != nil || env.Compression != codec.Zstd {
					e.Fatalf("zstd value stored with compression %v (%v); want zstd", env.Compression, err)
				}
				e.wantHit(e.c, "zbig", big)
				e.wantHit(z, "big", big)
			},
		},
	}
}
