package memcached

import "testing"

// The remembered namespace version never goes backwards: a read that
// began before a newer version was seen cannot put an older one back.
func TestNamespaceVersionNeverGoesBackwards(t *testing.T) {
	s, err := New(Options{Servers: []string{"127.0.0.1:1"}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	const k = "ns"
	const window = 1 << 62
	base := mono()
	got := func() (uint64, bool) { return s.cachedNamespace(k, base+100, window) }
	want := func(step string, v uint64) {
		t.Helper()
		if g, ok := got(); !ok || g != v {
			t.Fatalf("%s: remembered %d, %v; want %d", step, g, ok, v)
		}
	}
	wantNone := func(step string) {
		t.Helper()
		if g, ok := got(); ok {
			t.Fatalf("%s: remembered %d; want nothing trusted", step, g)
		}
	}

	// A Set's read of version 5 begins at 10; this Store's Flush
	// increments to 6 between 20 and 30; the Set finishes at 40.
	if !s.rememberNamespace(k, 6, base+20, base+30) {
		t.Fatal("Flush's version not recorded")
	}
	if s.rememberNamespace(k, 5, base+10, base+40) {
		t.Fatal("a version read before the Flush was recorded after it")
	}
	want("stale read after Flush", 6)
	// The same or a newer version refreshes it, whenever its read began.
	if !s.rememberNamespace(k, 7, base+15, base+45) {
		t.Fatal("a higher version was refused")
	}
	want("higher version", 7)
	// A read that began after the last one was seen is newer, even with
	// a lower value (the counter was evicted and re-created at random).
	if !s.rememberNamespace(k, 3, base+50, base+55) {
		t.Fatal("a re-created counter's version was refused")
	}
	want("re-created counter", 3)

	// A forgotten counter (tombstone) trusts nothing and refuses reads
	// that began before it.
	s.forgetNamespace(k)
	wantNone("after forget")
	tomb := s.ns.load(k).seen
	if s.rememberNamespace(k, 3, tomb-1, tomb+1) {
		t.Fatal("a read that began before the tombstone was recorded")
	}
	wantNone("stale read after forget")
	if !s.rememberNamespace(k, 4, tomb+1, tomb+2) {
		t.Fatal("a read that began after the tombstone was refused")
	}

	// Concurrent Flushes: the one that reached the server last (9) is
	// recorded first; the other's 8 is refused, and Flush then forgets.
	if !s.rememberNamespace(k, 9, tomb+10, tomb+20) {
		t.Fatal("Flush's version not recorded")
	}
	if s.rememberNamespace(k, 8, tomb+5, tomb+25) {
		t.Fatal("an older Flush's version replaced a newer one")
	}

	// A clear (network failure) refuses reads that began before it.
	before := mono()
	s.netFailed()
	if s.rememberNamespace(k, 10, before, mono()) {
		t.Fatal("a read that began before a clear was recorded after it")
	}
	if _, ok := s.cachedNamespace(k, mono(), window); ok {
		t.Fatal("a version survived the clear")
	}
	if after := mono() + 1; !s.rememberNamespace(k, 10, after, after+1) {
		t.Fatal("a read that began after the clear was refused")
	}
}
