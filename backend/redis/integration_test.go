package redis_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/rueidis"
	"go.uber.org/goleak"

	"github.com/yokedcache/yokedcache"
	"github.com/yokedcache/yokedcache/backend"
	"github.com/yokedcache/yokedcache/backend/backendtest"
	"github.com/yokedcache/yokedcache/backend/redis"
	"github.com/yokedcache/yokedcache/internal/testserver"
)

// newCache opens a Cache on a redis URL with the given prefix.
func newCache(t *testing.T, rawURL, prefix string) *yokedcache.Cache {
	t.Helper()
	o, err := redis.ParseURL(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	b, err := redis.New(o)
	if err != nil {
		t.Fatal(err)
	}
	c, err := yokedcache.New(yokedcache.Config{Backend: b, KeyPrefix: prefix, TTLJitterPercent: yokedcache.NoJitter})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// exercise runs every Cache operation that reaches the backend and fails
// on any error.
func exercise(t *testing.T, c *yokedcache.Cache) {
	t.Helper()
	ctx := t.Context()
	must := func(err error, what string) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	must(c.Ping(ctx), "Ping")
	must(c.Set(ctx, "user:1", "one", yokedcache.WithTags("users", "u1")), "Set tagged")
	must(c.Set(ctx, "user:2", "two", yokedcache.WithTags("users")), "Set tagged")
	must(c.Set(ctx, "plain", "p"), "Set")
	must(c.Set(ctx, "forever", "f", yokedcache.WithTTL(yokedcache.NoExpiry), yokedcache.WithTags("forever")), "Set no expiry tagged")
	must(c.SetMany(ctx, map[string]any{"m:1": 1, "m:2": 2}, yokedcache.WithTags("m")), "SetMany")
	var s string
	must(c.Get(ctx, "user:1", &s), "Get")
	if s != "one" {
		t.Fatalf("Get = %q", s)
	}
	vals, err := c.GetMany(ctx, []string{"user:1", "user:2", "nope"})
	must(err, "GetMany")
	if len(vals) != 2 {
		t.Fatalf("GetMany = %d values", len(vals))
	}
	ok, err := c.Exists(ctx, "plain")
	must(err, "Exists")
	if !ok {
		t.Fatal("Exists(plain) = false")
	}
	_, err = c.TTL(ctx, "plain")
	must(err, "TTL")
	_, err = c.Expire(ctx, "user:2", time.Hour)
	must(err, "Expire")
	_, err = c.Expire(ctx, "plain", yokedcache.NoExpiry)
	must(err, "Expire NoExpiry (PERSIST)")
	if d, err := c.TTL(ctx, "plain"); err != nil || d != yokedcache.NoExpiry {
		t.Fatalf("TTL after PERSIST = %v, %v", d, err)
	}
	n, err := c.InvalidateTags(ctx, "users", "forever")
	must(err, "InvalidateTags")
	if n != 3 {
		t.Fatalf("InvalidateTags = %d; want 3", n)
	}
	if err := c.Get(ctx, "user:2", &s); !errors.Is(err, yokedcache.ErrNotFound) {
		t.Fatalf("Get after InvalidateTags = %v", err)
	}
	var keys []string
	for k, err := range c.Keys(ctx, "m:*") {
		must(err, "Keys")
		keys = append(keys, k)
	}
	if len(keys) != 2 {
		t.Fatalf("Keys(m:*) = %q", keys)
	}
	n, err = c.InvalidatePattern(ctx, "m:*")
	must(err, "InvalidatePattern")
	if n != 2 {
		t.Fatalf("InvalidatePattern = %d", n)
	}
	_, err = c.Delete(ctx, "plain")
	must(err, "Delete")
	_, err = c.FuzzySearch(ctx, "user")
	must(err, "FuzzySearch")
	st, err := c.Stats(ctx)
	must(err, "Stats")
	if st.Keys < 0 {
		t.Fatalf("Stats.Keys = %d", st.Keys)
	}
	r := c.DetailedHealthCheck(ctx)
	if r.Status != "healthy" {
		t.Fatalf("DetailedHealthCheck = %+v", r)
	}
	if r.Details["redis_connected"] != true || r.Details["server_version"] == nil || r.Details["role"] == nil {
		t.Fatalf("health details = %+v", r.Details)
	}
	pool, _ := r.Details["connection_pool"].(map[string]any)
	for _, k := range []string{"hits", "misses", "timeouts", "total", "idle"} {
		if _, ok := pool[k]; !ok {
			t.Fatalf("connection_pool lacks %q: %+v", k, pool)
		}
	}
	must(c.Flush(ctx), "Flush")
	st, err = c.Stats(ctx)
	must(err, "Stats")
	if st.Scope == "prefix" && (st.Keys != 0 || st.Extra["internal_keys"] != int64(0)) {
		t.Fatalf("after Flush: %d keys, %v internal keys", st.Keys, st.Extra["internal_keys"])
	}
}

func TestStandaloneOperations(t *testing.T) {
	srv := testserver.StartRedis(t, testserver.RedisOptions{Password: "pw"})
	exercise(t, newCache(t, srv.URL(), "yokedcache"))
}

// TestMinimalACL uses exactly the reference guide's ACL line.
func TestMinimalACL(t *testing.T) {
	srv := testserver.StartRedis(t, testserver.RedisOptions{Users: []string{aclUser}})
	u := "redis://yokedcache:password@" + srv.Addr + "/0"
	c := newCache(t, u, "yokedcache")
	exercise(t, c)
	// The refusals SEMANTICS.md lists really happen for this user, so the
	// test above proves the fallbacks.
	for _, cmd := range [][]string{{"PING"}, {"INFO"}, {"CLIENT", "SETNAME", "x"}} {
		if _, err := srv.DoAs(t.Context(), "yokedcache", "password", cmd...); err == nil || !strings.Contains(err.Error(), "NOPERM") {
			t.Fatalf("%v as the minimal user = %v; want NOPERM", cmd, err)
		}
	}
	r := c.DetailedHealthCheck(t.Context())
	if r.Details["server_info_source"] != "HELLO (INFO refused)" {
		t.Fatalf("server_info_source = %v", r.Details["server_info_source"])
	}
	// The sweep of the tag sets of entries without expiry (SRANDMEMBER,
	// then SREM and a re-read of the stale members) works for this user:
	// nothing is logged and the stale members go.
	var logs strings.Builder
	o, err := redis.ParseURL(u)
	if err != nil {
		t.Fatal(err)
	}
	o.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	st, err := redis.New(o)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	tag := "yokedcache:\xfftag:sweep"
	items := func(from int, opts backend.SetOptions) []backend.Item {
		var its []backend.Item
		for i := from; i < from+64; i++ {
			its = append(its, backend.Item{Key: fmt.Sprint("yokedcache:sweep:", i), Value: []byte("v"), SetOptions: opts})
		}
		return its
	}
	for _, batch := range [][]backend.Item{
		items(0, backend.SetOptions{Tags: []string{tag}}),
		items(0, backend.SetOptions{TTL: time.Minute}), // all 64 stale now
		items(64, backend.SetOptions{Tags: []string{tag}}),
	} {
		if err := st.SetMany(t.Context(), batch); err != nil {
			t.Fatal(err)
		}
	}
	var rc rueidis.Client
	st.As(&rc)
	if n, err := rc.Do(t.Context(), rc.B().Scard().Key(tag+"\xffp").Build()).AsInt64(); err != nil || n != 64 {
		t.Errorf("persistent tag set after the sweep: %d members (%v); want the 64 live ones", n, err)
	}
	if logs.Len() > 0 {
		t.Errorf("the sweep logged: %s", logs.String())
	}
	// A key outside the prefix is refused: the user really is minimal.
	other := newCache(t, u, "other")
	if err := other.Set(t.Context(), "k", "v"); err == nil || !strings.Contains(err.Error(), "NOPERM") {
		t.Fatalf("Set outside the ACL pattern = %v; want NOPERM", err)
	}
}

// TestConformanceACL runs the whole suite as a user with the minimal
// rights on the suite's own prefixes ("bt...").
func TestConformanceACL(t *testing.T) {
	line := strings.Replace(aclUser, "~yokedcache:*", "~bt*", 1)
	srv := testserver.StartRedis(t, testserver.RedisOptions{Users: []string{line}})
	backendtest.Run(t, harness("redis minimal ACL", func(t *testing.T) redis.Options {
		return redis.Options{Addrs: []string{srv.Addr}, Username: "yokedcache", Password: "password"}
	}))
}

func tlsURL(srv *testserver.Redis, ca string, client bool) string {
	q := url.Values{"ssl_ca_certs": {ca}}
	if client {
		q.Set("ssl_certfile", srv.TLS.ClientCertFile)
		q.Set("ssl_keyfile", srv.TLS.ClientKeyFile)
	}
	return "rediss://localhost:" + strconv.Itoa(srv.Port()) + "/0?" + q.Encode()
}

func TestTLS(t *testing.T) {
	srv := testserver.StartRedis(t, testserver.RedisOptions{TLS: true, Args: []string{"--tls-auth-clients", "yes"}})
	t.Run("mutual TLS with verification", func(t *testing.T) {
		exercise(t, newCache(t, tlsURL(srv, srv.TLS.CAFile, true), "yokedcache"))
	})
	t.Run("wrong CA fails closed", func(t *testing.T) {
		other, err := testserver.GenerateTLS(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		o, err := redis.ParseURL(tlsURL(srv, other.CAFile, true))
		if err != nil {
			t.Fatal(err)
		}
		b, err := redis.New(o)
		if err == nil {
			defer b.Close()
			err = b.Ping(t.Context())
		}
		if err == nil || !strings.Contains(err.Error(), "certificate") {
			t.Fatalf("connecting with a wrong CA = %v; want a certificate error", err)
		}
	})
	t.Run("wrong host name fails closed", func(t *testing.T) {
		u := strings.Replace(tlsURL(srv, srv.TLS.CAFile, true), "localhost", "127.0.0.1", 1) + "&ssl_server_name=wrong.example"
		o, err := redis.ParseURL(u)
		if err != nil {
			t.Fatal(err)
		}
		b, err := redis.New(o)
		if err == nil { // New does not dial: the first command fails
			defer b.Close()
			err = b.Ping(t.Context())
		}
		if err == nil {
			t.Fatal("connected although the certificate is not for the server name")
		}
	})
	t.Run("client certificate required", func(t *testing.T) {
		o, err := redis.ParseURL(tlsURL(srv, srv.TLS.CAFile, false))
		if err != nil {
			t.Fatal(err)
		}
		b, err := redis.New(o)
		if err == nil {
			defer b.Close()
			err = b.Ping(t.Context())
		}
		if err == nil {
			t.Fatal("connected without the client certificate the server requires")
		}
	})
}

func TestServerDownAndRecovery(t *testing.T) {
	srv := testserver.StartRedis(t, testserver.RedisOptions{})
	b, err := redis.New(redis.Options{Addrs: []string{srv.Addr}, SocketTimeout: 300 * time.Millisecond, ConnectTimeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	c, err := yokedcache.New(yokedcache.Config{Backend: b})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := t.Context()
	if err := c.Set(ctx, "k", "v"); err != nil {
		t.Fatal(err)
	}
	srv.Stop()
	for i := range 3 {
		start := time.Now()
		var s string
		err := c.Get(ctx, "k", &s)
		if err == nil || errors.Is(err, yokedcache.ErrNotFound) {
			t.Fatalf("Get with the server down = %v; want a connection error", err)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Fatalf("attempt %d: Get took %v with the server down; want an error within the socket timeout", i, d)
		}
	}
	srv.Start()
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := c.Set(ctx, "k", "again")
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the same Cache did not recover after the server restarted: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	var s string
	if err := c.Get(ctx, "k", &s); err != nil || s != "again" {
		t.Fatalf("Get after recovery = %q, %v", s, err)
	}
}

func TestSentinelFailover(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: sentinel failover")
	}
	s := testserver.StartSentinel(t, testserver.SentinelOptions{Password: "pw", SentinelPassword: "spw"})
	u := fmt.Sprintf("redis+sentinel://:pw@%s/%s/0?sentinel_password=spw&socket_timeout=500ms&socket_connect_timeout=500ms",
		strings.Join(s.Addrs, ","), s.MasterName)
	c := newCache(t, u, "yokedcache")
	ctx := t.Context()
	if err := c.Set(ctx, "before", "v"); err != nil {
		t.Fatal(err)
	}
	old, err := s.MasterAddr(ctx)
	if err != nil {
		t.Fatal(err)
	}
	s.RedisByAddr(old).Stop()
	start := time.Now()
	const bound = 30 * time.Second
	for {
		opCtx, cancel := context.WithTimeout(ctx, time.Second)
		err := c.Set(opCtx, "after", "v")
		cancel()
		if err == nil {
			break
		}
		if time.Since(start) > bound {
			t.Fatalf("no successful Set within %v of stopping the master: %v", bound, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("writes succeeded again %v after the master stopped", time.Since(start).Round(time.Millisecond))
	if now, err := s.MasterAddr(ctx); err != nil || now == old {
		t.Fatalf("master after failover = %q, %v (old %q)", now, err, old)
	}
	var v string
	if err := c.Get(ctx, "after", &v); err != nil || v != "v" {
		t.Fatalf("Get after failover = %q, %v", v, err)
	}
}

func TestClusterAcrossSlots(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: cluster")
	}
	cl := testserver.StartCluster(t, 3)
	c := newCache(t, "redis+cluster://"+strings.Join(cl.Addrs, ","), "yokedcache")
	ctx := t.Context()
	items := map[string]any{}
	var keys []string
	for i := range 300 {
		k := fmt.Sprint("k", i)
		items[k] = i
		keys = append(keys, k)
	}
	if err := c.SetMany(ctx, items, yokedcache.WithTags("all")); err != nil {
		t.Fatal(err)
	}
	// The keys landed on every master.
	for _, n := range cl.Nodes {
		v, err := n.Do(ctx, "DBSIZE")
		if err != nil || v.(int64) == 0 {
			t.Fatalf("node %s holds %v keys (%v); want some", n.Addr, v, err)
		}
	}
	vals, err := c.GetMany(ctx, keys)
	if err != nil || len(vals) != 300 {
		t.Fatalf("GetMany across slots = %d, %v", len(vals), err)
	}
	count := 0
	for _, err := range c.Keys(ctx, "*") {
		if err != nil {
			t.Fatal(err)
		}
		count++
	}
	if count != 300 {
		t.Fatalf("Keys over every master = %d; want 300", count)
	}
	st, err := c.Stats(ctx)
	if err != nil || st.Keys != 300 || st.Scope != "prefix" {
		t.Fatalf("Stats = %+v, %v", st, err)
	}
	n, err := c.InvalidateTags(ctx, "all")
	if err != nil || n != 300 {
		t.Fatalf("InvalidateTags across slots = %d, %v", n, err)
	}
	if err := c.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	for _, n := range cl.Nodes {
		if v, err := n.Do(ctx, "DBSIZE"); err != nil || v.(int64) != 0 {
			t.Fatalf("node %s holds %v keys after Flush (%v)", n.Addr, v, err)
		}
	}
}

// TestTagBookkeepingBounded: after 50 000 tagged entries with a 1 s TTL
// expire, the keys and memory used for their bookkeeping are back near
// the baseline, with no sweep of ours (one SCAN, which Stats does anyway,
// lets Redis reclaim what its own expiry cycle has not reached yet).
//
// On a busy machine two things take time that have nothing to do with
// the backend, and the test allows for both without loosening its bounds:
// the writes may take longer than the TTL, so early entries expire before
// the peak is measured (the memory the entries took is therefore sampled
// after every batch and scaled to all 50 000 entries from the live key
// count); and Redis shrinks its hash tables in its cron, so the keys and
// memory are polled until they are back within the bounds or a generous
// deadline passes (INFO and DBSIZE reclaim nothing).
func TestTagBookkeepingBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: 50 000 entries")
	}
	srv := testserver.StartRedis(t, testserver.RedisOptions{})
	c := newCache(t, srv.URL(), "yokedcache")
	ctx := t.Context()
	usedMemory := func() int64 {
		info, err := srv.Info(ctx, "memory")
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range strings.Split(info, "\n") {
			if v, ok := strings.CutPrefix(strings.TrimSpace(l), "used_memory:"); ok {
				n, _ := strconv.ParseInt(v, 10, 64)
				return n
			}
		}
		t.Fatal("no used_memory")
		return 0
	}
	dbSize := func() int64 {
		v, err := srv.Do(ctx, "DBSIZE")
		if err != nil {
			t.Fatal(err)
		}
		return v.(int64)
	}
	if err := c.Set(ctx, "keep", "v", yokedcache.WithTTL(time.Hour), yokedcache.WithTags("t0")); err != nil {
		t.Fatal(err)
	}
	base := usedMemory()
	baseKeys := dbSize()
	const total, batch = 50_000, 1000
	// peakGrowth is the largest growth over the baseline seen after a
	// batch, peakLive the keys above the baseline at that moment.
	var peakGrowth, peakLive int64
	start := time.Now()
	for i := 0; i < total; i += batch {
		items := make(map[string]any, batch)
		for j := i; j < i+batch; j++ {
			items[fmt.Sprint("e:", j)] = j
		}
		if err := c.SetMany(ctx, items, yokedcache.WithTTL(time.Second), yokedcache.WithTags(fmt.Sprint("t", i/batch%10), "all")); err != nil {
			t.Fatal(err)
		}
		if g := usedMemory() - base; g > peakGrowth {
			peakGrowth, peakLive = g, dbSize()-baseKeys
		}
	}
	loadTime := time.Since(start)
	if peakLive <= 0 || peakGrowth <= 0 {
		t.Fatalf("the tagged entries took no keys (%d) or memory (%d B)", peakLive, peakGrowth)
	}
	// The memory the 50 000 entries took: the peak itself when they were
	// all live at once, else the peak scaled up by the entries missing.
	full := peakGrowth
	if peakLive < total {
		full = peakGrowth * total / peakLive
	}
	t.Logf("baseline %d keys / %d B; 50 000 tagged sets in %v, peak %d keys / %d B above the baseline (all entries: ~%d B)",
		baseKeys, base, loadTime.Round(time.Millisecond), peakLive, peakGrowth, full)
	time.Sleep(1500 * time.Millisecond)
	st, err := c.Stats(ctx) // one SCAN of the prefix
	if err != nil {
		t.Fatal(err)
	}
	// What may remain above the baseline is Redis's own main hash table,
	// which its cron shrinks lazily; our bookkeeping must be gone (keys).
	// Allow 5 % of the memory the entries took, and give Redis's expiry
	// cycle and cron up to 30 s on a loaded machine.
	limit := full / 20
	var after, afterKeys int64
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		after, afterKeys = usedMemory(), dbSize()
		if (afterKeys <= baseKeys && after-base <= limit) || time.Now().After(deadline) {
			break
		}
	}
	t.Logf("after expiry and one scan: %d keys / %d B; Stats: %d keys, %v internal", afterKeys, after, st.Keys, st.Extra["internal_keys"])
	if afterKeys > baseKeys {
		t.Fatalf("%d keys remain after the tagged entries expired; baseline %d", afterKeys, baseKeys)
	}
	if grown := after - base; grown > limit {
		t.Fatalf("used_memory is %d B above the baseline 30 s after expiry (the entries took ~%d B, limit %d B)", grown, full, limit)
	}
	var s string
	if err := c.Get(ctx, "keep", &s); err != nil {
		t.Fatalf("the long-lived tagged entry: %v", err)
	}
}

func TestAsAndExistingClient(t *testing.T) {
	srv := testserver.StartRedis(t, testserver.RedisOptions{})
	rc, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{srv.Addr}, DisableCache: true})
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	b, err := redis.New(redis.Options{Client: rc})
	if err != nil {
		t.Fatal(err)
	}
	var got rueidis.Client
	if !b.As(&got) || got != rc {
		t.Fatal("As(*rueidis.Client) did not return the client")
	}
	if b.As(nil) || b.As(new(int)) {
		t.Fatal("As of an unknown type returned true")
	}
	if err := b.Set(t.Context(), "yokedcache:x", []byte("v"), backend.SetOptions{TTL: time.Minute}); err != nil {
		t.Fatal(err)
	}
	b.Close()
	// The caller's client stays open.
	if err := rc.Do(t.Context(), rc.B().Get().Key("yokedcache:x").Build()).Error(); err != nil {
		t.Fatalf("caller's client after backend Close: %v", err)
	}
	if _, err := b.Get(t.Context(), "yokedcache:x"); !errors.Is(err, backend.ErrClosed) {
		t.Fatalf("Get after Close = %v; want ErrClosed", err)
	}
}

func TestOpenURLRegistered(t *testing.T) {
	srv := testserver.StartRedis(t, testserver.RedisOptions{Password: "hunter22"})
	b, err := backend.Open(t.Context(), srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if backend.Name(b) != "redis" {
		t.Fatalf("Name = %q", backend.Name(b))
	}
	_, err = backend.Open(t.Context(), "redis://:hunter22@"+srv.Addr+"/0?nope=1")
	if !errors.Is(err, backend.ErrInvalidConfig) || strings.Contains(err.Error(), "hunter22") {
		t.Fatalf("bad URL = %v", err)
	}
	// Wrong password: the error does not contain it either.
	wb, err := backend.Open(t.Context(), "redis://:wrongpass1@"+srv.Addr+"/0")
	if err == nil { // New does not dial: the first command fails
		defer wb.Close()
		err = wb.(backend.Pinger).Ping(t.Context())
	}
	if err == nil || strings.Contains(err.Error(), "wrongpass1") {
		t.Fatalf("wrong password = %v", err)
	}
}

func TestCloseLeavesNoGoroutines(t *testing.T) {
	srv := testserver.StartRedis(t, testserver.RedisOptions{})
	opt := goleak.IgnoreCurrent()
	b, err := redis.New(redis.Options{Addrs: []string{srv.Addr}})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Set(t.Context(), "yokedcache:k", []byte("v"), backend.SetOptions{TTL: time.Minute, Tags: []string{"yokedcache:\xfftag:t"}}); err != nil {
		t.Fatal(err)
	}
	// An entry without expiry starts the background sweep of its tag set.
	if err := b.Set(t.Context(), "yokedcache:p", []byte("v"), backend.SetOptions{Tags: []string{"yokedcache:\xfftag:t"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.InvalidateTags(t.Context(), []string{"yokedcache:\xfftag:t"}); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); !errors.Is(err, backend.ErrClosed) {
		t.Fatalf("second Close = %v; want ErrClosed", err)
	}
	goleak.VerifyNone(t, opt)
}

func TestUnixSocket(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "r.sock")
	if len(sock) > 100 {
		sock = filepath.Join(os.TempDir(), fmt.Sprintf("yc-%d.sock", time.Now().UnixNano()))
		t.Cleanup(func() { os.Remove(sock) })
	}
	testserver.StartRedis(t, testserver.RedisOptions{Password: "pw", Args: []string{"--unixsocket", sock, "--unixsocketperm", "700"}})
	c := newCache(t, "unix://:pw@"+sock+"?db=3", "yokedcache")
	if err := c.Set(t.Context(), "k", "v", yokedcache.WithTags("t")); err != nil {
		t.Fatal(err)
	}
	var s string
	if err := c.Get(t.Context(), "k", &s); err != nil || s != "v" {
		t.Fatalf("Get over a unix socket = %q, %v", s, err)
	}
}

// TestInvalidateTagsReadsCurrentTags covers how InvalidateTags judges a
// member of a tag's index by the tags stored with its current value: small
// and large values, entries without expiry, re-set or re-tagged keys,
// moved expiries, tag lists longer than the head read, and members whose
// key is gone.
func TestInvalidateTagsReadsCurrentTags(t *testing.T) {
	srv := testserver.SharedRedis(t)
	ctx := context.Background()
	prefix := fmt.Sprintf("curtags%d", time.Now().UnixNano())
	c := newCache(t, srv.URL(), prefix)
	var rc rueidis.Client
	if !c.As(&rc) {
		t.Fatal("As(*rueidis.Client) = false")
	}
	small, large := "v", strings.Repeat("x", 2048)
	set := func(k, v string, opts ...yokedcache.SetOption) {
		t.Helper()
		if err := c.Set(ctx, k, v, append([]yokedcache.SetOption{yokedcache.WithTTL(time.Minute)}, opts...)...); err != nil {
			t.Fatal(err)
		}
	}
	tagT := yokedcache.WithTags("t")
	var many []string
	for i := range 20 {
		many = append(many, fmt.Sprintf("a-rather-long-tag-name-%02d", i))
	}
	set("plain", small, tagT)
	set("plain2", small, tagT)
	set("untagged", small, tagT)
	set("untagged", small) // re-set without tags
	set("retagged", small, tagT)
	set("retagged", small, yokedcache.WithTags("u"))
	set("expired", small, tagT)
	if ok, err := c.Expire(ctx, "expired", 2*time.Minute); err != nil || !ok {
		t.Fatalf("Expire = %v, %v", ok, err)
	}
	set("big", large, tagT)
	set("bigUntagged", large, tagT)
	set("bigUntagged", small)
	set("grown", small, tagT)
	set("grown", large, tagT) // now a member of both indexes
	set("persist", small, tagT, yokedcache.WithTTL(yokedcache.NoExpiry))
	set("persistUntagged", small, tagT, yokedcache.WithTTL(yokedcache.NoExpiry))
	set("persistUntagged", small, yokedcache.WithTTL(yokedcache.NoExpiry))
	set("manytags", large, yokedcache.WithTags(append(many, "t")...))
	set("manytagsSmall", small, yokedcache.WithTags(append(many, "t")...))
	set("gone", small, tagT)
	if err := rc.Do(ctx, rc.B().Del().Key(prefix+":gone").Build()).Error(); err != nil {
		t.Fatal(err)
	}

	n, err := c.InvalidateTags(ctx, "t")
	if err != nil {
		t.Fatal(err)
	}
	deleted := []string{"plain", "plain2", "expired", "big", "grown", "persist", "manytags", "manytagsSmall"}
	if n != int64(len(deleted)) {
		t.Errorf("InvalidateTags = %d, want %d (%v)", n, len(deleted), deleted)
	}
	want := map[string]bool{"untagged": true, "retagged": true, "bigUntagged": true, "persistUntagged": true, "gone": false}
	for _, k := range deleted {
		want[k] = false
	}
	for k, w := range want {
		ok, err := c.Exists(ctx, k)
		if err != nil {
			t.Fatal(err)
		}
		if ok != w {
			t.Errorf("after InvalidateTags(t), Exists(%q) = %v, want %v", k, ok, w)
		}
	}
	// The persistent set lost its members (deleted or re-set untagged).
	tagID := prefix + ":\xfftag:t"
	if n, err := rc.Do(ctx, rc.B().Scard().Key(tagID+"\xffp").Build()).AsInt64(); err != nil || n != 0 {
		t.Errorf("persistent set of t has %d members (%v), want 0", n, err)
	}
	// Re-tagged entries are still found by their new tag.
	if n, err := c.InvalidateTags(ctx, "u"); err != nil || n != 1 {
		t.Errorf("InvalidateTags(u) = %d, %v; want 1", n, err)
	}
}

// TestStoredValueHead covers values that start with the byte that marks a
// stored tag list, with and without tags, and stored bytes that start with
// it but are malformed.
func TestStoredValueHead(t *testing.T) {
	srv := testserver.SharedRedis(t)
	ctx := context.Background()
	b, err := redis.New(redis.Options{Addrs: []string{srv.Addr}})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	prefix := fmt.Sprintf("yokedcache:head%d:", time.Now().UnixNano())
	tag := prefix + "\xfftag:a"
	vals := map[string][]byte{
		prefix + "plain":    {0xFE, 0x05, 'a'},
		prefix + "tagged":   {0xFE},
		prefix + "persist":  {0xFE, 0x00},
		prefix + "ordinary": []byte("v"),
	}
	for k, v := range vals {
		opts := backend.SetOptions{TTL: time.Minute}
		switch {
		case strings.HasSuffix(k, "tagged"):
			opts.Tags = []string{tag}
		case strings.HasSuffix(k, "persist"):
			opts = backend.SetOptions{Tags: []string{tag}}
		}
		if err := b.Set(ctx, k, v, opts); err != nil {
			t.Fatal(err)
		}
	}
	keys := []string{prefix + "plain", prefix + "tagged", prefix + "persist", prefix + "ordinary"}
	got, err := b.GetMany(ctx, keys)
	if err != nil {
		t.Fatal(err)
	}
	for i, k := range keys {
		one, err := b.Get(ctx, k)
		if err != nil || string(one) != string(vals[k]) || string(got[i]) != string(vals[k]) {
			t.Errorf("%s: Get = %q, %v; GetMany = %q; want %q", k, one, err, got[i], vals[k])
		}
	}
	if n, err := b.InvalidateTags(ctx, []string{tag}); err != nil || n != 2 {
		t.Errorf("InvalidateTags = %d, %v; want 2", n, err)
	}
	if ok, err := storeHas(ctx, b, prefix+"plain"); err != nil || !ok {
		t.Errorf("untagged value starting with the mark: Exists = %v, %v", ok, err)
	}

	// Bytes written by something else that start with the mark but are
	// malformed come back as stored, and the Cache reports them corrupt.
	var rc rueidis.Client
	b.As(&rc)
	bad := prefix + "bad"
	if err := rc.Do(ctx, rc.B().Set().Key(bad).Value("\xfe\xff\xff").Build()).Error(); err != nil {
		t.Fatal(err)
	}
	if v, err := b.Get(ctx, bad); err != nil || string(v) != "\xfe\xff\xff" {
		t.Errorf("Get of malformed bytes = %q, %v; want them as stored", v, err)
	}
	c, err := yokedcache.New(yokedcache.Config{Backend: b, KeyPrefix: strings.TrimSuffix(prefix, ":")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := yokedcache.Get[string](ctx, c, "bad"); !errors.Is(err, yokedcache.ErrCorrupt) {
		t.Errorf("Cache Get of malformed bytes = %v; want ErrCorrupt", err)
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
