package near_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/yokedcache/yokedcache/backend"
	"github.com/yokedcache/yokedcache/backend/memory"
	"github.com/yokedcache/yokedcache/backend/near"
	"github.com/yokedcache/yokedcache/yokedcachetest"
)

// tracked is a shared store (a memory.Store standing for a server) whose
// change notifications the test delivers by hand.
type tracked struct {
	*memory.Store
	mu   sync.Mutex
	h    backend.TrackHandler
	mode string
	live atomic.Bool
	err  atomic.Pointer[error]
	// gate, when set, blocks Get until it is closed (a read in flight).
	gate    chan struct{}
	entered chan struct{}
}

func (t *tracked) Track(_ string, h backend.TrackHandler) (backend.Tracking, error) {
	t.mu.Lock()
	t.h = h
	t.mu.Unlock()
	return t, nil
}

func (t *tracked) Status() backend.TrackStatus {
	st := backend.TrackStatus{Mode: t.mode, Live: t.live.Load()}
	if e := t.err.Load(); e != nil {
		st.Err = *e
	}
	return st
}

func (t *tracked) Stop() {}

func (t *tracked) handler() backend.TrackHandler {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.h
}

func (t *tracked) Get(ctx context.Context, key string) ([]byte, error) {
	t.mu.Lock()
	gate, entered := t.gate, t.entered
	t.mu.Unlock()
	v, err := t.Store.Get(ctx, key)
	if gate != nil {
		entered <- struct{}{}
		<-gate
	}
	return v, err
}

func newTracked(t *testing.T, clock backend.Clock) *tracked {
	m, err := memory.New(memory.Options{Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	tr := &tracked{Store: m, mode: backend.TrackModeTracking}
	tr.live.Store(true)
	t.Cleanup(func() { _ = m.Close() })
	return tr
}

func newNear(t *testing.T, inner backend.Backend, o near.Options) *near.Store {
	t.Helper()
	n, err := near.New(inner, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = n.Close() })
	return n
}

var ctx = context.Background()

func set(t *testing.T, b backend.Backend, k, v string, ttl time.Duration) {
	t.Helper()
	if err := b.Set(ctx, k, []byte(v), backend.SetOptions{TTL: ttl}); err != nil {
		t.Fatalf("Set(%s): %v", k, err)
	}
}

func get(t *testing.T, b backend.Backend, k string) string {
	t.Helper()
	v, err := b.Get(ctx, k)
	if errors.Is(err, backend.ErrNotFound) {
		return "<miss>"
	}
	if err != nil {
		t.Fatalf("Get(%s): %v", k, err)
	}
	return string(v)
}

func TestHitsAfterFirstRead(t *testing.T) {
	sh := newTracked(t, nil)
	n := newNear(t, sh, near.Options{})
	set(t, sh, "p:k", "v1", time.Minute)
	for range 3 {
		if got := get(t, n, "p:k"); got != "v1" {
			t.Fatalf("Get = %q", got)
		}
	}
	st := n.NearStats()
	if st.Hits != 2 || st.Misses != 1 || st.Fills != 1 || st.Entries != 1 || st.Mode != "tracking" || !st.Live {
		t.Fatalf("stats = %+v; want 2 hits, 1 miss, 1 fill, 1 entry, tracking, live", st)
	}
}

func TestNotificationDropsCopy(t *testing.T) {
	sh := newTracked(t, nil)
	n := newNear(t, sh, near.Options{})
	set(t, sh, "p:k", "v1", time.Minute)
	get(t, n, "p:k")
	set(t, sh, "p:k", "v2", time.Minute) // another process's write
	if got := get(t, n, "p:k"); got != "v1" {
		t.Fatalf("before the notification Get = %q; want the copy v1", got)
	}
	sh.handler().Keys([]string{"p:k"})
	if got := get(t, n, "p:k"); got != "v2" {
		t.Fatalf("after the notification Get = %q; want v2", got)
	}
	if st := n.NearStats(); st.Invalidations != 1 {
		t.Fatalf("Invalidations = %d; want 1", st.Invalidations)
	}
}

func TestNotLiveKeepsNoCopy(t *testing.T) {
	sh := newTracked(t, nil)
	sh.live.Store(false)
	n := newNear(t, sh, near.Options{})
	set(t, sh, "p:k", "v1", time.Minute)
	get(t, n, "p:k")
	get(t, n, "p:k")
	if st := n.NearStats(); st.Hits != 0 || st.Entries != 0 || st.Live {
		t.Fatalf("not live: stats = %+v; want no hits and no copies", st)
	}
	sh.handler().Reset()
	sh.live.Store(true)
	get(t, n, "p:k")
	if got := get(t, n, "p:k"); got != "v1" || n.NearStats().Hits != 1 {
		t.Fatalf("live again: Get = %q, stats %+v; want a hit", got, n.NearStats())
	}
}

func TestResetDropsEveryCopy(t *testing.T) {
	sh := newTracked(t, nil)
	n := newNear(t, sh, near.Options{})
	for i := range 10 {
		set(t, sh, fmt.Sprint("p:", i), "v", time.Minute)
		get(t, n, fmt.Sprint("p:", i))
	}
	if e := n.NearStats().Entries; e != 10 {
		t.Fatalf("Entries = %d; want 10", e)
	}
	sh.handler().Reset()
	if st := n.NearStats(); st.Entries != 0 || st.Resets != 1 {
		t.Fatalf("after Reset: %+v; want no copies, 1 reset", st)
	}
}

// A read that started before an invalidation of its key keeps no copy of
// what it read: the copy could be older than the write that was notified.
func TestInvalidationDuringReadKeepsNoCopy(t *testing.T) {
	for _, name := range []string{"key", "reset", "own write"} {
		t.Run(name, func(t *testing.T) {
			sh := newTracked(t, nil)
			n := newNear(t, sh, near.Options{})
			set(t, sh, "p:k", "old", time.Minute)
			gate, entered := make(chan struct{}), make(chan struct{}, 1)
			sh.mu.Lock()
			sh.gate, sh.entered = gate, entered
			sh.mu.Unlock()
			done := make(chan string)
			go func() {
				v, _ := n.Get(ctx, "p:k")
				done <- string(v)
			}()
			<-entered // the read has the old value in hand
			sh.mu.Lock()
			sh.gate = nil
			sh.mu.Unlock()
			switch name {
			case "key":
				set(t, sh, "p:k", "new", time.Minute)
				sh.handler().Keys([]string{"p:k"})
			case "reset":
				set(t, sh, "p:k", "new", time.Minute)
				sh.handler().Reset()
			case "own write":
				set(t, n, "p:k", "new", time.Minute)
			}
			close(gate)
			if v := <-done; v != "old" {
				t.Fatalf("read in flight = %q; want old", v)
			}
			if got := get(t, n, "p:k"); got != "new" {
				t.Fatalf("Get after the write = %q; want new (the racing read must not keep its copy)", got)
			}
		})
	}
}

// A copy never outlives the shared entry, whatever the tier's own TTL.
func TestCopyNeverOutlivesSharedTTL(t *testing.T) {
	clock := yokedcachetest.NewClock(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	sh := newTracked(t, clock)
	n := newNear(t, sh, near.Options{TTL: time.Hour, Clock: clock})
	set(t, sh, "p:k", "v", 100*time.Millisecond)
	get(t, n, "p:k")
	clock.Advance(99 * time.Millisecond)
	if got := get(t, n, "p:k"); got != "v" || n.NearStats().Hits != 1 {
		t.Fatalf("before expiry: %q, %+v", got, n.NearStats())
	}
	clock.Advance(2 * time.Millisecond)
	if got := get(t, n, "p:k"); got != "<miss>" {
		t.Fatalf("after the shared TTL Get = %q; want a miss", got)
	}
}

// In "ttl" mode a write by another process is seen after at most the
// tier's TTL.
func TestTTLModeBound(t *testing.T) {
	clock := yokedcachetest.NewClock(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	m, err := memory.New(memory.Options{Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	n := newNear(t, m, near.Options{Clock: clock})
	if st := n.NearStats(); st.Mode != "ttl" || !st.Live {
		t.Fatalf("mode = %q live %v; want ttl, live", st.Mode, st.Live)
	}
	set(t, m, "p:k", "v1", time.Hour)
	get(t, n, "p:k")
	set(t, m, "p:k", "v2", time.Hour)
	clock.Advance(near.DefaultTTL - time.Millisecond)
	if got := get(t, n, "p:k"); got != "v1" {
		t.Fatalf("within the bound Get = %q; want the copy", got)
	}
	clock.Advance(2 * time.Millisecond)
	if got := get(t, n, "p:k"); got != "v2" {
		t.Fatalf("after the bound Get = %q; want v2", got)
	}
}

func TestWritesThroughDropCopies(t *testing.T) {
	sh := newTracked(t, nil)
	n := newNear(t, sh, near.Options{})
	fill := func(keys ...string) {
		for _, k := range keys {
			set(t, sh, k, "v", time.Minute)
			get(t, n, k)
		}
	}
	fill("p:a", "p:b", "p:c", "p:d", "q:e")
	if _, err := n.Delete(ctx, "p:a"); err != nil {
		t.Fatal(err)
	}
	if got := get(t, n, "p:a"); got != "<miss>" {
		t.Fatalf("after Delete Get = %q", got)
	}
	if _, err := n.Expire(ctx, "p:b", time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if n.Local().Contains("p:b") {
		t.Fatal("Expire kept the copy")
	}
	if _, err := n.DeletePattern(ctx, "p:*"); err != nil {
		t.Fatal(err)
	}
	if n.Local().Contains("p:c") || !n.Local().Contains("q:e") {
		t.Fatal("DeletePattern(p:*) must drop p:* copies and keep q:e")
	}
	fill("p:x")
	if err := n.SetMany(ctx, []backend.Item{{Key: "p:x", Value: []byte("w"), SetOptions: backend.SetOptions{TTL: time.Minute}}}); err != nil {
		t.Fatal(err)
	}
	if got := get(t, n, "p:x"); got != "w" {
		t.Fatalf("after SetMany Get = %q", got)
	}
	if _, err := n.InvalidateTags(ctx, []string{"t"}); err != nil {
		t.Fatal(err)
	}
	if e := n.NearStats().Entries; e != 0 {
		t.Fatalf("InvalidateTags left %d copies; want none (tags are not known locally)", e)
	}
	fill("p:y")
	if err := n.Flush(ctx, "p:"); err != nil {
		t.Fatal(err)
	}
	if e := n.NearStats().Entries; e != 0 {
		t.Fatalf("Flush left %d copies", e)
	}
}

func TestGetManyFillsAndHits(t *testing.T) {
	sh := newTracked(t, nil)
	n := newNear(t, sh, near.Options{})
	set(t, sh, "p:a", "A", time.Minute)
	set(t, sh, "p:b", "B", time.Minute)
	get(t, n, "p:a")
	vals, err := n.GetMany(ctx, []string{"p:a", "p:b", "p:none"})
	if err != nil {
		t.Fatal(err)
	}
	if string(vals[0]) != "A" || string(vals[1]) != "B" || vals[2] != nil {
		t.Fatalf("GetMany = %q", vals)
	}
	st := n.NearStats()
	if st.Hits != 1 || st.Misses != 3 {
		t.Fatalf("stats = %+v; want 1 hit (p:a) and 3 misses", st)
	}
}

// bare is a backend with nothing but the base interface.
type bare struct{ m *memory.Store }

func (b bare) Get(ctx context.Context, k string) ([]byte, error) { return b.m.Get(ctx, k) }
func (b bare) Set(ctx context.Context, k string, v []byte, o backend.SetOptions) error {
	return b.m.Set(ctx, k, v, o)
}
func (b bare) Delete(ctx context.Context, k string) (bool, error) { return b.m.Delete(ctx, k) }
func (b bare) Close() error                                       { return b.m.Close() }

func TestMissingCapabilitiesAreUnsupported(t *testing.T) {
	m, _ := memory.New(memory.Options{})
	n := newNear(t, bare{m}, near.Options{})
	defer m.Close()
	if err := n.Set(ctx, "p:k", []byte("v"), backend.SetOptions{TTL: time.Minute, Tags: []string{"t"}}); !errors.Is(err, backend.ErrUnsupported) {
		t.Fatalf("Set with tags = %v; want ErrUnsupported", err)
	}
	if _, err := n.InvalidateTags(ctx, []string{"t"}); !errors.Is(err, backend.ErrUnsupported) {
		t.Fatalf("InvalidateTags = %v; want ErrUnsupported", err)
	}
	if _, err := n.TTL(ctx, "p:k"); !errors.Is(err, backend.ErrUnsupported) {
		t.Fatalf("TTL = %v; want ErrUnsupported", err)
	}
	for _, err := range n.Scan(ctx, "*") {
		if !errors.Is(err, backend.ErrUnsupported) {
			t.Fatalf("Scan = %v; want ErrUnsupported", err)
		}
	}
	if backend.Base(n) != (bare{m}) {
		t.Fatal("Base(near) is not the shared backend")
	}
}

func TestClosed(t *testing.T) {
	sh := newTracked(t, nil)
	n, err := near.New(sh, near.Options{})
	if err != nil {
		t.Fatal(err)
	}
	set(t, sh, "p:k", "v", time.Minute)
	get(t, n, "p:k")
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := n.Get(ctx, "p:k"); !errors.Is(err, backend.ErrClosed) {
		t.Fatalf("Get after Close = %v; want ErrClosed", err)
	}
	if err := n.Set(ctx, "p:k", []byte("v"), backend.SetOptions{TTL: time.Second}); !errors.Is(err, backend.ErrClosed) {
		t.Fatalf("Set after Close = %v; want ErrClosed", err)
	}
	if err := n.Close(); !errors.Is(err, backend.ErrClosed) {
		t.Fatalf("second Close = %v; want ErrClosed", err)
	}
}

func TestOptionsValidate(t *testing.T) {
	for _, o := range []near.Options{{MaxEntries: -1}, {MaxBytes: -2}, {TTL: -time.Second}, {Mode: "push"}} {
		if _, err := near.New(newTracked(t, nil), o); !errors.Is(err, backend.ErrInvalidConfig) {
			t.Fatalf("New(%+v) = %v; want ErrInvalidConfig", o, err)
		}
	}
	if _, err := near.New(nil, near.Options{}); !errors.Is(err, backend.ErrInvalidConfig) {
		t.Fatalf("New(nil) = %v", err)
	}
}

// The byte bound holds while many distinct keys stream through.
func TestByteBound(t *testing.T) {
	sh := newTracked(t, nil)
	const bound = 1 << 20
	n := newNear(t, sh, near.Options{MaxBytes: bound, MaxEntries: 1 << 20})
	val := make([]byte, 1024)
	keys := 20_000
	if testing.Short() {
		keys = 5_000
	}
	for i := range keys {
		k := fmt.Sprint("p:", i)
		if err := sh.Set(ctx, k, val, backend.SetOptions{TTL: time.Minute}); err != nil {
			t.Fatal(err)
		}
		if _, err := n.Get(ctx, k); err != nil {
			t.Fatal(err)
		}
		if i%1000 == 0 {
			if b := n.NearStats().Bytes; b > bound {
				t.Fatalf("after %d keys the copies hold %d bytes; bound %d", i, b, bound)
			}
		}
	}
	st := n.NearStats()
	if st.Bytes > bound || st.Evictions == 0 {
		t.Fatalf("final %+v; want bytes <= %d and evictions", st, bound)
	}
}

// Concurrent readers, writers and notifications: once everything is
// quiet and notified, every read agrees with the shared store.
func TestConcurrentCoherence(t *testing.T) {
	sh := newTracked(t, nil)
	n := newNear(t, sh, near.Options{})
	const keys = 64
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for g := range 4 {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(g), 1))
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				k := fmt.Sprint("p:", r.IntN(keys))
				switch r.IntN(10) {
				case 0: // this process writes through the tier
					_ = n.Set(ctx, k, fmt.Appendf(nil, "n%d-%d", g, i), backend.SetOptions{TTL: time.Minute})
				case 1: // another process writes; the server notifies
					_ = sh.Set(ctx, k, fmt.Appendf(nil, "o%d-%d", g, i), backend.SetOptions{TTL: time.Minute})
					sh.handler().Keys([]string{k})
				default:
					_, _ = n.Get(ctx, k)
				}
			}
		})
	}
	time.Sleep(200 * time.Millisecond)
	close(stop)
	wg.Wait()
	for i := range keys {
		k := fmt.Sprint("p:", i)
		want, err := sh.Store.Get(ctx, k)
		if errors.Is(err, backend.ErrNotFound) {
			continue
		}
		if got := get(t, n, k); got != string(want) {
			t.Fatalf("%s: tier %q, shared %q", k, got, want)
		}
	}
}

func TestHealthDegradedWhileNotificationsFail(t *testing.T) {
	sh := newTracked(t, nil)
	n := newNear(t, sh, near.Options{})
	sh.live.Store(false)
	d, err := n.HealthDetails(ctx)
	if err != nil || d.Status != "healthy" || len(d.Warnings) != 0 {
		t.Fatalf("first connection pending: %+v, %v; want healthy, no warning", d, err)
	}
	e := errors.New("connection refused")
	sh.err.Store(&e)
	d, err = n.HealthDetails(ctx)
	if err != nil || d.Status != "degraded" || len(d.Warnings) != 1 || !strings.Contains(d.Warnings[0], "connection refused") {
		t.Fatalf("notifications failing: %+v, %v; want degraded with the error", d, err)
	}
	if d.Details["near_live"] != false || d.Details["near_mode"] != "tracking" {
		t.Fatalf("details = %v", d.Details)
	}
}
