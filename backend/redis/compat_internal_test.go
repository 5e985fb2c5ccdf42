package redis

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/yokedcache/yokedcache/backend"
	"github.com/yokedcache/yokedcache/codec"
	"github.com/yokedcache/yokedcache/internal/envelope"
	"github.com/yokedcache/yokedcache/internal/testserver"
)

// TestPyClean covers the key rules of scenarios.md §2.6 (the hashed long
// key is checked end to end against its fixture in compat_test.go).
func TestPyClean(t *testing.T) {
	for in, want := range map[string]string{
		"yokedcache:user:1":         "yokedcache:user:1",
		"yokedcache:my key":         "yokedcache:my_key",
		"yokedcache:line\nbreak\r":  "yokedcache:linebreak",
		"yokedcache:tags:hot items": "yokedcache:tags:hot_items",
		"yokedcache:ключ:ü:🔑":       "yokedcache:ключ:ü:🔑",
		"yokedcache:star*?[x]":      "yokedcache:star*?[x]",
	} {
		if got := pyClean(in); got != want {
			t.Errorf("pyClean(%q) = %q, want %q", in, got, want)
		}
	}
	if got := pyTagKey("myapp:\xfftag:hot items"); got != "myapp:tags:hot_items" {
		t.Errorf("pyTagKey = %q", got)
	}
}

func newCompatStore(t *testing.T, c rueidis.Client) *Store {
	t.Helper()
	s, err := New(Options{Client: c, Compat: CompatPython})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// TestPythonPruneKeepsConcurrentWrite puts a writer's SET + SADD (what
// Python and compat writes send) between the pruning's check and its
// SREM: the member is added back, so a live entry never leaves its set.
func TestPythonPruneKeepsConcurrentWrite(t *testing.T) {
	srv := testserver.SharedRedis(t)
	ctx := context.Background()
	raw, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{srv.Addr}, DisableCache: true})
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	hc := &hookClient{Client: raw}
	s := newCompatStore(t, hc)
	p := "prune" + strconv.FormatInt(time.Now().UnixNano(), 36)
	set, revived, dead := p+":tags:t", p+":revived", p+":dead"
	do := func(cmd rueidis.Completed) {
		t.Helper()
		if err := raw.Do(ctx, cmd).Error(); err != nil {
			t.Fatal(err)
		}
	}
	do(raw.B().Sadd().Key(set).Member(revived, dead).Build())
	hc.arm("SREM", func() {
		do(raw.B().Set().Key(revived).Value("x").Build())
		do(raw.B().Sadd().Key(set).Member(revived).Build())
	})
	n, err := s.prunePython(ctx, []string{set}, 32)
	if err != nil || n != 2 {
		t.Fatalf("prunePython = %d, %v; want 2 sampled", n, err)
	}
	ms, err := raw.Do(ctx, raw.B().Smembers().Key(set).Build()).AsStrSlice()
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != 1 || ms[0] != revived {
		t.Fatalf("members after pruning = %q; want only %q (re-created during the prune)", ms, revived)
	}
}

// TestPythonSweepPersistentSets: the tag sets of entries without expiry
// (which compat mode makes persistent) lose their dead members in the
// background sweep, and an emptied set is forgotten.
func TestPythonSweepPersistentSets(t *testing.T) {
	srv := testserver.SharedRedis(t)
	ctx := context.Background()
	raw, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{srv.Addr}, DisableCache: true})
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	s := newCompatStore(t, raw)
	p := "sweep" + strconv.FormatInt(time.Now().UnixNano(), 36)
	env, err := envelope.Encode(codec.IDString, []byte("v"), nil, envelope.EncodeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for i := range 5 {
		k := p + ":k" + strconv.Itoa(i)
		keys = append(keys, k)
		if err := s.Set(ctx, k, env, backend.SetOptions{TTL: backend.NoExpiry, Tags: []string{p + ":\xfftag:forever"}}); err != nil {
			t.Fatal(err)
		}
	}
	set := p + ":tags:forever"
	if ttl, _ := raw.Do(ctx, raw.B().Pttl().Key(set).Build()).AsInt64(); ttl != -1 {
		t.Fatalf("PTTL of the set of entries without expiry = %d; want -1", ttl)
	}
	if _, ok := s.sweep.tags[set]; !ok {
		t.Fatalf("the background sweep does not know %q: %v", set, s.sweep.tags)
	}
	if err := raw.Do(ctx, raw.B().Del().Key(keys[:4]...).Build()).Error(); err != nil {
		t.Fatal(err)
	}
	if err := s.sweepIdle(ctx); err != nil {
		t.Fatal(err)
	}
	ms, _ := raw.Do(ctx, raw.B().Smembers().Key(set).Build()).AsStrSlice()
	if len(ms) != 1 || ms[0] != keys[4] {
		t.Fatalf("members after the sweep = %q; want only the live %q", ms, keys[4])
	}
	if err := raw.Do(ctx, raw.B().Del().Key(keys[4]).Build()).Error(); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := s.sweepIdle(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if n, _ := raw.Do(ctx, raw.B().Exists().Key(set).Build()).AsInt64(); n != 0 {
		t.Errorf("the emptied set still exists")
	}
	s.sweep.mu.Lock()
	_, ok := s.sweep.tags[set]
	s.sweep.mu.Unlock()
	if ok {
		t.Errorf("the sweep still remembers the emptied set")
	}
}
