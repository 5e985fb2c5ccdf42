package redis

import (
	"fmt"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/yokedcache/yokedcache/backend"
)

// NewFromGoRedis returns a Store for the server(s) an existing go-redis
// client talks to: a *goredis.Client (standalone) or a
// *goredis.ClusterClient. It copies the client's address(es), network,
// credentials, db, TLS configuration and timeouts into opts (the other
// fields of opts, such as StatsScanLimit or Logger, are kept) and opens
// its own auto-pipelined rueidis connections: the go-redis client is not
// used for cache traffic, not closed by Close, and is what As returns for
// a *goredis.UniversalClient target.
//
// Sentinel (failover) clients do not expose their sentinels' addresses:
// use New with Mode Sentinel for them. Rings are not supported.
func NewFromGoRedis(c goredis.UniversalClient, opts Options) (*Store, error) {
	switch gc := c.(type) {
	case *goredis.Client:
		o := gc.Options()
		if o.Addr == "FailoverClient" {
			return nil, fmt.Errorf("redis: NewFromGoRedis: a go-redis failover (Sentinel) client hides its sentinels; use New with Mode Sentinel: %w", backend.ErrInvalidConfig)
		}
		opts.Mode, opts.Addrs, opts.DB = Standalone, []string{o.Addr}, o.DB
		opts.Network = o.Network
		opts.Username, opts.Password = o.Username, o.Password
		opts.TLS = o.TLSConfig
		copyTimeouts(&opts, o.DialTimeout, o.ReadTimeout)
	case *goredis.ClusterClient:
		o := gc.Options()
		opts.Mode, opts.Addrs, opts.DB = Cluster, append([]string(nil), o.Addrs...), 0
		opts.Network = ""
		opts.Username, opts.Password = o.Username, o.Password
		opts.TLS = o.TLSConfig
		copyTimeouts(&opts, o.DialTimeout, o.ReadTimeout)
	case nil:
		return nil, fmt.Errorf("redis: NewFromGoRedis: nil client: %w", backend.ErrInvalidConfig)
	default:
		return nil, fmt.Errorf("redis: NewFromGoRedis: unsupported go-redis client %T (want *redis.Client or *redis.ClusterClient): %w", c, backend.ErrInvalidConfig)
	}
	opts.Client = nil
	s, err := New(opts)
	if err != nil {
		return nil, err
	}
	s.goredis = c
	return s, nil
}

func copyTimeouts(o *Options, dial, read time.Duration) {
	if dial > 0 {
		o.ConnectTimeout = dial
	}
	if read > 0 {
		o.SocketTimeout = read
	}
}
