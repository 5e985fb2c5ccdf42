package testserver

import (
	"bytes"
	"net"
	"sync"
	"testing"
)

// ClosedAddr returns a loopback address that nothing listens on (a port
// that was free a moment ago), for tests of unreachable servers.
func ClosedAddr(tb testing.TB) string {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	return addr
}

// LogBuffer is a goroutine-safe buffer for a test's log output (a slog
// handler's writer, a captured default logger).
type LogBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write appends p.
func (l *LogBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// String returns everything written so far.
func (l *LogBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
