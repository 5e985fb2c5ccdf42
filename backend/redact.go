package backend

import (
	"net/url"
	"strconv"
	"strings"
)

// redactedMark replaces every secret RedactURL hides.
const redactedMark = "xxxxx"

// secretParamWords are the parts of a query parameter name that mark its
// value as a secret (compared in lower case).
var secretParamWords = []string{"pass", "pwd", "secret", "token", "credential", "auth", "apikey", "api_key", "access_key"}

// publicParams are the query parameters of the built-in backends (and the
// "prefix" and "default_ttl" that yokedcache.Open consumes) whose values
// are never secret, so RedactURL shows them. The value of any other
// parameter, such as a misspelled "sentinel_pasword", is hidden: an
// unknown name says nothing about what its value is. A parameter added to
// a backend without being listed here is shown as "xxxxx", which is safe;
// other backends list theirs with PublicParamLister.
var publicParams = map[string]bool{
	// yokedcache.Open
	"prefix": true, "default_ttl": true,
	// the Cache: resilience and near-cache parameters of any backend URL
	"operation_timeout": true, "batch_timeout": true, "health_timeout": true, "breaker_failures": true,
	"breaker_cooldown": true, "wait_ready": true, "fail_closed_loads": true,
	"near_cache": true, "near_max_bytes": true, "near_ttl": true, "near_mode": true, "near_policy": true,
	// redis near-cache publishing
	"publish_invalidations": true,
	// redis (backend/redis/url.go)
	"db": true, "addr": true, "max_connections": true, "socket_connect_timeout": true,
	"socket_timeout": true, "health_check_interval": true, "flush_delay": true,
	"socket_keepalive": true, "retry_on_timeout": true, "stats_scan_limit": true,
	"sentinel_username": true, "ssl_ca_certs": true, "ca_file": true, "ssl_certfile": true,
	"ssl_keyfile": true, "ssl_cert_reqs": true, "ssl_check_hostname": true, "ssl_server_name": true,
	"compat": true,
	// memcached (backend/memcached/url.go)
	"ketama": true, "weights": true, "timeout": true, "max_idle_conns": true,
	"max_item_size": true, "namespace_depth": true, "write_namespace_ttl": true,
	"read_namespace_ttl": true,
	// memory (backend/memory/url.go)
	"max_size": true, "max_bytes": true, "cleanup_interval": true, "shards": true, "policy": true,
	// sqlite (backend/sqlite/url.go)
	"busy_timeout": true, "max_entries": true, "max_open_conns": true, "synchronous": true,
	// disk (backend/disk/url.go)
	"lock_timeout": true, "sync": true, "verify": true, "allow_world_writable": true,
	"integrity_check": true,
}

// IsPublicParam reports whether RedactURL shows the value of a URL query
// parameter named name: a parameter of a built-in backend, or one listed by
// the PublicParams method of an opener registered with the default
// registry, whose name does not look secret (IsSecretParam). Names are
// compared exactly, as the openers read them.
func IsPublicParam(name string) bool {
	if IsSecretParam(name) {
		return false
	}
	return publicParams[name] || defaultMux.isPublicParam(name)
}

// IsSecretParam reports whether a URL query parameter named name holds a
// secret: its lower-cased name contains "pass" (password, passwd,
// sentinel_password, ...), "pwd", "secret", "token", "credential", "auth",
// "apikey", "api_key" or "access_key".
func IsSecretParam(name string) bool {
	n := strings.ToLower(name)
	for _, w := range secretParamWords {
		if strings.Contains(n, w) {
			return true
		}
	}
	return false
}

// RedactURL returns rawURL safe to print or log: the password of its user
// information and the value of every query parameter that is not known to
// be harmless (see IsPublicParam; a misspelled "sentinel_pasword" or an
// unknown "x" is hidden as surely as "password") are replaced by "xxxxx".
// It copes with text that is not a valid URL, or not in the scheme://host
// form: there everything between the scheme's ':' (or the start) and the
// last '@', and every query value, is hidden, so "redis:admin:pw@h"
// becomes "redis:xxxxx@h". A URL without secrets is returned unchanged.
// Every URL opener and configuration printer must print URLs only through
// RedactURL or RedactedURL.
func RedactURL(rawURL string) string {
	if rawURL == "" {
		return ""
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		return redactText(rawURL)
	}
	out, changed := redactParsed(u)
	if !changed {
		return rawURL
	}
	return out
}

// RedactedURL is RedactURL for a parsed URL. Unlike url.URL.Redacted it
// also hides query values (all but IsPublicParam's) and credentials in
// URLs that are not in the scheme://host form.
func RedactedURL(u *url.URL) string {
	if u == nil {
		return ""
	}
	out, _ := redactParsed(u)
	return out
}

// redactParsed returns u as text with its secrets hidden, and whether any
// were.
func redactParsed(u *url.URL) (string, bool) {
	if strings.Contains(u.Opaque+u.Host+u.Path+u.RawPath+u.RawQuery+u.Fragment, "@") {
		// "redis:user:pw@host" (opaque), "redis://user:1#pw@host"
		// (fragment), "redis://u:p@ss#word@host" (a password with '@'
		// and '#') and the like: credentials Go did not recognise.
		return redactText(u.String()), true
	}
	c := *u
	changed := false
	if _, ok := c.User.Password(); ok {
		c.User = url.UserPassword(c.User.Username(), redactedMark)
		changed = true
	}
	if q, ch := redactQuery(c.RawQuery, IsPublicParam); ch {
		c.RawQuery = q
		changed = true
	}
	s := c.String()
	if c.Scheme != "" && c.Opaque == "" && c.Host == "" && c.User == nil && c.Path == "" && !c.OmitHost {
		// url.URL.String writes "mem://?x" as "mem:?x".
		s = c.Scheme + "://" + strings.TrimPrefix(s, c.Scheme+":")
	}
	return s, changed
}

// redactQuery hides the value of every parameter of a raw query that
// public does not accept, keeping the parameters' order and spelling.
func redactQuery(raw string, public func(string) bool) (string, bool) {
	if raw == "" {
		return raw, false
	}
	parts := strings.Split(raw, "&")
	changed := false
	for i, p := range parts {
		k, v, hasValue := strings.Cut(p, "=")
		if k == "" {
			continue
		}
		name, err := url.QueryUnescape(k)
		if err != nil {
			name = k
		}
		if shown := paramName(name); shown != name {
			// "password:pw" or "pw" glued to the name: hide the rest.
			k, changed = shown, true
			parts[i] = k
		}
		if hasValue && v != "" && !public(name) {
			parts[i] = k + "=" + redactedMark
			changed = true
		}
	}
	return strings.Join(parts, "&"), changed
}

// maxParamName is the longest parameter name printed whole.
const maxParamName = 64

// paramName returns name as it may be printed: unchanged when it is made
// of letters, digits, '_', '-' and '.' and at most 64 bytes long, as every
// real parameter name is; otherwise its first such characters followed by
// "xxxxx", since text such as "sentinel_password:pw" (a ':' typed for
// '=') carries its value in the name; just "xxxxx" if it has an '@'.
func paramName(name string) string {
	if strings.Contains(name, "@") {
		// The end of credentials ("redis://u:1?pw@h"): all of it may
		// be a password.
		return redactedMark
	}
	i := 0
	for i < len(name) && i < maxParamName && isNameByte(name[i]) {
		i++
	}
	if i == len(name) {
		return name
	}
	return name[:i] + redactedMark
}

func isNameByte(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-' || c == '.'
}

// redactText hides credentials in text that url.Parse does not take apart
// as expected: everything from after "scheme:" (and "//") up to the last
// '@', and the value of every query parameter (what looks like a query
// may be part of a password).
func redactText(s string) string {
	start := 0
	if i := strings.IndexByte(s, ':'); i > 0 && isScheme(s[:i]) {
		start = i + 1
		if strings.HasPrefix(s[start:], "//") {
			start += 2
		}
	}
	if at := strings.LastIndexByte(s, '@'); at >= start {
		s = s[:start] + redactedMark + s[at:]
	}
	if q := strings.IndexByte(s, '?'); q >= 0 {
		rest, frag := s[q+1:], ""
		if h := strings.IndexByte(rest, '#'); h >= 0 {
			rest, frag = rest[:h], rest[h:]
		}
		rest, _ = redactQuery(rest, func(string) bool { return false })
		s = s[:q+1] + rest + frag
	}
	return s
}

// isScheme reports whether s is a URL scheme (RFC 3986: a letter, then
// letters, digits, '+', '-' or '.').
func isScheme(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z':
		case i > 0 && ('0' <= c && c <= '9' || c == '+' || c == '-' || c == '.'):
		default:
			return false
		}
	}
	return s != ""
}

// sanitizeParseError returns the message of a url.Parse error without the
// quoted fragments of the URL it may contain (`invalid port ":pw" after
// host` shows part of a password when the '@' is missing).
func sanitizeParseError(err error) string {
	msg := err.Error()
	if ue, ok := err.(*url.Error); ok {
		msg = ue.Err.Error()
	}
	var b strings.Builder
	for {
		i := strings.IndexByte(msg, '"')
		if i < 0 {
			b.WriteString(msg)
			break
		}
		q, err := strconv.QuotedPrefix(msg[i:])
		if err != nil {
			b.WriteString(msg[:i])
			break
		}
		b.WriteString(strings.TrimRight(msg[:i], " "))
		msg = msg[i+len(q):]
	}
	return b.String()
}
