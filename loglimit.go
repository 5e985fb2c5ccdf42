package yokedcache

import (
	"sync"
	"sync/atomic"
	"time"
)

// Log rate limit of one kind of line (see logLimit): at most logBurst lines
// per window of logEvery; the first line of a window after lines were
// suppressed carries their number. Like zap's sampler ("the first 100,
// then..."), a burst keeps rare events fully logged while a storm (a
// corrupt key read 10,000 times a second) costs at most 10 lines a second.
const (
	logEvery = 10 * time.Second
	logBurst = 100
)

// logLimit rate-limits one kind of log line. Once a window's burst is
// spent, an occurrence costs two atomic loads and one atomic add; the
// mutex is taken only by occurrences that may be logged. The zero value is
// ready.
type logLimit struct {
	mu         sync.Mutex
	start      atomic.Int64 // UnixNano start of the current window
	n          atomic.Int64 // lines logged in the current window
	suppressed atomic.Int64 // occurrences not logged since the last line
}

// allow reports whether an occurrence at now may be logged and, if so,
// how many occurrences were suppressed since the previous line.
func (l *logLimit) allow(now time.Time) (ok bool, suppressed int64) {
	t := now.UnixNano()
	if t-l.start.Load() < int64(logEvery) && l.n.Load() >= logBurst {
		l.suppressed.Add(1)
		return false, 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if t-l.start.Load() >= int64(logEvery) {
		l.start.Store(t)
		l.n.Store(0)
	}
	if l.n.Load() >= logBurst {
		l.suppressed.Add(1)
		return false, 0
	}
	l.n.Add(1)
	return true, l.suppressed.Swap(0)
}
