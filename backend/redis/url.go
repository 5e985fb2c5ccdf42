package redis

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/yokedcache/yokedcache/backend"
)

// The URL schemes this package registers with backend.Register.
const (
	Scheme               = "redis"
	SchemeTLS            = "rediss"
	SchemeSentinel       = "redis+sentinel"
	SchemeSentinelTLS    = "rediss+sentinel"
	SchemeCluster        = "redis+cluster"
	SchemeClusterTLS     = "rediss+cluster"
	SchemeUnix           = "unix"
	defaultPort          = "6379"
	defaultSentinelPort  = "26379"
	maxURLParamDuration  = 24 * time.Hour
	maxURLMaxConnections = 1 << 20
)

func init() {
	for _, s := range []string{Scheme, SchemeTLS, SchemeSentinel, SchemeSentinelTLS, SchemeCluster, SchemeClusterTLS, SchemeUnix} {
		backend.Register(s, URLOpener{})
	}
}

// URLOpener opens Redis URLs. Options holds defaults that the URL
// overrides (for example a Logger or a TLS configuration).
type URLOpener struct {
	Options Options
}

// PublicParams names the parameters added after the built-in list of
// package backend (backend.PublicParamLister), so that redacted URLs show
// their values.
func (URLOpener) PublicParams() []string { return []string{"publish_invalidations"} }

// OpenURL parses u (see the package doc, "URLs") and calls New.
func (o URLOpener) OpenURL(ctx context.Context, u *url.URL) (backend.Backend, error) {
	opts, err := parseURL(u, o.Options)
	if err != nil {
		return nil, fmt.Errorf("redis: open %s: %w", backend.RedactedURL(u), err)
	}
	return New(opts)
}

// ParseURL turns a Redis URL into Options. See the package doc ("URLs")
// for the forms and parameters. Errors match backend.ErrInvalidConfig and
// never contain the URL's passwords.
func ParseURL(rawURL string) (Options, error) {
	u, err := backend.ParseURL(rawURL)
	if err != nil {
		return Options{}, fmt.Errorf("redis: %w", err)
	}
	opts, err := parseURL(u, Options{})
	if err != nil {
		return Options{}, fmt.Errorf("redis: %s: %w", backend.RedactedURL(u), err)
	}
	return opts, nil
}

func invalid(format string, args ...any) error {
	return fmt.Errorf(format+": %w", append(args, backend.ErrInvalidConfig)...)
}

// parseURL fills a copy of base from u.
func parseURL(u *url.URL, base Options) (Options, error) {
	o := base
	o.Addrs = nil
	scheme := strings.ToLower(u.Scheme)
	tlsOn := false
	switch scheme {
	case Scheme, SchemeUnix:
		o.Mode = Standalone
	case SchemeTLS:
		o.Mode, tlsOn = Standalone, true
	case SchemeSentinel:
		o.Mode = Sentinel
	case SchemeSentinelTLS:
		o.Mode, tlsOn = Sentinel, true
	case SchemeCluster:
		o.Mode = Cluster
	case SchemeClusterTLS:
		o.Mode, tlsOn = Cluster, true
	default:
		return o, invalid("unsupported scheme %q (want redis, rediss, redis+sentinel, rediss+sentinel, redis+cluster, rediss+cluster or unix)", u.Scheme)
	}
	if u.Opaque != "" {
		return o, invalid("URL must have the form scheme://host or unix:///path")
	}
	if u.Fragment != "" {
		return o, invalid("URL must not have a fragment")
	}
	if u.User != nil {
		o.Username = u.User.Username()
		o.Password, _ = u.User.Password()
	}
	q := backend.NewQueryParams(u.Query())
	path := strings.Trim(u.Path, "/")
	var segs []string
	if path != "" {
		segs = strings.Split(path, "/")
	}
	db := -1
	parseDB := func(s, what string) error {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 || n > 1<<20 {
			return invalid("%s %q is not a database number", what, s)
		}
		db = n
		return nil
	}

	switch scheme {
	case SchemeUnix:
		o.Network = "unix"
		if u.Host != "" {
			return o, invalid("unix URL must have an empty host: unix:///path/to/redis.sock")
		}
		if u.Path == "" || u.Path == "/" {
			return o, invalid("unix URL needs a socket path: unix:///path/to/redis.sock")
		}
		o.Addrs = []string{u.Path}
	case Scheme, SchemeTLS:
		o.Network = "tcp"
		host, err := hostPort(u.Host, defaultPort)
		if err != nil {
			return o, err
		}
		o.Addrs = []string{host}
		if len(segs) > 1 {
			return o, invalid("path %q must be /<db>", u.Path)
		}
		if len(segs) == 1 {
			if err := parseDB(segs[0], "path"); err != nil {
				return o, err
			}
		}
	case SchemeSentinel, SchemeSentinelTLS:
		o.Network = "tcp"
		for _, h := range strings.Split(u.Host, ",") {
			hp, err := hostPort(h, defaultSentinelPort)
			if err != nil {
				return o, err
			}
			o.Addrs = append(o.Addrs, hp)
		}
		if len(segs) == 0 || len(segs) > 2 || segs[0] == "" {
			return o, invalid("sentinel URL path must be /<master name>[/<db>], got %q", u.Path)
		}
		o.MasterName = segs[0]
		if len(segs) == 2 {
			if err := parseDB(segs[1], "path"); err != nil {
				return o, err
			}
		}
	case SchemeCluster, SchemeClusterTLS:
		o.Network = "tcp"
		if u.Host != "" {
			for _, h := range strings.Split(u.Host, ",") {
				hp, err := hostPort(h, defaultPort)
				if err != nil {
					return o, err
				}
				o.Addrs = append(o.Addrs, hp)
			}
		}
		for _, h := range q.All("addr") {
			hp, err := hostPort(h, defaultPort)
			if err != nil {
				return o, err
			}
			o.Addrs = append(o.Addrs, hp)
		}
		if len(o.Addrs) == 0 {
			return o, invalid("cluster URL needs at least one node address")
		}
		if len(segs) > 1 {
			return o, invalid("path %q must be empty or /0", u.Path)
		}
		if len(segs) == 1 {
			if err := parseDB(segs[0], "path"); err != nil {
				return o, err
			}
		}
	}
	if s, ok := q.String("db"); ok {
		if db >= 0 {
			return o, invalid("db is given both in the path and as a parameter")
		}
		if err := parseDB(s, "db parameter"); err != nil {
			return o, err
		}
	}
	if db >= 0 {
		o.DB = db
	}

	durParam := func(name string, dst *time.Duration) {
		s, ok := q.String(name)
		if !ok {
			return
		}
		d, err := backend.ParseDuration(s)
		if err != nil {
			q.Fail(invalid("%s: %v", name, err))
			return
		}
		if d <= 0 || d > maxURLParamDuration {
			q.Fail(invalid("%s %q must be > 0 and at most %v", name, s, maxURLParamDuration))
			return
		}
		*dst = d
	}
	boolParam := func(name string) (bool, bool) {
		s, ok := q.String(name)
		if !ok {
			return false, false
		}
		b, err := parseBool(s)
		if err != nil {
			q.Fail(invalid("%s: %v", name, err))
			return false, false
		}
		return b, true
	}
	if s, ok := q.String("max_connections"); ok {
		n, err := strconv.Atoi(s)
		if err != nil || n <= 0 || n > maxURLMaxConnections {
			q.Fail(invalid("max_connections %q must be a positive integer", s))
		} else {
			o.MaxConnections = n
		}
	}
	durParam("socket_connect_timeout", &o.ConnectTimeout)
	durParam("socket_timeout", &o.SocketTimeout)
	durParam("health_check_interval", &o.HealthCheckInterval)
	if s, ok := q.String("flush_delay"); ok {
		if d, err := backend.ParseDuration(s); err != nil || d > time.Second {
			q.Fail(invalid("flush_delay %q must be a duration of at most 1s (0 disables)", s))
		} else if d == 0 {
			o.FlushDelay = -1
		} else {
			o.FlushDelay = d
		}
	}
	if b, ok := boolParam("socket_keepalive"); ok {
		o.DisableKeepAlive = !b
	}
	if b, ok := boolParam("retry_on_timeout"); ok {
		o.DisableRetry = !b
	}
	if b, ok := boolParam("publish_invalidations"); ok {
		o.PublishInvalidations = b
	}
	if s, ok := q.String("stats_scan_limit"); ok {
		n, err := strconv.Atoi(s)
		if err != nil || n < -1 {
			q.Fail(invalid("stats_scan_limit %q must be an integer >= -1", s))
		} else {
			o.StatsScanLimit = n
		}
	}
	if s, ok := q.String("sentinel_username"); ok {
		if o.Mode != Sentinel {
			q.Fail(invalid("sentinel_username is only valid for redis+sentinel URLs"))
		}
		o.SentinelUsername = s
	}
	if s, ok := q.String("sentinel_password"); ok {
		if o.Mode != Sentinel {
			q.Fail(invalid("sentinel_password is only valid for redis+sentinel URLs"))
		}
		o.SentinelPassword = s
	}
	if s, ok := q.String("compat"); ok {
		c, err := parseCompat(s)
		if err != nil {
			q.Fail(invalid("%v", err))
		}
		o.Compat = c
	}
	if err := parseTLSParams(q, &o, tlsOn, u.Hostname()); err != nil {
		q.Fail(err)
	}
	if err := q.Finish(); err != nil {
		return o, err
	}
	if _, err := o.withDefaults(); err != nil {
		return o, err
	}
	return o, nil
}

// parseTLSParams reads the ssl_* parameters.
func parseTLSParams(q *backend.QueryParams, o *Options, tlsOn bool, host string) error {
	caFile, hasCA := q.String("ssl_ca_certs")
	if s, ok := q.String("ca_file"); ok {
		if hasCA {
			return invalid("give either ssl_ca_certs or ca_file, not both")
		}
		caFile, hasCA = s, true
	}
	certFile, hasCert := q.String("ssl_certfile")
	keyFile, hasKey := q.String("ssl_keyfile")
	reqs, hasReqs := q.String("ssl_cert_reqs")
	checkHost := true
	hasCheck := false
	if s, ok := q.String("ssl_check_hostname"); ok {
		b, err := parseBool(s)
		if err != nil {
			return invalid("ssl_check_hostname: %v", err)
		}
		checkHost, hasCheck = b, true
	}
	serverName, hasSNI := q.String("ssl_server_name")
	if !tlsOn {
		if hasCA || hasCert || hasKey || hasReqs || hasCheck || hasSNI {
			return invalid("ssl_* parameters need a TLS scheme (rediss://, rediss+sentinel://, rediss+cluster://)")
		}
		o.TLS = nil
		return nil
	}
	var cfg *tls.Config
	if o.TLS != nil {
		cfg = o.TLS.Clone()
	} else {
		cfg = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	verify := true
	if hasReqs {
		switch strings.ToLower(reqs) {
		case "required", "cert_required":
		case "none", "cert_none":
			verify = false
		case "optional", "cert_optional":
			return invalid("ssl_cert_reqs=optional is not supported: use required (the default) or none")
		default:
			return invalid("ssl_cert_reqs %q must be required or none", reqs)
		}
	}
	if hasCA {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return invalid("ssl_ca_certs: %v", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return invalid("ssl_ca_certs %q holds no PEM certificate", caFile)
		}
		cfg.RootCAs = pool
	}
	if hasCert != hasKey {
		return invalid("ssl_certfile and ssl_keyfile must be given together")
	}
	if hasCert {
		cert, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return invalid("ssl_certfile/ssl_keyfile: %v", err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	if hasSNI {
		if serverName == "" {
			return invalid("ssl_server_name is empty")
		}
		cfg.ServerName = serverName
	}
	switch {
	case !verify:
		cfg.InsecureSkipVerify = true
		cfg.VerifyConnection = nil
	case !checkHost:
		// Verify the chain against the roots but not the name.
		roots := cfg.RootCAs
		cfg.InsecureSkipVerify = true
		cfg.VerifyConnection = func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return errors.New("redis: server sent no certificate")
			}
			inter := x509.NewCertPool()
			for _, c := range cs.PeerCertificates[1:] {
				inter.AddCert(c)
			}
			_, err := cs.PeerCertificates[0].Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter})
			return err
		}
	default:
		if cfg.ServerName == "" && host != "" && !strings.Contains(host, ",") {
			cfg.ServerName = host
		}
	}
	o.TLS = cfg
	return nil
}

// hostPort validates one "host[:port]" and adds the default port.
func hostPort(h, defPort string) (string, error) {
	if h == "" {
		return "", invalid("missing host")
	}
	host, port := h, ""
	if strings.HasPrefix(h, "[") {
		end := strings.Index(h, "]")
		if end < 0 {
			return "", invalid("host %q has an unclosed '['", h)
		}
		host, port = h[1:end], strings.TrimPrefix(h[end+1:], ":")
		if h[end+1:] != "" && !strings.HasPrefix(h[end+1:], ":") {
			return "", invalid("host %q is not host:port", h)
		}
	} else if i := strings.LastIndex(h, ":"); i >= 0 {
		host, port = h[:i], h[i+1:]
	}
	if host == "" {
		return "", invalid("host %q has no host name", h)
	}
	if port == "" {
		port = defPort
	}
	n, err := strconv.Atoi(port)
	if err != nil || n <= 0 || n > 65535 {
		return "", invalid("port %q of host %q is not a number in 1..65535", port, host)
	}
	if strings.ContainsAny(host, " /?#@,") {
		return "", invalid("host %q contains an invalid character", host)
	}
	if strings.Contains(host, ":") {
		return "[" + host + "]:" + port, nil
	}
	return host + ":" + port, nil
}

func parseBool(s string) (bool, error) {
	switch strings.ToLower(s) {
	case "1", "true", "yes", "on", "t", "y":
		return true, nil
	case "0", "false", "no", "off", "f", "n":
		return false, nil
	}
	return false, fmt.Errorf("%q is not a boolean", s)
}
