// Package codec turns values into the bytes yokedcache stores and back:
// the [Codec] interface with JSON and msgpack codecs (raw []byte and string
// values are stored verbatim), the codec IDs, and the [Compression]
// choices. Implement Codec to plug in another encoding (IDs 128-255).
//
// # The stored bytes
//
// The Cache wraps every encoded value in a versioned envelope (built and
// read only by the Cache, in an internal package) that starts with a
// 9-byte header:
//
//	offset 0  magic 0xCB
//	offset 1  format version (1)
//	offset 2  codec id (see the ID constants; 128-255 are user codecs)
//	offset 3  compression id (0 none, 1 s2, 2 zstd)
//	offset 4  flags (bit 0: a tag list follows the header; bit 1: a soft
//	          expiry follows; bit 2: the entry records a miss)
//	offset 5  CRC-32C (Castagnoli), little endian, of bytes 0-4 and 9-end
//
// followed by the optional soft expiry, the entry's tags (uvarint count,
// then uvarint length + bytes per tag) and the payload (compressed when the
// compression id says so). A reader rejects unknown versions, codecs and
// compressions, and any checksum mismatch, as corrupt; it never panics and
// never returns a wrong value. Tools in other languages can read values
// with this layout; writing them is the Cache's job.
//
// No codec builds arbitrary types or executes code from stored bytes: JSON
// and msgpack decode into the destination the caller passes.
package codec

import (
	"encoding/json"
	"fmt"

	"github.com/vmihailenco/msgpack/v5"
)

// Codec encodes and decodes values. Implementations must be safe for
// concurrent use.
type Codec interface {
	// ID is stored in the envelope header. IDs below 128 are reserved for
	// yokedcache; user codecs use 128-255.
	ID() byte
	// Name is a short human-readable name ("json").
	Name() string
	Marshal(v any) ([]byte, error)
	// Unmarshal decodes data into v, a non-nil pointer.
	Unmarshal(data []byte, v any) error
}

// Codec IDs of the built-in codecs.
const (
	IDRaw     byte = 1 // []byte stored verbatim
	IDString  byte = 2 // string stored verbatim
	IDJSON    byte = 3
	IDMsgpack byte = 4
	// IDUserMin is the smallest ID a user codec may use.
	IDUserMin byte = 128
)

// JSON is the default codec: encoding/json.
var JSON Codec = jsonCodec{}

// Msgpack encodes with github.com/vmihailenco/msgpack/v5: smaller and
// faster than JSON for most structs.
var Msgpack Codec = msgpackCodec{}

type jsonCodec struct{}

func (jsonCodec) ID() byte                           { return IDJSON }
func (jsonCodec) Name() string                       { return "json" }
func (jsonCodec) Marshal(v any) ([]byte, error)      { return json.Marshal(v) }
func (jsonCodec) Unmarshal(data []byte, v any) error { return json.Unmarshal(data, v) }

type msgpackCodec struct{}

func (msgpackCodec) ID() byte                           { return IDMsgpack }
func (msgpackCodec) Name() string                       { return "msgpack" }
func (msgpackCodec) Marshal(v any) ([]byte, error)      { return msgpack.Marshal(v) }
func (msgpackCodec) Unmarshal(data []byte, v any) error { return msgpack.Unmarshal(data, v) }

// Builtin returns the built-in codec with id, if any. Raw and string
// payloads have no Codec value: the Cache copies them directly.
func Builtin(id byte) (Codec, bool) {
	switch id {
	case IDJSON:
		return JSON, true
	case IDMsgpack:
		return Msgpack, true
	}
	return nil, false
}

// NameOf returns a readable name for a codec id.
func NameOf(id byte) string {
	switch id {
	case IDRaw:
		return "raw"
	case IDString:
		return "string"
	case IDJSON:
		return "json"
	case IDMsgpack:
		return "msgpack"
	}
	return fmt.Sprintf("user(%d)", id)
}
