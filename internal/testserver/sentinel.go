package testserver

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// SentinelOptions configures StartSentinel.
type SentinelOptions struct {
	// MasterName is the monitored master's name. Default "mymaster".
	MasterName string
	// Password is the master's and the replica's requirepass and
	// masterauth, and the sentinels' auth-pass for them. Default none.
	Password string
	// SentinelPassword is the sentinels' own requirepass (and the
	// password they use with each other). Default none.
	SentinelPassword string
}

// Sentinel is a Redis Sentinel deployment: a master, one replica and three
// sentinels monitoring the master with quorum 2 (down-after-milliseconds
// 1000, failover-timeout 5000). Everything is stopped by the test's
// cleanup.
type Sentinel struct {
	// MasterName is the monitored master's name.
	MasterName string
	// Addrs are the three sentinels' "127.0.0.1:port" addresses.
	Addrs []string
	// Master and Replica are the servers in their initial roles; after a
	// failover Replica is (normally) the master. Use MasterAddr for the
	// current one.
	Master, Replica *Redis
	// Password is SentinelOptions.Password; SentinelPassword is
	// SentinelOptions.SentinelPassword.
	Password, SentinelPassword string

	sentinels []*sentinelNode
}

// sentinelNode is one `redis-server sentinel.conf --sentinel` process.
type sentinelNode struct {
	addr, dir, bin string
	password       string
	mu             sync.Mutex
	p              *proc
}

// StartSentinel starts a master, a replica (replicaof the master) and
// three sentinels, and waits until every sentinel knows the master, the
// replica and the other two sentinels, and the replica is in sync, so a
// failover can happen right away.
func StartSentinel(tb testing.TB, opts SentinelOptions) *Sentinel {
	tb.Helper()
	if opts.MasterName == "" {
		opts.MasterName = "mymaster"
	}
	s := &Sentinel{MasterName: opts.MasterName, Password: opts.Password, SentinelPassword: opts.SentinelPassword}
	ctx := context.Background()

	replConf := func(r *Redis) []string {
		if opts.Password == "" {
			return nil
		}
		return []string{"masterauth " + confQuote(opts.Password)}
	}
	s.Master = newRedis(tb, "sentinel master", RedisOptions{Password: opts.Password})
	s.Master.extraConf = replConf
	if err := s.Master.startNew(ctx); err != nil {
		tb.Fatal(err)
	}
	s.Replica = newRedis(tb, "sentinel replica", RedisOptions{Password: opts.Password})
	s.Replica.extraConf = func(r *Redis) []string {
		return append(replConf(r), "replicaof 127.0.0.1 "+fmt.Sprint(s.Master.port))
	}
	if err := s.Replica.startNew(ctx); err != nil {
		tb.Fatal(err)
	}

	bin := s.Master.bin
	for i := range 3 {
		n := &sentinelNode{dir: tb.TempDir(), bin: bin, password: opts.SentinelPassword}
		tb.Cleanup(n.stop)
		err := withPortRetry(func() error {
			port, err := freePort()
			if err != nil {
				return err
			}
			n.addr = hostPort(port)
			return n.start(ctx, port, s, opts)
		})
		if err != nil {
			tb.Fatalf("sentinel %d: %v", i, err)
		}
		s.sentinels = append(s.sentinels, n)
		s.Addrs = append(s.Addrs, n.addr)
	}
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := s.waitReady(wctx); err != nil {
		tb.Fatalf("%v\nmaster log:\n%s\nreplica log:\n%s\nsentinel 0 log:\n%s",
			err, s.Master.p.logTail(), s.Replica.p.logTail(), s.sentinels[0].p.logTail())
	}
	return s
}

func (n *sentinelNode) start(ctx context.Context, port int, s *Sentinel, opts SentinelOptions) error {
	name := s.MasterName
	lines := []string{
		fmt.Sprintf("port %d", port),
		"bind 127.0.0.1",
		"protected-mode no",
		"daemonize no",
		`logfile ""`,
		"dir " + confQuote(n.dir),
		fmt.Sprintf("sentinel monitor %s 127.0.0.1 %d 2", name, s.Master.port),
		"sentinel down-after-milliseconds " + name + " 1000",
		"sentinel failover-timeout " + name + " 5000",
		"sentinel parallel-syncs " + name + " 1",
	}
	if opts.Password != "" {
		lines = append(lines, "sentinel auth-pass "+name+" "+confQuote(opts.Password))
	}
	if opts.SentinelPassword != "" {
		lines = append(lines,
			"requirepass "+confQuote(opts.SentinelPassword),
			"sentinel sentinel-pass "+confQuote(opts.SentinelPassword))
	}
	conf := filepath.Join(n.dir, "sentinel.conf")
	// Sentinel rewrites its config file, so it must be writable.
	if err := os.WriteFile(conf, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		return err
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	p, err := launch(ctx, "sentinel "+n.addr, n.bin, []string{conf, "--sentinel"}, n.dir,
		filepath.Join(n.dir, "sentinel.log"), func(ctx context.Context) error {
			_, err := n.do(ctx, "PING")
			return err
		})
	if err != nil {
		return err
	}
	n.p = p
	return nil
}

func (n *sentinelNode) do(ctx context.Context, args ...string) (any, error) {
	return doOnce(ctx, n.addr, nil, n.password, args...)
}

func (n *sentinelNode) stop() {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.p.stop(stopGrace)
}

// waitReady polls until the replica is in sync and every sentinel sees the
// master, an online replica and two other sentinels.
func (s *Sentinel) waitReady(ctx context.Context) error {
	var last error
	for {
		last = s.checkReady(ctx)
		if last == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("testserver: sentinel deployment not ready: %w", last)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func (s *Sentinel) checkReady(ctx context.Context) error {
	info, err := s.Replica.Info(ctx, "replication")
	if err != nil {
		return err
	}
	if infoField(info, "master_link_status") != "up" {
		return errors.New("replica link not up")
	}
	for i, n := range s.sentinels {
		addr, err := n.masterAddr(ctx, s.MasterName)
		if err != nil {
			return fmt.Errorf("sentinel %d: %w", i, err)
		}
		if addr != s.Master.Addr {
			return fmt.Errorf("sentinel %d: master is %s, want %s", i, addr, s.Master.Addr)
		}
		reps, err := n.do(ctx, "SENTINEL", "REPLICAS", s.MasterName)
		if err != nil {
			return fmt.Errorf("sentinel %d: %w", i, err)
		}
		if l, _ := reps.([]any); len(l) != 1 || pairField(l[0], "flags") != "slave" {
			return fmt.Errorf("sentinel %d: replicas %v", i, reps)
		}
		others, err := n.do(ctx, "SENTINEL", "SENTINELS", s.MasterName)
		if err != nil {
			return fmt.Errorf("sentinel %d: %w", i, err)
		}
		if l, _ := others.([]any); len(l) != len(s.sentinels)-1 {
			return fmt.Errorf("sentinel %d knows %d other sentinels", i, len(l))
		}
	}
	return nil
}

// pairField returns key's value from a flat [k1 v1 k2 v2 ...] reply.
func pairField(v any, key string) string {
	l, _ := v.([]any)
	for i := 0; i+1 < len(l); i += 2 {
		if k, _ := l[i].(string); k == key {
			s, _ := l[i+1].(string)
			return s
		}
	}
	return ""
}

func (n *sentinelNode) masterAddr(ctx context.Context, name string) (string, error) {
	v, err := n.do(ctx, "SENTINEL", "GET-MASTER-ADDR-BY-NAME", name)
	if err != nil {
		return "", err
	}
	l, _ := v.([]any)
	if len(l) != 2 {
		return "", fmt.Errorf("testserver: SENTINEL GET-MASTER-ADDR-BY-NAME %s: %v", name, v)
	}
	host, _ := l[0].(string)
	port, _ := l[1].(string)
	return host + ":" + port, nil
}

// MasterAddr asks the sentinels (the first that answers) for the current
// master's address.
func (s *Sentinel) MasterAddr(ctx context.Context) (string, error) {
	var errs []error
	for _, n := range s.sentinels {
		addr, err := n.masterAddr(ctx, s.MasterName)
		if err == nil {
			return addr, nil
		}
		errs = append(errs, err)
	}
	return "", errors.Join(errs...)
}

// WaitForNewMaster polls the sentinels until one of them reports a master
// other than oldAddr and that server answers as a master, and returns its
// address. It gives up when ctx is done.
func (s *Sentinel) WaitForNewMaster(ctx context.Context, oldAddr string) (string, error) {
	for {
		for _, n := range s.sentinels {
			addr, err := n.masterAddr(ctx, s.MasterName)
			if err != nil || addr == oldAddr {
				continue
			}
			if r := s.RedisByAddr(addr); r != nil {
				if info, err := r.Info(ctx, "replication"); err != nil || infoField(info, "role") != "master" {
					continue
				}
			}
			return addr, nil
		}
		select {
		case <-ctx.Done():
			return "", fmt.Errorf("testserver: no new master for %s (old %s): %w", s.MasterName, oldAddr, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Failover asks a sentinel to fail over now (SENTINEL FAILOVER), without
// the master being down. Use WaitForNewMaster to wait for it to finish.
func (s *Sentinel) Failover(ctx context.Context) error {
	_, err := s.sentinels[0].do(ctx, "SENTINEL", "FAILOVER", s.MasterName)
	return err
}

// RedisByAddr returns Master or Replica by address, or nil.
func (s *Sentinel) RedisByAddr(addr string) *Redis {
	for _, r := range []*Redis{s.Master, s.Replica} {
		if r.Addr == addr {
			return r
		}
	}
	return nil
}

// StopSentinel stops the i-th sentinel process (for tests of clients that
// must fall back to another sentinel).
func (s *Sentinel) StopSentinel(i int) { s.sentinels[i].stop() }
