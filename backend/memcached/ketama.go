package memcached

import (
	"crypto/md5"
	"encoding/binary"
	"hash/crc32"
	"math"
	"net"
	"slices"
	"strconv"
)

// pointsPerServer is libketama's number of continuum points for a server
// of average weight: 40 MD5 digests, 4 points each.
const (
	ketamaHashesPerServer = 40
	ketamaPointsPerHash   = 4
	pointsPerServer       = ketamaHashesPerServer * ketamaPointsPerHash
)

// serverAddr is a memcached server address. It is not resolved when the
// Store is built: gomemcache dials addr.String() and the resolver runs
// then, so a DNS change is picked up by new connections.
type serverAddr struct {
	network, addr string
}

func (a *serverAddr) Network() string { return a.network }
func (a *serverAddr) String() string  { return a.addr }

// point is one position of a server on the ketama continuum.
type point struct {
	hash   uint32
	server int
}

// selector picks the server of a key, either with the libketama continuum
// or with gomemcache's default CRC-32 modulo rule. It implements
// memcache.ServerSelector and is immutable after newSelector.
type selector struct {
	addrs     []net.Addr
	continuum []point      // sorted by hash; nil for modulo
	marks     []serverMark // per-server breakers (down.go)
}

// newSelector builds the selector for servers (validated names) with the
// given weights (nil: equal).
func newSelector(servers []string, weights []int, ketama bool) *selector {
	s := &selector{addrs: make([]net.Addr, len(servers)), marks: make([]serverMark, len(servers))}
	for i, srv := range servers {
		network := "tcp"
		if isUnixPath(srv) {
			network = "unix"
		}
		s.addrs[i] = &serverAddr{network: network, addr: srv}
	}
	if ketama {
		if len(weights) == 0 {
			weights = make([]int, len(servers))
			for i := range weights {
				weights[i] = 1
			}
		}
		s.continuum = ketamaContinuum(servers, weights)
	}
	return s
}

// ketamaContinuum builds libketama's continuum: a server with weight w out
// of a total W among n servers gets floor(w/W * 40 * n) MD5 digests of
// "<server>-<i>" (i from 0), and each 16-byte digest gives 4 points, the
// little-endian uint32s at offsets 0, 4, 8 and 12. The arithmetic follows
// libketama's (a float32 share, scaled in double precision) so that
// weighted lists pick the same servers.
func ketamaContinuum(servers []string, weights []int) []point {
	total := 0
	for _, w := range weights {
		total += w
	}
	var pts []point
	buf := make([]byte, 0, 64)
	for i, srv := range servers {
		pct := float32(weights[i]) / float32(total)
		ks := int(math.Floor(float64(float32(float64(pct) * ketamaHashesPerServer * float64(len(servers))))))
		for k := 0; k < ks; k++ {
			buf = append(append(append(buf[:0], srv...), '-'), strconv.Itoa(k)...)
			d := md5.Sum(buf)
			for h := 0; h < ketamaPointsPerHash; h++ {
				pts = append(pts, point{hash: binary.LittleEndian.Uint32(d[h*4:]), server: i})
			}
		}
	}
	slices.SortStableFunc(pts, func(a, b point) int {
		switch {
		case a.hash < b.hash:
			return -1
		case a.hash > b.hash:
			return 1
		}
		return 0
	})
	return pts
}

// ketamaHash is libketama's key hash: the first four bytes of the key's
// MD5 digest, little-endian.
func ketamaHash(key string) uint32 {
	d := md5.Sum([]byte(key))
	return binary.LittleEndian.Uint32(d[:4])
}

// index returns the position in the server list of key's server.
func (s *selector) index(key string) int {
	n := len(s.addrs)
	if n == 1 {
		return 0
	}
	if s.continuum == nil {
		return int(crc32.ChecksumIEEE([]byte(key)) % uint32(n))
	}
	h := ketamaHash(key)
	// The first point at or after h, wrapping to the start.
	i, _ := slices.BinarySearchFunc(s.continuum, h, func(p point, h uint32) int {
		switch {
		case p.hash < h:
			return -1
		case p.hash > h:
			return 1
		}
		return 0
	})
	if i == len(s.continuum) {
		i = 0
	}
	return s.continuum[i].server
}

// PickServer implements memcache.ServerSelector.
// A server marked down after repeated failures is refused at once.
func (s *selector) PickServer(key string) (net.Addr, error) {
	i := s.index(key)
	if err := s.allow(i); err != nil {
		return nil, err
	}
	return s.addrs[i], nil
}

// Each implements memcache.ServerSelector.
func (s *selector) Each(f func(net.Addr) error) error {
	for _, a := range s.addrs {
		if err := f(a); err != nil {
			return err
		}
	}
	return nil
}
