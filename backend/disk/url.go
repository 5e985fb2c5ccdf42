package disk

import (
	"context"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/yokedcache/yokedcache/backend"
)

// Scheme is the URL scheme of the disk backend.
const Scheme = "file"

func init() {
	backend.Register(Scheme, URLOpener{})
}

// URLOpener opens "file://" URLs. Options are the defaults that the URL's
// parameters override (its Directory is replaced by the URL's path).
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

// ParseURL parses a "file://" URL into Options; see the package doc for the
// parameters.
func ParseURL(raw string) (Options, error) {
	u, err := backend.ParseURL(raw)
	if err != nil {
		return Options{}, err
	}
	return parseURL(u, Options{})
}

func parseBool(q *backend.QueryParams, name string, dst *bool) {
	v, ok := q.String(name)
	if !ok {
		return
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		q.Fail(errInvalid("%s=%q: want true or false", name, v))
		return
	}
	*dst = b
}

func parseURL(u *url.URL, o Options) (Options, error) {
	if !strings.EqualFold(u.Scheme, Scheme) {
		return o, errInvalid("scheme %q is not file://", u.Scheme)
	}
	if u.User != nil {
		return o, errInvalid("file:// takes no credentials")
	}
	if u.Host != "" && !strings.EqualFold(u.Host, "localhost") {
		return o, errInvalid("file:// host %q: only an empty host or localhost (write file:///absolute/path)", u.Host)
	}
	if u.Opaque != "" || u.Path == "" || !filepath.IsAbs(u.Path) || u.Fragment != "" {
		return o, errInvalid("file:// needs an absolute directory path, as in file:///var/cache/myapp")
	}
	if strings.ContainsRune(u.Path, 0) {
		return o, errInvalid("path contains a NUL byte")
	}
	o.Directory = filepath.Clean(u.Path)
	q := backend.NewQueryParams(u.Query())
	if v, ok := q.String("max_size"); ok {
		if strings.TrimSpace(v) == "-1" {
			o.MaxSizeBytes = -1
		} else if n, err := backend.ParseBytes(v); err != nil || n == 0 {
			q.Fail(errInvalid("max_size=%q: want a size such as 5GB or 512MiB, or -1 for no bound", v))
		} else {
			o.MaxSizeBytes, o.MaxSizeGB = n, 0
		}
	}
	if v, ok := q.String("cleanup_interval"); ok {
		d, err := backend.ParseDuration(v)
		if err != nil {
			q.Fail(errInvalid("cleanup_interval: %v", err))
		} else if d == 0 {
			o.CleanupInterval = -1
		} else {
			o.CleanupInterval = d
		}
	}
	if v, ok := q.String("lock_timeout"); ok {
		d, err := backend.ParseDuration(v)
		if err != nil || d == 0 {
			q.Fail(errInvalid("lock_timeout=%q: want a positive duration", v))
		} else {
			o.LockTimeout = d
		}
	}
	parseBool(q, "sync", &o.Sync)
	verify := !o.SkipVerify
	parseBool(q, "verify", &verify)
	o.SkipVerify = !verify
	parseBool(q, "allow_world_writable", &o.AllowWorldWritable)
	if v, ok := q.String("integrity_check"); ok {
		switch c := IntegrityCheck(strings.ToLower(v)); c {
		case IntegrityOff:
			o.IntegrityCheck, o.SkipVerify = c, true
		case IntegrityQuick, IntegrityFull:
			o.IntegrityCheck, o.SkipVerify = c, false
		default:
			q.Fail(errInvalid("integrity_check=%q: want off, quick or full", v))
		}
	}
	return o, q.Finish()
}
