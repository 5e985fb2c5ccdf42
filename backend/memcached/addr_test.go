package memcached

import (
	"testing"

	"github.com/yokedcache/yokedcache/backend"
)

var _ backend.Addresser = (*Store)(nil)

func TestAddr(t *testing.T) {
	for want, servers := range map[string][]string{
		"cache1:11211":  {"cache1", "cache2:11300"},
		"10.0.0.1:1234": {"10.0.0.1:1234"},
		"/run/mc.sock":  {"/run/mc.sock"},
	} {
		s, err := New(Options{Servers: servers})
		if err != nil {
			t.Fatal(err)
		}
		if got := s.Addr(); got != want {
			t.Errorf("Servers %q: Addr() = %q; want %q", servers, got, want)
		}
		_ = s.Close()
	}
}
