// Package loglimit rate-limits repeated log lines, so that a storm of one
// event (a corrupt key read 10 000 times a second, a damaged database
// page met by every read) costs a bounded number of lines, each carrying
// how many occurrences it stands for.
package loglimit

import (
	"sync"
	"sync/atomic"
	"time"
)

// Limiter rate-limits one kind of log line: at most Burst lines per window
// of Every; the first line after suppressed occurrences carries their
// number. Like zap's sampler ("the first 100, then..."), a burst keeps rare
// events fully logged while a storm costs at most Burst lines per window.
// Once a window's burst is spent, an occurrence costs two atomic loads and
// one atomic add; the mutex is taken only by occurrences that may be
// logged. A zero Limiter allows one line per 10 s.
type Limiter struct {
	Every time.Duration // window; 0 means 10 s
	Burst int64         // lines per window; 0 means 1

	mu         sync.Mutex
	start      atomic.Int64 // UnixNano start of the current window (0: none yet)
	n          atomic.Int64 // lines logged in the current window
	suppressed atomic.Int64 // occurrences not logged since the last line
}

func (l *Limiter) every() int64 {
	if l.Every <= 0 {
		return int64(10 * time.Second)
	}
	return int64(l.Every)
}

func (l *Limiter) burst() int64 { return max(l.Burst, 1) }

// Allow reports whether an occurrence at now may be logged and, if so, how
// many occurrences were suppressed since the previous line.
func (l *Limiter) Allow(now time.Time) (ok bool, suppressed int64) {
	t := now.UnixNano()
	open := func() bool { s := l.start.Load(); return s != 0 && t-s < l.every() }
	if open() && l.n.Load() >= l.burst() {
		l.suppressed.Add(1)
		return false, 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if !open() {
		l.start.Store(t)
		l.n.Store(0)
	}
	if l.n.Load() >= l.burst() {
		l.suppressed.Add(1)
		return false, 0
	}
	l.n.Add(1)
	return true, l.suppressed.Swap(0)
}

// Damage counts the damaged records a store's reads met, remembers the
// last one, and rate-limits the log line about them (one per Every,
// default 10 s). The zero value is ready.
type Damage struct {
	Limiter
	reads atomic.Int64
	last  atomic.Value // string
}

// Note records one damaged read described by err at now and reports
// whether to log it, with the total damaged reads and the lines not
// logged since the previous one.
func (d *Damage) Note(err error, now time.Time) (log bool, reads, notLogged int64) {
	n := d.reads.Add(1)
	d.last.Store(err.Error())
	ok, suppressed := d.Allow(now)
	return ok, n, suppressed
}

// Reads returns the number of damaged reads noted.
func (d *Damage) Reads() int64 { return d.reads.Load() }

// Last returns the description of the last damaged read, or "".
func (d *Damage) Last() string {
	s, _ := d.last.Load().(string)
	return s
}
