package redis

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"time"

	"github.com/redis/rueidis"

	"github.com/yokedcache/yokedcache/backend"
)

// Mode is the Redis deployment the backend talks to.
type Mode string

// The deployments.
const (
	// Standalone is one server (or a primary behind a load balancer).
	Standalone Mode = "standalone"
	// Sentinel asks Redis Sentinels for the current master of MasterName
	// and follows failovers.
	Sentinel Mode = "sentinel"
	// Cluster is a Redis Cluster; Addrs are seed nodes.
	Cluster Mode = "cluster"
)

// Defaults of Options (the reference guide's pool settings).
const (
	DefaultAddr                = "127.0.0.1:6379"
	DefaultMaxConnections      = 50
	DefaultConnectTimeout      = 5 * time.Second
	DefaultSocketTimeout       = 5 * time.Second
	DefaultHealthCheckInterval = 30 * time.Second
	DefaultStatsScanLimit      = 100_000
	DefaultFlushDelay          = 20 * time.Microsecond
	maxRetries                 = 2
)

// Options configures New. The zero value connects to a standalone server
// on 127.0.0.1:6379, db 0, without TLS or authentication. New copies the
// struct and never modifies the caller's value.
//
// Every field maps onto a field of rueidis.ClientOption; docs/redis.md has
// the full table next to the reference guide's names.
type Options struct {
	// Mode selects standalone, Sentinel or Cluster. Default Standalone,
	// or Sentinel when MasterName is set.
	Mode Mode
	// Addrs are "host:port" addresses: the server (Standalone), the
	// sentinels (Sentinel) or seed nodes (Cluster). Default
	// ["127.0.0.1:6379"]. With Network "unix" the single entry is a socket
	// path.
	Addrs []string
	// Network is "tcp" (default) or "unix".
	Network string
	// Username and Password authenticate with HELLO ... AUTH (Redis 6+
	// ACL users; Username empty means the "default" user). Default none.
	Username, Password string
	// DB is the database number (SELECT). Default 0. Cluster supports only
	// 0. A user without +select (such as the minimal ACL user) must keep 0.
	DB int
	// MasterName is the Sentinel master set name (Mode Sentinel).
	MasterName string
	// SentinelUsername and SentinelPassword authenticate with the
	// sentinels themselves. Default none.
	SentinelUsername, SentinelPassword string
	// TLS enables TLS with this configuration (rediss://). Verification
	// is on unless the configuration explicitly sets InsecureSkipVerify.
	// The same configuration is used for sentinels. Default nil: plain
	// TCP.
	TLS *tls.Config
	// MaxConnections bounds the connections used for dedicated
	// (non-pipelined) work per node: rueidis.ClientOption.BlockingPoolSize.
	// Ordinary commands share auto-pipelined connections
	// (2^PipelineMultiplex per node). Default 50 (reference:
	// max_connections).
	MaxConnections int
	// ConnectTimeout bounds dialling and the handshake:
	// ClientOption.Dialer.Timeout. Default 5 s (reference:
	// socket_connect_timeout).
	ConnectTimeout time.Duration
	// SocketTimeout bounds every read and write on a connection (and so
	// how long an operation waits on a hung server):
	// ClientOption.ConnWriteTimeout. Default 5 s (reference:
	// socket_timeout).
	SocketTimeout time.Duration
	// DisableKeepAlive turns off TCP keep-alive and idle PINGs
	// (ClientOption.Dialer.KeepAlive = -1). Default false: keep-alive on
	// (reference: socket_keepalive=True).
	DisableKeepAlive bool
	// HealthCheckInterval is how often an idle connection is probed with
	// PING and the TCP keep-alive period: ClientOption.Dialer.KeepAlive.
	// Default 30 s (reference: health_check_interval).
	HealthCheckInterval time.Duration
	// DisableRetry stops retrying read-only commands after a connection
	// error or timeout: ClientOption.DisableRetry. Default false, i.e.
	// retry (reference: retry_on_timeout=True).
	DisableRetry bool
	// PipelineMultiplex is log2 of the pipelined connections per node:
	// ClientOption.PipelineMultiplex. Default 0 lets rueidis choose from
	// GOMAXPROCS.
	PipelineMultiplex int
	// FlushDelay is how long the auto-pipeliner may wait after a write to
	// the connection to gather more commands from concurrent callers:
	// ClientOption.MaxFlushDelay. It applies only while commands are
	// pipelined (a lone caller is served at once) and, with 64 concurrent
	// callers, more than doubled throughput on the measured machine (see
	// docs/redis.md). Default 20 µs; -1 disables it.
	FlushDelay time.Duration
	// StatsScanLimit is the largest database (DBSIZE) for which Stats
	// counts this prefix's keys with SCAN; above it Stats reports DBSIZE
	// with Scope "database". Default 100 000; -1 never scans.
	StatsScanLimit int
	// Client is an existing rueidis client to use instead of connecting.
	// The backend does not close it. When set, the connection fields above
	// are ignored. Default nil.
	Client rueidis.Client
	// Logger receives warnings. Default slog.Default().
	Logger *slog.Logger
	// Compat selects the stored layout: CompatNone (default) or
	// CompatPython, shared with the Python original on the same Redis
	// (URL parameter compat=python; see docs/python.md).
	Compat Compat
	// PublishInvalidations makes every write also announce the keys it
	// changed on an invalidation stream (XADD, pipelined with the write),
	// for near caches that follow the stream because CLIENT TRACKING is
	// refused (see the package doc, "Near cache support"). A Store whose
	// own Track fell back to the stream publishes regardless. URL
	// parameter publish_invalidations. Default false.
	PublishInvalidations bool
	// StreamMaxLen bounds each invalidation stream (XADD MAXLEN ~).
	// Default 10 000.
	StreamMaxLen int
	// TrackPingInterval is how often a tracking PINGs its connections to
	// detect a partition; TrackPingTimeout bounds each PING. Defaults
	// 500 ms and 1 s.
	TrackPingInterval, TrackPingTimeout time.Duration
}

// String describes the options without the passwords.
func (o Options) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "redis.Options{Mode: %q, Addrs: %q", o.mode(), o.Addrs)
	if o.Network != "" {
		fmt.Fprintf(&b, ", Network: %q", o.Network)
	}
	if o.Username != "" {
		fmt.Fprintf(&b, ", Username: %q", o.Username)
	}
	if o.Password != "" {
		b.WriteString(", Password: xxxxx")
	}
	fmt.Fprintf(&b, ", DB: %d", o.DB)
	if o.MasterName != "" {
		fmt.Fprintf(&b, ", MasterName: %q", o.MasterName)
	}
	if o.SentinelUsername != "" {
		fmt.Fprintf(&b, ", SentinelUsername: %q", o.SentinelUsername)
	}
	if o.SentinelPassword != "" {
		b.WriteString(", SentinelPassword: xxxxx")
	}
	if o.TLS != nil {
		fmt.Fprintf(&b, ", TLS: on (verify: %t)", !o.TLS.InsecureSkipVerify)
	}
	fmt.Fprintf(&b, ", MaxConnections: %d, ConnectTimeout: %v, SocketTimeout: %v, KeepAlive: %t, HealthCheckInterval: %v, Retry: %t}",
		o.MaxConnections, o.ConnectTimeout, o.SocketTimeout, !o.DisableKeepAlive, o.HealthCheckInterval, !o.DisableRetry)
	if o.Compat != CompatNone {
		s := b.String()
		return s[:len(s)-1] + fmt.Sprintf(", Compat: %q}", o.Compat)
	}
	return b.String()
}

// GoString is String, so that %#v does not print the passwords either.
func (o Options) GoString() string { return o.String() }

// LogValue is String, so that log/slog handlers (JSON ones too) do not
// print the passwords.
func (o Options) LogValue() slog.Value { return slog.StringValue(o.String()) }

// target describes where o connects, for errors: the mode, the addresses,
// the database and whether TLS is on, but not the credentials.
func (o Options) target() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s", o.mode(), strings.Join(o.Addrs, ","))
	if o.MasterName != "" {
		fmt.Fprintf(&b, " (master %q)", o.MasterName)
	}
	if o.DB != 0 {
		fmt.Fprintf(&b, " db %d", o.DB)
	}
	if o.TLS != nil {
		b.WriteString(" with TLS")
	}
	return b.String()
}

func (o Options) mode() Mode {
	if o.Mode != "" {
		return o.Mode
	}
	if o.MasterName != "" {
		return Sentinel
	}
	return Standalone
}

// withDefaults returns a copy of o with defaults applied, or an error
// matching backend.ErrInvalidConfig.
func (o Options) withDefaults() (Options, error) {
	o.Addrs = append([]string(nil), o.Addrs...)
	o.Mode = o.mode()
	bad := func(format string, args ...any) (Options, error) {
		return o, fmt.Errorf("redis: "+format+": %w", append(args, backend.ErrInvalidConfig)...)
	}
	switch o.Mode {
	case Standalone, Sentinel, Cluster:
	default:
		return bad("unknown mode %q (want standalone, sentinel or cluster)", o.Mode)
	}
	if o.Network == "" {
		o.Network = "tcp"
	}
	if o.Network != "tcp" && o.Network != "unix" {
		return bad("unknown network %q (want tcp or unix)", o.Network)
	}
	if o.Network == "unix" && o.Mode != Standalone {
		return bad("unix sockets work only in standalone mode")
	}
	if len(o.Addrs) == 0 && o.Client == nil {
		if o.Network == "unix" {
			return bad("a unix socket path is required")
		}
		o.Addrs = []string{DefaultAddr}
	}
	for _, a := range o.Addrs {
		if a == "" {
			return bad("empty address")
		}
		if o.Network == "tcp" {
			if _, port, err := net.SplitHostPort(a); err != nil || port == "" {
				return bad("address %q is not host:port", a)
			}
		}
	}
	if o.Mode == Standalone && len(o.Addrs) > 1 {
		return bad("standalone mode takes one address, got %d (use cluster or sentinel mode for several)", len(o.Addrs))
	}
	if o.Mode == Sentinel && o.MasterName == "" && o.Client == nil {
		return bad("sentinel mode needs a master name")
	}
	if o.DB < 0 {
		return bad("db %d is negative", o.DB)
	}
	if o.Mode == Cluster && o.DB != 0 {
		return bad("redis cluster supports only db 0, got %d", o.DB)
	}
	if o.MaxConnections == 0 {
		o.MaxConnections = DefaultMaxConnections
	}
	if o.MaxConnections < 0 {
		return bad("max connections %d is negative", o.MaxConnections)
	}
	if o.ConnectTimeout == 0 {
		o.ConnectTimeout = DefaultConnectTimeout
	}
	if o.SocketTimeout == 0 {
		o.SocketTimeout = DefaultSocketTimeout
	}
	if o.HealthCheckInterval == 0 {
		o.HealthCheckInterval = DefaultHealthCheckInterval
	}
	if o.ConnectTimeout < 0 || o.SocketTimeout < 0 || o.HealthCheckInterval < 0 {
		return bad("timeouts must not be negative")
	}
	if o.PipelineMultiplex < 0 || o.PipelineMultiplex > rueidis.MaxPipelineMultiplex {
		return bad("pipeline multiplex %d is outside 0..%d", o.PipelineMultiplex, rueidis.MaxPipelineMultiplex)
	}
	switch {
	case o.FlushDelay == 0:
		o.FlushDelay = DefaultFlushDelay
	case o.FlushDelay < 0:
		o.FlushDelay = -1
	}
	if o.StatsScanLimit == 0 {
		o.StatsScanLimit = DefaultStatsScanLimit
	}
	if o.StreamMaxLen == 0 {
		o.StreamMaxLen = DefaultStreamMaxLen
	}
	if o.TrackPingInterval == 0 {
		o.TrackPingInterval = DefaultTrackPingInterval
	}
	if o.TrackPingTimeout == 0 {
		o.TrackPingTimeout = DefaultTrackPingTimeout
	}
	if o.StreamMaxLen < 0 || o.TrackPingInterval < 0 || o.TrackPingTimeout < 0 {
		return bad("stream max length and tracking ping settings must not be negative")
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	c, err := parseCompat(string(o.Compat))
	if err != nil {
		return bad("%v", err)
	}
	o.Compat = c
	if o.TLS != nil {
		o.TLS = o.TLS.Clone()
	}
	return o, nil
}

// clientOption maps validated options onto rueidis.
func (o Options) clientOption() rueidis.ClientOption {
	co := rueidis.ClientOption{
		InitAddress:       o.Addrs,
		Username:          o.Username,
		Password:          o.Password,
		SelectDB:          o.DB,
		TLSConfig:         o.TLS,
		BlockingPoolSize:  o.MaxConnections,
		ConnWriteTimeout:  o.SocketTimeout,
		DisableRetry:      o.DisableRetry,
		PipelineMultiplex: o.PipelineMultiplex,
		MaxFlushDelay:     max(o.FlushDelay, 0),
		// Client-side caching needs CLIENT TRACKING, which the minimal
		// ACL user may not run; CLIENT SETINFO is refused too. Neither
		// is needed.
		DisableCache:  true,
		ClientSetInfo: rueidis.DisableClientSetInfo,
	}
	// Retry a read-only command at most twice after a connection error
	// (rueidis retries forever by default, so an operation against a
	// server that is down would only end with its context).
	co.RetryDelay = func(attempts int, _ rueidis.Completed, _ error) time.Duration {
		if attempts > maxRetries {
			return -1
		}
		return time.Duration(attempts) * 20 * time.Millisecond
	}
	co.Dialer.Timeout = o.ConnectTimeout
	co.Dialer.KeepAlive = o.HealthCheckInterval
	if o.DisableKeepAlive {
		co.Dialer.KeepAlive = -1
	}
	switch o.Mode {
	case Sentinel:
		co.Sentinel = rueidis.SentinelOption{
			MasterSet: o.MasterName,
			Username:  o.SentinelUsername,
			Password:  o.SentinelPassword,
			TLSConfig: o.TLS,
		}
		co.Sentinel.Dialer = co.Dialer
	case Cluster:
		// rueidis detects a cluster from CLUSTER SLOTS; nothing to set.
	case Standalone:
		co.ForceSingleClient = true
	}
	if o.Network == "unix" {
		path := o.Addrs[0]
		co.InitAddress = []string{path}
		co.DialCtxFn = func(ctx context.Context, _ string, d *net.Dialer, cfg *tls.Config) (net.Conn, error) {
			return d.DialContext(ctx, "unix", path)
		}
	}
	return co
}
