package yokedcache

import (
	"sync/atomic"
	"time"
)

// logEvery is the least time between two log lines of one kind (see
// logLimit): the first occurrence is logged at once, then at most one line
// per logEvery, carrying the number of occurrences suppressed before it.
const logEvery = 10 * time.Second

// logLimit rate-limits one kind of log line, lock-free: under a storm
// (a key that keeps failing to decode under load) it costs two atomic
// operations per suppressed occurrence and logs about once per logEvery.
// The zero value is ready: its first occurrence is logged.
type logLimit struct {
	next       atomic.Int64 // UnixNano before which lines are suppressed
	suppressed atomic.Int64 // occurrences suppressed since the last line
}

// allow reports whether an occurrence at now may be logged and, if so,
// how many were suppressed since the previous line.
func (l *logLimit) allow(now time.Time) (ok bool, suppressed int64) {
	t := now.UnixNano()
	n := l.next.Load()
	if t < n || !l.next.CompareAndSwap(n, t+int64(logEvery)) {
		l.suppressed.Add(1)
		return false, 0
	}
	return true, l.suppressed.Swap(0)
}
