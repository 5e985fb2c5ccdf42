package memcached

import (
	"bytes"
	"errors"
	"testing"

	"github.com/yokedcache/yokedcache/backend"
)

func TestHeaderRoundTrip(t *testing.T) {
	for _, h := range []header{
		{},
		{expiryMs: 1_900_000_000_000, nsVersion: 1 << 61},
		{nsVersion: 7, hasKey: true, fullKey: "a b"},
		{nsVersion: 7, hasKey: true, fullKey: "", tags: []tagVersion{{"t1", 1}, {"t\xff2", 1<<62 + 5}}},
	} {
		for _, v := range [][]byte{nil, []byte("value"), bytes.Repeat([]byte{0xB7}, 300)} {
			b := appendHeader(nil, &h, v)
			if len(b) != headerSize(&h)+len(v) {
				t.Fatalf("headerSize = %d, encoded %d", headerSize(&h), len(b)-len(v))
			}
			got, val, err := parseHeader(b)
			if err != nil {
				t.Fatalf("parseHeader: %v", err)
			}
			if !bytes.Equal(val, v) || got.expiryMs != h.expiryMs || got.nsVersion != h.nsVersion ||
				got.hasKey != h.hasKey || got.fullKey != h.fullKey || len(got.tags) != len(h.tags) {
				t.Fatalf("round trip of %+v: got %+v, value %q", h, got, val)
			}
			for i := range h.tags {
				if got.tags[i] != h.tags[i] {
					t.Fatalf("tag %d: got %+v want %+v", i, got.tags[i], h.tags[i])
				}
			}
		}
	}
}

func TestHeaderCorrupt(t *testing.T) {
	good := appendHeader(nil, &header{nsVersion: 3, tags: []tagVersion{{"t", 9}}}, []byte("v"))
	for _, b := range [][]byte{nil, {0xB7}, []byte("plain"), {0xB7, 2, 0}, {0xB7, 1, 0x80}, good[:6]} {
		if _, _, err := parseHeader(b); !errors.Is(err, backend.ErrCorrupt) {
			t.Errorf("parseHeader(%q) = %v; want ErrCorrupt", b, err)
		}
	}
}

func FuzzParseHeader(f *testing.F) {
	f.Add(appendHeader(nil, &header{nsVersion: 3, hasKey: true, fullKey: "k k", tags: []tagVersion{{"t", 9}}}, []byte("v")))
	f.Add([]byte{0xB7, 1, 3, 0, 0, 0, 1, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		h, val, err := parseHeader(b)
		if err != nil {
			if !errors.Is(err, backend.ErrCorrupt) {
				t.Fatalf("error %v does not match ErrCorrupt", err)
			}
			return
		}
		// A successful parse re-encodes to the same bytes.
		if again := appendHeader(nil, &h, val); len(again) > len(b) {
			t.Fatalf("re-encoding grew: %d > %d", len(again), len(b))
		}
	})
}
