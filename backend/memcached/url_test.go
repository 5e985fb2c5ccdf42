package memcached

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/yokedcache/yokedcache/backend"
)

func TestParseURL(t *testing.T) {
	o, err := ParseURL("memcached://h1:11211,h2:11212,h3:11213?ketama=false&timeout=1s&max_idle_conns=8&max_item_size=2MiB&namespace_depth=2&write_namespace_ttl=-1&read_namespace_ttl=-1")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(o.Servers, []string{"h1:11211", "h2:11212", "h3:11213"}) || o.Distribution != DistributionModula ||
		o.Timeout != time.Second || o.MaxIdleConns != 8 || o.MaxItemSize != 2<<20 || o.NamespaceDepth != 2 || o.WriteNamespaceTTL != -1 || o.ReadNamespaceTTL != -1 {
		t.Fatalf("ParseURL = %+v", o)
	}
	o, err = ParseURL("memcached://127.0.0.1:11211?ketama=true&timeout=250&write_namespace_ttl=100ms&read_namespace_ttl=50ms")
	if err != nil {
		t.Fatal(err)
	}
	if o.Distribution != DistributionKetama || o.Timeout != 250*time.Second || o.WriteNamespaceTTL != 100*time.Millisecond || o.ReadNamespaceTTL != 50*time.Millisecond {
		t.Fatalf("ParseURL = %+v", o)
	}
	o, err = ParseURL("memcached://h1,h2?weights=2,1")
	if err != nil || !slices.Equal(o.Weights, []int{2, 1}) {
		t.Fatalf("ParseURL with weights = %+v, %v", o, err)
	}
	o, err = ParseURL("memcached://h1,h2")
	if err != nil || !slices.Equal(o.Servers, []string{"h1", "h2"}) {
		t.Fatalf("ParseURL without ports = %+v, %v", o, err)
	}
	s, err := New(Options{Servers: []string{"h3", "[::1]:11300", "::1"}})
	if err != nil {
		t.Fatal(err)
	}
	if got := s.Options().Servers; !slices.Equal(got, []string{"h3:11211", "[::1]:11300", "[::1]:11211"}) {
		t.Fatalf("normalized servers = %v", got)
	}
	if d := s.Options(); d.Timeout != DefaultTimeout || d.MaxIdleConns != DefaultMaxIdleConns || d.MaxItemSize != DefaultMaxItemSize ||
		d.Distribution != DistributionKetama || d.NamespaceDepth != 1 || d.WriteNamespaceTTL != time.Second || d.ReadNamespaceTTL != time.Second {
		t.Fatalf("defaults = %+v", d)
	}
}

func TestParseURLErrors(t *testing.T) {
	for _, u := range []string{
		"memcached://h1:11211?bogus=1",
		"memcached://h1:11211?ketama=maybe",
		"memcached://h1:11211?timeout=-1s",
		"memcached://h1:11211?max_item_size=1",
		"memcached://h1:11211?namespace_depth=0",
		"memcached://h1:11211,h2:11211?weights=1",
		"memcached://h1:11211,h2:11211?weights=1,x",
		"memcached://h1:11211,h2:11211?weights=1,0",
		"memcached://h1:11211,h2:11211?weights=1000,1",
		"memcached://h1:11211?write_namespace_ttl=soon",
		"memcached://h1:11211?read_namespace_ttl=0",
		"memcached://h1:11211?read_namespace_ttl=-2s",
		"memcached://h1:11211?timeout=NaN",
		"memcached://h1:11211?read_namespace_ttl=NaN",
		"memcached://:secret@h1:11211?password=secret",
		"memcached:user:secret@h1:11211",
		"memcached://user:secret@h1:11211",
		"memcached://h1:11211/path",
		"memcached://",
		"memcached://h1:11211,,h2",
		"memcached://h1:11211,h1:11211",
		"memcached://h1:99999",
		"redis://h1:6379",
	} {
		_, err := ParseURL(u)
		if !errors.Is(err, backend.ErrInvalidConfig) {
			t.Errorf("ParseURL(%q) = %v; want ErrInvalidConfig", u, err)
			continue
		}
		if strings.Contains(err.Error(), "secret") {
			t.Errorf("ParseURL error leaks the password: %v", err)
		}
	}
}

func TestNewErrors(t *testing.T) {
	for _, o := range []Options{
		{},
		{Servers: []string{""}},
		{Servers: []string{"h:1"}, Timeout: -1},
		{Servers: []string{"h:1"}, MaxItemSize: 10},
		{Servers: []string{"h:1"}, Distribution: "round-robin"},
		{Servers: []string{"h:1"}, WriteNamespaceTTL: -2},
		{Servers: []string{"h:1"}, ReadNamespaceTTL: -2},
	} {
		if _, err := New(o); !errors.Is(err, backend.ErrInvalidConfig) {
			t.Errorf("New(%+v) = %v; want ErrInvalidConfig", o, err)
		}
	}
	in := Options{Servers: []string{"h"}}
	if _, err := New(in); err != nil || in.Servers[0] != "h" || in.Timeout != 0 {
		t.Fatalf("New mutated its options or failed: %v %+v", err, in)
	}
}

func TestRegisteredScheme(t *testing.T) {
	b, err := backend.Open(context.Background(), "memcached://127.0.0.1:1?timeout=50ms")
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if backend.Name(b) != "memcached" {
		t.Fatalf("Name = %q", backend.Name(b))
	}
}

func FuzzParseURL(f *testing.F) {
	f.Add("memcached://h1:11211,h2:11211?ketama=true&timeout=1s")
	f.Add("memcached://[::1]:11211?max_item_size=2MiB&namespace_depth=3")
	f.Add("memcached://h?write_namespace_ttl=-1&max_idle_conns=4")
	f.Fuzz(func(t *testing.T, raw string) {
		o, err := ParseURL(raw)
		if err != nil {
			if !errors.Is(err, backend.ErrInvalidConfig) {
				t.Fatalf("ParseURL(%q) = %v; want ErrInvalidConfig", raw, err)
			}
			return
		}
		s, err := New(o)
		if err != nil {
			t.Fatalf("ParseURL(%q) accepted options New rejects: %v", raw, err)
		}
		_ = s.Close()
	})
}
