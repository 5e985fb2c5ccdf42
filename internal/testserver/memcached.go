package testserver

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// MemcachedOptions configures StartMemcached. The zero value is a 64 MB
// server with memcached's default 1 MiB item size limit.
type MemcachedOptions struct {
	// ItemSizeMax is the largest item in bytes (memcached -I), including
	// memcached's per-item overhead (about 50 bytes plus the key), so the
	// largest storable value is a little smaller. 0: the default 1 MiB.
	// It must be a multiple of 1024 between 1 KiB and 1 GiB (memcached
	// needs its slab chunk size to divide it; testserver sets
	// slab_chunk_max accordingly). Memory is raised when needed to at least
	// twice this value.
	ItemSizeMax int
	// Memory is the cache size in megabytes (memcached -m). 0: 64.
	Memory int
	// Args are extra command-line arguments for memcached. Default none.
	Args []string
}

// Memcached is a running (or stopped) memcached process on a loopback port.
type Memcached struct {
	// Addr is "127.0.0.1:port". It stays the same across Stop/Start.
	Addr string
	// Dir is the server's private directory (log).
	Dir string

	bin    string
	args   []string // without -p
	port   int
	fatalf func(format string, args ...any)

	mu sync.Mutex
	p  *proc
}

// StartMemcached starts memcached on a free loopback port (TCP only, no
// UDP) and waits until it answers "version". It is killed by tb.Cleanup. A
// missing memcached binary skips the test (fails it when CI=true).
func StartMemcached(tb testing.TB, opts MemcachedOptions) *Memcached {
	tb.Helper()
	bin := RequireBinary(tb, "memcached")
	m := &Memcached{Dir: tb.TempDir(), bin: bin, fatalf: tb.Fatalf}
	tb.Cleanup(m.Stop)
	if err := m.init(opts); err != nil {
		tb.Fatal(err)
	}
	if err := m.startNew(context.Background()); err != nil {
		tb.Fatal(err)
	}
	return m
}

func (m *Memcached) init(opts MemcachedOptions) error {
	mem := opts.Memory
	if mem < 0 || opts.ItemSizeMax < 0 {
		return errors.New("testserver: negative MemcachedOptions")
	}
	if mem == 0 {
		mem = 64
	}
	args := []string{"-l", "127.0.0.1", "-U", "0"}
	if opts.ItemSizeMax > 0 {
		if minMB := (2*opts.ItemSizeMax + (1<<20 - 1)) >> 20; mem < minMB {
			mem = minMB
		}
		if opts.ItemSizeMax%1024 != 0 || opts.ItemSizeMax > 1<<30 {
			return fmt.Errorf("testserver: MemcachedOptions.ItemSizeMax %d: want a multiple of 1024 up to 1 GiB", opts.ItemSizeMax)
		}
		args = append(args, "-I", strconv.Itoa(opts.ItemSizeMax))
		// memcached requires slab_chunk_max to divide both -I and its 1 MiB
		// slab page, and to be at most -I: the largest power of two
		// dividing -I, capped at the default 512 KiB.
		if chunk := min(opts.ItemSizeMax&-opts.ItemSizeMax, 512<<10); chunk < 512<<10 {
			args = append(args, "-o", "slab_chunk_max="+strconv.Itoa(chunk))
		}
	}
	args = append(args, "-m", strconv.Itoa(mem))
	if os.Geteuid() == 0 {
		args = append(args, "-u", "root") // memcached refuses to run as root otherwise
	}
	m.args = append(args, opts.Args...)
	return nil
}

func (m *Memcached) logPath() string { return filepath.Join(m.Dir, "memcached.log") }

func (m *Memcached) startNew(ctx context.Context) error {
	return withPortRetry(func() error {
		port, err := freePort()
		if err != nil {
			return err
		}
		m.port, m.Addr = port, hostPort(port)
		return m.run(ctx)
	})
}

func (m *Memcached) run(ctx context.Context) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.p != nil && !m.p.done() {
		return nil
	}
	args := append([]string{"-p", strconv.Itoa(m.port)}, m.args...)
	p, err := launch(ctx, "memcached "+m.Addr, m.bin, args, m.Dir, m.logPath(), m.Ping)
	if err != nil {
		return err
	}
	m.p = p
	return nil
}

// Ping checks that the server answers (the "version" command); it is also
// the readiness check.
func (m *Memcached) Ping(ctx context.Context) error {
	_, err := m.command(ctx, "version")
	return err
}

// command sends one single-line text command and returns the first reply
// line.
func (m *Memcached) command(ctx context.Context, cmd string) (string, error) {
	d := net.Dialer{Timeout: 2 * time.Second}
	c, err := d.DialContext(ctx, "tcp", m.Addr)
	if err != nil {
		return "", err
	}
	defer c.Close()
	deadline := time.Now().Add(5 * time.Second)
	if dl, ok := ctx.Deadline(); ok && dl.Before(deadline) {
		deadline = dl
	}
	_ = c.SetDeadline(deadline)
	if _, err := fmt.Fprintf(c, "%s\r\n", cmd); err != nil {
		return "", err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return "", err
	}
	line = strings.TrimRight(line, "\r\n")
	if line == "ERROR" || strings.HasPrefix(line, "CLIENT_ERROR") || strings.HasPrefix(line, "SERVER_ERROR") {
		return "", fmt.Errorf("testserver: memcached %q: %s", cmd, line)
	}
	return line, nil
}

// FlushAll empties the cache (flush_all).
func (m *Memcached) FlushAll(ctx context.Context) error {
	_, err := m.command(ctx, "flush_all")
	return err
}

// Stop shuts memcached down and waits until the process has exited.
func (m *Memcached) Stop() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.p.stop(stopGrace)
}

// Kill sends SIGKILL and waits for the exit.
func (m *Memcached) Kill() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.p.kill()
}

// Running reports whether the memcached process is alive.
func (m *Memcached) Running() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.p != nil && !m.p.done()
}

// Start restarts a stopped server on the same port (empty: memcached keeps
// nothing) and waits until it answers; it fails the test that created the
// server if that does not work. See StartContext.
func (m *Memcached) Start() {
	if err := m.StartContext(context.Background()); err != nil {
		m.fatalf("%v", err)
	}
}

// StartContext is Start returning the error instead of failing the test.
func (m *Memcached) StartContext(ctx context.Context) error {
	deadline := time.Now().Add(5 * time.Second)
	for {
		err := m.run(ctx)
		if err == nil || !errors.Is(err, errAddrInUse) || time.Now().After(deadline) {
			return err
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Pause freezes the server (SIGSTOP): the kernel still accepts
// connections but nothing is answered, as with a hung server. Resume
// undoes it.
func (m *Memcached) Pause() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.p != nil {
		m.p.pause()
	}
}

// Resume continues a paused server (SIGCONT).
func (m *Memcached) Resume() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.p != nil {
		m.p.signal(syscall.SIGCONT)
	}
}
