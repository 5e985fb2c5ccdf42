package testserver

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// RedisOptions configures StartRedis. The zero value is a plain standalone
// server without authentication.
type RedisOptions struct {
	// Password sets requirepass (the password of the "default" user).
	// Empty: no password.
	Password string
	// Users are ACL users, each the argument list of ACL SETUSER, for
	// example "app on >secret ~app:* +@read +@write +del". They are written
	// as "user ..." lines into the server's config file, so they survive
	// Stop/Start. Default: none.
	Users []string
	// TLS serves only TLS (tls-port, port 0) with a freshly generated CA,
	// server and client certificate; see Redis.TLS. Clients may present
	// the client certificate (tls-auth-clients optional). Default false.
	TLS bool
	// Args are extra command-line arguments for redis-server, given after
	// the config file, e.g. []string{"--maxmemory", "10mb",
	// "--maxmemory-policy", "allkeys-lru"}. Default none.
	Args []string
}

// Redis is a running (or stopped) redis-server process on a loopback port.
// Create it with StartRedis; it is stopped by the test's cleanup.
type Redis struct {
	// Addr is "127.0.0.1:port". It stays the same across Stop/Start.
	Addr string
	// Password is RedisOptions.Password.
	Password string
	// TLS holds the generated certificates when RedisOptions.TLS is set;
	// nil otherwise.
	TLS *TLSFiles
	// Dir is the server's private directory (config, log, certificates).
	Dir string

	opts   RedisOptions
	bin    string
	name   string
	fatalf func(format string, args ...any)
	// extraConf are more config lines (replication, cluster); busPort is
	// the cluster bus port (0 when not a cluster node).
	extraConf func(r *Redis) []string
	busPort   int
	legacyBus bool // cluster bus on port+10000 (Redis < 7.0)
	port      int

	mu sync.Mutex
	p  *proc
}

// StartRedis starts a standalone redis-server on a free loopback port and
// waits until it answers PING. It is killed by tb.Cleanup. A missing
// redis-server binary skips the test (fails it when CI=true; see
// RequireBinary); a server that does not come up within 10 s fails the
// test and reports the server log.
func StartRedis(tb testing.TB, opts RedisOptions) *Redis {
	tb.Helper()
	r := newRedis(tb, "redis", opts)
	if err := r.startNew(context.Background()); err != nil {
		if opts.TLS && strings.Contains(err.Error(), "Bad directive") {
			missingFeature(tb, "redis-server "+r.bin+" was built without TLS support", err)
		}
		tb.Fatal(err)
	}
	return r
}

// newRedis prepares (but does not start) a server owned by tb: its
// directory is a tb.TempDir and it is stopped in tb.Cleanup.
func newRedis(tb testing.TB, name string, opts RedisOptions) *Redis {
	tb.Helper()
	bin := RequireBinary(tb, "redis-server")
	dir := tb.TempDir()
	r, err := newRedisIn(dir, bin, name, opts, tb.Fatalf)
	if r != nil {
		tb.Cleanup(r.Stop) // registered after TempDir: runs before the directory is removed
	}
	if err != nil {
		tb.Fatal(err)
	}
	return r
}

// newRedisIn prepares a server in dir; fatalf reports a failed Start.
func newRedisIn(dir, bin, name string, opts RedisOptions, fatalf func(string, ...any)) (*Redis, error) {
	r := &Redis{
		Password: opts.Password,
		Dir:      dir,
		opts:     cloneRedisOptions(opts),
		bin:      bin,
		name:     name,
		fatalf:   fatalf,
	}
	if opts.TLS {
		files, err := GenerateTLS(r.Dir)
		if err != nil {
			return r, err
		}
		r.TLS = files
	}
	return r, nil
}

func cloneRedisOptions(o RedisOptions) RedisOptions {
	o.Users = append([]string(nil), o.Users...)
	o.Args = append([]string(nil), o.Args...)
	return o
}

// URL returns "redis://[:password@]127.0.0.1:port/0", or "rediss://..."
// for a TLS server. It carries no certificate settings; use TLS for those.
func (r *Redis) URL() string {
	scheme := "redis"
	if r.TLS != nil {
		scheme = "rediss"
	}
	auth := ""
	if r.Password != "" {
		auth = url.UserPassword("", r.Password).String() + "@"
	}
	return scheme + "://" + auth + r.Addr + "/0"
}

// ClientTLSConfig returns the client TLS configuration for this server
// (CA, client certificate, server name), or nil for a plain server.
func (r *Redis) ClientTLSConfig() *tls.Config {
	if r.TLS == nil {
		return nil
	}
	return r.TLS.ClientConfig()
}

// Port returns the server's TCP (or TLS) port.
func (r *Redis) Port() int { return r.port }

func (r *Redis) confPath() string { return filepath.Join(r.Dir, "redis.conf") }
func (r *Redis) logPath() string  { return filepath.Join(r.Dir, "redis.log") }

// writeConfig writes the config file for the current port.
func (r *Redis) writeConfig() error {
	lines := []string{
		"bind 127.0.0.1",
		"protected-mode no",
		"daemonize no",
		`logfile ""`,
		`save ""`,
		"appendonly no",
		"dir " + confQuote(r.Dir),
		"databases 16",
	}
	if redisVersion(r.bin)[0] >= 7 {
		// Do not wait for replicas on shutdown: Stop stays fast.
		lines = append(lines, "shutdown-timeout 0")
	}
	if r.TLS != nil {
		lines = append(lines,
			"port 0",
			fmt.Sprintf("tls-port %d", r.port),
			"tls-cert-file "+confQuote(r.TLS.CertFile),
			"tls-key-file "+confQuote(r.TLS.KeyFile),
			"tls-ca-cert-file "+confQuote(r.TLS.CAFile),
			"tls-auth-clients optional",
		)
	} else {
		lines = append(lines, fmt.Sprintf("port %d", r.port))
	}
	if r.opts.Password != "" {
		lines = append(lines, "requirepass "+confQuote(r.opts.Password))
	}
	for _, u := range r.opts.Users {
		lines = append(lines, "user "+u)
	}
	if r.extraConf != nil {
		lines = append(lines, r.extraConf(r)...)
	}
	return os.WriteFile(r.confPath(), []byte(strings.Join(lines, "\n")+"\n"), 0o600)
}

// startNew picks free ports and starts the server, retrying with new ports
// when one was taken in the meantime.
func (r *Redis) startNew(ctx context.Context) error {
	return withPortRetry(func() error {
		if r.busPort != 0 && r.legacyBus {
			// No cluster-port before 7.0: the bus is on port+10000.
			port, err := freeClusterPort()
			if err != nil {
				return err
			}
			r.port, r.busPort = port, port+10000
		} else {
			n := 1
			if r.busPort != 0 {
				n = 2
			}
			ports, err := freePorts(n)
			if err != nil {
				return err
			}
			r.port = ports[0]
			if n == 2 {
				r.busPort = ports[1]
			}
		}
		r.Addr = hostPort(r.port)
		return r.run(ctx)
	})
}

// run writes the config and starts the process on the current port(s).
func (r *Redis) run(ctx context.Context) error {
	if err := r.writeConfig(); err != nil {
		return fmt.Errorf("testserver: write redis config: %w", err)
	}
	return r.runNoWrite(ctx)
}

func (r *Redis) runNoWrite(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.p != nil && !r.p.done() {
		return nil // already running
	}
	args := append([]string{r.confPath()}, r.opts.Args...)
	p, err := launch(ctx, r.name+" "+r.Addr, r.bin, args, r.Dir, r.logPath(), r.ping)
	if err != nil {
		return err
	}
	r.p = p
	return nil
}

// ping succeeds when the server answers: PONG, or an authentication error
// (the default user may be disabled by Users). LOADING is not an answer.
func (r *Redis) ping(ctx context.Context) error {
	_, err := doOnce(ctx, r.Addr, r.clientTLS(), r.Password, "PING")
	if err == nil || isRedisError(err, "NOAUTH") || isRedisError(err, "NOPERM") || isRedisError(err, "WRONGPASS") {
		return nil
	}
	return err
}

func (r *Redis) clientTLS() *tls.Config {
	if r.TLS == nil {
		return nil
	}
	return r.TLS.ClientConfig()
}

// Do runs one command on a new connection, authenticated as the default
// user with Password (when set), and returns the reply: string, int64,
// []any, nil, or a RedisError as the error.
func (r *Redis) Do(ctx context.Context, args ...string) (any, error) {
	return doOnce(ctx, r.Addr, r.clientTLS(), r.Password, args...)
}

// DoAs is Do authenticated as an ACL user.
func (r *Redis) DoAs(ctx context.Context, user, password string, args ...string) (any, error) {
	c, err := dialRESP(ctx, r.Addr, r.clientTLS())
	if err != nil {
		return nil, err
	}
	defer c.Close()
	if _, err := c.Do(ctx, "AUTH", user, password); err != nil {
		return nil, fmt.Errorf("AUTH %s: %w", user, err)
	}
	return c.Do(ctx, args...)
}

// FlushAll deletes every key on the server (FLUSHALL), for tests reusing a
// server.
func (r *Redis) FlushAll(ctx context.Context) error {
	_, err := r.Do(ctx, "FLUSHALL")
	return err
}

// Info returns the INFO section's text.
func (r *Redis) Info(ctx context.Context, section string) (string, error) {
	v, err := r.Do(ctx, "INFO", section)
	if err != nil {
		return "", err
	}
	s, ok := v.(string)
	if !ok {
		return "", fmt.Errorf("testserver: INFO reply %T", v)
	}
	return s, nil
}

// Stop shuts the server down (SIGTERM, then SIGKILL after 5 s) and waits
// until the process has exited. Stopping a stopped server does nothing.
func (r *Redis) Stop() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.p.stop(stopGrace)
}

// Kill sends SIGKILL (a crash, no shutdown) and waits for the exit.
func (r *Redis) Kill() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.p.kill()
}

// Running reports whether the server process is alive.
func (r *Redis) Running() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.p != nil && !r.p.done()
}

// Start restarts a stopped or killed server on the same port with the same
// configuration and waits until it answers; it fails the test that
// created the server if that does not work. Starting a running server
// does nothing. See StartContext for a variant returning the error.
func (r *Redis) Start() {
	if err := r.StartContext(context.Background()); err != nil {
		r.fatalf("%v", err)
	}
}

// StartContext is Start returning the error instead of failing the test.
// If the port is briefly busy it retries for up to 5 s.
func (r *Redis) StartContext(ctx context.Context) error {
	deadline := time.Now().Add(5 * time.Second)
	for {
		// The config is not rewritten: Sentinel may have rewritten it
		// (CONFIG REWRITE) and that state must survive a restart.
		err := r.runNoWrite(ctx)
		if err == nil || !errors.Is(err, errAddrInUse) || time.Now().After(deadline) {
			return err
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// confQuote quotes s for a redis config file.
func confQuote(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`, "\r", `\r`).Replace(s) + `"`
}

// Pause freezes the server (SIGSTOP): connections stay open and the kernel
// still accepts new ones, but nothing is answered, as with a hung server.
// Resume undoes it; a paused server is resumed before it is stopped.
func (r *Redis) Pause() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.p != nil {
		r.p.pause()
	}
}

// Resume continues a paused server (SIGCONT).
func (r *Redis) Resume() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.p != nil {
		r.p.signal(syscall.SIGCONT)
	}
}
