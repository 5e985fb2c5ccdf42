package memcached

import (
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/yokedcache/yokedcache/backend"
)

// Defaults of Options.
const (
	DefaultPort              = "11211"
	DefaultTimeout           = 500 * time.Millisecond
	DefaultMaxIdleConns      = 16
	DefaultMaxItemSize       = 1 << 20
	DefaultNamespaceDepth    = 1
	DefaultWriteNamespaceTTL = time.Second
	DefaultReadNamespaceTTL  = time.Second
)

// itemOverhead is what memcached adds to every item before comparing it
// with its -I limit: the item struct (48 bytes on 64-bit builds), the CAS
// value (8), the key's terminating NUL (1), the client flags (4) and the
// value's trailing CRLF (2), plus one spare byte. The key length is added
// separately.
const itemOverhead = 64

// Options configures a Store. Only Servers is required.
type Options struct {
	// Servers are the memcached servers as "host:port" (the port defaults
	// to 11211) or absolute Unix socket paths. Every process sharing the
	// servers must list the same names: they place keys on the ketama
	// continuum. Required.
	Servers []string
	// Distribution picks the server of each key: DistributionKetama (the
	// default, "" means it) or DistributionModula (gomemcache's CRC-32
	// modulo rule, which remaps most keys when the server list changes).
	Distribution Distribution
	// Weights are the servers' relative weights for ketama, in the order
	// of Servers (libketama's "memory" column): a server's share of the
	// continuum, and so of the keys, is its weight over the total. Empty
	// means equal weights (160 points per server). Ignored by
	// DistributionModula.
	Weights []int
	// Timeout bounds every network step (dial, each read and write) of an
	// operation. Default 500 ms (DefaultTimeout).
	Timeout time.Duration
	// MaxIdleConns is the number of idle connections kept per server.
	// Default 16; raise it above your peak parallel requests per server.
	MaxIdleConns int
	// MaxItemSize is the servers' item size limit (memcached -I), in
	// bytes. A Set whose item (key, value header, value and memcached's
	// overhead) would exceed it fails with an error matching
	// backend.ErrValueTooLarge before anything is sent. Default 1 MiB,
	// memcached's default.
	MaxItemSize int
	// NamespaceDepth is how many ':'-terminated segments of a stored key
	// form its flush namespace. The default 1 suits every KeyPrefix
	// without ':' (such as the default "yokedcache"); with KeyPrefix
	// "myapp:v2" set it to 2. Flush(prefix) requires a prefix with exactly
	// this many segments and returns ErrUnsupported otherwise.
	NamespaceDepth int
	// WriteNamespaceTTL is how long Set may reuse a namespace version
	// this Store has seen instead of reading it again. A Set in another
	// process within this window after a Flush may be written under the
	// old version and then reads as a miss: a lost write, never a stale
	// value. Network errors and reads that find the version changed or
	// gone refresh it early. Default 1 s; -1 reads the version on every
	// Set (one more round trip per Set).
	WriteNamespaceTTL time.Duration
	// ReadNamespaceTTL is how long Get, Exists and TTL may trust a
	// namespace version this Store has seen. Within it, a read whose value
	// carries the remembered version is a single gomemcache Get, as fast
	// as the raw client; a Flush by another process may go unseen here for
	// up to this long (this Store's own Flush is seen at once, and tags
	// and deletes are always immediate). Default 1 s. -1: every read
	// fetches the current version with the value in one multi-get, so
	// another process's Flush is seen as soon as it returns, at about 40 %
	// more latency per read (BenchmarkMemcachedAB).
	ReadNamespaceTTL time.Duration
}

// Distribution is a key-to-server rule.
type Distribution string

// The distributions.
const (
	// DistributionKetama is libketama's consistent hashing: adding or
	// removing one of n servers remaps about 1/n of the keys.
	DistributionKetama Distribution = "ketama"
	// DistributionModula is gomemcache's default: CRC-32 of the key
	// modulo the number of servers.
	DistributionModula Distribution = "modula"
)

func errInvalid(format string, args ...any) error {
	return fmt.Errorf("memcached: %s: %w", fmt.Sprintf(format, args...), backend.ErrInvalidConfig)
}

func isUnixPath(s string) bool { return strings.HasPrefix(s, "/") }

// normalize validates o and fills in defaults. o is a copy.
func (o Options) normalize() (Options, error) {
	if len(o.Servers) == 0 {
		return o, errInvalid("no servers")
	}
	servers := make([]string, len(o.Servers))
	seen := make(map[string]bool, len(o.Servers))
	for i, s := range o.Servers {
		s = strings.TrimSpace(s)
		if !isUnixPath(s) {
			host, port, err := net.SplitHostPort(s)
			if err != nil {
				// No port: add the default one.
				host, port = s, DefaultPort
				if strings.Contains(s, ":") && !strings.HasPrefix(s, "[") {
					host = "[" + s + "]" // bare IPv6
				}
				s = host + ":" + port
				host, port, err = net.SplitHostPort(s)
				if err != nil {
					return o, errInvalid("server %q: %v", o.Servers[i], err)
				}
			}
			if host == "" || strings.ContainsAny(host, " /,?#@") {
				return o, errInvalid("server %q: bad host", o.Servers[i])
			}
			if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 {
				return o, errInvalid("server %q: bad port", o.Servers[i])
			}
		}
		if seen[s] {
			return o, errInvalid("server %q listed twice", s)
		}
		seen[s] = true
		servers[i] = s
	}
	o.Servers = servers
	if len(o.Weights) > 0 {
		if len(o.Weights) != len(o.Servers) {
			return o, errInvalid("%d weights for %d servers", len(o.Weights), len(o.Servers))
		}
		total := 0
		for _, w := range o.Weights {
			if w < 1 || w > 1<<20 {
				return o, errInvalid("weight %d out of range (1 to 1048576)", w)
			}
			total += w
		}
		o.Weights = append([]int(nil), o.Weights...)
		for i, w := range o.Weights {
			// Every server needs at least one digest (libketama would
			// silently drop it).
			if float64(w)/float64(total)*ketamaHashesPerServer*float64(len(o.Weights)) < 1 {
				return o, errInvalid("server %s: weight %d is too small to get a point on the continuum", o.Servers[i], w)
			}
		}
	}
	switch o.Distribution {
	case "":
		o.Distribution = DistributionKetama
	case DistributionKetama, DistributionModula:
	default:
		return o, errInvalid("unknown distribution %q (want ketama or modula)", o.Distribution)
	}
	if o.Timeout < 0 || o.MaxIdleConns < 0 || o.MaxItemSize < 0 || o.NamespaceDepth < 0 ||
		(o.WriteNamespaceTTL < 0 && o.WriteNamespaceTTL != -1) || (o.ReadNamespaceTTL < 0 && o.ReadNamespaceTTL != -1) {
		return o, errInvalid("negative Timeout, MaxIdleConns, MaxItemSize, NamespaceDepth, WriteNamespaceTTL or ReadNamespaceTTL")
	}
	if o.Timeout == 0 {
		o.Timeout = DefaultTimeout
	}
	if o.MaxIdleConns == 0 {
		o.MaxIdleConns = DefaultMaxIdleConns
	}
	if o.MaxItemSize == 0 {
		o.MaxItemSize = DefaultMaxItemSize
	}
	if o.MaxItemSize < 1024 || o.MaxItemSize > 1<<30 {
		return o, errInvalid("MaxItemSize %d out of range (1 KiB to 1 GiB)", o.MaxItemSize)
	}
	if o.NamespaceDepth == 0 {
		o.NamespaceDepth = DefaultNamespaceDepth
	}
	if o.NamespaceDepth > 64 {
		return o, errInvalid("NamespaceDepth %d over 64", o.NamespaceDepth)
	}
	if o.WriteNamespaceTTL == 0 {
		o.WriteNamespaceTTL = DefaultWriteNamespaceTTL
	}
	if o.ReadNamespaceTTL == 0 {
		o.ReadNamespaceTTL = DefaultReadNamespaceTTL
	}
	return o, nil
}
