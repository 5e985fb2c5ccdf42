package redis_test

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/rueidis"
	"go.uber.org/goleak"

	"github.com/yokedcache/yokedcache/backend"
	"github.com/yokedcache/yokedcache/backend/redis"
	"github.com/yokedcache/yokedcache/internal/testserver"
)

// Generous deadlines: the machine running the tests may be busy.
// Tests that check deliveries use a long PING timeout: on a loaded
// machine a PING slower than the default 1 s would reconnect (with a
// Reset, which the contract allows in place of the deliveries missed).
const (
	trackWait       = 10 * time.Second
	pollEvery       = 5 * time.Millisecond
	busyPingTimeout = 5 * time.Second
)

// collector is a TrackHandler that records what it receives.
type collector struct {
	mu     sync.Mutex
	keys   map[string]int
	resets int
}

func newCollector() *collector { return &collector{keys: make(map[string]int)} }

func (c *collector) handler() backend.TrackHandler {
	return backend.TrackHandler{
		Keys: func(keys []string) {
			c.mu.Lock()
			for _, k := range keys {
				c.keys[k]++
			}
			c.mu.Unlock()
		},
		Reset: func() {
			c.mu.Lock()
			c.resets++
			c.mu.Unlock()
		},
	}
}

func (c *collector) has(k string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.keys[k] > 0
}

func (c *collector) resetCount() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.resets
}

// eventually polls cond until it holds or trackWait passes.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(trackWait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, trackWait)
		}
		time.Sleep(pollEvery)
	}
}

func waitLive(t *testing.T, tr backend.Tracking, mode string) {
	t.Helper()
	eventually(t, "tracking live in mode "+mode, func() bool {
		st := tr.Status()
		return st.Live && st.Mode == mode
	})
}

func newStore(t *testing.T, o redis.Options) *redis.Store {
	t.Helper()
	st, err := redis.New(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func set(t *testing.T, st *redis.Store, key string) {
	t.Helper()
	if err := st.Set(t.Context(), key, []byte("v"), backend.SetOptions{TTL: time.Minute}); err != nil {
		t.Fatalf("Set(%q): %v", key, err)
	}
}

func TestTrackTrackingStandalone(t *testing.T) {
	srv := testserver.StartRedis(t, testserver.RedisOptions{})
	o := redis.Options{Addrs: []string{srv.Addr}, TrackPingTimeout: busyPingTimeout}
	reader := newStore(t, o)
	writer := newStore(t, o)
	col, tr := follow(t, reader, backend.TrackModeTracking)
	if col.resetCount() < 1 {
		t.Fatal("no Reset before going live")
	}

	// Another Store writes.
	set(t, writer, "yokedcache:a")
	eventually(t, "key written by another Store delivered", func() bool { return col.has("yokedcache:a") })
	if _, err := writer.Delete(t.Context(), "yokedcache:a"); err != nil {
		t.Fatal(err)
	}
	// A client outside yokedcache writes: seen too, within a second.
	rc, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{srv.Addr}, DisableCache: true, ForceSingleClient: true})
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	start := time.Now()
	if err := rc.Do(t.Context(), rc.B().Set().Key("yokedcache:raw").Value("x").Build()).Error(); err != nil {
		t.Fatal(err)
	}
	eventually(t, "key written by a raw client delivered", func() bool { return col.has("yokedcache:raw") })
	if d := time.Since(start); d > time.Second {
		t.Logf("raw write delivered after %v (busy machine?)", d)
	}
	// Keys outside the prefix, and internal keys, are not delivered.
	if err := rc.Do(t.Context(), rc.B().Set().Key("other:x").Value("x").Build()).Error(); err != nil {
		t.Fatal(err)
	}
	if err := rc.Do(t.Context(), rc.B().Set().Key("yokedcache:\xffinternal").Value("x").Build()).Error(); err != nil {
		t.Fatal(err)
	}
	set(t, writer, "yokedcache:after")
	eventually(t, "marker delivered", func() bool { return col.has("yokedcache:after") })
	if col.has("other:x") || col.has("yokedcache:\xffinternal") {
		t.Fatal("a key outside the prefix or an internal key was delivered")
	}
	// FLUSHALL resets.
	before := col.resetCount()
	if err := srv.FlushAll(t.Context()); err != nil {
		t.Fatal(err)
	}
	eventually(t, "Reset after FLUSHALL", func() bool { return col.resetCount() > before })
	st := tr.Status()
	if !st.Live || st.Mode != backend.TrackModeTracking || st.Notifications < 4 || st.Lag != 0 {
		t.Fatalf("Status = %+v", st)
	}
}

// A killed connection: Reset, not live, then live again after the
// reconnect (Reset again), and notifications flow again.
func TestTrackConnectionKilled(t *testing.T) {
	srv := testserver.StartRedis(t, testserver.RedisOptions{})
	o := redis.Options{Addrs: []string{srv.Addr}, TrackPingTimeout: busyPingTimeout}
	reader := newStore(t, o)
	writer := newStore(t, o)
	col, tr := follow(t, reader, backend.TrackModeTracking)
	before := col.resetCount()
	if _, err := srv.Do(t.Context(), "CLIENT", "KILL", "TYPE", "normal"); err != nil {
		t.Fatal(err)
	}
	// One Reset when the connection went, one when it came back.
	eventually(t, "two Resets after the kill", func() bool { return col.resetCount() >= before+2 })
	waitLive(t, tr, backend.TrackModeTracking)
	if st := tr.Status(); st.Err == nil {
		t.Fatalf("Status after a lost connection = %+v; want Err", st)
	}
	set(t, writer, "yokedcache:again")
	eventually(t, "delivery after the reconnect", func() bool { return col.has("yokedcache:again") })
}

// A hung server (SIGSTOP) is detected by the PINGs: not live while it
// hangs, live again after it resumes.
func TestTrackPartition(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: hangs a server")
	}
	srv := testserver.StartRedis(t, testserver.RedisOptions{})
	reader := newStore(t, redis.Options{Addrs: []string{srv.Addr}, TrackPingInterval: 100 * time.Millisecond,
		TrackPingTimeout: 300 * time.Millisecond, ConnectTimeout: time.Second, SocketTimeout: time.Second})
	col, tr := follow(t, reader, backend.TrackModeTracking)
	before := col.resetCount()
	srv.Pause()
	paused := time.Now()
	resumed := false
	defer func() {
		if !resumed {
			srv.Resume()
		}
	}()
	eventually(t, "not live while the server hangs", func() bool { return !tr.Status().Live })
	d := time.Since(paused)
	t.Logf("partition detected after %v", d)
	// Nominally ping interval + timeout (0.4 s); generous for a busy machine.
	if d > 4*time.Second {
		t.Errorf("partition detected after %v; want about 0.4 s", d)
	}
	if col.resetCount() <= before {
		t.Fatal("no Reset when the partition was detected")
	}
	srv.Resume()
	resumed = true
	waitLive(t, tr, backend.TrackModeTracking)
}

// Track never dials: on a Store whose server is down it returns at once
// and goes live once the server is up.
func TestTrackLazyConnect(t *testing.T) {
	srv := testserver.StartRedis(t, testserver.RedisOptions{})
	srv.Stop()
	reader := newStore(t, redis.Options{Addrs: []string{srv.Addr}, ConnectTimeout: time.Second})
	col := newCollector()
	start := time.Now()
	tr, err := reader.Track("yokedcache:", col.handler())
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Stop()
	if d := time.Since(start); d > 500*time.Millisecond {
		t.Fatalf("Track took %v with the server down", d)
	}
	eventually(t, "a failed dial recorded", func() bool { return tr.Status().Err != nil })
	if st := tr.Status(); st.Live || st.Mode != "" {
		t.Fatalf("Status with the server down = %+v; want not live, no mode yet", st)
	}
	srv.Start()
	waitLive(t, tr, backend.TrackModeTracking)
}

// Close stops the trackings and leaves no goroutine; Track after Close
// fails with ErrClosed.
func TestTrackCloseStops(t *testing.T) {
	srv := testserver.StartRedis(t, testserver.RedisOptions{})
	opt := goleak.IgnoreCurrent()
	st, err := redis.New(redis.Options{Addrs: []string{srv.Addr}})
	if err != nil {
		t.Fatal(err)
	}
	col := newCollector()
	tr, err := st.Track("yokedcache:", col.handler())
	if err != nil {
		t.Fatal(err)
	}
	waitLive(t, tr, backend.TrackModeTracking)
	tr2, err := st.Track("yokedcache:", col.handler())
	if err != nil {
		t.Fatal(err)
	}
	tr2.Stop()
	tr2.Stop() // twice is fine
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	if s := tr.Status(); s.Live {
		t.Fatalf("Status after Close = %+v", s)
	}
	tr.Stop()
	if _, err := st.Track("yokedcache:", col.handler()); !errors.Is(err, backend.ErrClosed) {
		t.Fatalf("Track after Close = %v; want ErrClosed", err)
	}
	goleak.VerifyNone(t, opt)
}

// The minimal ACL user may not run CLIENT TRACKING: Track falls back to
// the invalidation stream, which Stores publishing their writes feed.
func TestTrackStreamFallbackACL(t *testing.T) {
	srv, o, reader, writer, col, tr := streamSetup(t)
	plain := newStore(t, o)
	ctx := t.Context()

	set(t, writer, "yokedcache:a")
	eventually(t, "Set through a publishing Store delivered", func() bool { return col.has("yokedcache:a") })
	if err := writer.SetMany(ctx, []backend.Item{
		{Key: "yokedcache:m1", Value: []byte("1"), SetOptions: backend.SetOptions{TTL: time.Minute, Tags: []string{"yokedcache:\xfftag:t"}}},
		{Key: "yokedcache:m2", Value: []byte("2"), SetOptions: backend.SetOptions{TTL: time.Minute}},
	}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "SetMany delivered", func() bool { return col.has("yokedcache:m1") && col.has("yokedcache:m2") })
	// The reader's own Store publishes too, now that it is in stream mode.
	set(t, reader, "yokedcache:own")
	eventually(t, "the stream-mode Store's own write delivered", func() bool { return col.has("yokedcache:own") })

	// Deletes, expiry changes, tag and pattern invalidations.
	col.mu.Lock()
	clear(col.keys)
	col.mu.Unlock()
	if _, err := writer.Delete(ctx, "yokedcache:a"); err != nil {
		t.Fatal(err)
	}
	if _, err := writer.Expire(ctx, "yokedcache:m2", time.Hour); err != nil {
		t.Fatal(err)
	}
	if n, err := writer.InvalidateTags(ctx, []string{"yokedcache:\xfftag:t"}); err != nil || n != 1 {
		t.Fatalf("InvalidateTags = %d, %v", n, err)
	}
	set(t, plain, "yokedcache:p1")
	if n, err := writer.DeletePattern(ctx, "yokedcache:p*"); err != nil || n != 1 {
		t.Fatalf("DeletePattern = %d, %v", n, err)
	}
	for _, k := range []string{"yokedcache:a", "yokedcache:m2", "yokedcache:m1", "yokedcache:p1"} {
		eventually(t, k+" delivered", func() bool { return col.has(k) })
	}
	// The stream is internal: Scan skips it, DeletePattern keeps it.
	for k, err := range writer.Scan(ctx, "yokedcache:*") {
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(k, "near") {
			t.Fatalf("Scan yielded %q", k)
		}
	}
	// Flush resets every reader.
	before := col.resetCount()
	if err := writer.Flush(ctx, "yokedcache:"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "Reset after Flush", func() bool { return col.resetCount() > before })
	set(t, writer, "yokedcache:after-flush")
	eventually(t, "delivery after Flush", func() bool { return col.has("yokedcache:after-flush") })
	// FLUSHALL deletes the stream: Reset, then the recreated stream is
	// read from its start.
	before = col.resetCount()
	if err := srv.FlushAll(ctx); err != nil {
		t.Fatal(err)
	}
	set(t, writer, "yokedcache:after-flushall")
	eventually(t, "delivery after FLUSHALL", func() bool { return col.has("yokedcache:after-flushall") })
	eventually(t, "Reset after FLUSHALL", func() bool { return col.resetCount() > before })
	st := tr.Status()
	if !st.Live || st.Mode != backend.TrackModeStream || st.Lag < 0 || st.Notifications < 7 {
		t.Fatalf("Status = %+v", st)
	}
	t.Logf("stream status: %+v", st)
}

// Redis Cluster: one tracking connection per master, so writes on every
// master are delivered.
func TestTrackCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: cluster")
	}
	cl := testserver.StartCluster(t, 3)
	o := redis.Options{Mode: redis.Cluster, Addrs: cl.Addrs, TrackPingTimeout: busyPingTimeout}
	reader := newStore(t, o)
	writer := newStore(t, o)
	col, _ := follow(t, reader, backend.TrackModeTracking)
	var keys []string
	for i := range 60 {
		k := fmt.Sprint("yokedcache:k", i)
		keys = append(keys, k)
		set(t, writer, k)
	}
	for _, n := range cl.Nodes {
		v, err := n.Do(t.Context(), "DBSIZE")
		if err != nil || v.(int64) == 0 {
			t.Fatalf("node %s holds %v keys (%v); want some", n.Addr, v, err)
		}
	}
	for _, k := range keys {
		eventually(t, k+" delivered", func() bool { return col.has(k) })
	}
}

// Stream mode on Cluster: the minimal ACL user (with CLUSTER SLOTS) falls
// back to the stream; publishing writes reach it.
func TestTrackStreamCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: cluster")
	}
	cl := testserver.StartClusterOptions(t, testserver.ClusterOptions{Masters: 3, Users: []string{aclUser + " +cluster|slots"}})
	o := redis.Options{Mode: redis.Cluster, Addrs: cl.Addrs, Username: "yokedcache", Password: "password", TrackPingTimeout: busyPingTimeout}
	reader := newStore(t, o)
	po := o
	po.PublishInvalidations = true
	writer := newStore(t, po)
	col, _ := follow(t, reader, backend.TrackModeStream)
	var keys []string
	var items []backend.Item
	for i := range 30 {
		k := fmt.Sprint("yokedcache:k", i)
		keys = append(keys, k)
		items = append(items, backend.Item{Key: k, Value: []byte("v"), SetOptions: backend.SetOptions{TTL: time.Minute}})
	}
	set(t, writer, "yokedcache:one")
	if err := writer.SetMany(t.Context(), items); err != nil {
		t.Fatal(err)
	}
	for _, k := range append(keys, "yokedcache:one") {
		eventually(t, k+" delivered", func() bool { return col.has(k) })
	}
	col.mu.Lock()
	clear(col.keys)
	col.mu.Unlock()
	if n, err := writer.DeleteMany(t.Context(), keys); err != nil || n != 30 {
		t.Fatalf("DeleteMany = %d, %v", n, err)
	}
	for _, k := range keys {
		eventually(t, k+" delete delivered", func() bool { return col.has(k) })
	}
}

// A server restart: not live while it is down, live again (with a Reset)
// once it is back, and notifications flow again.
func TestTrackServerRestart(t *testing.T) {
	srv := testserver.StartRedis(t, testserver.RedisOptions{})
	o := redis.Options{Addrs: []string{srv.Addr}, ConnectTimeout: time.Second, TrackPingTimeout: busyPingTimeout}
	reader := newStore(t, o)
	writer := newStore(t, o)
	col, tr := follow(t, reader, backend.TrackModeTracking)
	srv.Stop()
	eventually(t, "not live while the server is down", func() bool { return !tr.Status().Live })
	before := col.resetCount()
	srv.Start()
	waitLive(t, tr, backend.TrackModeTracking)
	if col.resetCount() <= before {
		t.Fatal("no Reset when going live again")
	}
	eventually(t, "delivery after the restart", func() bool {
		// The writer's first command after the restart may meet its
		// broken connection: retry.
		if err := writer.Set(t.Context(), "yokedcache:back", []byte("v"), backend.SetOptions{TTL: time.Minute}); err != nil {
			return false
		}
		return col.has("yokedcache:back")
	})
}

// A stream deleted and recreated with an entry whose ID equals the last
// one the reader saw (FLUSHALL and a write within the same millisecond):
// the reader notices by the stream's entries-added counter, resets and
// reads the new stream from its start.
func TestTrackStreamRecreatedSameID(t *testing.T) {
	srv, _, _, writer, col, _ := streamSetup(t)
	ctx := t.Context()
	const stream = "yokedcache:\xffnear:stream"
	// Several entries, so that the counter has grown past 1.
	for _, k := range []string{"yokedcache:a", "yokedcache:b", "yokedcache:c"} {
		set(t, writer, k)
		eventually(t, k+" delivered", func() bool { return col.has(k) })
	}
	reply, err := srv.Do(ctx, "XREVRANGE", stream, "+", "-", "COUNT", "1")
	if err != nil {
		t.Fatal(err)
	}
	entries, _ := reply.([]any)
	if len(entries) != 1 {
		t.Fatalf("XREVRANGE = %v", reply)
	}
	lastID, _ := entries[0].([]any)[0].(string)
	before := col.resetCount()
	if err := srv.FlushAll(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := srv.Do(ctx, "XADD", stream, lastID, "k", "yokedcache:same-id"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "delivery from the recreated stream", func() bool { return col.has("yokedcache:same-id") })
	eventually(t, "Reset after the recreation", func() bool { return col.resetCount() > before })
}

// streamSetup starts a server with the minimal ACL user and returns it,
// the user's Options, a reader Store whose tracking (stopped at cleanup)
// is live in stream mode with a collector, and a writer Store publishing
// its writes.
func streamSetup(t *testing.T) (*testserver.Redis, redis.Options, *redis.Store, *redis.Store, *collector, backend.Tracking) {
	t.Helper()
	srv := testserver.StartRedis(t, testserver.RedisOptions{Users: []string{aclUser}})
	o := redis.Options{Addrs: []string{srv.Addr}, Username: "yokedcache", Password: "password", TrackPingTimeout: busyPingTimeout}
	reader := newStore(t, o)
	po := o
	po.PublishInvalidations = true
	writer := newStore(t, po)
	col, tr := follow(t, reader, backend.TrackModeStream)
	return srv, o, reader, writer, col, tr
}

// follow tracks "yokedcache:" on reader with a new collector until the
// test ends, and waits until the tracking is live in mode.
func follow(t *testing.T, reader *redis.Store, mode string) (*collector, backend.Tracking) {
	t.Helper()
	col := newCollector()
	tr, err := reader.Track("yokedcache:", col.handler())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tr.Stop)
	waitLive(t, tr, mode)
	return col, tr
}
