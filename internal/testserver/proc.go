package testserver

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"syscall"
	"time"
)

const (
	// readyTimeout bounds how long a server may take to accept connections
	// and answer.
	readyTimeout = 10 * time.Second
	// stopGrace is how long Stop waits after SIGTERM before SIGKILL.
	stopGrace = 5 * time.Second
	// startAttempts is how often a first start is retried on new ports when
	// the chosen port was taken between choosing and binding it.
	startAttempts = 5
)

// errAddrInUse marks a start that failed because the port was taken.
var errAddrInUse = errors.New("address already in use")

// freePort returns a loopback TCP port that was free a moment ago. There is
// a window in which another process may take it; callers retry on
// errAddrInUse.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("testserver: find free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// freePorts returns n distinct free ports (held open together while
// choosing so they differ).
func freePorts(n int) ([]int, error) {
	ls := make([]net.Listener, 0, n)
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	ports := make([]int, 0, n)
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("testserver: find free port: %w", err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// freeClusterPort returns a free port p below 55536 whose bus port p+10000
// is free too (for Redis before 7.0, which has no cluster-port).
func freeClusterPort() (int, error) {
	for range 100 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, fmt.Errorf("testserver: find free port: %w", err)
		}
		p := l.Addr().(*net.TCPAddr).Port
		if p+10000 <= 65535 {
			if l2, err := net.Listen("tcp", hostPort(p+10000)); err == nil {
				l2.Close()
				l.Close()
				return p, nil
			}
		}
		l.Close()
	}
	return 0, errors.New("testserver: no free port pair p, p+10000")
}

func hostPort(port int) string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(port)) }

// proc is one run of a server process. It never starts a goroutine: exit is
// detected by polling wait4 with WNOHANG, so tests that check for goroutine
// leaks are not disturbed by servers that are still running.
type proc struct {
	name    string
	cmd     *exec.Cmd
	logPath string
	logOff  int64 // log size when this run started

	mu     sync.Mutex
	exited bool
	status syscall.WaitStatus
}

// startProc starts bin with args in dir, appending stdout and stderr to
// logPath.
func startProc(name, bin string, args []string, dir, logPath string) (*proc, error) {
	lf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("testserver: open log: %w", err)
	}
	defer lf.Close() // the child keeps its own descriptor
	off, _ := lf.Seek(0, io.SeekEnd)
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.Stdout = lf // an *os.File: no copying goroutine
	cmd.Stderr = lf
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("testserver: start %s: %w", name, err)
	}
	return &proc{name: name, cmd: cmd, logPath: logPath, logOff: off}, nil
}

// done reports whether the process has exited, reaping it if so.
func (p *proc) done() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.exited {
		return true
	}
	var ws syscall.WaitStatus
	pid, err := syscall.Wait4(p.cmd.Process.Pid, &ws, syscall.WNOHANG, nil)
	switch {
	case err == syscall.EINTR:
		return false
	case err != nil: // ECHILD: already reaped
		p.exited = true
	case pid == p.cmd.Process.Pid:
		p.exited, p.status = true, ws
	}
	if p.exited {
		_ = p.cmd.Process.Release()
	}
	return p.exited
}

// waitExit polls until the process exits or timeout passes.
func (p *proc) waitExit(timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for {
		if p.done() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (p *proc) signal(sig syscall.Signal) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.exited {
		_ = p.cmd.Process.Signal(sig)
	}
}

// pause stops the process (SIGSTOP) and waits, up to 5 s, until the
// kernel reports it stopped: a signal is delivered asynchronously, and on
// a busy machine a server may answer a few more requests after kill(2)
// returns, which a test of a hung server must not see.
func (p *proc) pause() {
	p.signal(syscall.SIGSTOP)
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		p.mu.Lock()
		pid, exited := p.cmd.Process.Pid, p.exited
		p.mu.Unlock()
		if exited {
			return
		}
		stopped, ok := stoppedState(pid)
		if stopped || !ok {
			return
		}
		time.Sleep(time.Millisecond)
	}
}

// stop sends SIGTERM, waits up to grace, then SIGKILLs, and returns once
// the process is gone.
func (p *proc) stop(grace time.Duration) {
	if p == nil || p.done() {
		return
	}
	p.signal(syscall.SIGTERM)
	if p.waitExit(grace) {
		return
	}
	p.kill()
}

// kill sends SIGKILL and waits for the exit.
func (p *proc) kill() {
	if p == nil || p.done() {
		return
	}
	p.signal(syscall.SIGKILL)
	p.waitExit(time.Minute)
}

// logTail returns what this run wrote to the log, at most 4 KiB from the end.
func (p *proc) logTail() string {
	b, err := os.ReadFile(p.logPath)
	if err != nil {
		return "(no log: " + err.Error() + ")"
	}
	if p.logOff <= int64(len(b)) {
		b = b[p.logOff:]
	}
	if len(b) > 4096 {
		b = append([]byte("..."), b[len(b)-4096:]...)
	}
	return string(b)
}

// exitDesc describes how the process ended.
func (p *proc) exitDesc() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case !p.exited:
		return "still running"
	case p.status.Signaled():
		return "killed by " + p.status.Signal().String()
	default:
		return "exit status " + strconv.Itoa(p.status.ExitStatus())
	}
}

// launch starts a process and waits until ready succeeds. On failure the
// process is killed and the error carries the server log; it wraps
// errAddrInUse when the server could not bind its port.
func launch(ctx context.Context, name, bin string, args []string, dir, logPath string, ready func(context.Context) error) (*proc, error) {
	p, err := startProc(name, bin, args, dir, logPath)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	var lastErr error
	for {
		if p.done() {
			tail := p.logTail()
			err := fmt.Errorf("testserver: %s exited during start-up (%s); log:\n%s", name, p.exitDesc(), tail)
			if bytes.Contains([]byte(tail), []byte("already in use")) {
				err = fmt.Errorf("%w: %w", errAddrInUse, err)
			}
			return nil, err
		}
		rctx, rcancel := context.WithTimeout(ctx, time.Second)
		lastErr = ready(rctx)
		rcancel()
		if lastErr == nil {
			return p, nil
		}
		select {
		case <-ctx.Done():
			p.kill()
			return nil, fmt.Errorf("testserver: %s not ready after %v (last error: %v); log:\n%s", name, readyTimeout, lastErr, p.logTail())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// withPortRetry runs try up to startAttempts times while it fails with
// errAddrInUse.
func withPortRetry(try func() error) error {
	var err error
	for range startAttempts {
		if err = try(); err == nil || !errors.Is(err, errAddrInUse) {
			return err
		}
	}
	return err
}
