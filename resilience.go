package yokedcache

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/yokedcache/yokedcache/backend"
)

// Defaults of the resilience settings (see Config and docs/resilience.md).
const (
	// DefaultOperationTimeout bounds one single-key operation on a network
	// backend (Get, Set, Delete, ...) when the caller's context has no
	// earlier deadline. A healthy Redis or Memcached answers in well under
	// a millisecond; one second is three orders of magnitude of headroom
	// for a busy server or a slow network, yet short enough that a hung
	// server costs a request far less than it would cost without a cache.
	DefaultOperationTimeout = time.Second
	// DefaultBatchTimeout bounds a batch or fan-out operation (GetMany,
	// SetMany, DeleteMany, FetchMany's read and write-back, Stats): they
	// move more data and may visit several servers. Work proportional to
	// the keyspace (Keys, InvalidateTags, InvalidatePattern, Flush) has no
	// timeout of its own: the caller's context bounds it.
	DefaultBatchTimeout = 5 * time.Second
	// DefaultHealthTimeout bounds Ping, Health and DetailedHealthCheck:
	// a health check that hangs is worse than one that says "unhealthy".
	DefaultHealthTimeout = 2 * time.Second
	// DefaultBreakerFailures is how many consecutive failures of one
	// backend open its circuit breaker.
	DefaultBreakerFailures = 5
	// DefaultBreakerCooldown is how long an open breaker fails calls at
	// once before it lets one probe through (half-open).
	DefaultBreakerCooldown = 500 * time.Millisecond
)

// unavailableErr is an open breaker's rejection: it matches ErrUnavailable
// and the cause that opened the breaker.
type unavailableErr struct {
	backend string
	cause   error
}

func (e *unavailableErr) Error() string {
	if e.cause == nil {
		return fmt.Sprintf("%s: backend unavailable (circuit breaker open)", e.backend)
	}
	return fmt.Sprintf("%s: backend unavailable (circuit breaker open): %v", e.backend, e.cause)
}

func (e *unavailableErr) Unwrap() []error {
	if e.cause == nil {
		return []error{ErrUnavailable}
	}
	return []error{ErrUnavailable, e.cause}
}

// Breaker states, as Stats and HealthReport name them.
const (
	BreakerClosed   = "closed"
	BreakerOpen     = "open"
	BreakerHalfOpen = "half-open"
)

const (
	stClosed int32 = iota
	stOpen
	stHalfOpen
)

var stateNames = [...]string{BreakerClosed, BreakerOpen, BreakerHalfOpen}

// breaker is one backend's circuit breaker. Closed, it costs one atomic
// load before a call and at most one after; it counts consecutive
// failures and opens after threshold of them. Open, it rejects calls
// until cooldown has passed, then lets one probe through (half-open): a
// success closes it, a failure opens it again.
type breaker struct {
	name      string // the member's label for logs: backend (route)
	threshold int32
	cooldown  time.Duration
	clock     backend.Clock
	log       *slog.Logger

	state    atomic.Int32
	fails    atomic.Int32
	openedAt atomic.Int64 // clock Unix nanoseconds
	probing  atomic.Bool
	cause    atomic.Pointer[error]

	opens, rejected counter
	mu              sync.Mutex // serialises transitions (rare)
	changed         time.Time
}

// allow reports whether a call may go to the backend; it returns the
// rejection otherwise. probe is true when the call is the half-open probe
// and must report its result with done(probe=true).
func (b *breaker) allow() (probe bool, err error) {
	switch b.state.Load() {
	case stClosed:
		return false, nil
	case stOpen:
		if b.clock.Now().UnixNano()-b.openedAt.Load() >= int64(b.cooldown) && b.probing.CompareAndSwap(false, true) {
			b.transition(stOpen, stHalfOpen, nil)
			return true, nil
		}
	}
	b.rejected.add(1)
	return false, &unavailableErr{backend: b.name, cause: b.lastCause()}
}

func (b *breaker) lastCause() error {
	if p := b.cause.Load(); p != nil {
		return *p
	}
	return nil
}

// done records the outcome of an allowed call: err is the backend's error
// (nil, a miss or a refusal of the request are successes); callerDone
// reports that the caller cancelled its context, which is neither.
func (b *breaker) done(probe bool, err error, callerDone bool) {
	failed := err != nil && isServerFailure(err)
	if callerDone && failed {
		if probe {
			b.probing.Store(false)
			b.transition(stHalfOpen, stOpen, nil) // probe again after a new cool-down
		}
		return
	}
	if !failed {
		if probe {
			b.probing.Store(false)
			b.transition(stHalfOpen, stClosed, nil)
		}
		if b.fails.Load() != 0 {
			b.fails.Store(0)
		}
		return
	}
	cause := err // only this copy escapes, on the failure path
	b.cause.Store(&cause)
	if probe {
		b.probing.Store(false)
		b.transition(stHalfOpen, stOpen, err)
		return
	}
	if b.fails.Add(1) >= b.threshold && b.state.Load() == stClosed {
		b.transition(stClosed, stOpen, err)
	}
}

// transition moves the breaker from one state to another, once, and logs
// it. Transitions are rare (at most one per cool-down), so logging them
// is the rate limit.
func (b *breaker) transition(from, to int32, cause error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.state.Load() != from {
		return
	}
	now := b.clock.Now()
	if to == stOpen {
		b.openedAt.Store(now.UnixNano())
		b.opens.add(1)
	}
	if to == stClosed {
		b.fails.Store(0)
	}
	b.state.Store(to)
	b.changed = now
	switch to {
	case stOpen:
		if from == stClosed {
			b.log.Warn("yokedcache: circuit breaker open: backend calls fail fast", "backend", b.name, "cooldown", b.cooldown, "error", cause)
		}
	case stClosed:
		b.log.Info("yokedcache: circuit breaker closed: backend answers again", "backend", b.name)
	}
}

// BreakerStats is the state of one backend's circuit breaker.
type BreakerStats struct {
	// Route is the first route the backend serves ("" for the default).
	Route   string `json:"route"`
	Backend string `json:"backend"`
	// State is BreakerClosed, BreakerOpen or BreakerHalfOpen.
	State string `json:"state"`
	// Since is when the breaker last changed state (zero: never).
	Since time.Time `json:"since,omitzero"`
	// Opens counts closed→open and half-open→open transitions.
	Opens int64 `json:"opens"`
	// Rejected counts calls failed at once with ErrUnavailable.
	Rejected int64 `json:"rejected"`
	// ConsecutiveFailures is the current run of failures.
	ConsecutiveFailures int64 `json:"consecutive_failures"`
	// LastError is the last failure seen, when the breaker is not closed.
	LastError string `json:"last_error,omitempty"`
}

func (b *breaker) stats() BreakerStats {
	b.mu.Lock()
	since := b.changed
	b.mu.Unlock()
	s := BreakerStats{
		State: stateNames[b.state.Load()], Since: since,
		Opens: b.opens.load(), Rejected: b.rejected.load(), ConsecutiveFailures: int64(b.fails.Load()),
	}
	if s.State != BreakerClosed {
		if c := b.lastCause(); c != nil {
			s.LastError = c.Error()
		}
	}
	return s
}

// isServerFailure reports whether a backend error says the backend is not
// serving: not a miss, and not a refusal of this request (too large,
// unsupported, invalid, corrupt bytes) which a healthy server also gives.
func isServerFailure(err error) bool {
	var se *backend.ServerError
	if errors.As(err, &se) {
		return false // one of several servers: the backend breaks per server
	}
	for _, s := range []error{ErrNotFound, ErrValueTooLarge, ErrUnsupported, ErrInvalidKey, ErrInvalidTTL, ErrInvalidValue, ErrCorrupt, ErrClosed, ErrInvalidConfig} {
		if errors.Is(err, s) {
			return false
		}
	}
	return true
}

// opKind selects an operation timeout.
type opKind uint8

const (
	kindSingle opKind = iota
	kindBatch
	// kindStream is work whose length depends on the data, not on the
	// call: a listing that yields to the caller between chunks (Keys),
	// and invalidations that visit a tag's or a pattern's keys or the
	// whole prefix (InvalidateTags, InvalidatePattern, Flush). The
	// breaker applies, but no timeout; the caller's context bounds it.
	kindStream
)

// guard is a member's resilience layer: operation timeouts and circuit
// breaker. In-process members have none (nil): nothing there can hang
// on a network or fail independently of the process.
type guard struct {
	single, batch time.Duration // 0: no timeout
	br            *breaker      // nil: no breaker
	// Shared deadlines for callers whose context never ends (Background,
	// or values only): one context per short window instead of a timer
	// per call (see sharedDeadline).
	sharedSingle, sharedBatch atomic.Pointer[deadlineWindow]
}

// deadlineWindow is a context with a deadline shared by every call that
// starts before until (unix nanoseconds).
type deadlineWindow struct {
	ctx context.Context
	// cancel is never called early (calls may still use ctx); the
	// deadline's timer releases the context.
	cancel context.CancelFunc
	until  int64
}

// sharedDeadline returns a context that ends between d and d·(1+1/16)
// from now, shared by the calls of the same window (d/16, at least 1 ms):
// context.WithTimeout costs a timer and four allocations per call (about
// 450 ns, a fifth of a Redis round trip at 64 callers); this costs a
// clock read. Its deadline is never earlier than d.
func (g *guard) sharedDeadline(p *atomic.Pointer[deadlineWindow], d time.Duration) context.Context {
	now := time.Now()
	if w := p.Load(); w != nil && now.UnixNano() < w.until {
		return w.ctx
	}
	width := max(d/16, time.Millisecond)
	ctx, cancel := context.WithDeadline(context.Background(), now.Add(d+width))
	w := &deadlineWindow{ctx: ctx, cancel: cancel, until: now.Add(width).UnixNano()}
	p.Store(w)
	return ctx
}

// valuesOf keeps a caller's context values on a shared deadline.
type valuesOf struct {
	context.Context // the shared deadline
	values          context.Context
}

func (v valuesOf) Value(key any) any { return v.values.Value(key) }

// newGuard returns the resilience layer of member m, or nil.
func newGuard(cfg *Config, m *member) *guard {
	if m.inproc { // in-process: the memory backend
		return nil
	}
	g := &guard{single: max(cfg.OperationTimeout, 0), batch: max(cfg.BatchTimeout, 0)}
	if cfg.BreakerFailures > 0 {
		name := m.name
		if len(m.routes) > 0 && m.routes[0].prefix != "" {
			name = fmt.Sprintf("%s (route %q)", m.name, m.routes[0].prefix)
		}
		g.br = &breaker{name: name, threshold: int32(cfg.BreakerFailures), cooldown: cfg.BreakerCooldown, clock: cfg.Clock, log: cfg.Logger}
	}
	if g.single == 0 && g.batch == 0 && g.br == nil {
		return nil
	}
	return g
}

// call is one guarded backend call in progress.
type call struct {
	g      *guard
	parent context.Context
	cancel context.CancelFunc
	probe  bool
}

// enter starts a call to member m: it returns the context to call the
// backend with (bounded by the operation timeout unless the caller's
// deadline is earlier), or the open breaker's rejection. A member without
// a guard costs one nil check.
func (m *member) enter(ctx context.Context, kind opKind) (context.Context, call, error) {
	g := m.g
	if g == nil {
		return ctx, call{}, nil
	}
	cl := call{g: g, parent: ctx}
	if g.br != nil {
		probe, err := g.br.allow()
		if err != nil {
			return ctx, cl, err
		}
		cl.probe = probe
	}
	var d time.Duration
	var shared *atomic.Pointer[deadlineWindow]
	switch kind {
	case kindSingle:
		d, shared = g.single, &g.sharedSingle
	case kindBatch:
		d, shared = g.batch, &g.sharedBatch
	}
	if d > 0 {
		if dl, ok := ctx.Deadline(); !ok || time.Until(dl) > d {
			switch {
			case ctx.Done() != nil:
				// A caller that may cancel: its own timer.
				ctx, cl.cancel = context.WithTimeout(ctx, d)
			case ctx == context.Background() || ctx == context.TODO():
				ctx = g.sharedDeadline(shared, d)
			default:
				ctx = valuesOf{Context: g.sharedDeadline(shared, d), values: ctx}
			}
		}
	}
	return ctx, cl, nil
}

// exit ends a call started by enter with the backend's error.
func (cl call) exit(err error) {
	if cl.cancel != nil {
		cl.cancel()
	}
	if cl.g == nil || cl.g.br == nil {
		return
	}
	// The caller cancelling is neither a success nor a failure; its own
	// deadline expiring while the backend had not answered is a failure
	// (the backend was too slow for it), or a breaker would never open
	// for callers that always pass deadlines shorter than the timeout.
	cl.g.br.done(cl.probe, err, err != nil && errors.Is(cl.parent.Err(), context.Canceled))
}

// guarded runs f against member m under its timeout and breaker.
func guarded[T any](ctx context.Context, m *member, kind opKind, f func(ctx context.Context) (T, error)) (T, error) {
	gctx, cl, err := m.enter(ctx, kind)
	if err != nil {
		var zero T
		return zero, err
	}
	v, err := f(gctx)
	cl.exit(err)
	return v, err
}

// healthCtx bounds a health check by Config.HealthTimeout unless the
// caller's deadline is earlier.
func (c *Cache) healthCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	d := c.cfg.HealthTimeout
	if d <= 0 {
		return ctx, func() {}
	}
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) <= d {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, d)
}

// burstLog logs one message per kind per burst: the first occurrence,
// then at most one every interval with the number suppressed meanwhile.
// It is stricter than logLimit (100 lines per window): a write-back that
// fails fails for every load of an outage, and one line per burst says
// all there is to say (the count is in Stats.WriteBackErrors).
type burstLog struct {
	log      *slog.Logger
	interval time.Duration
	mu       sync.Mutex
	last     map[string]time.Time
	dropped  map[string]int64
}

func (l *burstLog) warn(kind, msg string, args ...any) {
	now := time.Now()
	l.mu.Lock()
	if l.last == nil {
		l.last, l.dropped = map[string]time.Time{}, map[string]int64{}
	}
	if t, ok := l.last[kind]; ok && now.Sub(t) < l.interval {
		l.dropped[kind]++
		l.mu.Unlock()
		return
	}
	n := l.dropped[kind]
	l.last[kind], l.dropped[kind] = now, 0
	l.mu.Unlock()
	if n > 0 {
		args = append(args, "suppressed", n)
	}
	l.log.Warn(msg, args...)
}
