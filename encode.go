package yokedcache

import (
	"context"
	"fmt"
	"log/slog"
	"reflect"
	"unsafe"

	"github.com/yokedcache/yokedcache/codec"
	"github.com/yokedcache/yokedcache/internal/envelope"
)

// encodeEntry builds the stored key and the envelope for value in one
// allocation: the key's bytes followed by the envelope's. A backend that
// keeps both (the memory backend) pays for one object per entry; one that
// keeps neither (Redis) has one allocation to collect.
//
// buf, when its capacity suffices, is used instead of a new allocation;
// the buffer used is returned as out.
func (c *Cache) encodeEntry(buf []byte, key string, v any, tags []string, eo envelope.EncodeOptions) (skey string, env, out []byte, err error) {
	var id byte
	var payload []byte
	switch x := v.(type) {
	case []byte:
		id, payload = codec.IDRaw, x
	case string:
		id, payload = codec.IDString, unsafe.Slice(unsafe.StringData(x), len(x))
	default:
		p, err := c.cfg.Codec.Marshal(v)
		if err != nil {
			return "", nil, buf, fmt.Errorf("%s cannot encode %T: %v: %w", c.cfg.Codec.Name(), v, err, ErrInvalidValue)
		}
		id, payload = c.cfg.Codec.ID(), p
	}
	if len(payload) > c.cfg.MaxValueSize {
		return "", nil, buf, fmt.Errorf("value of %d bytes exceeds MaxValueSize %d: %w", len(payload), c.cfg.MaxValueSize, ErrValueTooLarge)
	}
	kp := c.prefix
	n := len(kp) + len(key)
	if need := n + envelope.MaxEncodedLen(len(payload), tags); cap(buf) < need {
		buf = make([]byte, 0, need)
	}
	buf = append(append(buf[:0], kp...), key...)
	buf, err = envelope.AppendEncode(buf, id, payload, tags, eo)
	if err != nil {
		return "", nil, buf, err
	}
	if c.seal != nil {
		env := buf[n:]
		sealed := make([]byte, 0, n+len(env)+c.seal.Overhead())
		sealed = append(sealed, buf[:n]...)
		sealed = c.seal.Seal(sealed, unsafe.String(unsafe.SliceData(sealed), n), env)
		buf = sealed
	}
	return unsafe.String(unsafe.SliceData(buf), n), buf[n:len(buf):len(buf)], buf, nil
}

// unseal returns the envelope inside stored bytes when values are signed
// or encrypted; a value that does not verify is counted and logged and
// returned as a corrupt miss.
func (c *Cache) unseal(key string, raw []byte) ([]byte, error) {
	if c.seal == nil {
		return raw, nil
	}
	env, err := c.seal.Open(c.prefix+key, raw)
	if err != nil {
		c.m.unauthenticated.add(1)
		return nil, c.corrupt(key, err)
	}
	return env, nil
}

// decodeQuiet decodes stored bytes without counting or logging a
// failure.
func (c *Cache) decodeQuiet(key string, raw []byte) (envelope.Envelope, error) {
	if c.seal != nil {
		var err error
		if raw, err = c.seal.Open(c.prefix+key, raw); err != nil {
			return envelope.Envelope{}, err
		}
	}
	return envelope.Decode(raw, c.cfg.MaxValueSize)
}

func (c *Cache) decodeEnvelope(key string, raw []byte) (envelope.Envelope, error) {
	raw, err := c.unseal(key, raw)
	if err != nil {
		return envelope.Envelope{}, err
	}
	env, err := envelope.Decode(raw, c.cfg.MaxValueSize)
	if err != nil {
		return env, c.corrupt(key, err)
	}
	return env, nil
}

// decodeFrom decodes bytes read from member m: without the checksum when
// they never left the process.
func (c *Cache) decodeFrom(m *member, key string, raw []byte) (envelope.Envelope, error) {
	if !m.local || c.seal != nil {
		return c.decodeEnvelope(key, raw)
	}
	env, err := envelope.DecodeTrusted(raw, c.cfg.MaxValueSize)
	if err != nil {
		return env, c.corrupt(key, err)
	}
	return env, nil
}

// decodeTo is decodeFrom writing the envelope into *env (left in an
// unspecified state on error).
func (c *Cache) decodeTo(env *envelope.Envelope, m *member, key string, raw []byte) (err error) {
	if !m.local || c.seal != nil {
		*env, err = c.decodeEnvelope(key, raw)
		return err
	}
	if err := envelope.DecodeTrustedTo(env, raw, c.cfg.MaxValueSize); err != nil {
		return c.corrupt(key, err)
	}
	return nil
}

// corrupt counts and logs a stored value that does not decode and returns
// the corrupt miss. The WARN line is rate-limited per route (corruptLogLimit:
// at most 100 lines per 10 s, the next one with suppressed=N); it
// names the route and backend, the key shortened (the full key only when
// the Logger is enabled for debug).
func (c *Cache) corrupt(key string, err error) error {
	c.m.corrupt.add(1)
	r := c.rt.match(key)
	ok, suppressed := r.m.corruptLog.Allow(c.cfg.Clock.Now())
	if !ok {
		return &corruptErr{cause: err}
	}
	args := make([]any, 0, 12)
	if c.rt.byPrefix != nil { // the Cache has routes
		args = append(args, "route", r.prefix)
	}
	args = append(args, "backend", r.mem.name, "key", shortKey(key), "error", err)
	if suppressed > 0 {
		args = append(args, "suppressed", suppressed)
	}
	if c.cfg.Logger.Enabled(context.Background(), slog.LevelDebug) {
		args = append(args, "full_key", key)
	}
	c.log.Warn("yokedcache: stored value does not decode; treating as a miss", args...)
	return &corruptErr{cause: err}
}

// checkDst validates a read's destination before the backend is touched.
// It must be a non-nil pointer, as Codec.Unmarshal requires; *[]byte,
// *string and *any are checked without reflection. A bad destination is a
// programming error, reported as ErrInvalidValue and never as corruption.
func checkDst(dst any) error {
	switch d := dst.(type) {
	case nil:
		return fmt.Errorf("destination is nil; pass a non-nil pointer: %w", ErrInvalidValue)
	case *string:
		if d != nil {
			return nil
		}
	case *[]byte:
		if d != nil {
			return nil
		}
	case *any:
		if d != nil {
			return nil
		}
	default:
		v := reflect.ValueOf(dst)
		if v.Kind() != reflect.Pointer {
			return fmt.Errorf("destination of type %T is not a pointer; pass a pointer such as &v: %w", dst, ErrInvalidValue)
		}
		if !v.IsNil() {
			return nil
		}
	}
	return fmt.Errorf("destination is a nil %T; pass a non-nil pointer: %w", dst, ErrInvalidValue)
}

// decodeInto decodes an envelope's payload into dst, which checkDst has
// accepted. A failure is counted in Stats.Corrupt, logged and returned as
// a corrupt miss.
func (c *Cache) decodeInto(key string, env envelope.Envelope, dst any) error {
	if err := c.decodeValue(env, dst); err != nil {
		return c.corrupt(key, err)
	}
	return nil
}

// decodeValue decodes an envelope's payload into dst, which checkDst has
// accepted, without counting or logging a failure.
func (c *Cache) decodeValue(env envelope.Envelope, dst any) error {
	switch env.Codec {
	case codec.IDRaw, codec.IDString:
		switch d := dst.(type) {
		case *[]byte:
			*d = append(make([]byte, 0, len(env.Payload)), env.Payload...)
			return nil
		case *string:
			*d = string(env.Payload)
			return nil
		case *any:
			if env.Codec == codec.IDRaw {
				*d = append(make([]byte, 0, len(env.Payload)), env.Payload...)
			} else {
				*d = string(env.Payload)
			}
			return nil
		}
		return fmt.Errorf("a stored %s value cannot be decoded into %T", codec.NameOf(env.Codec), dst)
	}
	cd := c.codecs[env.Codec]
	if cd == nil {
		return fmt.Errorf("stored with unknown codec %s (add it to Config.ExtraCodecs)", codec.NameOf(env.Codec))
	}
	if err := cd.Unmarshal(env.Payload, dst); err != nil {
		return fmt.Errorf("%s decode into %T: %v", cd.Name(), dst, err)
	}
	return nil
}
