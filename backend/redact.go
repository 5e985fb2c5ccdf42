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
// information and the value of every secret query parameter (see
// IsSecretParam) are replaced by "xxxxx". It copes with text that is not a
// valid URL, or not in the scheme://host form: there everything between
// the scheme's ':' (or the start) and the last '@' is hidden, so
// "redis:admin:pw@h" becomes "redis:xxxxx@h". A URL without secrets is
// returned unchanged. Every URL opener and configuration printer must
// print URLs only through RedactURL or RedactedURL.
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
// also hides secret query parameters and credentials in URLs that are not
// in the scheme://host form.
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
	if u.User == nil && strings.Contains(u.Opaque+u.Host+u.Path+u.RawPath+u.Fragment, "@") {
		// "redis:user:pw@host" (opaque), "redis://user:1#pw@host"
		// (fragment) and the like: credentials Go did not recognise.
		return redactText(u.String()), true
	}
	c := *u
	changed := false
	if _, ok := c.User.Password(); ok {
		c.User = url.UserPassword(c.User.Username(), redactedMark)
		changed = true
	}
	if q, ch := redactQuery(c.RawQuery); ch {
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

// redactQuery hides the values of secret parameters in a raw query,
// keeping the parameters' order and spelling.
func redactQuery(raw string) (string, bool) {
	if raw == "" {
		return raw, false
	}
	parts := strings.Split(raw, "&")
	changed := false
	for i, p := range parts {
		k, v, hasValue := strings.Cut(p, "=")
		if !hasValue || v == "" {
			continue
		}
		name, err := url.QueryUnescape(k)
		if err != nil {
			name = k
		}
		if IsSecretParam(name) {
			parts[i] = k + "=" + redactedMark
			changed = true
		}
	}
	return strings.Join(parts, "&"), changed
}

// redactText hides credentials in text that url.Parse does not take apart
// as expected: everything from after "scheme:" (and "//") up to the last
// '@', and the values of secret query parameters.
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
		rest, _ = redactQuery(rest)
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
