// Package pywire reads and writes the stored-value format of the Python
// original, YokedCache 1.0.2, on Redis, so that Go and Python services can
// share one cache (backend/redis's compat=python mode).
//
// # The Python envelope
//
// Every value the Python library writes is
//
//	bytes 0..3  0x89 'Y' 'c' 0x01   magic (the last byte acts as version 1)
//	byte  4     method              1 JSON, 2 pickle, 3 msgpack
//	bytes 5..   payload             to the end; no length, flags or checksum
//
// A value counts as enveloped only when it is at least 5 bytes long and
// starts with the magic; anything else is a "legacy" value, which Python
// reads as bare JSON (or, insecurely, as a bare pickle).
//
// The JSON payload is what orjson 3.8.3 writes: compact, dict keys in
// insertion order, raw UTF-8, only '"', '\\' and control characters
// escaped (\b \t \n \f \r, else \u00xx in lower case), floats in the
// shortest round-trip form with ".0" for whole numbers and an exponent
// without '+' or leading zeros (1e16, 1.5e-7). See
// /work/shared/reference/python-wire/scenarios.md for the observed bytes.
//
// # Reading
//
// [Decode] turns stored bytes into a codec id and a payload the yokedcache
// Cache decodes as usual: a JSON string becomes a string value, other JSON
// stays JSON, msgpack str and bin become string and []byte values, other
// msgpack stays msgpack. It applies orjson's strictness (no NaN, no lone
// surrogates, valid UTF-8, nothing after the value) so that Go refuses
// exactly what Python refuses. A stored JSON null is [ErrNull]: Python's get
// cannot tell it from a miss. Pickle, enveloped or bare, is never
// interpreted: it is [ErrPickle].
//
// # Writing
//
// [Encode] turns a Go codec payload into the bytes Python would write:
// JSON (re-serialised into orjson's canonical form) for JSON and string
// values, msgpack (method 3) for []byte values, strings that are not valid
// UTF-8 and msgpack-coded values.
package pywire

import (
	"errors"
	"fmt"
	"unicode/utf8"

	"github.com/yokedcache/yokedcache/codec"
)

// Method is the envelope's serialization byte.
type Method byte

// The Python serialization methods.
const (
	JSON    Method = 1
	Pickle  Method = 2
	Msgpack Method = 3
)

// Magic is the 4-byte start of every enveloped Python value.
const Magic = "\x89Yc\x01"

// HeaderSize is the length of the magic plus the method byte.
const HeaderSize = 5

var (
	// ErrPickle reports a pickle payload (an envelope with method 2, or a
	// bare pickle), which Go never interprets: unpickling runs code.
	ErrPickle = errors.New("pywire: pickle payload refused (written by a Python process configured for pickle)")
	// ErrNull reports a stored JSON null, which the Python library
	// returns as None and so cannot tell apart from a miss.
	ErrNull = errors.New("pywire: stored JSON null (Python reads it as a miss)")
	// ErrUndecodable reports bytes the Python library would also fail to
	// read (it returns None and logs a warning).
	ErrUndecodable = errors.New("pywire: value does not decode")
	// ErrUnsupportedCodec reports a Go value whose codec has no Python
	// equivalent (a user codec).
	ErrUnsupportedCodec = errors.New("pywire: codec has no Python equivalent")
)

// IsEnvelope reports whether b is an enveloped Python value: at least
// HeaderSize bytes starting with Magic (Python's own test).
func IsEnvelope(b []byte) bool {
	return len(b) >= HeaderSize && string(b[:4]) == Magic
}

// IsPickle reports whether b looks like a bare pickle (protocol 2 or
// later: 0x80, the protocol, ..., the STOP opcode '.').
func IsPickle(b []byte) bool {
	return len(b) >= 3 && b[0] == 0x80 && b[1] >= 2 && b[1] <= 5 && b[len(b)-1] == '.'
}

// Value is a decoded Python value: the codec id of package codec (IDJSON,
// IDString, IDRaw or IDMsgpack) and the payload that codec reads.
type Value struct {
	Codec   byte
	Payload []byte
	// Method is how Python stored it; Legacy is true for a value without
	// an envelope (bare JSON).
	Method Method
	Legacy bool
}

// Decode reads stored Python bytes. It returns an error matching ErrPickle,
// ErrNull or ErrUndecodable when the value is not one Go can return.
// Payload may alias b.
func Decode(b []byte) (Value, error) {
	if IsEnvelope(b) {
		m := Method(b[4])
		p := b[HeaderSize:]
		switch m {
		case JSON:
			v, err := decodeJSON(p)
			v.Method = JSON
			return v, err
		case Msgpack:
			v, err := decodeMsgpack(p)
			v.Method = Msgpack
			return v, err
		case Pickle:
			return Value{Method: Pickle}, ErrPickle
		}
		return Value{}, fmt.Errorf("%w: unknown serialization method %d", ErrUndecodable, b[4])
	}
	// Python's legacy path: bare JSON, then (never here) bare pickle.
	v, err := decodeJSON(b)
	if err == nil || errors.Is(err, ErrNull) {
		v.Method, v.Legacy = JSON, true
		return v, err
	}
	if IsPickle(b) {
		return Value{Method: Pickle, Legacy: true}, ErrPickle
	}
	return Value{}, fmt.Errorf("%w: not a Python envelope and not JSON: %v", ErrUndecodable, err)
}

func decodeJSON(p []byte) (Value, error) {
	kind, err := validateJSON(p)
	if err != nil {
		return Value{}, fmt.Errorf("%w: JSON: %v", ErrUndecodable, err)
	}
	switch kind {
	case 'n':
		return Value{}, ErrNull
	case '"':
		s, err := jsonStringValue(p)
		if err != nil {
			return Value{}, fmt.Errorf("%w: JSON: %v", ErrUndecodable, err)
		}
		return Value{Codec: codec.IDString, Payload: s}, nil
	}
	return Value{Codec: codec.IDJSON, Payload: p}, nil
}

func decodeMsgpack(p []byte) (Value, error) {
	first, err := validateMsgpack(p)
	if err != nil {
		return Value{}, fmt.Errorf("%w: msgpack: %v", ErrUndecodable, err)
	}
	switch {
	case first == 0xc0:
		return Value{}, ErrNull
	case first >= 0xa0 && first <= 0xbf, first == 0xd9, first == 0xda, first == 0xdb:
		s, _ := msgpackBody(p)
		return Value{Codec: codec.IDString, Payload: s}, nil
	case first == 0xc4, first == 0xc5, first == 0xc6:
		s, _ := msgpackBody(p)
		return Value{Codec: codec.IDRaw, Payload: s}, nil
	}
	return Value{Codec: codec.IDMsgpack, Payload: p}, nil
}

// Encode returns the bytes the Python library would store for a Go value
// with codec id and payload (as in a yokedcache envelope): see the package
// doc. It returns an error matching ErrUnsupportedCodec for user codecs
// and ErrUndecodable for a payload that is not valid for its codec.
func Encode(id byte, payload []byte) ([]byte, error) {
	switch id {
	case codec.IDJSON:
		out := make([]byte, 0, HeaderSize+len(payload)+8)
		out = append(out, Magic...)
		out = append(out, byte(JSON))
		out, err := AppendCanonicalJSON(out, payload)
		if err != nil {
			return nil, fmt.Errorf("%w: Go JSON payload: %v", ErrUndecodable, err)
		}
		return out, nil
	case codec.IDString:
		if utf8.Valid(payload) {
			out := make([]byte, 0, HeaderSize+len(payload)+8)
			out = append(out, Magic...)
			out = append(out, byte(JSON))
			return appendJSONString(out, payload), nil
		}
		// Not text to Python: store it as bytes.
		return encodeBin(payload), nil
	case codec.IDRaw:
		return encodeBin(payload), nil
	case codec.IDMsgpack:
		if _, err := validateMsgpack(payload); err != nil {
			return nil, fmt.Errorf("%w: Go msgpack payload: %v", ErrUndecodable, err)
		}
		out := make([]byte, 0, HeaderSize+len(payload))
		out = append(out, Magic...)
		out = append(out, byte(Msgpack))
		return append(out, payload...), nil
	}
	return nil, fmt.Errorf("%w: %s", ErrUnsupportedCodec, codec.NameOf(id))
}

// encodeBin is a msgpack envelope holding b as bin (Python bytes).
func encodeBin(b []byte) []byte {
	out := make([]byte, 0, HeaderSize+5+len(b))
	out = append(out, Magic...)
	out = append(out, byte(Msgpack))
	n := len(b)
	switch {
	case n <= 0xff:
		out = append(out, 0xc4, byte(n))
	case n <= 0xffff:
		out = append(out, 0xc5, byte(n>>8), byte(n))
	default:
		out = append(out, 0xc6, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	}
	return append(out, b...)
}
