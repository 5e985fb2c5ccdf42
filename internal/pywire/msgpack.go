package pywire

import (
	"encoding/binary"
	"errors"
	"fmt"
	"unicode/utf8"
)

// validateMsgpack checks p is exactly one msgpack object as Python's
// msgpack 1.0 unpackb reads it by default (raw=False: str must be UTF-8;
// strict_map_key=True: map keys are str or bin), returning its first
// byte. Extension types other than the timestamp (-1) are refused: Go has
// no type for them.
func validateMsgpack(p []byte) (byte, error) {
	if len(p) == 0 {
		return 0, errors.New("empty payload")
	}
	n, err := skipMsgpack(p, 0, false)
	if err != nil {
		return 0, err
	}
	if n != len(p) {
		return 0, fmt.Errorf("%d bytes after the object", len(p)-n)
	}
	return p[0], nil
}

var errShort = errors.New("truncated object")

// msgLen reads a big-endian length of w bytes at p[i:].
func msgLen(p []byte, i, w int) (int, error) {
	if len(p)-i < w {
		return 0, errShort
	}
	switch w {
	case 1:
		return int(p[i]), nil
	case 2:
		return int(binary.BigEndian.Uint16(p[i:])), nil
	}
	n := binary.BigEndian.Uint32(p[i:])
	if uint64(n) > uint64(len(p)) {
		return 0, errShort
	}
	return int(n), nil
}

// skipMsgpack validates the object at p[0:] and returns its length.
// asKey: the object is a map key (must be str or bin).
func skipMsgpack(p []byte, depth int, asKey bool) (int, error) {
	if depth > maxDepth {
		return 0, errors.New("nesting too deep")
	}
	if len(p) == 0 {
		return 0, errShort
	}
	c := p[0]
	isStr, isBin := false, false
	hdr, size := 1, 0 // header length, body length
	count, pairs := -1, false
	switch {
	case c <= 0x7f, c >= 0xe0, c == 0xc0, c == 0xc2, c == 0xc3:
	case c >= 0x80 && c <= 0x8f:
		count, pairs = int(c&0x0f), true
	case c >= 0x90 && c <= 0x9f:
		count = int(c & 0x0f)
	case c >= 0xa0 && c <= 0xbf:
		isStr, size = true, int(c&0x1f)
	case c == 0xc1:
		return 0, errors.New("reserved byte 0xc1")
	case c >= 0xc4 && c <= 0xc6:
		w := 1 << (c - 0xc4)
		n, err := msgLen(p, 1, w)
		if err != nil {
			return 0, err
		}
		isBin, hdr, size = true, 1+w, n
	case c >= 0xc7 && c <= 0xc9:
		w := 1 << (c - 0xc7)
		n, err := msgLen(p, 1, w)
		if err != nil {
			return 0, err
		}
		if len(p) < 1+w+1 {
			return 0, errShort
		}
		if err := checkExt(int8(p[1+w]), n); err != nil {
			return 0, err
		}
		hdr, size = 1+w+1, n
	case c == 0xca:
		size = 4
	case c == 0xcb:
		size = 8
	case c >= 0xcc && c <= 0xcf:
		size = 1 << (c - 0xcc)
	case c >= 0xd0 && c <= 0xd3:
		size = 1 << (c - 0xd0)
	case c >= 0xd4 && c <= 0xd8:
		if len(p) < 2 {
			return 0, errShort
		}
		n := 1 << (c - 0xd4)
		if err := checkExt(int8(p[1]), n); err != nil {
			return 0, err
		}
		hdr, size = 2, n
	case c >= 0xd9 && c <= 0xdb:
		w := 1 << (c - 0xd9)
		n, err := msgLen(p, 1, w)
		if err != nil {
			return 0, err
		}
		isStr, hdr, size = true, 1+w, n
	case c == 0xdc || c == 0xdd:
		w := 2 << (c - 0xdc)
		n, err := msgLen(p, 1, w)
		if err != nil {
			return 0, err
		}
		hdr, count = 1+w, n
	case c == 0xde || c == 0xdf:
		w := 2 << (c - 0xde)
		n, err := msgLen(p, 1, w)
		if err != nil {
			return 0, err
		}
		hdr, count, pairs = 1+w, n, true
	}
	if asKey && !isStr && !isBin {
		return 0, fmt.Errorf("map key of type 0x%02x is not str or bin", c)
	}
	if count < 0 {
		if size > len(p)-hdr {
			return 0, errShort
		}
		if isStr && !utf8.Valid(p[hdr:hdr+size]) {
			return 0, errors.New("str is not UTF-8")
		}
		return hdr + size, nil
	}
	// Every element takes at least one byte.
	elems := count
	if pairs {
		elems = 2 * count
	}
	if elems > len(p)-hdr {
		return 0, errShort
	}
	off := hdr
	for i := range elems {
		n, err := skipMsgpack(p[off:], depth+1, pairs && i%2 == 0)
		if err != nil {
			return 0, err
		}
		off += n
	}
	return off, nil
}

// checkExt accepts only the msgpack timestamp extension (-1 with 4, 8 or
// 12 bytes).
func checkExt(typ int8, n int) error {
	if typ == -1 && (n == 4 || n == 8 || n == 12) {
		return nil
	}
	return fmt.Errorf("extension type %d (%d bytes) has no Go equivalent", typ, n)
}

// msgpackBody returns the body of a top-level str or bin object
// (validated by validateMsgpack).
func msgpackBody(p []byte) ([]byte, bool) {
	c := p[0]
	switch {
	case c >= 0xa0 && c <= 0xbf:
		return p[1:], true
	case c == 0xd9, c == 0xc4:
		return p[2:], true
	case c == 0xda, c == 0xc5:
		return p[3:], true
	case c == 0xdb, c == 0xc6:
		return p[5:], true
	}
	return nil, false
}
