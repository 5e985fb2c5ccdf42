package redis_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"log/slog"
	"math"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/yokedcache/yokedcache"
	"github.com/yokedcache/yokedcache/backend"
	"github.com/yokedcache/yokedcache/backend/redis"
	"github.com/yokedcache/yokedcache/codec"
	"github.com/yokedcache/yokedcache/internal/pywire/pyfixture"
	"github.com/yokedcache/yokedcache/internal/testserver"
)

// pyEnv is one Redis topology for the Python compatibility tests: the
// backend options, a raw client that plays the Python process (it writes
// and reads exact bytes), and the servers (to list and flush keys).
type pyEnv struct {
	opts  redis.Options
	raw   rueidis.Client
	nodes []*testserver.Redis
}

func startPyEnv(t *testing.T, cluster bool) *pyEnv {
	t.Helper()
	e := &pyEnv{}
	if cluster {
		c := testserver.StartCluster(t, 3)
		e.opts = redis.Options{Mode: redis.Cluster, Addrs: c.Addrs}
		e.nodes = c.Nodes
	} else {
		srv := testserver.StartRedis(t, testserver.RedisOptions{})
		e.opts = redis.Options{Addrs: []string{srv.Addr}}
		e.nodes = []*testserver.Redis{srv}
	}
	raw, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: e.opts.Addrs, DisableCache: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(raw.Close)
	e.raw = raw
	return e
}

// reset empties every node.
func (e *pyEnv) reset(t *testing.T) {
	t.Helper()
	for _, n := range e.nodes {
		if err := n.FlushAll(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
}

// keys lists every key on every node, sorted.
func (e *pyEnv) keys(t *testing.T) []string {
	t.Helper()
	var out []string
	for _, n := range e.nodes {
		r, err := n.Do(t.Context(), "KEYS", "*")
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range r.([]any) {
			out = append(out, k.(string))
		}
	}
	slices.Sort(out)
	return out
}

func (e *pyEnv) do(t *testing.T, cmd rueidis.Completed) rueidis.RedisResult {
	t.Helper()
	r := e.raw.Do(t.Context(), cmd)
	if err := r.Error(); err != nil && !rueidis.IsRedisNil(err) {
		t.Fatal(err)
	}
	return r
}

func (e *pyEnv) set(t *testing.T, key string, value []byte, ttl time.Duration) {
	t.Helper()
	e.do(t, e.raw.B().Set().Key(key).Value(rueidis.BinaryString(value)).PxMilliseconds(ttl.Milliseconds()).Build())
}

func (e *pyEnv) sadd(t *testing.T, set string, ttl time.Duration, members ...string) {
	t.Helper()
	e.do(t, e.raw.B().Sadd().Key(set).Member(members...).Build())
	e.do(t, e.raw.B().Pexpire().Key(set).Milliseconds(ttl.Milliseconds()).Build())
}

func (e *pyEnv) get(t *testing.T, key string) ([]byte, bool) {
	t.Helper()
	b, err := e.do(t, e.raw.B().Get().Key(key).Build()).AsBytes()
	if rueidis.IsRedisNil(err) {
		return nil, false
	}
	return b, true
}

func (e *pyEnv) members(t *testing.T, set string) []string {
	t.Helper()
	ms, err := e.do(t, e.raw.B().Smembers().Key(set).Build()).AsStrSlice()
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(ms)
	return ms
}

func (e *pyEnv) pttl(t *testing.T, key string) time.Duration {
	t.Helper()
	ms, err := e.do(t, e.raw.B().Pttl().Key(key).Build()).AsInt64()
	if err != nil {
		t.Fatal(err)
	}
	return time.Duration(ms) * time.Millisecond
}

// pyInvalidateTags does what Python's invalidate_tags sends
// (scenarios.md §2.7): SMEMBERS, DEL of the members, DEL of the set.
func (e *pyEnv) pyInvalidateTags(t *testing.T, prefix string, tags ...string) int64 {
	t.Helper()
	var n int64
	for _, tag := range tags {
		set := prefix + ":tags:" + tag
		for _, m := range e.members(t, set) {
			c, err := e.do(t, e.raw.B().Del().Key(m).Build()).AsInt64()
			if err != nil {
				t.Fatal(err)
			}
			n += c
		}
		e.do(t, e.raw.B().Del().Key(set).Build())
	}
	return n
}

// logCounter is a slog handler that counts records containing a string.
type logCounter struct {
	mu   sync.Mutex
	msgs []string
}

func (l *logCounter) Enabled(context.Context, slog.Level) bool { return true }
func (l *logCounter) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.msgs = append(l.msgs, r.Message)
	return nil
}
func (l *logCounter) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *logCounter) WithGroup(string) slog.Handler      { return l }
func (l *logCounter) count(sub string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, m := range l.msgs {
		if strings.Contains(m, sub) {
			n++
		}
	}
	return n
}

// cache opens a Cache over a compat=python (or native) Store.
func (e *pyEnv) cache(t *testing.T, prefix string, compat redis.Compat, log *logCounter) *yokedcache.Cache {
	t.Helper()
	o := e.opts
	o.Compat = compat
	var l *slog.Logger
	if log != nil {
		l = slog.New(log)
		o.Logger = l
	}
	b, err := redis.New(o)
	if err != nil {
		t.Fatal(err)
	}
	c, err := yokedcache.New(yokedcache.Config{Backend: b, KeyPrefix: prefix, TTLJitterPercent: yokedcache.NoJitter, Logger: l})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func loadPyFixtures(t *testing.T) (values, sets []pyfixture.Record) {
	t.Helper()
	recs, err := pyfixture.Load()
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		if r.Kind == "value" {
			values = append(values, r)
		} else {
			sets = append(sets, r)
		}
	}
	if len(values) != 42 || len(sets) != 8 {
		t.Fatalf("fixtures: %d values, %d tag sets; want 42 and 8", len(values), len(sets))
	}
	return values, sets
}

// TestPythonCompat runs the compat=python tests on a standalone server
// and on a 3-master Cluster.
func TestPythonCompat(t *testing.T) {
	for _, topo := range []string{"standalone", "cluster"} {
		t.Run(topo, func(t *testing.T) {
			if topo == "cluster" && testing.Short() {
				t.Skip("-short: cluster topology")
			}
			e := startPyEnv(t, topo == "cluster")
			t.Run("ReadsEveryFixture", func(t *testing.T) { testPyReadFixtures(t, e) })
			t.Run("WritesPythonBytes", func(t *testing.T) { testPyWriteFixtures(t, e) })
			t.Run("TagsCrossInvalidate", func(t *testing.T) { testPyTags(t, e) })
			t.Run("PatternsKeysFlush", func(t *testing.T) { testPyPatterns(t, e) })
			t.Run("ForeignBytes", func(t *testing.T) { testPyForeign(t, e) })
			t.Run("DocumentedDeviations", func(t *testing.T) { testPyDeviations(t, e) })
		})
	}
}

// testPyReadFixtures loads every fixture (exact bytes, TTLs, tag sets)
// and reads each value through a compat Cache: each is what Python's get
// returned, the pickle is a counted ErrCorrupt miss logged once, the
// stored null is a plain miss, and nothing is reported corrupt.
func testPyReadFixtures(t *testing.T, e *pyEnv) {
	e.reset(t)
	ctx := t.Context()
	values, sets := loadPyFixtures(t)
	for _, r := range values {
		e.set(t, r.Key(), r.Value(), time.Duration(r.PTTLms)*time.Millisecond)
	}
	for _, r := range sets {
		e.sadd(t, r.Key(), time.Duration(r.PTTLms)*time.Millisecond, r.MemberKeys()...)
	}
	log := &logCounter{}
	caches := map[string]*yokedcache.Cache{
		"yokedcache": e.cache(t, "yokedcache", redis.CompatPython, log),
		"myapp":      e.cache(t, "myapp", redis.CompatPython, log),
	}
	var hitKeys []string
	for round := range 3 {
		for _, r := range values {
			c := caches[r.Prefix]
			got, err := yokedcache.Get[any](ctx, c, r.UserKey)
			switch {
			case r.UserKey == "":
				// Go keys are never empty; Python's "" is "yokedcache:".
				if !errors.Is(err, yokedcache.ErrInvalidKey) {
					t.Errorf("%s: Get(\"\") = %v, %v; want ErrInvalidKey", r.ID, got, err)
				}
			case r.GoExpect == "must_refuse":
				if !errors.Is(err, yokedcache.ErrCorrupt) || !errors.Is(err, yokedcache.ErrNotFound) {
					t.Errorf("%s: Get = %v, %v; want a miss matching ErrCorrupt", r.ID, got, err)
				}
			case !r.PythonGet.Found:
				if !errors.Is(err, yokedcache.ErrNotFound) || errors.Is(err, yokedcache.ErrCorrupt) {
					t.Errorf("%s: Get = %v, %v; want a plain miss (Python: not found)", r.ID, got, err)
				}
			case err != nil:
				t.Errorf("%s: Get: %v", r.ID, err)
			default:
				if d := pyfixture.CompareLoose(got, r.PythonGet.Value); d != "" {
					t.Errorf("%s: %s", r.ID, d)
				}
				if round == 0 && r.Prefix == "yokedcache" {
					hitKeys = append(hitKeys, r.UserKey)
				}
			}
		}
	}
	c := caches["yokedcache"]
	// Typed reads that *any cannot show.
	if v, err := yokedcache.Get[uint64](ctx, c, "int:u64max"); err != nil || v != math.MaxUint64 {
		t.Errorf("Get[uint64](int:u64max) = %d, %v", v, err)
	}
	if v, err := c.GetBytes(ctx, "mp:bytes"); err != nil || !bytes.Equal(v, []byte{0, 1, 0xff}) {
		t.Errorf("GetBytes(mp:bytes) = %x, %v", v, err)
	}
	if v, err := c.GetBytes(ctx, "greeting"); err != nil || string(v) != "hello world" {
		t.Errorf("GetBytes(greeting) = %q, %v", v, err)
	}
	type user struct {
		ID   int    `json:"id"`
		Name string `json:"name"`
	}
	if v, err := yokedcache.Get[user](ctx, caches["myapp"], "user:1"); err != nil || v != (user{1, "Alice"}) {
		t.Errorf("myapp Get[user](user:1) = %+v, %v", v, err)
	}
	// GetMany returns the same hits in one call.
	got, err := c.GetMany(ctx, append(slices.Clone(hitKeys), "pk:dict", "nothing", "missing"))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(hitKeys) {
		t.Errorf("GetMany returned %d hits, want %d", len(got), len(hitKeys))
	}
	for _, k := range hitKeys {
		if _, ok := got[k]; !ok {
			t.Errorf("GetMany misses %q", k)
		}
	}
	// The pickle: counted on every read, logged once per Store.
	st, err := c.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := st.Extra["python_pickle_refused"].(int64); n != 4 { // 3 Gets + 1 GetMany
		t.Errorf("Extra[python_pickle_refused] = %v, want 4", st.Extra["python_pickle_refused"])
	}
	if n := log.count("refusing a pickled value"); n != 1 {
		t.Errorf("%d pickle warnings logged, want 1", n)
	}
	// The refused pickle is the only corrupt read (a backend's corrupt
	// miss counts in Stats.Corrupt: 3 Gets; GetMany leaves its slot
	// empty), and the Cache logs nothing itself: the backend did.
	if st.Corrupt != 3 || log.count("does not decode") != 0 {
		t.Errorf("Stats.Corrupt = %d and %d corrupt warnings after reading Python's values; want 3 (the pickle) and none", st.Corrupt, log.count("does not decode"))
	}
	// Keys lists entries only (no tag set), and each of them reads.
	n := 0
	for k, err := range c.Keys(ctx, "*") {
		if err != nil {
			t.Fatal(err)
		}
		n++
		if strings.HasPrefix(k, "tags:") {
			t.Errorf("Keys listed the tag set %q", k)
		}
	}
	// + pk:dict and nothing; "yokedcache:" (Python's key "") is no Go
	// user key, so Keys leaves it out.
	if want := len(hitKeys) + 2; n != want {
		t.Errorf("Keys(*) listed %d keys, want %d", n, want)
	}
}

// testPyWriteFixtures makes every Python call that has a Go equivalent
// through a compat Cache, in the fixtures' order, on an empty server: the
// keys, the stored bytes, the tag sets (members and TTL rule) and nothing
// else are what Python left.
func testPyWriteFixtures(t *testing.T, e *pyEnv) {
	e.reset(t)
	ctx := t.Context()
	values, sets := loadPyFixtures(t)
	caches := map[string]*yokedcache.Cache{
		"yokedcache": e.cache(t, "yokedcache", redis.CompatPython, nil),
		"myapp":      e.cache(t, "myapp", redis.CompatPython, nil),
	}
	eq := pyfixture.GoEquivalents()
	var want []string
	written := map[string]pyfixture.Record{}
	for _, r := range values {
		v, ok := eq[r.ID]
		if !ok || r.UserKey == "" {
			continue
		}
		opts := []yokedcache.SetOption{yokedcache.WithTags(pyfixture.Tags[r.ID]...)}
		if r.TTLArg != nil && *r.TTLArg > 0 {
			opts = append(opts, yokedcache.WithTTL(time.Duration(*r.TTLArg)*time.Second))
		}
		if err := caches[r.Prefix].Set(ctx, r.UserKey, v, opts...); err != nil {
			t.Fatalf("%s: Set: %v", r.ID, err)
		}
		want = append(want, r.Key())
		written[r.Key()] = r
	}
	for _, r := range sets {
		want = append(want, r.Key())
	}
	slices.Sort(want)
	if got := e.keys(t); !slices.Equal(got, want) {
		t.Fatalf("keys after the Go writes:\n got %q\nwant %q", got, want)
	}
	for k, r := range written {
		b, _ := e.get(t, k)
		if !bytes.Equal(b, r.Value()) {
			t.Errorf("%s: stored %s\n       Python %s", r.ID, hex.EncodeToString(b), r.ValueHex)
		}
		ttl := 300 * time.Second
		if r.TTLArg != nil && *r.TTLArg > 0 {
			ttl = time.Duration(*r.TTLArg) * time.Second
		}
		if p := e.pttl(t, k); p <= ttl-30*time.Second || p > ttl {
			t.Errorf("%s: PTTL %v, want about %v", r.ID, p, ttl)
		}
	}
	for _, r := range sets {
		if got := e.members(t, r.Key()); !slices.Equal(got, r.MemberKeys()) {
			t.Errorf("%s: members %q, want %q", r.ID, got, r.MemberKeys())
		}
		// TTL of the latest tagged write + 60 s (shrink: 30+60 = 90 s
		// although shrink:a lives 600 s), as Python left it.
		want := time.Duration(r.PTTLms+999) / 1000 * time.Second
		if p := e.pttl(t, r.Key()); p <= want-30*time.Second || p > want {
			t.Errorf("%s: PTTL %v, want about %v (Python: %d ms)", r.ID, p, want, r.PTTLms)
		}
	}
	// What Go wrote, Go reads back.
	for k, r := range written {
		got, err := yokedcache.Get[any](ctx, caches[r.Prefix], r.UserKey)
		if r.ID == "none" {
			if !errors.Is(err, yokedcache.ErrNotFound) {
				t.Errorf("none: Get = %v, %v; want a miss, as Python reads null", got, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s (%q): Get: %v", r.ID, k, err)
		} else if d := pyfixture.CompareLoose(got, r.PythonGet.Value); d != "" {
			t.Errorf("%s: %s", r.ID, d)
		}
	}
}

// Python envelopes of small JSON values, as Python writes them.
func pyJSON(s string) []byte { return append([]byte("\x89Yc\x01\x01"), s...) }

// testPyTags: tags written in Python's layout (by "Python" here, the raw
// client) and by a compat Cache are invalidated by either side's call;
// entries a native Store wrote under the same tags go too.
func testPyTags(t *testing.T, e *pyEnv) {
	e.reset(t)
	ctx := t.Context()
	c := e.cache(t, "yokedcache", redis.CompatPython, nil)
	native := e.cache(t, "yokedcache", redis.CompatNone, nil)
	// Python's writes (scenarios.md §5).
	e.set(t, "yokedcache:user:1", pyJSON(`{"id":1}`), 300*time.Second)
	e.set(t, "yokedcache:user:2", pyJSON(`{"id":2}`), 300*time.Second)
	e.sadd(t, "yokedcache:tags:users", 360*time.Second, "yokedcache:user:1", "yokedcache:user:2")
	e.sadd(t, "yokedcache:tags:admins", 360*time.Second, "yokedcache:user:2")
	// Go's writes under the same tags.
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(c.Set(ctx, "go:1", map[string]int{"id": 11}, yokedcache.WithTags("users")))
	must(c.SetMany(ctx, map[string]any{"go:2": 12, "go:3": "x"}, yokedcache.WithTags("users", "admins")))
	must(c.Set(ctx, "go:forever", "f", yokedcache.WithTTL(yokedcache.NoExpiry), yokedcache.WithTags("users")))
	must(native.Set(ctx, "native:1", "n", yokedcache.WithTags("users")))
	if got, want := e.members(t, "yokedcache:tags:users"), []string{"yokedcache:go:1", "yokedcache:go:2", "yokedcache:go:3", "yokedcache:go:forever", "yokedcache:user:1", "yokedcache:user:2"}; !slices.Equal(got, want) {
		t.Fatalf("tags:users = %q, want %q", got, want)
	}
	if p := e.pttl(t, "yokedcache:tags:users"); p != -1*time.Millisecond {
		t.Errorf("tags:users PTTL after an entry without expiry = %v, want none (-1ms)", p)
	}
	n, err := c.InvalidateTags(ctx, "users")
	must(err)
	if n != 7 { // user:1, user:2, go:1, go:2, go:3, go:forever, native:1
		t.Errorf("InvalidateTags(users) = %d, want 7", n)
	}
	for _, k := range []string{"user:1", "user:2", "go:1", "go:2", "go:3", "go:forever", "native:1"} {
		if _, err := yokedcache.Get[any](ctx, c, k); !errors.Is(err, yokedcache.ErrNotFound) {
			t.Errorf("after InvalidateTags(users), Get(%s) = %v; want a miss", k, err)
		}
	}
	if ms := e.members(t, "yokedcache:tags:users"); len(ms) != 0 {
		t.Errorf("tags:users still holds %q", ms)
	}
	// As in Python, other tags' sets are not cleaned.
	if ms := e.members(t, "yokedcache:tags:admins"); len(ms) != 3 {
		t.Errorf("tags:admins = %q, want its 3 members left", ms)
	}

	// Python invalidates what Go wrote.
	must(c.Set(ctx, "post:9", map[string]int{"id": 9}, yokedcache.WithTTL(2*time.Minute), yokedcache.WithTags("posts", "user:1")))
	must(c.Set(ctx, "post:10", "ten", yokedcache.WithTags("posts")))
	if n := e.pyInvalidateTags(t, "yokedcache", "posts"); n != 2 {
		t.Errorf("Python invalidate_tags(posts) deleted %d, want 2", n)
	}
	for _, k := range []string{"post:9", "post:10"} {
		if _, err := yokedcache.Get[any](ctx, c, k); !errors.Is(err, yokedcache.ErrNotFound) {
			t.Errorf("after Python's invalidate_tags(posts), Get(%s) = %v; want a miss", k, err)
		}
	}

	// A set written by someone else: members are full keys, whatever
	// their prefix; a missing member counts 0 (scenarios.md §5).
	e.reset(t)
	e.set(t, "yokedcache:go:1", pyJSON(`1`), time.Minute)
	e.set(t, "other:thing", []byte("x"), time.Minute)
	e.sadd(t, "yokedcache:tags:mixed", time.Minute, "yokedcache:go:1", "other:thing", "yokedcache:gone")
	n, err = c.InvalidateTags(ctx, "mixed")
	must(err)
	if n != 2 {
		t.Errorf("InvalidateTags(mixed) = %d, want 2", n)
	}
	if ks := e.keys(t); len(ks) != 0 {
		t.Errorf("keys left after InvalidateTags(mixed): %q", ks)
	}

	// Go's bookkeeping is bounded: dead members of a set Go writes to are
	// pruned.
	e.reset(t)
	for i := range 40 {
		e.sadd(t, "yokedcache:tags:busy", time.Hour, "yokedcache:dead:"+string(rune('a'+i%26))+strings.Repeat("x", i/26))
	}
	for i := range 2 * 16 {
		must(c.Set(ctx, "live:"+string(rune('a'+i)), i, yokedcache.WithTags("busy")))
	}
	ms := e.members(t, "yokedcache:tags:busy")
	dead := 0
	for _, m := range ms {
		if strings.HasPrefix(m, "yokedcache:dead:") {
			dead++
		}
	}
	if dead >= 40 || len(ms)-dead != 32 {
		t.Errorf("after 32 tagged writes: %d dead and %d live members; want fewer than 40 dead and all 32 live", dead, len(ms)-dead)
	}
}

// testPyPatterns is scenarios.md §5's shared state: pattern invalidation
// deletes entries only (tag sets are skipped, as Keys skips them); Flush
// deletes everything under the prefix, tag sets included, and nothing
// else, as Python's flush_all.
func testPyPatterns(t *testing.T, e *pyEnv) {
	ctx := t.Context()
	c := e.cache(t, "yokedcache", redis.CompatPython, nil)
	state := func() {
		e.reset(t)
		for _, k := range []string{"yokedcache:user:1", "yokedcache:user:2", "yokedcache:user:profile:1", "yokedcache:post:9", "yokedcache:config", "myapp:user:1"} {
			e.set(t, k, pyJSON(`{"id":1}`), 300*time.Second)
		}
		for _, k := range []string{"user:1", "yokedcache_other:user:1", "yokedcacheuser:1"} {
			e.set(t, k, []byte("x"), 300*time.Second)
		}
		e.sadd(t, "yokedcache:tags:users", time.Hour, "yokedcache:user:1", "yokedcache:user:2")
		e.sadd(t, "yokedcache:tags:admins", time.Hour, "yokedcache:user:2")
		e.sadd(t, "yokedcache:tags:posts", time.Hour, "yokedcache:post:9")
		e.sadd(t, "yokedcache:tags:user:1", time.Hour, "yokedcache:post:9")
		e.sadd(t, "myapp:tags:users", time.Hour, "myapp:user:1")
	}
	state()
	before := e.keys(t)
	var listed []string
	for k, err := range c.Keys(ctx, "*") {
		if err != nil {
			t.Fatal(err)
		}
		listed = append(listed, k)
	}
	slices.Sort(listed)
	if want := []string{"config", "post:9", "user:1", "user:2", "user:profile:1"}; !slices.Equal(listed, want) {
		t.Errorf("Keys(*) = %q, want %q", listed, want)
	}
	res, err := c.FuzzySearch(ctx, "user", yokedcache.WithThreshold(50))
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res {
		if strings.HasPrefix(r.Key, "tags:") {
			t.Errorf("FuzzySearch returned the tag set %q", r.Key)
		}
	}
	n, err := c.InvalidatePattern(ctx, "user:*")
	if err != nil || n != 3 {
		t.Errorf("InvalidatePattern(user:*) = %d, %v; want 3", n, err)
	}
	gone := []string{"yokedcache:user:1", "yokedcache:user:2", "yokedcache:user:profile:1"}
	if got, want := e.keys(t), slices.DeleteFunc(slices.Clone(before), func(k string) bool { return slices.Contains(gone, k) }); !slices.Equal(got, want) {
		t.Errorf("after InvalidatePattern(user:*): %q, want %q", got, want)
	}
	state()
	n, err = c.InvalidatePattern(ctx, "tags:*")
	if err != nil || n != 0 {
		t.Errorf("InvalidatePattern(tags:*) = %d, %v; want 0 (tag sets are skipped)", n, err)
	}
	if err := c.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if got, want := e.keys(t), []string{"myapp:tags:users", "myapp:user:1", "user:1", "yokedcache_other:user:1", "yokedcacheuser:1"}; !slices.Equal(got, want) {
		t.Errorf("after Flush: %q, want %q", got, want)
	}
}

// testPyForeign: bytes Python did not write (scenarios.md §3) read as
// Python reads them: bare JSON decodes, a bare pickle is refused, bytes
// Python cannot read are corrupt misses, and a value Go wrote before the
// switch (its own envelope, tagged or not) still reads.
func testPyForeign(t *testing.T, e *pyEnv) {
	e.reset(t)
	ctx := t.Context()
	c := e.cache(t, "yokedcache", redis.CompatPython, nil)
	native := e.cache(t, "yokedcache", redis.CompatNone, nil)
	if err := native.Set(ctx, "old:tagged", "before the switch", yokedcache.WithTags("t")); err != nil {
		t.Fatal(err)
	}
	if err := native.Set(ctx, "old:plain", 7); err != nil {
		t.Fatal(err)
	}
	for name, h := range map[string]string{
		"json_object_no_envelope":      "7b2261223a317d",
		"json_string_no_envelope":      "2268656c6c6f22",
		"pickle_no_envelope":           "80059 50a000000000000007d948c0170944b01732e",
		"plain_text_no_envelope":       "68656c6c6f20776f726c64",
		"envelope_method_9":            "8959630109227822",
		"envelope_json_lone_surrogate": "8959630101225c756438303022",
		"envelope_msgpack_trailing":    "89596301030102",
	} {
		b, _ := hex.DecodeString(strings.ReplaceAll(h, " ", ""))
		e.set(t, "yokedcache:foreign:"+name, b, time.Minute)
	}
	check := func(key string, want any, wantErr error) {
		t.Helper()
		got, err := yokedcache.Get[any](ctx, c, key)
		if wantErr != nil {
			if !errors.Is(err, wantErr) || !errors.Is(err, yokedcache.ErrNotFound) {
				t.Errorf("Get(%s) = %v, %v; want %v", key, got, err, wantErr)
			}
			return
		}
		if err != nil {
			t.Errorf("Get(%s): %v", key, err)
			return
		}
		if d := pyfixture.CompareLoose(got, mustJSON(t, want)); d != "" {
			t.Errorf("Get(%s): %s", key, d)
		}
	}
	check("foreign:json_object_no_envelope", map[string]any{"a": 1}, nil)
	check("foreign:json_string_no_envelope", "hello", nil)
	check("foreign:pickle_no_envelope", nil, yokedcache.ErrCorrupt)
	check("foreign:plain_text_no_envelope", nil, yokedcache.ErrCorrupt)
	check("foreign:envelope_method_9", nil, yokedcache.ErrCorrupt)
	check("foreign:envelope_json_lone_surrogate", nil, yokedcache.ErrCorrupt)
	check("foreign:envelope_msgpack_trailing", nil, yokedcache.ErrCorrupt)
	check("old:tagged", "before the switch", nil)
	check("old:plain", 7, nil)
	// A set where a value should be: an error, not a miss (Python raises).
	e.sadd(t, "yokedcache:foreign:wrong_type_set", time.Minute, "x")
	if _, err := yokedcache.Get[any](ctx, c, "foreign:wrong_type_set"); err == nil || errors.Is(err, yokedcache.ErrNotFound) {
		t.Errorf("Get of a set = %v; want a WRONGTYPE error", err)
	}
}

// testPyDeviations pins where compat=python departs from the contract
// every backend shares (docs/python.md lists them; they are Python's
// rules): keys are cleaned, a cached nil is a miss, re-setting a key keeps
// it in its old tags' sets, FuzzySearch cannot filter by tag, nothing is
// compressed.
func testPyDeviations(t *testing.T, e *pyEnv) {
	e.reset(t)
	ctx := t.Context()
	c := e.cache(t, "yokedcache", redis.CompatPython, nil)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(c.Set(ctx, "a b", "first"))
	must(c.Set(ctx, "a_b", "second"))
	if v, err := yokedcache.Get[string](ctx, c, "a b"); err != nil || v != "second" {
		t.Errorf(`Get("a b") = %q, %v; want "second" ("a b" and "a_b" are one Python key)`, v, err)
	}
	must(c.Set(ctx, "nil", nil))
	if _, err := yokedcache.Get[any](ctx, c, "nil"); !errors.Is(err, yokedcache.ErrNotFound) {
		t.Errorf("Get of a cached nil = %v; want a miss (Python reads null as None)", err)
	}
	must(c.Set(ctx, "k", "v1", yokedcache.WithTags("old")))
	must(c.Set(ctx, "k", "v2", yokedcache.WithTags("new")))
	if n, err := c.InvalidateTags(ctx, "old"); err != nil || n != 1 {
		t.Errorf("InvalidateTags(old) after re-setting k with tag new = %d, %v; want 1 (the old set still lists k)", n, err)
	}
	must(c.Set(ctx, "alice", "x", yokedcache.WithTags("vip")))
	if res, err := c.FuzzySearch(ctx, "alice", yokedcache.WithSearchTags("vip")); err != nil || len(res) != 0 {
		t.Errorf("FuzzySearch with a tag filter = %v, %v; want nothing (values carry no tags)", res, err)
	}
	o := e.opts
	o.Compat = redis.CompatPython
	b, err := redis.New(o)
	must(err)
	cz, err := yokedcache.New(yokedcache.Config{Backend: b, KeyPrefix: "yokedcache", Compression: codec.S2, CompressionThreshold: 100})
	must(err)
	t.Cleanup(func() { cz.Close() })
	big := strings.Repeat("compressible ", 1000)
	must(cz.Set(ctx, "big", big))
	if v, err := yokedcache.Get[string](ctx, cz, "big"); err != nil || v != big {
		t.Errorf("Get(big) = %d bytes, %v", len(v), err)
	}
	if b, _ := e.get(t, "yokedcache:big"); len(b) != 5+len(big)+2 {
		t.Errorf("stored %d bytes for a %d-byte string; want it uncompressed in a JSON envelope", len(b), len(big))
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestPythonCompatOptions: the URL parameter and the Options field.
func TestPythonCompatOptions(t *testing.T) {
	o, err := redis.ParseURL("redis://127.0.0.1:6379/0?compat=python")
	if err != nil || o.Compat != redis.CompatPython {
		t.Fatalf("ParseURL(compat=python) = %v, %v", o.Compat, err)
	}
	if !strings.Contains(o.String(), `Compat: "python"`) {
		t.Errorf("String() = %s; want the compat mode", o)
	}
	if o, err := redis.ParseURL("redis+cluster://127.0.0.1:7000?compat=none"); err != nil || o.Compat != redis.CompatNone {
		t.Errorf("ParseURL(compat=none) = %v, %v", o.Compat, err)
	}
	if _, err := redis.ParseURL("redis://127.0.0.1:6379/0?compat=perl"); !errors.Is(err, backend.ErrInvalidConfig) {
		t.Errorf("ParseURL(compat=perl) = %v; want ErrInvalidConfig", err)
	}
	if _, err := redis.New(redis.Options{Compat: "perl"}); !errors.Is(err, backend.ErrInvalidConfig) {
		t.Errorf("New(Compat: perl) = %v; want ErrInvalidConfig", err)
	}
}

// TestPythonCompatMinimalACL: compat=python works for the reference
// guide's minimal ACL user (SADD, SREM, SMEMBERS, SRANDMEMBER, EXPIRE,
// PERSIST, TYPE and EXISTS are within +@read +@write), including the
// pruning of tag sets and the refusal of a pickle.
func TestPythonCompatMinimalACL(t *testing.T) {
	srv := testserver.StartRedis(t, testserver.RedisOptions{Users: []string{aclUser}})
	log := &logCounter{}
	o, err := redis.ParseURL("redis://yokedcache:password@" + srv.Addr + "/0?compat=python")
	if err != nil {
		t.Fatal(err)
	}
	o.Logger = slog.New(log)
	b, err := redis.New(o)
	if err != nil {
		t.Fatal(err)
	}
	c, err := yokedcache.New(yokedcache.Config{Backend: b, KeyPrefix: "yokedcache", TTLJitterPercent: yokedcache.NoJitter, Logger: o.Logger})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	exercise(t, c)
	ctx := t.Context()
	if _, err := srv.Do(ctx, "SADD", "yokedcache:tags:many", "yokedcache:gone:1", "yokedcache:gone:2"); err != nil {
		t.Fatal(err)
	}
	for i := range 32 {
		if err := c.Set(ctx, "many:"+strings.Repeat("x", i+1), i, yokedcache.WithTags("many")); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := srv.Do(ctx, "SET", "yokedcache:pk", "\x89Yc\x01\x02\x80\x05K\x01."); err != nil {
		t.Fatal(err)
	}
	if _, err := yokedcache.Get[any](ctx, c, "pk"); !errors.Is(err, yokedcache.ErrCorrupt) {
		t.Errorf("Get of a pickle = %v; want ErrCorrupt", err)
	}
	if n, err := c.InvalidateTags(ctx, "many"); err != nil || n != 32 {
		t.Errorf("InvalidateTags(many) = %d, %v; want 32", n, err)
	}
	if n := log.count("failed"); n != 0 {
		t.Errorf("%d failures logged for the minimal ACL user: %q", n, log.msgs)
	}
}
