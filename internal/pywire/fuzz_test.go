package pywire_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/yokedcache/yokedcache/codec"
	"github.com/yokedcache/yokedcache/internal/pywire"
	"github.com/yokedcache/yokedcache/internal/pywire/pyfixture"
)

// FuzzDecode: Decode never panics, fails only with its three sentinels,
// and what it accepts Go can decode; a JSON payload survives the trip
// through Encode (Go's write path) unchanged in meaning, and the
// canonical form is a fixed point.
func FuzzDecode(f *testing.F) {
	if recs, err := pyfixture.Load(); err == nil {
		for _, r := range recs {
			if r.Kind == "value" {
				f.Add(r.Value())
			}
		}
	}
	for _, s := range []string{"", "\x89Yc\x01", "\x89Yc\x01\x01", "\x89Yc\x01\x03\xc1", "\x89Yc\x01\x01\"\\ud800\"", "{\"a\":1}", "\x80\x05.", "null", "\x89Yc\x01\x03\xde\x00\x01\xa1k\xc7\x0c\xff000000000000"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := pywire.Decode(b)
		if err != nil {
			if !errors.Is(err, pywire.ErrPickle) && !errors.Is(err, pywire.ErrNull) && !errors.Is(err, pywire.ErrUndecodable) {
				t.Fatalf("Decode error %v matches no sentinel", err)
			}
			return
		}
		switch v.Codec {
		case codec.IDString, codec.IDRaw:
			out, err := pywire.Encode(v.Codec, v.Payload)
			if err != nil {
				t.Fatalf("Encode of a decoded string/bytes: %v", err)
			}
			back, err := pywire.Decode(out)
			if err != nil || !bytes.Equal(back.Payload, v.Payload) {
				t.Fatalf("string/bytes round trip: %v %q != %q", err, back.Payload, v.Payload)
			}
		case codec.IDJSON:
			var x any
			if err := json.Unmarshal(v.Payload, &x); err != nil {
				t.Fatalf("accepted JSON %q that Go cannot decode: %v", v.Payload, err)
			}
			out, err := pywire.Encode(codec.IDJSON, v.Payload)
			if err != nil {
				t.Fatalf("Encode of accepted JSON %q: %v", v.Payload, err)
			}
			back, err := pywire.Decode(out)
			if err != nil {
				t.Fatalf("Decode(Encode(%q)) = %v", v.Payload, err)
			}
			again, err := pywire.Encode(back.Codec, back.Payload)
			if err != nil || !bytes.Equal(again, out) {
				t.Fatalf("canonical form is not a fixed point: %q -> %q (%v)", out, again, err)
			}
		case codec.IDMsgpack:
			var x any
			if err := msgpack.Unmarshal(v.Payload, &x); err != nil {
				t.Fatalf("accepted msgpack %x that Go cannot decode: %v", v.Payload, err)
			}
		default:
			t.Fatalf("unexpected codec %d", v.Codec)
		}
	})
}
