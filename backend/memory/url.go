package memory

import (
	"context"
	"fmt"
	"net/url"
	"strconv"
	"strings"

	"github.com/yokedcache/yokedcache/backend"
)

// Scheme is the URL scheme of the memory backend ("memory" is an alias).
const Scheme = "mem"

func init() {
	backend.Register(Scheme, URLOpener{})
	backend.Register("memory", URLOpener{})
}

func errInvalid(msg string) error {
	return fmt.Errorf("memory: %s: %w", msg, backend.ErrInvalidConfig)
}

// URLOpener opens "mem://" URLs. Options are the defaults the URL's
// parameters override.
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

// ParseURL parses a "mem://" URL into Options. Parameters: max_size
// (entries), max_bytes (bytes, with optional KB/MB/GB/KiB/MiB/GiB suffix),
// cleanup_interval (Go duration or seconds), shards, policy (lru or
// tinylfu; see ParsePolicy).
func ParseURL(raw string) (Options, error) {
	u, err := backend.ParseURL(raw)
	if err != nil {
		return Options{}, err
	}
	return parseURL(u, Options{})
}

func parseURL(u *url.URL, o Options) (Options, error) {
	if s := strings.ToLower(u.Scheme); s != Scheme && s != "memory" {
		return o, errInvalid("scheme " + strconv.Quote(u.Scheme) + " is not mem://")
	}
	if u.Host != "" || (u.Path != "" && u.Path != "/") || u.User != nil {
		return o, errInvalid("mem:// takes no host, path or credentials")
	}
	q := backend.NewQueryParams(u.Query())
	if v, ok := q.String("max_size"); ok {
		n, err := strconv.Atoi(v)
		if err != nil || n < -1 {
			q.Fail(errInvalid("max_size must be an integer >= -1"))
		}
		o.MaxSize = n
	}
	if v, ok := q.String("max_bytes"); ok {
		n, err := backend.ParseBytes(v)
		if err != nil {
			q.Fail(errInvalid("max_bytes: " + err.Error()))
		}
		o.MaxBytes = n
	}
	if v, ok := q.String("cleanup_interval"); ok {
		d, err := backend.ParseDuration(v)
		if err != nil {
			q.Fail(errInvalid("cleanup_interval: " + err.Error()))
		}
		o.CleanupInterval = d
	}
	if v, ok := q.String("shards"); ok {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > 4096 {
			q.Fail(errInvalid("shards must be an integer 0-4096"))
		}
		o.Shards = n
	}
	if v, ok := q.String("policy"); ok {
		p, err := ParsePolicy(v)
		if err != nil {
			q.Fail(err)
		}
		o.Policy = p
	}
	return o, q.Finish()
}
