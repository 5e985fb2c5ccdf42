package memcached

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/yokedcache/yokedcache/backend"
)

// Per-server circuit breaking. A Store with several servers must keep
// serving the keys of the live ones when one is down, so the breaker is
// per server, not per Store: after markDownFailures failures of one server
// within markDownWindow, requests for its keys fail at once (an error
// matching backend.ErrUnavailable and the last failure) for
// markDownCooldown; then requests go to it again, and it is marked down
// again if they fail. Failures are counted by the requests that saw them,
// so no success hook is needed.
const (
	markDownFailures = 3
	markDownWindow   = time.Second
	markDownCooldown = time.Second
)

// serverMark is one server's breaker state.
type serverMark struct {
	downUntil atomic.Int64 // Unix nanoseconds; 0: up
	opens     atomic.Int64
	rejected  atomic.Int64

	mu      sync.Mutex
	fails   int
	first   time.Time
	lastErr error
}

// downError is a request refused because its server is marked down.
type downError struct {
	addr  string
	cause error
}

func (e *downError) Error() string {
	return fmt.Sprintf("server %s marked down after repeated failures (circuit breaker open): %v", e.addr, e.cause)
}

func (e *downError) Unwrap() []error { return []error{backend.ErrUnavailable, e.cause} }

// allow returns nil when server i may be called, or the rejection.
func (s *selector) allow(i int) error {
	m := &s.marks[i]
	until := m.downUntil.Load()
	if until == 0 || time.Now().UnixNano() >= until {
		return nil
	}
	m.rejected.Add(1)
	m.mu.Lock()
	cause := m.lastErr
	m.mu.Unlock()
	return &downError{addr: s.addrs[i].String(), cause: cause}
}

// failed records a failure of server i.
func (s *selector) failed(i int, err error) {
	if errors.Is(err, backend.ErrUnavailable) {
		return // our own rejection
	}
	m := &s.marks[i]
	now := time.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	m.lastErr = err
	if m.fails == 0 || now.Sub(m.first) > markDownWindow {
		m.fails, m.first = 0, now
	}
	m.fails++
	if m.fails >= markDownFailures {
		m.fails = 0
		m.downUntil.Store(now.Add(markDownCooldown).UnixNano())
		m.opens.Add(1)
	}
}

// markState is server i's breaker for health and stats.
func (s *selector) markState(i int) map[string]any {
	m := &s.marks[i]
	state := "closed"
	if until := m.downUntil.Load(); until != 0 && time.Now().UnixNano() < until {
		state = "open"
	}
	return map[string]any{"state": state, "opens": m.opens.Load(), "rejected": m.rejected.Load()}
}
