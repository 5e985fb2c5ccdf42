package loglimit

import (
	"errors"
	"testing"
	"time"
)

func TestLimiterBurstAndWindow(t *testing.T) {
	l := Limiter{Every: time.Second, Burst: 3}
	t0 := time.Unix(1_000, 0)
	var logged int
	for i := range 10 {
		if ok, _ := l.Allow(t0.Add(time.Duration(i) * time.Millisecond)); ok {
			logged++
		}
	}
	if logged != 3 {
		t.Fatalf("logged %d of 10 in one window; want the burst, 3", logged)
	}
	ok, suppressed := l.Allow(t0.Add(time.Second))
	if !ok || suppressed != 7 {
		t.Fatalf("next window: %v, %d; want a line carrying 7 suppressed", ok, suppressed)
	}
}

func TestDamage(t *testing.T) {
	var d Damage // one line per 10 s
	t0 := time.Unix(1_000, 0)
	var lines int
	for i := range 1000 {
		if log, _, _ := d.Note(errors.New("bad page"), t0.Add(time.Duration(i)*time.Millisecond)); log {
			lines++
		}
	}
	if lines != 1 || d.Reads() != 1000 || d.Last() != "bad page" {
		t.Fatalf("%d lines, %d reads, last %q; want 1, 1000, bad page", lines, d.Reads(), d.Last())
	}
	log, reads, notLogged := d.Note(errors.New("later"), t0.Add(11*time.Second))
	if !log || reads != 1001 || notLogged != 999 {
		t.Fatalf("after the window: %v %d %d", log, reads, notLogged)
	}
}
