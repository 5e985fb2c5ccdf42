package sqlite

import (
	"context"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/yokedcache/yokedcache/backend"
)

// Scheme is the URL scheme of the SQLite backend.
const Scheme = "sqlite"

func init() {
	backend.Register(Scheme, URLOpener{})
}

// URLOpener opens "sqlite://" URLs. Options are the defaults that the URL's
// parameters override (its Path is replaced by the URL's).
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

// ParseURL parses a "sqlite://" URL into Options; see the package doc for
// the forms and parameters.
func ParseURL(raw string) (Options, error) {
	u, err := backend.ParseURL(raw)
	if err != nil {
		return Options{}, err
	}
	return parseURL(u, Options{})
}

func parseURL(u *url.URL, o Options) (Options, error) {
	if !strings.EqualFold(u.Scheme, Scheme) {
		return o, errInvalid("scheme %q is not sqlite://", u.Scheme)
	}
	if u.User != nil {
		return o, errInvalid("sqlite:// takes no credentials")
	}
	if u.Opaque != "" || u.Fragment != "" {
		return o, errInvalid("want sqlite:///absolute/path/cache.db or sqlite://:memory:")
	}
	switch {
	case u.Host == MemoryPath:
		if u.Path != "" {
			return o, errInvalid("sqlite://:memory: takes no path")
		}
		o.Path = MemoryPath
	case u.Host == "" || strings.EqualFold(u.Host, "localhost"):
		if u.Path == "" || !filepath.IsAbs(u.Path) || strings.HasSuffix(u.Path, "/") {
			return o, errInvalid("sqlite:// needs an absolute file path, as in sqlite:///var/cache/myapp/cache.db")
		}
		if strings.ContainsRune(u.Path, 0) {
			return o, errInvalid("path contains a NUL byte")
		}
		o.Path = filepath.Clean(u.Path)
	default:
		return o, errInvalid("sqlite:// host %q: only an empty host, localhost or :memory: (write sqlite:///absolute/path)", u.Host)
	}
	o.DB = nil
	q := backend.NewQueryParams(u.Query())
	if v, ok := q.String("busy_timeout"); ok {
		d, err := backend.ParseDuration(v)
		if err != nil || d == 0 {
			q.Fail(errInvalid("busy_timeout=%q: want a positive duration such as 5s", v))
		} else {
			o.BusyTimeout = d
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
	if v, ok := q.String("max_size"); ok {
		if n, err := backend.ParseBytes(v); err != nil {
			q.Fail(errInvalid("max_size=%q: want a size such as 5GB or 512MiB (0: no bound)", v))
		} else {
			o.MaxSizeBytes = n
		}
	}
	if v, ok := q.String("max_entries"); ok {
		if n, err := strconv.ParseInt(v, 10, 64); err != nil || n < 0 {
			q.Fail(errInvalid("max_entries=%q: want a count (0: no bound)", v))
		} else {
			o.MaxEntries = n
		}
	}
	if v, ok := q.String("max_open_conns"); ok {
		if n, err := strconv.Atoi(v); err != nil || n < 1 || n > 1024 {
			q.Fail(errInvalid("max_open_conns=%q: want 1 to 1024", v))
		} else {
			o.MaxOpenConns = n
		}
	}
	if v, ok := q.String("synchronous"); ok {
		switch strings.ToLower(v) {
		case "normal":
			o.SyncFull = false
		case "full":
			o.SyncFull = true
		default:
			q.Fail(errInvalid("synchronous=%q: want normal or full", v))
		}
	}
	if v, ok := q.String("integrity_check"); ok {
		c := IntegrityCheck(strings.ToLower(v))
		if c == "" || !c.valid() {
			q.Fail(errInvalid("integrity_check=%q: want off, quick or full", v))
		} else {
			o.IntegrityCheck = c
		}
	}
	return o, q.Finish()
}
