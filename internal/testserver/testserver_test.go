package testserver

import (
	"context"
	"crypto/tls"
	"net"
	"os"
	"strings"
	"testing"
	"time"
)

func TestMain(m *testing.M) { Main(m) }

func ctxT(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func mustDo(t *testing.T, r *Redis, args ...string) any {
	t.Helper()
	v, err := r.Do(ctxT(t), args...)
	if err != nil {
		t.Fatalf("%v: %v", args, err)
	}
	return v
}

func TestRedisStandalone(t *testing.T) {
	t.Parallel()
	r := StartRedis(t, RedisOptions{})
	if got := r.URL(); got != "redis://"+r.Addr+"/0" {
		t.Fatalf("URL = %q", got)
	}
	if v := mustDo(t, r, "SET", "k", "v"); v != "OK" {
		t.Fatalf("SET = %v", v)
	}
	if v := mustDo(t, r, "GET", "k"); v != "v" {
		t.Fatalf("GET = %v", v)
	}
	if v := mustDo(t, r, "CONFIG", "GET", "save"); v.([]any)[1] != "" {
		t.Fatalf("save = %v, want persistence off", v)
	}

	r.Stop()
	if r.Running() {
		t.Fatal("running after Stop")
	}
	if _, err := net.DialTimeout("tcp", r.Addr, time.Second); err == nil {
		t.Fatal("port still accepts connections after Stop")
	}
	r.Stop() // idempotent
	r.Start()
	if v := mustDo(t, r, "GET", "k"); v != nil {
		t.Fatalf("GET after restart = %v, want nil (no persistence)", v)
	}
	r.Kill()
	if r.Running() {
		t.Fatal("running after Kill")
	}
	r.Start()
	if v := mustDo(t, r, "PING"); v != "PONG" {
		t.Fatalf("PING = %v", v)
	}
}

func TestRedisPassword(t *testing.T) {
	t.Parallel()
	r := StartRedis(t, RedisOptions{Password: "s3cr:et@"})
	if got, want := r.URL(), "redis://:s3cr%3Aet%40@"+r.Addr+"/0"; got != want {
		t.Fatalf("URL = %q, want %q", got, want)
	}
	if _, err := doOnce(ctxT(t), r.Addr, nil, "", "GET", "x"); !isRedisError(err, "NOAUTH") {
		t.Fatalf("unauthenticated GET: err = %v, want NOAUTH", err)
	}
	if v := mustDo(t, r, "PING"); v != "PONG" {
		t.Fatalf("PING = %v", v)
	}
}

func TestRedisACL(t *testing.T) {
	t.Parallel()
	r := StartRedis(t, RedisOptions{
		Password: "admin",
		Users:    []string{"yokedcache on >password ~yokedcache:* +@read +@write +del +expire"},
	})
	ctx := ctxT(t)
	if _, err := r.DoAs(ctx, "yokedcache", "password", "SET", "yokedcache:a", "1"); err != nil {
		t.Fatalf("SET under prefix: %v", err)
	}
	if v, err := r.DoAs(ctx, "yokedcache", "password", "GET", "yokedcache:a"); err != nil || v != "1" {
		t.Fatalf("GET under prefix = %v, %v", v, err)
	}
	if _, err := r.DoAs(ctx, "yokedcache", "password", "GET", "other:a"); !isRedisError(err, "NOPERM") {
		t.Fatalf("GET outside prefix: err = %v, want NOPERM", err)
	}
	if _, err := r.DoAs(ctx, "yokedcache", "wrong", "PING"); !isRedisError(err, "WRONGPASS") {
		t.Fatalf("wrong password: err = %v, want WRONGPASS", err)
	}
	// Users survive a restart (they live in the config file).
	r.Stop()
	r.Start()
	if _, err := r.DoAs(ctx, "yokedcache", "password", "GET", "yokedcache:a"); err != nil {
		t.Fatalf("GET after restart: %v", err)
	}
}

func TestRedisDefaultUserOff(t *testing.T) {
	t.Parallel()
	r := StartRedis(t, RedisOptions{Password: "pw", Users: []string{"default off", "app on >apppw ~* +@all"}})
	if v, err := r.DoAs(ctxT(t), "app", "apppw", "PING"); err != nil || v != "PONG" {
		t.Fatalf("PING as app = %v, %v", v, err)
	}
	if _, err := r.Do(ctxT(t), "PING"); !isRedisError(err, "WRONGPASS") {
		t.Fatalf("PING as disabled default user: %v", err)
	}
}

func TestRedisTLS(t *testing.T) {
	t.Parallel()
	r := StartRedis(t, RedisOptions{TLS: true, Password: "pw"})
	if !strings.HasPrefix(r.URL(), "rediss://:pw@127.0.0.1:") {
		t.Fatalf("URL = %q", r.URL())
	}
	for _, f := range []string{r.TLS.CAFile, r.TLS.CertFile, r.TLS.KeyFile, r.TLS.ClientCertFile, r.TLS.ClientKeyFile} {
		if _, err := os.Stat(f); err != nil {
			t.Fatal(err)
		}
	}
	// Handshake verified against the generated CA, by IP and by name,
	// with and without a client certificate (tls-auth-clients optional).
	for name, cfg := range map[string]*tls.Config{
		"files":       (&TLSFiles{CAFile: r.TLS.CAFile, ClientCertFile: r.TLS.ClientCertFile, ClientKeyFile: r.TLS.ClientKeyFile, ServerName: "localhost"}).ClientConfig(),
		"mutual":      r.TLS.ClientConfig(),
		"by-ip":       {RootCAs: r.TLS.ClientConfig().RootCAs, ServerName: "127.0.0.1"},
		"no-cli-cert": {RootCAs: r.TLS.ClientConfig().RootCAs, ServerName: "localhost"},
	} {
		v, err := doOnce(ctxT(t), r.Addr, cfg, "pw", "PING")
		if err != nil || v != "PONG" {
			t.Fatalf("%s: PING = %v, %v", name, v, err)
		}
	}
	// An untrusting client fails the handshake.
	if _, err := doOnce(ctxT(t), r.Addr, &tls.Config{ServerName: "localhost"}, "pw", "PING"); err == nil {
		t.Fatal("handshake without the CA succeeded")
	}
	// Plain TCP gets no RESP answer.
	if _, err := doOnce(ctxT(t), r.Addr, nil, "", "PING"); err == nil {
		t.Fatal("plain PING on TLS port succeeded")
	}
	r.Stop()
	r.Start()
	if v := mustDo(t, r, "PING"); v != "PONG" {
		t.Fatalf("PING after restart = %v", v)
	}
}

func memcachedCmd(t *testing.T, addr, cmd string) string {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write([]byte(cmd)); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4096)
	n, err := c.Read(buf)
	if err != nil {
		t.Fatal(err)
	}
	return string(buf[:n])
}

func TestMemcached(t *testing.T) {
	t.Parallel()
	m := StartMemcached(t, MemcachedOptions{})
	if got := memcachedCmd(t, m.Addr, "set k 0 0 1\r\nv\r\n"); got != "STORED\r\n" {
		t.Fatalf("set = %q", got)
	}
	if got := memcachedCmd(t, m.Addr, "get k\r\n"); got != "VALUE k 0 1\r\nv\r\nEND\r\n" {
		t.Fatalf("get = %q", got)
	}
	m.Stop()
	if m.Running() {
		t.Fatal("running after Stop")
	}
	m.Start()
	if got := memcachedCmd(t, m.Addr, "get k\r\n"); got != "END\r\n" {
		t.Fatalf("get after restart = %q", got)
	}
	m.Kill()
	m.Start()
	if err := m.Ping(ctxT(t)); err != nil {
		t.Fatal(err)
	}
}

func TestMemcachedItemSizeMax(t *testing.T) {
	t.Parallel()
	for _, size := range []int{1024, 2048, 100 << 10, 2 << 20, 3_072_000} {
		m := StartMemcached(t, MemcachedOptions{ItemSizeMax: size})
		got := memcachedCmd(t, m.Addr, "stats settings\r\n")
		if !strings.Contains(got, "STAT item_size_max "+itoa(size)+"\r\n") {
			t.Fatalf("size %d: stats settings = %q", size, got)
		}
		// A value just under the limit is stored, one at the limit is not.
		small := size - 100
		if got := memcachedCmd(t, m.Addr, "set k 0 0 "+itoa(small)+"\r\n"+strings.Repeat("x", small)+"\r\n"); got != "STORED\r\n" {
			t.Fatalf("size %d: set %d bytes = %q", size, small, got)
		}
		if got := memcachedCmd(t, m.Addr, "set k 0 0 "+itoa(size)+"\r\n"+strings.Repeat("x", size)+"\r\n"); !strings.HasPrefix(got, "SERVER_ERROR object too large") {
			t.Fatalf("size %d: set %d bytes = %q", size, size, got)
		}
		m.Stop()
	}
	for _, bad := range []MemcachedOptions{{ItemSizeMax: 100_000}, {ItemSizeMax: 2 << 30}, {Memory: -1}} {
		if err := (&Memcached{}).init(bad); err == nil {
			t.Errorf("%+v: no error", bad)
		}
	}
}

func TestShared(t *testing.T) {
	r1, r2 := SharedRedis(t), SharedRedis(t)
	if r1 != r2 {
		t.Fatal("SharedRedis returned two servers")
	}
	if v := mustDo(t, r1, "PING"); v != "PONG" {
		t.Fatalf("PING = %v", v)
	}
	m1, m2 := SharedMemcached(t), SharedMemcached(t)
	if m1 != m2 {
		t.Fatal("SharedMemcached returned two servers")
	}
	if err := m1.Ping(ctxT(t)); err != nil {
		t.Fatal(err)
	}
}

func TestRequireBinaryMissing(t *testing.T) {
	ft := &fakeTB{TB: t}
	t.Setenv("CI", "")
	runFake(ft, func() { RequireBinary(ft, "no-such-server-binary-xyz") })
	if !ft.skipped || !strings.Contains(ft.msg, "apt-get install -y redis-server memcached") {
		t.Fatalf("CI unset: skipped=%v msg=%q", ft.skipped, ft.msg)
	}
	ft = &fakeTB{TB: t}
	t.Setenv("CI", "true")
	runFake(ft, func() { RequireBinary(ft, "no-such-server-binary-xyz") })
	if !ft.failed || !strings.Contains(ft.msg, "make test") {
		t.Fatalf("CI=true: failed=%v msg=%q", ft.failed, ft.msg)
	}
	if p := RequireBinary(t, "sh"); p == "" {
		t.Fatal("sh not found")
	}
}

type fakeTB struct {
	testing.TB
	skipped, failed bool
	msg             string
}

type fakeStop struct{}

func (f *fakeTB) Helper() {}
func (f *fakeTB) Skipf(format string, args ...any) {
	f.skipped, f.msg = true, sprintf(format, args...)
	panic(fakeStop{})
}
func (f *fakeTB) Fatalf(format string, args ...any) {
	f.failed, f.msg = true, sprintf(format, args...)
	panic(fakeStop{})
}

func runFake(_ *fakeTB, fn func()) {
	defer func() {
		if r := recover(); r != nil {
			if _, ok := r.(fakeStop); !ok {
				panic(r)
			}
		}
	}()
	fn()
}
