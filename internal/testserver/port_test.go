package testserver

import (
	"errors"
	"net"
	"testing"
	"time"
)

// TestPortTaken checks that a server whose port is taken reports
// errAddrInUse (so first starts retry on a new port) and that a restart
// waits for its port to become free.
func TestPortTaken(t *testing.T) {
	t.Parallel()
	ctx := ctxT(t)
	r := StartRedis(t, RedisOptions{})
	m := StartMemcached(t, MemcachedOptions{})
	r.Stop()
	m.Stop()

	hold := func(addr string) net.Listener {
		t.Helper()
		l, err := net.Listen("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	lr, lm := hold(r.Addr), hold(m.Addr)
	if err := r.run(ctx); !errors.Is(err, errAddrInUse) {
		t.Fatalf("redis on a taken port: %v", err)
	}
	if err := m.run(ctx); !errors.Is(err, errAddrInUse) {
		t.Fatalf("memcached on a taken port: %v", err)
	}

	// Restarts retry while the port is busy.
	time.AfterFunc(300*time.Millisecond, func() { lr.Close(); lm.Close() })
	if err := r.StartContext(ctx); err != nil {
		t.Fatal(err)
	}
	if err := m.StartContext(ctx); err != nil {
		t.Fatal(err)
	}
	if v, err := r.Do(ctx, "PING"); err != nil || v != "PONG" {
		t.Fatalf("PING = %v, %v", v, err)
	}
	if err := m.Ping(ctx); err != nil {
		t.Fatal(err)
	}

	// withPortRetry gives up after startAttempts tries.
	calls := 0
	err := withPortRetry(func() error { calls++; return errAddrInUse })
	if !errors.Is(err, errAddrInUse) || calls != startAttempts {
		t.Fatalf("withPortRetry: %v after %d calls", err, calls)
	}
	calls = 0
	other := errors.New("other")
	if err := withPortRetry(func() error { calls++; return other }); err != other || calls != 1 {
		t.Fatalf("withPortRetry on other error: %v after %d calls", err, calls)
	}
}
