package memcached

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/bradfitz/gomemcache/memcache"

	"github.com/yokedcache/yokedcache/backend"
)

// Name is the backend type reported by Store.Name.
const Name = "memcached"

// Store is the memcached backend. It is safe for concurrent use.
type Store struct {
	opts   Options
	client *memcache.Client
	sel    *selector
	closed atomic.Bool

	// nsKeys and tagKeys cache the per-server memcached keys of version
	// counters, keyed by namespace or tag (see versionKeys).
	nsKeys, tagKeys sync.Map // string -> []string
	vkeyCount       atomic.Int64
	// ns holds the namespace versions this Store has seen, for
	// WriteNamespaceTTL and ReadNamespaceTTL (nsversion.go).
	ns nsCache
}

// cacheCap bounds the local caches; past it they are cleared.
const cacheCap = 8192

var (
	_ backend.Backend       = (*Store)(nil)
	_ backend.BatchGetter   = (*Store)(nil)
	_ backend.BatchSetter   = (*Store)(nil)
	_ backend.BatchDeleter  = (*Store)(nil)
	_ backend.Expirer       = (*Store)(nil)
	_ backend.Tagger        = (*Store)(nil)
	_ backend.Flusher       = (*Store)(nil)
	_ backend.Stater        = (*Store)(nil)
	_ backend.Pinger        = (*Store)(nil)
	_ backend.HealthChecker = (*Store)(nil)
	_ backend.Aser          = (*Store)(nil)
	_ backend.Namer         = (*Store)(nil)
	_ backend.SetCopier     = (*Store)(nil)
)

// New returns a Store for the servers in o. It does not connect:
// connections are opened by the first operations (use Ping to check the
// servers).
func New(o Options) (*Store, error) {
	o, err := o.normalize()
	if err != nil {
		return nil, err
	}
	sel := newSelector(o.Servers, o.Weights, o.Distribution == DistributionKetama)
	c := memcache.NewFromSelector(sel)
	c.Timeout = o.Timeout
	c.MaxIdleConns = o.MaxIdleConns
	return &Store{opts: o, client: c, sel: sel}, nil
}

// Name returns "memcached".
func (s *Store) Name() string { return Name }

// As fills a **memcache.Client with the gomemcache client.
func (s *Store) As(target any) bool {
	if p, ok := target.(**memcache.Client); ok && p != nil {
		*p = s.client
		return true
	}
	return false
}

// Options returns the normalized options of s (defaults filled in).
func (s *Store) Options() Options {
	o := s.opts
	o.Servers = append([]string(nil), o.Servers...)
	o.Weights = append([]int(nil), o.Weights...)
	return o
}

// Close closes idle connections. Later calls return backend.ErrClosed.
func (s *Store) Close() error {
	if !s.closed.CompareAndSwap(false, true) {
		return backend.ErrClosed
	}
	return s.client.Close()
}

func (s *Store) check(ctx context.Context) error {
	if s.closed.Load() {
		return backend.ErrClosed
	}
	return ctx.Err()
}

// corruptError matches both backend.ErrCorrupt and backend.ErrNotFound: a
// value this package cannot read is reported and treated as a miss.
type corruptError struct{ err error }

func (e *corruptError) Error() string   { return e.err.Error() }
func (e *corruptError) Unwrap() []error { return []error{e.err, backend.ErrNotFound} }

func opErr(op string, err error) error {
	var cte *memcache.ConnectTimeoutError
	if errors.As(err, &cte) && !errors.Is(err, os.ErrDeadlineExceeded) {
		// Let callers match a dial timeout like a read timeout.
		return fmt.Errorf("memcached: %s: %w (%w)", op, err, os.ErrDeadlineExceeded)
	}
	return fmt.Errorf("memcached: %s: %w", op, err)
}

// serverErr names the server in a network error, and forgets the cached
// namespace versions (see netFailed).
func (s *Store) serverErr(srv int, err error) error {
	if err == nil || errors.Is(err, backend.ErrValueTooLarge) {
		return err
	}
	s.netFailed()
	s.sel.failed(srv, err)
	if len(s.sel.addrs) > 1 {
		// One of several servers: the Cache's breaker for the whole
		// Store does not count it (this Store breaks per server).
		return &backend.ServerError{Server: s.sel.addrs[srv].String(), Err: err}
	}
	return fmt.Errorf("server %s: %w", s.sel.addrs[srv], err)
}

// netFailed forgets the namespace versions Set reuses: a server that
// failed may come back restarted and empty, without the counters, and
// Sets must then create new ones rather than write under versions that no
// longer exist (which would read as misses).
func (s *Store) netFailed() {
	s.ns.clear()
}

// staleConn reports whether err is what a pooled connection gives after
// its server closed it (restart, idle timeout): the operation never
// reached a live server and can be sent again on a new connection.
func staleConn(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

// retry runs op again (at most twice more) while it fails on a stale
// pooled connection. Every operation this package sends is safe to repeat
// (set, get, delete, cas; a repeated incr of a version counter only
// invalidates once more).
func retry(op func() error) error {
	err := op()
	for i := 0; i < 2 && err != nil && staleConn(err); i++ {
		err = op()
	}
	return err
}

// namespace returns the flush namespace of a stored key: its first
// NamespaceDepth ':'-terminated segments, or as many as it has.
func (s *Store) namespace(key string) string {
	end, n := 0, 0
	for i := 0; i < len(key) && n < s.opts.NamespaceDepth; i++ {
		if key[i] == ':' {
			end, n = i+1, n+1
		}
	}
	return key[:end]
}
