// Package goredis builds a yokedcache Redis backend from an existing
// go-redis (github.com/redis/go-redis/v9) client, for programs that
// already configure one. It lives in its own package so that programs
// which do not use go-redis never link it.
//
//	gr := goredis.NewClient(&goredis.Options{Addr: "localhost:6379"})
//	b, err := ycgoredis.New(gr, redis.Options{})
//	cache, err := yokedcache.New(yokedcache.Config{Backend: b})
//
// The backend itself talks to the server with the Redis backend's own
// auto-pipelined rueidis connections; the go-redis client only supplies
// the settings and is what As returns.
package goredis

import (
	"fmt"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/yokedcache/yokedcache/backend"
	"github.com/yokedcache/yokedcache/backend/redis"
)

// Store is a Redis backend (it embeds *redis.Store, with every
// capability) that also remembers the go-redis client it was built from.
type Store struct {
	*redis.Store
	client goredis.UniversalClient
}

// As fills *goredis.UniversalClient with the go-redis client given to New,
// and everything the Redis backend's As fills.
func (s *Store) As(target any) bool {
	if t, ok := target.(*goredis.UniversalClient); ok {
		*t = s.client
		return true
	}
	return s.Store.As(target)
}

// New returns a Store for the server(s) an existing go-redis
// client talks to: a *goredis.Client (standalone) or a
// *goredis.ClusterClient. It copies the client's address(es), network,
// credentials, db, TLS configuration and timeouts into opts (the other
// fields of opts, such as StatsScanLimit or Logger, are kept) and opens
// its own auto-pipelined rueidis connections: the go-redis client is not
// used for cache traffic, not closed by Close, and is what As returns for
// a *goredis.UniversalClient target.
//
// Sentinel (failover) clients do not expose their sentinels' addresses:
// use redis.New with Mode Sentinel for them. Rings are not supported.
func New(c goredis.UniversalClient, opts redis.Options) (*Store, error) {
	switch gc := c.(type) {
	case *goredis.Client:
		o := gc.Options()
		if o.Addr == "FailoverClient" {
			return nil, fmt.Errorf("goredis: a go-redis failover (Sentinel) client hides its sentinels; use redis.New with Mode Sentinel: %w", backend.ErrInvalidConfig)
		}
		opts.Mode, opts.Addrs, opts.DB = redis.Standalone, []string{o.Addr}, o.DB
		opts.Network = o.Network
		opts.Username, opts.Password = o.Username, o.Password
		opts.TLS = o.TLSConfig
		copyTimeouts(&opts, o.DialTimeout, o.ReadTimeout)
	case *goredis.ClusterClient:
		o := gc.Options()
		opts.Mode, opts.Addrs, opts.DB = redis.Cluster, append([]string(nil), o.Addrs...), 0
		opts.Network = ""
		opts.Username, opts.Password = o.Username, o.Password
		opts.TLS = o.TLSConfig
		copyTimeouts(&opts, o.DialTimeout, o.ReadTimeout)
	case nil:
		return nil, fmt.Errorf("goredis: nil client: %w", backend.ErrInvalidConfig)
	default:
		return nil, fmt.Errorf("goredis: unsupported go-redis client %T (want *redis.Client or *redis.ClusterClient): %w", c, backend.ErrInvalidConfig)
	}
	opts.Client = nil
	s, err := redis.New(opts)
	if err != nil {
		return nil, err
	}
	return &Store{Store: s, client: c}, nil
}

func copyTimeouts(o *redis.Options, dial, read time.Duration) {
	if dial > 0 {
		o.ConnectTimeout = dial
	}
	if read > 0 {
		o.SocketTimeout = read
	}
}
