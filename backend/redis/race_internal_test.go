package redis

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/yokedcache/yokedcache/backend"
	"github.com/yokedcache/yokedcache/internal/testserver"
)

// hookClient runs fn once, just before the first pipeline that contains
// the command target is sent: a deterministic way to put another
// process's write between two round trips of one operation.
type hookClient struct {
	rueidis.Client
	mu     sync.Mutex
	target string
	fn     func()
	fired  bool
}

func (h *hookClient) arm(target string, fn func()) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.target, h.fn, h.fired = target, fn, false
}

func (h *hookClient) before(cmds ...rueidis.Completed) {
	h.mu.Lock()
	fn := h.fn
	hit := false
	if fn != nil {
		for _, c := range cmds {
			if strings.EqualFold(c.Commands()[0], h.target) {
				hit = true
				break
			}
		}
	}
	if hit {
		h.fn, h.fired = nil, true
	}
	h.mu.Unlock()
	if hit {
		fn()
	}
}

func (h *hookClient) Do(ctx context.Context, cmd rueidis.Completed) rueidis.RedisResult {
	h.before(cmd)
	return h.Client.Do(ctx, cmd)
}

func (h *hookClient) DoMulti(ctx context.Context, cmds ...rueidis.Completed) []rueidis.RedisResult {
	h.before(cmds...)
	return h.Client.DoMulti(ctx, cmds...)
}

// assertIndexed checks the invariant InvalidateTags relies on: a live
// entry is recorded in the index of every tag its value carries (the
// persistent set when it has no expiry, else the sorted set for its size
// with a score no earlier than its expiry).
func assertIndexed(t *testing.T, rc rueidis.Client, key, when string) {
	t.Helper()
	ctx := context.Background()
	res := rc.DoMulti(ctx, rc.B().Pexpiretime().Key(key).Build(), rc.B().Get().Key(key).Build())
	exp, err := res[0].AsInt64()
	if err != nil {
		t.Fatal(err)
	}
	if exp == -2 {
		return
	}
	raw, err := res[1].ToString()
	if err != nil {
		t.Fatal(err)
	}
	list, _ := headTags(raw)
	for tag := range tagList(list) {
		if exp == -1 {
			ok, err := rc.Do(ctx, rc.B().Sismember().Key(persistentTagKey(tag)).Member(key).Build()).AsBool()
			if err != nil || !ok {
				t.Errorf("%s: %q has no expiry and carries %q but is not in its persistent set (%v)", when, key, tag, err)
			}
			continue
		}
		score, err := rc.Do(ctx, rc.B().Zscore().Key(indexKey(tag, len(raw))).Member(key).Build()).AsFloat64()
		if err != nil || int64(score) < exp {
			t.Errorf("%s: %q expires at %d and carries %q but its index score is %v (%v)", when, key, exp, tag, score, err)
		}
	}
}

// TestConcurrentSetKeepsIndex puts a Set from another Store between the
// round trips of InvalidateTags, Delete and Expire, at every point, and
// checks that the entry it leaves is still recorded in its tags' indexes,
// so that a later InvalidateTags finds it.
func TestConcurrentSetKeepsIndex(t *testing.T) {
	srv := testserver.SharedRedis(t)
	ctx := context.Background()
	hc := &hookClient{}
	raw, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{srv.Addr}, DisableCache: true})
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	hc.Client = raw
	a, err := New(Options{Client: hc})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := New(Options{Addrs: []string{srv.Addr}})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	prefix := fmt.Sprintf("yokedcache:race%d:", time.Now().UnixNano())
	tagA, tagB := prefix+"\xfftag:a", prefix+"\xfftag:b"
	forever := func(tags ...string) backend.SetOptions { return backend.SetOptions{Tags: tags} }
	expiring := func(ttl time.Duration, tags ...string) backend.SetOptions {
		return backend.SetOptions{TTL: ttl, Tags: tags}
	}
	n := 0
	run := func(name, target string, first backend.SetOptions, racing backend.SetOptions, op func(key string) error) {
		t.Helper()
		n++
		key := fmt.Sprintf("%sk%d", prefix, n)
		if err := a.Set(ctx, key, []byte("v1"), first); err != nil {
			t.Fatal(err)
		}
		hc.arm(target, func() {
			if err := b.Set(ctx, key, []byte("v2"), racing); err != nil {
				t.Error(err)
			}
		})
		if err := op(key); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		hc.mu.Lock()
		fired := hc.fired
		hc.fn = nil
		hc.mu.Unlock()
		if !fired {
			t.Fatalf("%s: no %s was sent", name, target)
		}
		assertIndexed(t, raw, key, fmt.Sprintf("%s, Set before %s", name, target))
	}
	invalidate := func(string) error { _, err := a.InvalidateTags(ctx, []string{tagA}); return err }
	for _, target := range []string{"SMEMBERS", "GETRANGE", "UNLINK", "SREM"} {
		run("InvalidateTags", target, forever(tagA), forever(tagA), invalidate)
		run("InvalidateTags", target, forever(tagA), expiring(time.Minute, tagA), invalidate)
	}
	del := func(key string) error { _, err := a.Delete(ctx, key); return err }
	for _, target := range []string{"GETRANGE", "SREM"} {
		run("Delete", target, forever(tagA), forever(tagA), del)
	}
	persist := func(key string) error { _, err := a.Expire(ctx, key, backend.NoExpiry); return err }
	for _, target := range []string{"PERSIST", "PEXPIRETIME", "SADD"} {
		run("Expire(NoExpiry)", target, expiring(time.Minute, tagA), expiring(300*time.Millisecond, tagB), persist)
	}
	expire := func(key string) error { _, err := a.Expire(ctx, key, time.Minute); return err }
	for _, target := range []string{"PEXPIRE", "PEXPIRETIME", "ZADD", "SREM"} {
		run("Expire(1m)", target, forever(tagA), forever(tagA), expire)
	}
	// A Set with a later expiry landing between Expire's read and its
	// index write: the index keeps the later score.
	for _, target := range []string{"PEXPIRETIME", "ZADD"} {
		run("Expire(1m)", target, expiring(time.Minute, tagA), expiring(time.Hour, tagA), expire)
	}

	// An InvalidateTags that starts while another is between its reads
	// and its deletes still deletes the entry before it returns.
	for _, target := range []string{"GETRANGE", "UNLINK", "SREM"} {
		n++
		key := fmt.Sprintf("%sk%d", prefix, n)
		if err := a.Set(ctx, key, []byte("v"), forever(tagA)); err != nil {
			t.Fatal(err)
		}
		hc.arm(target, func() {
			if _, err := b.InvalidateTags(ctx, []string{tagA}); err != nil {
				t.Error(err)
			}
			if ok, err := storeHas(ctx, b, key); err != nil || ok {
				t.Errorf("InvalidateTags during another's (before its %s) returned with the entry live: Exists = %v, %v", target, ok, err)
			}
		})
		if err := invalidate(key); err != nil {
			t.Fatal(err)
		}
		hc.mu.Lock()
		fired := hc.fired
		hc.fn = nil
		hc.mu.Unlock()
		if !fired {
			t.Fatalf("InvalidateTags: no %s was sent", target)
		}
	}
}

// TestPersistentTagSetsBounded writes entries without expiry under a tag
// and re-sets most of them with a TTL and no tags, which leaves stale
// members in the tag's persistent set that no Delete or invalidation
// removes: the sweep keeps the set within about twice its live members,
// and never drops a live one.
func TestPersistentTagSetsBounded(t *testing.T) {
	srv := testserver.SharedRedis(t)
	ctx := context.Background()
	s, err := New(Options{Addrs: []string{srv.Addr}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var rc rueidis.Client
	s.As(&rc)
	prefix := fmt.Sprintf("yokedcache:sweep%d:", time.Now().UnixNano())
	tag := prefix + "\xfftag:t"
	const n = 3000
	var live []string
	for i := range n {
		key := fmt.Sprintf("%sk%d", prefix, i)
		if err := s.Set(ctx, key, []byte("v"), backend.SetOptions{Tags: []string{tag}}); err != nil {
			t.Fatal(err)
		}
		if i%10 == 0 {
			live = append(live, key)
			continue
		}
		if err := s.Set(ctx, key, []byte("v"), backend.SetOptions{TTL: time.Minute}); err != nil {
			t.Fatal(err)
		}
	}
	size, err := rc.Do(ctx, rc.B().Scard().Key(persistentTagKey(tag)).Build()).AsInt64()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d entries written without expiry, %d still tagged: persistent set holds %d", n, len(live), size)
	if bound := int64(2*len(live) + 2*sweepSample); size > bound {
		t.Errorf("persistent set holds %d members for %d live entries; want at most %d", size, len(live), bound)
	}
	for _, k := range live {
		assertIndexed(t, rc, k, "after the sweeps")
	}

	// With no more writes, the background sweep empties the set of the
	// stale members, sweepIdleSample at a time, and then forgets the tag.
	for _, k := range live {
		if err := s.Set(ctx, k, []byte("v"), backend.SetOptions{TTL: time.Minute}); err != nil {
			t.Fatal(err)
		}
	}
	passes := int((size + sweepIdleSample - 1) / sweepIdleSample)
	for range passes {
		if err := s.sweepIdle(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if left, err := rc.Do(ctx, rc.B().Scard().Key(persistentTagKey(tag)).Build()).AsInt64(); err != nil || left != 0 {
		t.Errorf("after %d background passes the set holds %d stale members (%v); want 0", passes, left, err)
	}
	if err := s.sweepIdle(ctx); err != nil {
		t.Fatal(err)
	}
	s.sweep.mu.Lock()
	_, remembered := s.sweep.tags[tag]
	s.sweep.mu.Unlock()
	if remembered {
		t.Error("the background sweep still remembers a tag whose set is empty")
	}
}

// storeHas reports whether b holds a live value under the stored key
// (what a removed Exists method used to answer), by reading it.
func storeHas(ctx context.Context, b backend.Backend, key string) (bool, error) {
	_, err := b.Get(ctx, key)
	if errors.Is(err, backend.ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}
