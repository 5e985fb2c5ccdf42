package yokedcache_test

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/yokedcache/yokedcache"
	"github.com/yokedcache/yokedcache/internal/testserver"
	"github.com/yokedcache/yokedcache/yokedcachetest"
)

// lines returns the log lines written to l.
func lines(l *testserver.LogBuffer) []string {
	return strings.Split(strings.TrimSpace(l.String()), "\n")
}

// 10,000 corrupt reads, from 8 goroutines, log the burst of 100 lines;
// the next line, once the window has passed, carries the number
// suppressed.
func TestCorruptLogIsRateLimited(t *testing.T) {
	ctx := context.Background()
	var logs testserver.LogBuffer
	c, clock := yokedcachetest.New(t, yokedcache.Config{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err := c.Set(ctx, "user:1", "not a number"); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 1250 {
				var n int
				if err := c.Get(ctx, "user:1", &n); !errors.Is(err, yokedcache.ErrCorrupt) {
					t.Errorf("Get of a string into *int = %v; want ErrCorrupt", err)
					return
				}
			}
		})
	}
	wg.Wait()
	l := lines(&logs)
	if len(l) != 100 {
		t.Fatalf("10,000 corrupt reads logged %d lines; want the burst of 100", len(l))
	}
	for _, line := range l {
		if strings.Contains(line, "suppressed") || !strings.Contains(line, "key=user:1") || !strings.Contains(line, "backend=memory") {
			t.Fatalf("line %s\nwant the key and backend, without suppressed=", line)
		}
	}
	clock.Advance(9 * time.Second)
	var n int
	_ = c.Get(ctx, "user:1", &n)
	if l := lines(&logs); len(l) != 100 {
		t.Fatalf("a corrupt read 9s into the window logged; want nothing until 10s:\n%s", l[len(l)-1])
	}
	clock.Advance(time.Second)
	_ = c.Get(ctx, "user:1", &n)
	l = lines(&logs)
	if len(l) != 101 || !strings.Contains(l[100], "suppressed=9901") {
		t.Fatalf("after 10s, %d lines, the last:\n%s\nwant a 101st line with suppressed=9901 (9,900 + the read at 9s)", len(l), l[len(l)-1])
	}
	st, err := c.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Corrupt != 10002 {
		t.Errorf("Stats.Corrupt = %d; want every corrupt read counted (10002)", st.Corrupt)
	}
}

// Each route has its own limit, and the line names the route; the full
// key appears only when the Logger is enabled for debug.
func TestCorruptLogRoutesAndDebugKey(t *testing.T) {
	ctx := context.Background()
	long := "session:" + strings.Repeat("k", 100)
	for _, level := range []slog.Level{slog.LevelInfo, slog.LevelDebug} {
		var logs testserver.LogBuffer
		c, _ := yokedcachetest.New(t, yokedcache.Config{
			Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: level})),
			Routes: []yokedcache.Route{{Prefix: "session", DefaultTTL: time.Hour}},
		})
		for _, k := range []string{"user:1", long} {
			if err := c.Set(ctx, k, "text"); err != nil {
				t.Fatal(err)
			}
			for range 150 {
				var n int
				_ = c.Get(ctx, k, &n)
			}
		}
		l := lines(&logs)
		if len(l) != 200 || !strings.Contains(l[0], `route=""`) || !strings.Contains(l[100], "route=session") {
			t.Fatalf("level %v: 150 corrupt reads on each of two routes logged %d lines; want a burst of 100 per route, naming it; first lines:\n%s\n%s", level, len(l), l[0], l[min(100, len(l)-1)])
		}
		hasFull := strings.Contains(l[100], "full_key="+long)
		if hasFull != (level == slog.LevelDebug) || strings.Contains(l[100], "key="+long+" ") {
			t.Errorf("level %v: line %s\nwant the key shortened, and the full key only at debug level", level, l[100])
		}
	}
}
