package envelope

import (
	"github.com/yokedcache/yokedcache/codec"

	"bytes"
	"encoding/binary"
	"errors"
	"strings"
	"testing"
)

func TestEnvelopeRoundTrip(t *testing.T) {
	big := bytes.Repeat([]byte("yokedcache compresses repetitive values "), 200)
	cases := []struct {
		name    string
		payload []byte
		tags    []string
		opts    EncodeOptions
		comp    codec.Compression
	}{
		{"empty", []byte{}, nil, EncodeOptions{}, codec.None},
		{"small", []byte("hello"), nil, EncodeOptions{Compression: codec.S2}, codec.None},
		{"tags", []byte("v"), []string{"user", "ünïcode", "x"}, EncodeOptions{}, codec.None},
		{"s2", big, []string{"t"}, EncodeOptions{Compression: codec.S2}, codec.S2},
		{"zstd", big, nil, EncodeOptions{Compression: codec.Zstd}, codec.Zstd},
		{"disabled", big, nil, EncodeOptions{Compression: codec.S2, Threshold: -1}, codec.None},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b, err := Encode(codec.IDRaw, tc.payload, tc.tags, tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			e, err := Decode(b, 0)
			if err != nil {
				t.Fatal(err)
			}
			if e.Codec != codec.IDRaw || e.Compression != tc.comp {
				t.Fatalf("codec %d comp %v, want %d %v", e.Codec, e.Compression, codec.IDRaw, tc.comp)
			}
			if !bytes.Equal(e.Payload, tc.payload) {
				t.Fatalf("payload mismatch")
			}
			if tc.comp != codec.None && len(b) >= len(tc.payload) {
				t.Fatalf("compression recorded but not applied: %d >= %d", len(b), len(tc.payload))
			}
			got := e.Tags()
			if strings.Join(got, ",") != strings.Join(tc.tags, ",") {
				t.Fatalf("tags %q, want %q", got, tc.tags)
			}
		})
	}
}

func TestDecodeRejectsCorruption(t *testing.T) {
	b, _ := Encode(codec.IDJSON, []byte(`{"a":1}`), []string{"t"}, EncodeOptions{})
	for i := range b {
		for _, bit := range []byte{1, 0x80} {
			c := bytes.Clone(b)
			c[i] ^= bit
			if _, err := Decode(c, 0); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("flip byte %d bit %x: err %v, want ErrCorrupt", i, bit, err)
			}
		}
	}
	for n := 0; n < len(b); n++ {
		if _, err := Decode(b[:n], 0); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("truncated to %d: err %v", n, err)
		}
	}
}

func TestDecodeSizeLimit(t *testing.T) {
	big := bytes.Repeat([]byte{'a'}, 1<<20)
	for _, c := range []codec.Compression{codec.S2, codec.Zstd} {
		b, _ := Encode(codec.IDRaw, big, nil, EncodeOptions{Compression: c})
		if _, err := Decode(b, 1000); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("%v: err %v, want size limit error", c, err)
		}
	}
}

func FuzzDecode(f *testing.F) {
	seed, _ := Encode(codec.IDJSON, []byte(`"x"`), []string{"a", "b"}, EncodeOptions{})
	f.Add(seed)
	z, _ := Encode(codec.IDRaw, bytes.Repeat([]byte("ab"), 2000), nil, EncodeOptions{Compression: codec.Zstd})
	f.Add(z)
	s, _ := Encode(codec.IDRaw, bytes.Repeat([]byte("ab"), 2000), nil, EncodeOptions{Compression: codec.S2})
	f.Add(s)
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		e, err := Decode(data, 1<<20)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error %v does not match ErrCorrupt", err)
			}
			return
		}
		_ = e.Tags()
		// A valid envelope re-encodes to a decodable one with the same content.
		b, err := Encode(e.Codec, e.Payload, e.Tags(), EncodeOptions{Threshold: -1})
		if err != nil {
			t.Fatal(err)
		}
		e2, err := Decode(b, 0)
		if err != nil || !bytes.Equal(e2.Payload, e.Payload) {
			t.Fatalf("re-encode failed: %v", err)
		}
	})
}

func BenchmarkDecode100(b *testing.B) {
	p := bytes.Repeat([]byte{'x'}, 100)
	env, _ := Encode(codec.IDRaw, p, nil, EncodeOptions{})
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Decode(env, 0); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEncode100(b *testing.B) {
	p := bytes.Repeat([]byte{'x'}, 100)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Encode(codec.IDRaw, p, nil, EncodeOptions{}); err != nil {
			b.Fatal(err)
		}
	}
}

func TestAppendEncodeAfterPrefix(t *testing.T) {
	payload := []byte("hello, envelope")
	tags := []string{"a", "bb"}
	want, err := Encode(codec.IDRaw, payload, tags, EncodeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	prefix := []byte("yokedcache:key")
	dst := make([]byte, len(prefix), len(prefix)+MaxEncodedLen(len(payload), tags))
	copy(dst, prefix)
	got, err := AppendEncode(dst, codec.IDRaw, payload, tags, EncodeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if &got[0] != &dst[0] {
		t.Fatal("AppendEncode allocated although dst had MaxEncodedLen spare capacity")
	}
	if string(got[:len(prefix)]) != string(prefix) || string(got[len(prefix):]) != string(want) {
		t.Fatalf("AppendEncode after a prefix = %q, want %q + %q", got, prefix, want)
	}
	env, err := Decode(got[len(prefix):], 1<<20)
	if err != nil || string(env.Payload) != string(payload) {
		t.Fatalf("Decode = %q, %v", env.Payload, err)
	}
}

// The soft expiry and the negative mark are optional fields: an envelope
// without them is byte-for-byte what older versions wrote and still
// decodes; with them, tags, compression and the checksum still work.
func TestEnvelopeSoftExpiry(t *testing.T) {
	payload := []byte("value value value value value value value value")
	old, err := Encode(codec.IDRaw, payload, []string{"t"}, EncodeOptions{Threshold: -1})
	if err != nil {
		t.Fatal(err)
	}
	// A version-1 envelope as written before soft expiry existed.
	legacy := []byte{magic, version, codec.IDRaw, 0, flagTags, 0, 0, 0, 0, 1, 1, 't'}
	legacy = append(legacy, payload...)
	binary.LittleEndian.PutUint32(legacy[5:9], checksum(legacy))
	if !bytes.Equal(old, legacy) {
		t.Fatalf("an envelope without soft expiry changed its bytes:\n%x\n%x", old, legacy)
	}
	env, err := Decode(legacy, 0)
	if err != nil || env.FreshUntil != 0 || env.Negative || env.StaleAt(1<<62) {
		t.Fatalf("legacy envelope = %+v, %v; want no soft expiry, never stale", env, err)
	}
	for _, comp := range []codec.Compression{codec.None, codec.S2, codec.Zstd} {
		const fresh = int64(1_900_000_000_000)
		big := bytes.Repeat(payload, 40)
		b, err := Encode(codec.IDString, big, []string{"a", "b"}, EncodeOptions{Compression: comp, FreshUntil: fresh, LoadMs: 42})
		if err != nil {
			t.Fatal(err)
		}
		env, err := Decode(b, 0)
		if err != nil {
			t.Fatal(err)
		}
		if env.FreshUntil != fresh || env.LoadMs != 42 || !bytes.Equal(env.Payload, big) || len(env.Tags()) != 2 || (comp != codec.None) != (env.Compression != codec.None) {
			t.Fatalf("%v: decoded %+v", comp, env)
		}
		if env.StaleAt(fresh-1) || !env.StaleAt(fresh) {
			t.Fatalf("%v: StaleAt around the soft expiry is wrong", comp)
		}
		b[HeaderSize] ^= 1 // the soft expiry is covered by the checksum
		if _, err := Decode(b, 0); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("%v: a changed soft expiry decoded: %v", comp, err)
		}
		if _, err := Decode(b[:HeaderSize+3], 0); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("%v: a truncated soft expiry decoded: %v", comp, err)
		}
	}
	neg, err := Encode(codec.IDRaw, nil, nil, EncodeOptions{Negative: true})
	if err != nil {
		t.Fatal(err)
	}
	if env, err := Decode(neg, 0); err != nil || !env.Negative || len(env.Payload) != 0 {
		t.Fatalf("negative envelope = %+v, %v", env, err)
	}
}

// Small zstd frames, which the encoder may write without a content size,
// still decode.
func TestZstdSmallPayloads(t *testing.T) {
	for _, n := range []int{1, 10, 47, 100, 255, 256, 1000, 5000} {
		p := make([]byte, n)
		for i := range p {
			p[i] = byte('a' + i%7)
		}
		env, err := Encode(codec.IDRaw, p, nil, EncodeOptions{Compression: codec.Zstd, Threshold: 1})
		if err != nil {
			t.Fatal(err)
		}
		got, err := Decode(env, 0)
		if err != nil || string(got.Payload) != string(p) {
			t.Errorf("%d bytes: Decode = %v", n, err)
		}
	}
}
