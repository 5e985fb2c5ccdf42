package testserver

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestServersDieWithTestBinary runs a child test binary that starts servers,
// SIGKILLs it, and checks that the servers die too (Pdeathsig).
func TestServersDieWithTestBinary(t *testing.T) {
	if os.Getenv("TESTSERVER_CHILD") == "1" {
		r := StartRedis(t, RedisOptions{})
		m := StartMemcached(t, MemcachedOptions{})
		fmt.Printf("PIDS %d %d\n", r.p.cmd.Process.Pid, m.p.cmd.Process.Pid)
		time.Sleep(time.Minute)
		return
	}
	RequireBinary(t, "redis-server")
	RequireBinary(t, "memcached")
	t.Parallel()
	cmd := exec.Command(os.Args[0], "-test.run=^TestServersDieWithTestBinary$", "-test.v")
	cmd.Env = append(os.Environ(), "TESTSERVER_CHILD=1", "TMPDIR="+t.TempDir())
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	var pids []int
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) == 3 && f[0] == "PIDS" {
			for _, s := range f[1:] {
				p, _ := strconv.Atoi(s)
				pids = append(pids, p)
			}
			break
		}
	}
	if len(pids) != 2 {
		t.Fatal("child did not report its server pids")
	}
	for _, pid := range pids {
		if !alive(pid) {
			t.Fatalf("server %d not running before the kill", pid)
		}
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	deadline := time.Now().Add(5 * time.Second)
	for _, pid := range pids {
		for alive(pid) {
			if time.Now().After(deadline) {
				t.Fatalf("server %d outlived the killed test binary", pid)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
}

// alive reports whether pid exists and is not a zombie.
func alive(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	// "pid (comm) S ...": the state follows the last ')'.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] != 'Z'
}

// TestNoGoroutines checks that running servers hold no goroutines, so
// packages checking for goroutine leaks are not disturbed.
func TestNoGoroutines(t *testing.T) {
	t.Parallel()
	r := StartRedis(t, RedisOptions{TLS: true})
	m := StartMemcached(t, MemcachedOptions{})
	checkNoPackageGoroutines(t)
	r.Stop()
	r.Start()
	m.Kill()
	m.Start()
	checkNoPackageGoroutines(t)
}

// checkNoPackageGoroutines fails if any goroutine was started by this
// package's code (other tests may be running package code on their own
// goroutines at the same time; that is fine).
func checkNoPackageGoroutines(t *testing.T) {
	t.Helper()
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	for _, g := range strings.Split(string(buf), "\n\n") {
		_, creator, ok := strings.Cut(g, "\ncreated by ")
		if !ok {
			continue
		}
		creator, loc, _ := strings.Cut(creator, "\n")
		if strings.Contains(creator, "internal/testserver.") && !strings.Contains(loc, "_test.go:") {
			t.Fatalf("goroutine started by package code:\n%s", g)
		}
	}
}
