package memcached

import (
	"context"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/yokedcache/yokedcache/backend"
)

// Scheme is the URL scheme of the memcached backend.
const Scheme = "memcached"

func init() { backend.Register(Scheme, URLOpener{}) }

// URLOpener opens "memcached://" URLs. Options are the defaults the URL
// overrides (its servers replace Options.Servers).
type URLOpener struct {
	Options Options
}

// OpenURL implements backend.URLOpener.
func (o URLOpener) OpenURL(_ context.Context, u *url.URL) (backend.Backend, error) {
	opts, err := parseURL(u, o.Options)
	if err != nil {
		return nil, err
	}
	return New(opts)
}

// ParseURL parses a memcached URL into Options:
//
//	memcached://host1:11211,host2:11211?ketama=true&timeout=1s
//
// The host part is a comma-separated server list. Ports default to 11211,
// but Go's URL parser requires the text after the last ':' to be a port,
// so when any server has a port, write the last one's too. An IPv6
// address goes in brackets, alone (use Options.Servers for several). Parameters, all optional:
//
//   - ketama: true (default) or false (gomemcache's CRC-32 modulo)
//   - weights: ketama weights in server order, e.g. 1,2,1 (default equal)
//   - timeout: per network step, a Go duration or seconds (default 500ms)
//   - max_idle_conns: idle connections per server (default 16)
//   - max_item_size: the servers' -I, with an optional unit such as MiB
//     (default 1MiB)
//   - namespace_depth: see Options.NamespaceDepth (default 1)
//   - write_namespace_ttl: see Options.WriteNamespaceTTL, a duration or -1
//     (default 1s)
//   - read_namespace_ttl: see Options.ReadNamespaceTTL, a duration or -1
//     (default 1s; -1: reads always check the current version)
//
// Unknown parameters, a path, user credentials or a fragment are errors
// matching backend.ErrInvalidConfig.
func ParseURL(raw string) (Options, error) {
	u, err := backend.ParseURL(raw)
	if err != nil {
		return Options{}, err
	}
	return parseURL(u, Options{})
}

func parseURL(u *url.URL, o Options) (Options, error) {
	if !strings.EqualFold(u.Scheme, Scheme) {
		return o, errInvalid("scheme %q is not memcached://", u.Scheme)
	}
	if u.User != nil {
		return o, errInvalid("%s: memcached URLs take no credentials", backend.RedactedURL(u))
	}
	if (u.Path != "" && u.Path != "/") || u.Fragment != "" || u.Opaque != "" {
		return o, errInvalid("%s: memcached URLs take no path or fragment", backend.RedactedURL(u))
	}
	if u.Host == "" {
		return o, errInvalid("%s: no servers", backend.RedactedURL(u))
	}
	o.Servers = nil
	for _, s := range strings.Split(u.Host, ",") {
		if s == "" {
			return o, errInvalid("%s: empty server in list", backend.RedactedURL(u))
		}
		o.Servers = append(o.Servers, s)
	}
	q := backend.NewQueryParams(u.Query())
	if v, ok := q.String("ketama"); ok {
		b, err := strconv.ParseBool(v)
		if err != nil {
			q.Fail(errInvalid("ketama must be true or false"))
		}
		o.Distribution = DistributionKetama
		if !b {
			o.Distribution = DistributionModula
		}
	}
	if v, ok := q.String("weights"); ok {
		o.Weights = nil
		for _, f := range strings.Split(v, ",") {
			n, err := strconv.Atoi(f)
			if err != nil {
				q.Fail(errInvalid("weights must be a comma-separated list of integers"))
				break
			}
			o.Weights = append(o.Weights, n)
		}
	}
	if v, ok := q.String("timeout"); ok {
		d, err := backend.ParseDuration(v)
		if err != nil || d <= 0 {
			q.Fail(errInvalid("timeout must be a positive duration"))
		}
		o.Timeout = d
	}
	if v, ok := q.String("max_idle_conns"); ok {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1<<16 {
			q.Fail(errInvalid("max_idle_conns must be an integer from 1 to 65536"))
		}
		o.MaxIdleConns = n
	}
	if v, ok := q.String("max_item_size"); ok {
		n, err := backend.ParseBytes(v)
		if err != nil || n < 1024 || n > 1<<30 {
			q.Fail(errInvalid("max_item_size must be a size from 1KiB to 1GiB"))
		}
		o.MaxItemSize = int(n)
	}
	if v, ok := q.String("namespace_depth"); ok {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 64 {
			q.Fail(errInvalid("namespace_depth must be an integer from 1 to 64"))
		}
		o.NamespaceDepth = n
	}
	for _, p := range []struct {
		name string
		dst  *time.Duration
	}{{"write_namespace_ttl", &o.WriteNamespaceTTL}, {"read_namespace_ttl", &o.ReadNamespaceTTL}} {
		name, dst := p.name, p.dst
		if v, ok := q.String(name); ok {
			d, err := backend.ParseDuration(v)
			switch {
			case v == "-1":
				*dst = -1
			case err != nil || d <= 0:
				q.Fail(errInvalid("%s must be a positive duration or -1", name))
			default:
				*dst = d
			}
		}
	}
	if err := q.Finish(); err != nil {
		return o, err
	}
	if _, err := o.normalize(); err != nil {
		return o, err
	}
	return o, nil
}
