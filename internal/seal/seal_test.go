package seal

import (
	"bytes"
	"errors"
	"testing"
)

func keys(bs ...byte) [][]byte {
	var out [][]byte
	for _, b := range bs {
		out = append(out, bytes.Repeat([]byte{b}, 32))
	}
	return out
}

func TestSealOpen(t *testing.T) {
	env := []byte("\xcbenvelope bytes")
	for _, tc := range []struct {
		name     string
		sign     [][]byte
		encrypt  [][]byte
		encrypts bool
	}{
		{"signed", keys(1), nil, false},
		{"encrypted", nil, keys(2), true},
		{"both: encrypted", keys(1), keys(2), true},
	} {
		s, err := New(tc.sign, tc.encrypt)
		if err != nil {
			t.Fatal(err)
		}
		if s.Encrypts() != tc.encrypts {
			t.Fatalf("%s: Encrypts = %v", tc.name, s.Encrypts())
		}
		sealed := s.Seal([]byte("prefix-kept"), "p:k", env)
		if !bytes.HasPrefix(sealed, []byte("prefix-kept")) || len(sealed) != len("prefix-kept")+len(env)+s.Overhead() {
			t.Fatalf("%s: Seal appended %d bytes; want %d", tc.name, len(sealed)-len("prefix-kept"), len(env)+s.Overhead())
		}
		sealed = sealed[len("prefix-kept"):]
		got, err := s.Open("p:k", sealed)
		if err != nil || !bytes.Equal(got, env) {
			t.Fatalf("%s: Open = %q, %v", tc.name, got, err)
		}
		if tc.encrypts && bytes.Contains(sealed, []byte("envelope")) {
			t.Fatalf("%s: ciphertext holds the plain text", tc.name)
		}
		if _, err := s.Open("p:other", sealed); !errors.Is(err, ErrForged) {
			t.Fatalf("%s: another key = %v; want ErrForged", tc.name, err)
		}
		for i := range sealed {
			flipped := bytes.Clone(sealed)
			flipped[i] ^= 0x01
			if got, err := s.Open("p:k", flipped); err == nil {
				t.Fatalf("%s: flipping byte %d still opens: %q", tc.name, i, got)
			}
		}
		if _, err := s.Open("p:k", env); !errors.Is(err, ErrNotSealed) {
			t.Fatalf("%s: an unsealed value = %v; want ErrNotSealed", tc.name, err)
		}
	}
	// Rotation: a value sealed with an older key opens while it is listed.
	oldS, _ := New(keys(1), nil)
	newS, _ := New(keys(3, 1), nil)
	onlyNew, _ := New(keys(3), nil)
	v := oldS.Seal(nil, "k", env)
	if _, err := newS.Open("k", v); err != nil {
		t.Fatalf("rotated open = %v", err)
	}
	if _, err := onlyNew.Open("k", v); !errors.Is(err, ErrForged) {
		t.Fatalf("retired key = %v; want ErrForged", err)
	}
	if s, err := New(nil, nil); s != nil || err != nil {
		t.Fatalf("New without keys = %v, %v; want nil, nil", s, err)
	}
}

func FuzzOpen(f *testing.F) {
	s, _ := New(keys(1), keys(2))
	signOnly, _ := New(keys(1), nil)
	f.Add([]byte{magic, modeSign, 0}, "k")
	f.Add(s.Seal(nil, "k", []byte("v")), "k")
	f.Add(signOnly.Seal(nil, "k", []byte("v")), "k")
	f.Fuzz(func(t *testing.T, data []byte, key string) {
		for _, x := range []*Sealer{s, signOnly} {
			env, err := x.Open(key, data)
			if err == nil && len(env) > len(data) {
				t.Fatalf("opened %d bytes from %d", len(env), len(data))
			}
		}
	})
}
