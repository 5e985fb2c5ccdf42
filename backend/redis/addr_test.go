package redis

import (
	"testing"

	"github.com/yokedcache/yokedcache/backend"
)

var _ backend.Addresser = (*Store)(nil)

func TestAddr(t *testing.T) {
	for _, tc := range []struct {
		opts Options
		want string
	}{
		{Options{}, DefaultAddr},
		{Options{Addrs: []string{"cache.example:6380"}}, "cache.example:6380"},
		{Options{Mode: Cluster, Addrs: []string{"n1:7000", "n2:7000"}}, "n1:7000"},
		{Options{Network: "unix", Addrs: []string{"/run/redis.sock"}}, "/run/redis.sock"},
	} {
		s, err := New(tc.opts)
		if err != nil {
			t.Fatal(err)
		}
		if got := s.Addr(); got != tc.want {
			t.Errorf("%v: Addr() = %q; want %q", tc.opts, got, tc.want)
		}
		_ = s.Close()
	}
}
