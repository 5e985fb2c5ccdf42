// Package seal makes stored values tamper-evident (HMAC-SHA-256) or
// encrypted and authenticated (AES-256-GCM), bound to the key they are
// stored under, with key rotation by key id.
//
// A sealed value is
//
//	0xA5 mode keyID body
//
// where mode 1 (signed) has body = envelope || tag, tag the first 16
// bytes of HMAC-SHA-256(key, "yokedcache/seal/v1" || header || len(skey)
// || skey || envelope), and mode 2 (encrypted) has body = nonce(12) ||
// AES-256-GCM(envelope) with the header and the stored key as associated
// data. The stored key is bound in both, so bytes copied to another key
// (or another cache prefix) do not open. The first byte can never start a
// yokedcache envelope (0xCB), a Redis tag frame (0xFE) or valid UTF-8
// text, so sealed and unsealed values are told apart.
package seal

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"io"
	"sync"
)

const (
	magic      = 0xA5
	modeSign   = 1
	modeAEAD   = 2
	headerSize = 3
	tagSize    = 16
	nonceSize  = 12
	// MinSigningKey is the shortest signing key accepted, in bytes.
	MinSigningKey = 16
	// EncryptionKeySize is the size of an encryption key (AES-256).
	EncryptionKeySize = 32
)

// ErrNotSealed reports a stored value that carries no seal although
// sealing is configured (written by a process without the keys, or by a
// raw client).
var ErrNotSealed = errors.New("value is not signed or encrypted")

// ErrForged reports a sealed value that does not verify: a wrong or
// unknown key, bytes changed after sealing, or a value moved to another
// key.
var ErrForged = errors.New("value does not verify with any configured key (tampered, moved to another key, or sealed with an unknown key)")

// Sealer seals and opens values. Its zero value is not usable; build one
// with New. It is safe for concurrent use.
type Sealer struct {
	mode  byte
	sign  []signKey // the first seals; all open
	aeads []aeadKey
}

type signKey struct {
	id   byte
	key  []byte
	macs *sync.Pool // of hash.Hash: HMAC-SHA-256 states with this key
}

type aeadKey struct {
	id   byte
	aead cipher.AEAD
}

// KeyID is the id a key is known by in sealed values: the first byte of a
// SHA-256 of the key, so it reveals nothing useful about it.
func KeyID(key []byte) byte {
	h := sha256.New()
	h.Write([]byte("yokedcache/seal/keyid"))
	h.Write(key)
	return h.Sum(nil)[0]
}

// New returns a Sealer. With encryption keys, values are encrypted with
// the first (AES-256-GCM also authenticates, so signing keys are then only
// used to open values signed earlier); otherwise they are signed with the
// first signing key. Every key of both lists opens values. Keys of one
// list must have distinct ids (KeyID); New returns nil without keys.
func New(signing, encryption [][]byte) (*Sealer, error) {
	if len(signing) == 0 && len(encryption) == 0 {
		return nil, nil
	}
	s := &Sealer{mode: modeSign}
	seen := map[byte]bool{}
	for i, k := range signing {
		if len(k) < MinSigningKey {
			return nil, fmt.Errorf("signing key %d has %d bytes; at least %d are needed", i, len(k), MinSigningKey)
		}
		id := KeyID(k)
		if seen[id] {
			return nil, fmt.Errorf("signing key %d is given twice or shares its id with another key; use another key", i)
		}
		seen[id] = true
		key := append([]byte(nil), k...)
		s.sign = append(s.sign, signKey{id: id, key: key, macs: &sync.Pool{New: func() any { return hmac.New(sha256.New, key) }}})
	}
	seen = map[byte]bool{}
	for i, k := range encryption {
		if len(k) != EncryptionKeySize {
			return nil, fmt.Errorf("encryption key %d has %d bytes; AES-256 needs exactly %d", i, len(k), EncryptionKeySize)
		}
		id := KeyID(k)
		if seen[id] {
			return nil, fmt.Errorf("encryption key %d is given twice or shares its id with another key; use another key", i)
		}
		seen[id] = true
		block, err := aes.NewCipher(k)
		if err != nil {
			return nil, err
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, err
		}
		s.aeads = append(s.aeads, aeadKey{id: id, aead: aead})
	}
	if len(s.aeads) > 0 {
		s.mode = modeAEAD
	}
	return s, nil
}

// Encrypts reports whether Seal encrypts (rather than only signs).
func (s *Sealer) Encrypts() bool { return s.mode == modeAEAD }

// Overhead is how many bytes Seal adds to a value.
func (s *Sealer) Overhead() int {
	if s.mode == modeAEAD {
		return headerSize + nonceSize + tagSize
	}
	return headerSize + tagSize
}

// Seal appends the sealed form of env, stored under skey, to dst.
func (s *Sealer) Seal(dst []byte, skey string, env []byte) []byte {
	if s.mode == modeAEAD {
		k := s.aeads[0]
		base := len(dst)
		dst = append(dst, magic, modeAEAD, k.id)
		var nonce [nonceSize]byte
		_, _ = rand.Read(nonce[:])
		dst = append(dst, nonce[:]...)
		ad := additional(dst[base:base+headerSize], skey)
		return k.aead.Seal(dst, nonce[:], env, ad)
	}
	k := s.sign[0]
	h := k.macs.Get().(hash.Hash)
	defer k.macs.Put(h)
	base := len(dst)
	dst = append(dst, magic, modeSign, k.id)
	dst = append(dst, env...)
	var sum [sha256.Size]byte
	return append(dst, mac(h, sum[:0], dst[base:base+headerSize], skey, env)...)
}

// Open returns the envelope sealed in data for skey. It returns
// ErrNotSealed for a value without a seal and ErrForged for one that does
// not verify.
func (s *Sealer) Open(skey string, data []byte) ([]byte, error) {
	if len(data) < headerSize || data[0] != magic {
		return nil, ErrNotSealed
	}
	head, id := data[:headerSize], data[2]
	switch data[1] {
	case modeSign:
		if len(data) < headerSize+tagSize {
			return nil, ErrForged
		}
		env, tag := data[headerSize:len(data)-tagSize], data[len(data)-tagSize:]
		for _, k := range s.sign {
			if k.id != id {
				continue
			}
			h := k.macs.Get().(hash.Hash)
			var sum [sha256.Size]byte
			ok := hmac.Equal(tag, mac(h, sum[:0], head, skey, env))
			k.macs.Put(h)
			if ok {
				return env, nil
			}
		}
		return nil, ErrForged
	case modeAEAD:
		if len(data) < headerSize+nonceSize+tagSize {
			return nil, ErrForged
		}
		nonce, ct := data[headerSize:headerSize+nonceSize], data[headerSize+nonceSize:]
		for _, k := range s.aeads {
			if k.id != id {
				continue
			}
			if env, err := k.aead.Open(nil, nonce, ct, additional(head, skey)); err == nil {
				return env, nil
			}
		}
		return nil, ErrForged
	}
	return nil, ErrForged
}

// mac computes the tag into sum (a buffer of sha256.Size capacity).
func mac(h hash.Hash, sum []byte, head []byte, skey string, env []byte) []byte {
	h.Reset()
	h.Write(macDomain)
	h.Write(head)
	var n [binary.MaxVarintLen64]byte
	h.Write(n[:binary.PutUvarint(n[:], uint64(len(skey)))])
	io.WriteString(h, skey)
	h.Write(env)
	return h.Sum(sum)[:tagSize]
}

var macDomain = []byte("yokedcache/seal/v1")

func additional(head []byte, skey string) []byte {
	ad := make([]byte, 0, len(head)+len(skey))
	return append(append(ad, head...), skey...)
}
