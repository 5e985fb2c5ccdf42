package yokedcache

import (
	"errors"
	"net/url"
	"testing"
)

// FuzzNearURL: the near-cache URL parameters never panic, and either
// configure a valid tier (or none) or fail with ErrInvalidConfig; the
// parameters never reach the backend.
func FuzzNearURL(f *testing.F) {
	for _, q := range []string{
		"near_cache=100", "near_cache=true&near_ttl=2s", "near_cache=off", "near_max_bytes=64MiB",
		"near_max_bytes=-1&near_mode=ttl&near_policy=lru", "near_cache=-3", "near_ttl=1e12", "near_mode=x",
		"near_cache=1&near_cache=2", "near_policy=", "db=2&near_cache=9",
	} {
		f.Add(q)
	}
	f.Fuzz(func(t *testing.T, q string) {
		u := &url.URL{Scheme: "redis", Host: "h:1", RawQuery: q}
		o, _, err := nearFromURL(u, nil)
		if err != nil {
			if !errors.Is(err, ErrInvalidConfig) {
				t.Fatalf("%q: %v does not match ErrInvalidConfig", q, err)
			}
			return
		}
		if o != nil {
			if verr := o.Validate(); verr != nil {
				t.Fatalf("%q gave invalid options %+v: %v", q, *o, verr)
			}
		}
		for _, p := range nearParams {
			if u.Query().Has(p) {
				t.Fatalf("%q: %s left in the URL %s", q, p, u)
			}
		}
	})
}
