package pywire_test

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/yokedcache/yokedcache/codec"
	"github.com/yokedcache/yokedcache/internal/pywire"
	"github.com/yokedcache/yokedcache/internal/pywire/pyfixture"
)

// goValue decodes a Value as the Cache would into an *any.
func goValue(t testing.TB, v pywire.Value) any {
	t.Helper()
	switch v.Codec {
	case codec.IDString:
		return string(v.Payload)
	case codec.IDRaw:
		return append([]byte(nil), v.Payload...)
	case codec.IDJSON:
		d := json.NewDecoder(bytes.NewReader(v.Payload))
		d.UseNumber()
		var out any
		if err := d.Decode(&out); err != nil {
			t.Fatalf("Go cannot decode the JSON payload %q: %v", v.Payload, err)
		}
		return out
	case codec.IDMsgpack:
		var out any
		if err := msgpack.Unmarshal(v.Payload, &out); err != nil {
			t.Fatalf("Go cannot decode the msgpack payload %x: %v", v.Payload, err)
		}
		return out
	}
	t.Fatalf("unexpected codec %d", v.Codec)
	return nil
}

func loadValues(t testing.TB) []pyfixture.Record {
	t.Helper()
	recs, err := pyfixture.Load()
	if err != nil {
		t.Fatal(err)
	}
	var out []pyfixture.Record
	for _, r := range recs {
		if r.Kind == "value" {
			out = append(out, r)
		}
	}
	if len(out) != 42 {
		t.Fatalf("loaded %d value fixtures, want 42", len(out))
	}
	return out
}

// TestDecodeFixtures: every value the Python original wrote decodes to
// what Python's get returned; the pickle one is refused; the stored null
// is Python's "not found".
func TestDecodeFixtures(t *testing.T) {
	for _, r := range loadValues(t) {
		t.Run(r.ID, func(t *testing.T) {
			v, err := pywire.Decode(r.Value())
			switch {
			case r.GoExpect == "must_refuse":
				if !errors.Is(err, pywire.ErrPickle) {
					t.Fatalf("Decode = %v, %v; want ErrPickle", v, err)
				}
				return
			case !r.PythonGet.Found:
				if !errors.Is(err, pywire.ErrNull) {
					t.Fatalf("Decode = %v, %v; want ErrNull (Python: not found)", v, err)
				}
				return
			case err != nil:
				t.Fatalf("Decode: %v", err)
			}
			if string(v.Method) != string(methodOf(r.Envelope.Method)) || v.Legacy {
				t.Errorf("method %d legacy %v, want %s", v.Method, v.Legacy, r.Envelope.Method)
			}
			if d := pyfixture.Compare(goValue(t, v), r.PythonGet.Value); d != "" {
				t.Error(d)
			}
		})
	}
}

func methodOf(name string) pywire.Method {
	switch name {
	case "json":
		return pywire.JSON
	case "msgpack":
		return pywire.Msgpack
	case "pickle":
		return pywire.Pickle
	}
	return 0
}

// TestDecodeForeign is scenarios.md §3: bytes Python did not write, and
// what Python's get (default config) returned. "refuse" is None with a
// warning, "null" is None without one, "pickle" is what Go refuses where
// Python unpickles.
func TestDecodeForeign(t *testing.T) {
	for _, c := range []struct {
		name, hex, want string // want: JSON view, or refuse/null/pickle
	}{
		{"json_object_no_envelope", "7b2261223a317d", `{"a":1}`},
		{"json_string_no_envelope", "2268656c6c6f22", `"hello"`},
		{"json_number_no_envelope", "3432", `42`},
		{"json_null_no_envelope", "6e756c6c", "null"},
		{"plain_text_no_envelope", "68656c6c6f20776f726c64", "refuse"},
		{"empty_bytes", "", "refuse"},
		{"pickle_no_envelope", "80059 50a000000000000007d948c0170944b01732e", "pickle"},
		{"envelope_version_2", "8959630201227822", "refuse"},
		{"envelope_method_0", "8959630100227822", "refuse"},
		{"envelope_method_4", "8959630104227822", "refuse"},
		{"envelope_method_9", "8959630109227822", "refuse"},
		{"envelope_only_magic", "89596301", "refuse"},
		{"envelope_json_empty_payload", "8959630101", "refuse"},
		{"envelope_json_bad_payload", "89596301017b626164", "refuse"},
		{"envelope_json_whitespace", "8959630101207b2261223a20312c202262223a205b312c20325d7d200a", `{"a":1,"b":[1,2]}`},
		{"envelope_json_html_escaped", "8959630101225c75303033635c75303032365c75303033655c753230323822", `"<&>` + "\u2028" + `"`},
		{"envelope_json_invalid_utf8", "895963010122ff22", "refuse"},
		{"envelope_json_lone_surrogate", "8959630101225c756438303022", "refuse"},
		{"envelope_json_nan", "89596301014e614e", "refuse"},
		{"envelope_json_int_2pow64", "89596301013138343436373434303733373039353531363136", `1.8446744073709552e19`},
		{"envelope_json_duplicate_keys", "89596301017b2261223a312c2261223a327d", `{"a":2}`},
		{"envelope_json_trailing_data", "89596301017b2261223a317d78", "refuse"},
		{"envelope_json_null", "89596301016e756c6c", "null"},
		{"envelope_msgpack_bad", "89596301 03c1", "refuse"},
		{"envelope_msgpack_trailing", "89596301030102", "refuse"},
		{"envelope_pickle_dict", "895963010280059 50a000000000000007d948c0170944b01732e", "pickle"},
	} {
		t.Run(c.name, func(t *testing.T) {
			b, err := hex.DecodeString(strings.ReplaceAll(c.hex, " ", ""))
			if err != nil {
				t.Fatal(err)
			}
			v, err := pywire.Decode(b)
			switch c.want {
			case "refuse":
				if !errors.Is(err, pywire.ErrUndecodable) {
					t.Fatalf("Decode = %+v, %v; want ErrUndecodable", v, err)
				}
			case "null":
				if !errors.Is(err, pywire.ErrNull) {
					t.Fatalf("Decode = %+v, %v; want ErrNull", v, err)
				}
			case "pickle":
				if !errors.Is(err, pywire.ErrPickle) {
					t.Fatalf("Decode = %+v, %v; want ErrPickle", v, err)
				}
			default:
				if err != nil {
					t.Fatalf("Decode: %v", err)
				}
				if c.name == "envelope_json_int_2pow64" {
					// Python (orjson 3.8.3) returns the float 2^64; Go
					// decodes the same number into float64 or uint64
					// overflow, which a *any destination takes as float64.
					var f float64
					if err := json.Unmarshal(v.Payload, &f); err != nil || f != math.Pow(2, 64) {
						t.Fatalf("payload %s = %v, %v", v.Payload, f, err)
					}
					return
				}
				if d := pyfixture.Compare(goValue(t, v), json.RawMessage(c.want)); d != "" {
					t.Error(d)
				}
			}
		})
	}
}

// GoPayload is what the Cache's envelope holds for v with the JSON codec.
func goPayload(t testing.TB, v any) (byte, []byte) {
	t.Helper()
	switch x := v.(type) {
	case string:
		return codec.IDString, []byte(x)
	case []byte:
		return codec.IDRaw, x
	}
	p, err := codec.JSON.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return codec.IDJSON, p
}

// TestEncodeMatchesPython: for every fixture with a Go equivalent, Encode
// of Go's payload is byte for byte what Python stored.
func TestEncodeMatchesPython(t *testing.T) {
	eq := pyfixture.GoEquivalents()
	seen := 0
	for _, r := range loadValues(t) {
		v, ok := eq[r.ID]
		if !ok {
			continue
		}
		seen++
		t.Run(r.ID, func(t *testing.T) {
			id, p := goPayload(t, v)
			got, err := pywire.Encode(id, p)
			if err != nil {
				t.Fatal(err)
			}
			if want := r.Value(); !bytes.Equal(got, want) {
				t.Fatalf("Encode = %x\nPython     %x", got, want)
			}
		})
	}
	if seen != len(eq) {
		t.Fatalf("matched %d of %d Go equivalents to fixtures", seen, len(eq))
	}
}

func TestAppendFloat(t *testing.T) {
	for _, c := range []struct {
		f    float64
		want string
	}{
		{3.14159, "3.14159"}, {2, "2.0"}, {1e16, "1e16"}, {1.5e-7, "1.5e-7"}, {3, "3.0"},
		{9.5, "9.5"}, {0, "0.0"}, {math.Copysign(0, -1), "-0.0"}, {-2.5, "-2.5"},
		{1e15, "1000000000000000.0"}, {1234567890123456, "1234567890123456.0"},
		{1.5e16, "1.5e16"}, {0.001, "0.001"}, {1e21, "1e21"}, {1.8446744073709552e19, "1.8446744073709552e19"},
		{5e-324, "5e-324"}, {math.MaxFloat64, "1.7976931348623157e308"}, {0.1, "0.1"},
		{math.NaN(), "null"}, {math.Inf(1), "null"},
	} {
		if got := string(pywire.AppendFloat(nil, c.f)); got != c.want {
			t.Errorf("AppendFloat(%v) = %s, want %s", c.f, got, c.want)
		}
	}
}

// TestCanonicalJSON: Go's encoding/json output is rewritten into orjson's
// form (HTML-safe escapes, U+2028, exponent floats), keeping key order
// and integers.
func TestCanonicalJSON(t *testing.T) {
	for in, want := range map[string]string{
		`"\u003c\u0026\u003e\u2028\u2029"`:                     "\"<&>\u2028\u2029\"",
		`{"b":1,"a":[1e+21,1e-7,0.5,-0,12345678901234567890]}`: `{"b":1,"a":[1e21,1e-7,0.5,-0,12345678901234567890]}`,
		` { "a" : [ true , false , null ] } `:                  `{"a":[true,false,null]}`,
		`"\u0000\u001f\b\f\n\r\t\/\ud83c\udf0d"`:               `"\u0000\u001f\b\f\n\r\t/🌍"`,
		`"\ufffd"`:                                             "\"\ufffd\"",
	} {
		got, err := pywire.AppendCanonicalJSON(nil, []byte(in))
		if err != nil || string(got) != want {
			t.Errorf("AppendCanonicalJSON(%s) = %s, %v; want %s", in, got, err, want)
		}
	}
	for _, bad := range []string{``, `{`, `[1,]`, `01`, `1.`, `"\x01"`, `"\ud800"`, `NaN`, `1 2`, `1e400`} {
		if got, err := pywire.AppendCanonicalJSON(nil, []byte(bad)); err == nil {
			t.Errorf("AppendCanonicalJSON(%q) = %s; want an error", bad, got)
		}
	}
}

// TestEncodeRoundTrip: what Encode writes, Decode reads back as the same
// Go value; strings that are not UTF-8 and bytes go as msgpack bin.
func TestEncodeRoundTrip(t *testing.T) {
	for _, v := range []any{"", "x", "not utf-8 \xff", []byte{}, bytes.Repeat([]byte{7}, 70000), map[string]any{"k": []any{1.5, "é"}}} {
		id, p := goPayload(t, v)
		b, err := pywire.Encode(id, p)
		if err != nil {
			t.Fatal(err)
		}
		dv, err := pywire.Decode(b)
		if err != nil {
			t.Fatalf("Decode(Encode(%q)): %v", v, err)
		}
		switch x := v.(type) {
		case string:
			if !bytes.Equal(dv.Payload, []byte(x)) {
				t.Errorf("round trip of %q = %q", x, dv.Payload)
			}
			if !strings.Contains(x, "\xff") && dv.Codec != codec.IDString {
				t.Errorf("string %q came back as codec %d", x, dv.Codec)
			}
		case []byte:
			if dv.Codec != codec.IDRaw || !bytes.Equal(dv.Payload, x) {
				t.Errorf("bytes came back as codec %d, %d bytes", dv.Codec, len(dv.Payload))
			}
		default:
			if dv.Codec != codec.IDJSON || string(dv.Payload) != `{"k":[1.5,"é"]}` {
				t.Errorf("JSON came back as %d %s", dv.Codec, dv.Payload)
			}
		}
	}
	if _, err := pywire.Encode(200, []byte("x")); !errors.Is(err, pywire.ErrUnsupportedCodec) {
		t.Errorf("Encode of a user codec: %v", err)
	}
}

// TestDecodeMsgpack: what Python's msgpack (raw=False) reads and Go can
// decode is accepted; truncated, reserved, non-UTF-8 and extension
// payloads Go has no type for are refused.
func TestDecodeMsgpack(t *testing.T) {
	for h, want := range map[string]string{
		"a568656c6c6f":               "string",  // 'hello'
		"c40300 01ff":                "bytes",   // b'\x00\x01\xff'
		"d90568656c6c6f":             "string",  // str 8
		"92 01 a1 78":                "msgpack", // [1, 'x']
		"81 a1 6b c3":                "msgpack", // {'k': True}
		"d6 ff 00 00 00 01":          "msgpack", // timestamp (ext -1, 4 bytes)
		"c0":                         "null",    // None
		"c1":                         "refuse",  // reserved
		"a3 61 62":                   "refuse",  // truncated str
		"a1 ff":                      "refuse",  // str not UTF-8
		"dd ff ff ff ff":             "refuse",  // array of 2^32-1 elements, no data
		"81 01 02":                   "refuse",  // int map key
		"d4 05 00":                   "refuse",  // ext type 5
		"92 01":                      "refuse",  // truncated array
		"cb 3f f8 00 00 00 00 00 00": "msgpack", // 1.5
		"cf 00 00 01 00 00 00 00 00": "msgpack", // 2**40
		"01 02":                      "refuse",  // trailing
	} {
		b, err := hex.DecodeString("89596301" + "03" + strings.ReplaceAll(h, " ", ""))
		if err != nil {
			t.Fatal(err)
		}
		v, err := pywire.Decode(b)
		got := "refuse"
		switch {
		case errors.Is(err, pywire.ErrNull):
			got = "null"
		case err != nil:
		case v.Codec == codec.IDString:
			got = "string"
		case v.Codec == codec.IDRaw:
			got = "bytes"
		case v.Codec == codec.IDMsgpack:
			got = "msgpack"
			var x any
			if err := msgpack.Unmarshal(v.Payload, &x); err != nil {
				t.Errorf("%s: accepted but Go cannot decode it: %v", h, err)
			}
		}
		if got != want {
			t.Errorf("Decode(msgpack %s) = %s (%v), want %s", h, got, err, want)
		}
	}
}
