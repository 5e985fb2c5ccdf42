package backend

import (
	"context"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"sync"
)

// URLOpener opens a backend from a URL. Each backend package exports one
// and registers it for its scheme in init.
type URLOpener interface {
	// OpenURL validates u (unknown query parameters are errors matching
	// ErrInvalidConfig) and returns a new backend. It must not print the
	// URL except through RedactedURL (url.URL.Redacted shows secret query
	// parameters and credentials of URLs without "//").
	OpenURL(ctx context.Context, u *url.URL) (Backend, error)
}

// PublicParamLister may be implemented by a URLOpener registered with the
// default registry to name its query parameters whose values are never
// secret (timeouts, sizes, flags), so that RedactURL shows them. The values
// of all other parameters are printed as "xxxxx". The built-in backends'
// parameters are known without it.
type PublicParamLister interface {
	PublicParams() []string
}

// URLOpenerFunc adapts a function to URLOpener.
type URLOpenerFunc func(ctx context.Context, u *url.URL) (Backend, error)

// OpenURL calls f.
func (f URLOpenerFunc) OpenURL(ctx context.Context, u *url.URL) (Backend, error) { return f(ctx, u) }

// URLMux maps URL schemes to openers. The zero value has no schemes.
type URLMux struct {
	mu      sync.RWMutex
	openers map[string]URLOpener
	public  map[string]bool // PublicParamLister names of the openers
}

// Register makes opener handle scheme. It panics if scheme is empty,
// opener is nil or the scheme is already registered: these are programming
// errors found at init time.
func (m *URLMux) Register(scheme string, opener URLOpener) {
	if scheme == "" || opener == nil {
		panic("backend: Register with empty scheme or nil opener")
	}
	scheme = strings.ToLower(scheme)
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, dup := m.openers[scheme]; dup {
		panic("backend: scheme registered twice: " + scheme)
	}
	if m.openers == nil {
		m.openers = make(map[string]URLOpener)
	}
	m.openers[scheme] = opener
	if l, ok := opener.(PublicParamLister); ok {
		if m.public == nil {
			m.public = make(map[string]bool)
		}
		for _, name := range l.PublicParams() {
			m.public[name] = true
		}
	}
}

// isPublicParam reports whether an opener of m listed name as public.
func (m *URLMux) isPublicParam(name string) bool {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.public[name]
}

// Schemes returns the registered schemes, sorted.
func (m *URLMux) Schemes() []string {
	m.mu.RLock()
	defer m.mu.RUnlock()
	out := make([]string, 0, len(m.openers))
	for s := range m.openers {
		out = append(out, s)
	}
	slices.Sort(out)
	return out
}

// Open parses rawURL and opens it with the opener registered for its
// scheme. Errors never contain the URL's password.
func (m *URLMux) Open(ctx context.Context, rawURL string) (Backend, error) {
	u, err := ParseURL(rawURL)
	if err != nil {
		return nil, err
	}
	return m.OpenParsed(ctx, u)
}

// OpenParsed is Open for an already parsed URL.
func (m *URLMux) OpenParsed(ctx context.Context, u *url.URL) (Backend, error) {
	if err := checkAt(u); err != nil {
		return nil, err
	}
	scheme := strings.ToLower(u.Scheme)
	m.mu.RLock()
	op := m.openers[scheme]
	m.mu.RUnlock()
	if op == nil {
		return nil, fmt.Errorf("open %s: unknown scheme %q (registered: %s; forgotten import?): %w",
			RedactedURL(u), u.Scheme, strings.Join(m.Schemes(), ", "), ErrInvalidConfig)
	}
	return op.OpenURL(ctx, u)
}

// ParseURL parses a backend URL. A parse error is reported without the
// URL's text, which could contain a password.
func ParseURL(rawURL string) (*url.URL, error) {
	if strings.TrimSpace(rawURL) == "" {
		return nil, fmt.Errorf("empty backend URL: %w", ErrInvalidConfig)
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		// url.Error contains the URL verbatim, and its cause may quote
		// part of it: report only the cause, without quotes.
		return nil, fmt.Errorf("invalid backend URL: %s: %w", sanitizeParseError(err), ErrInvalidConfig)
	}
	if u.Scheme == "" {
		return nil, fmt.Errorf("invalid backend URL %s: missing scheme (for example redis:// or mem://): %w", RedactedURL(u), ErrInvalidConfig)
	}
	if err := checkAt(u); err != nil {
		return nil, err
	}
	return u, nil
}

// checkAt rejects an '@' after the host: it ends a password with '/', '?'
// or '#' in it (Go's parser ends the user information there, so
// "redis://app:12/pw@h" has the host "app:12" and the path "/pw@h"), and
// the backend would otherwise quote its pieces as a host, a path or a
// parameter. Paths with an '@' and no host ("unix:///run/redis@1.sock")
// are fine.
func checkAt(u *url.URL) error {
	if u.Host != "" && strings.Contains(u.Path+u.RawQuery+u.Fragment, "@") {
		return fmt.Errorf("invalid backend URL %s: '@' after the host: percent-encode '/', '?', '#' and '@' in a password (%%2F, %%3F, %%23, %%40): %w",
			RedactedURL(u), ErrInvalidConfig)
	}
	return nil
}

var defaultMux = new(URLMux)

// DefaultURLMux returns the process-wide registry that backend packages
// register their schemes with in init. It is the only global state of
// yokedcache, and using it is optional.
func DefaultURLMux() *URLMux { return defaultMux }

// Register registers opener for scheme in the default registry.
func Register(scheme string, opener URLOpener) { defaultMux.Register(scheme, opener) }

// Open opens rawURL with the default registry.
func Open(ctx context.Context, rawURL string) (Backend, error) { return defaultMux.Open(ctx, rawURL) }

// QueryParams helps URL openers consume query parameters: each Get removes
// the parameter, and Finish reports the leftovers as unknown.
type QueryParams struct {
	v   url.Values
	err error
}

// NewQueryParams copies q.
func NewQueryParams(q url.Values) *QueryParams {
	c := make(url.Values, len(q))
	for k, v := range q {
		c[k] = slices.Clone(v)
	}
	return &QueryParams{v: c}
}

// String returns and removes the last value of name, or "" when absent.
func (p *QueryParams) String(name string) (string, bool) {
	vs, ok := p.v[name]
	if !ok {
		return "", false
	}
	delete(p.v, name)
	if len(vs) == 0 {
		return "", true
	}
	return vs[len(vs)-1], true
}

// All returns and removes every value of name.
func (p *QueryParams) All(name string) []string {
	vs := p.v[name]
	delete(p.v, name)
	return vs
}

// Fail records the first error.
func (p *QueryParams) Fail(err error) {
	if p.err == nil {
		p.err = err
	}
}

// Finish returns the first recorded error, or an error naming the unknown
// parameters that were not consumed. It names them without their values,
// which may be misspelled passwords, and hides whatever follows the first
// character that cannot be part of a parameter name ("password:pw").
func (p *QueryParams) Finish() error {
	if p.err != nil {
		return p.err
	}
	if len(p.v) > 0 {
		names := make([]string, 0, len(p.v))
		for k := range p.v {
			names = append(names, paramName(k))
		}
		slices.Sort(names)
		names = slices.Compact(names)
		return fmt.Errorf("unknown URL parameter(s) %s: %w", strings.Join(names, ", "), ErrInvalidConfig)
	}
	return nil
}
