package redis_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/yokedcache/yokedcache/backend"
	"github.com/yokedcache/yokedcache/backend/redis"
	"github.com/yokedcache/yokedcache/internal/testserver"
)

// checkTTLReader exercises GetTTL and GetManyTTL: a hit with a TTL, a
// key without expiry, a miss and a tagged value (read back without its
// stored tag list).
func checkTTLReader(t *testing.T, st *redis.Store, prefix string) {
	t.Helper()
	ctx := t.Context()
	k := func(s string) string { return prefix + s }
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(st.Set(ctx, k("ttl"), []byte("v1"), backend.SetOptions{TTL: time.Minute}))
	must(st.Set(ctx, k("forever"), []byte("v2"), backend.SetOptions{TTL: backend.NoExpiry}))
	must(st.Set(ctx, k("tagged"), []byte("v3"), backend.SetOptions{TTL: time.Hour, Tags: []string{prefix + "\xfftag:t"}}))

	v, ttl, err := st.GetTTL(ctx, k("ttl"))
	if err != nil || string(v) != "v1" || ttl <= 50*time.Second || ttl > time.Minute {
		t.Fatalf("GetTTL(ttl) = %q, %v, %v; want v1, about 1m", v, ttl, err)
	}
	v, ttl, err = st.GetTTL(ctx, k("forever"))
	if err != nil || string(v) != "v2" || ttl != backend.NoExpiry {
		t.Fatalf("GetTTL(forever) = %q, %v, %v; want v2, NoExpiry", v, ttl, err)
	}
	v, ttl, err = st.GetTTL(ctx, k("tagged"))
	// A tagged entry expires at an absolute time computed from an
	// estimate of the server's clock: allow its error.
	if err != nil || string(v) != "v3" || ttl <= 50*time.Minute || ttl > time.Hour+time.Second {
		t.Fatalf("GetTTL(tagged) = %q, %v, %v; want v3, about 1h", v, ttl, err)
	}
	if v, ttl, err := st.GetTTL(ctx, k("missing")); !errors.Is(err, backend.ErrNotFound) || v != nil || ttl != 0 {
		t.Fatalf("GetTTL(missing) = %q, %v, %v; want ErrNotFound", v, ttl, err)
	}

	keys := []string{k("ttl"), k("missing"), k("forever"), k("tagged")}
	// Many keys, over every slot on Cluster.
	for i := range 50 {
		key := k(fmt.Sprint("many:", i))
		keys = append(keys, key)
		must(st.Set(ctx, key, []byte(fmt.Sprint(i)), backend.SetOptions{TTL: time.Duration(i+1) * time.Minute}))
	}
	vals, ttls, err := st.GetManyTTL(ctx, keys)
	must(err)
	if len(vals) != len(keys) || len(ttls) != len(keys) {
		t.Fatalf("GetManyTTL returned %d values and %d TTLs for %d keys", len(vals), len(ttls), len(keys))
	}
	if string(vals[0]) != "v1" || ttls[0] <= 50*time.Second || ttls[0] > time.Minute {
		t.Fatalf("GetManyTTL[ttl] = %q, %v", vals[0], ttls[0])
	}
	if vals[1] != nil || ttls[1] != 0 {
		t.Fatalf("GetManyTTL[missing] = %q, %v; want nil, 0", vals[1], ttls[1])
	}
	if string(vals[2]) != "v2" || ttls[2] != backend.NoExpiry {
		t.Fatalf("GetManyTTL[forever] = %q, %v", vals[2], ttls[2])
	}
	if string(vals[3]) != "v3" || ttls[3] <= 50*time.Minute {
		t.Fatalf("GetManyTTL[tagged] = %q, %v", vals[3], ttls[3])
	}
	for i := range 50 {
		want := time.Duration(i+1) * time.Minute
		if string(vals[4+i]) != fmt.Sprint(i) || ttls[4+i] > want || ttls[4+i] < want-10*time.Second {
			t.Fatalf("GetManyTTL[many:%d] = %q, %v; want %d, about %v", i, vals[4+i], ttls[4+i], i, want)
		}
	}
	if vals, ttls, err := st.GetManyTTL(ctx, nil); err != nil || len(vals) != 0 || len(ttls) != 0 {
		t.Fatalf("GetManyTTL(nil) = %v, %v, %v", vals, ttls, err)
	}
}

func TestGetTTLStandalone(t *testing.T) {
	srv := testserver.StartRedis(t, testserver.RedisOptions{})
	st, err := redis.New(redis.Options{Addrs: []string{srv.Addr}})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	checkTTLReader(t, st, "ttlr:")
}

func TestGetTTLCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: cluster")
	}
	cl := testserver.StartCluster(t, 3)
	st, err := redis.New(redis.Options{Mode: redis.Cluster, Addrs: cl.Addrs})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	checkTTLReader(t, st, "ttlr:")
}

// In compat mode GetTTL and GetManyTTL map keys and translate values as
// Get and GetMany do.
func TestGetTTLCompat(t *testing.T) {
	srv := testserver.StartRedis(t, testserver.RedisOptions{})
	st, err := redis.New(redis.Options{Addrs: []string{srv.Addr}, Compat: redis.CompatPython})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := t.Context()
	key := "yc:with space" // Python cleans it to "yc:with_space"
	if err := st.Set(ctx, key, []byte(`"v"`), backend.SetOptions{TTL: time.Minute}); err != nil {
		t.Fatal(err)
	}
	want, err := st.Get(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	v, ttl, err := st.GetTTL(ctx, key)
	if err != nil || string(v) != string(want) || ttl <= 50*time.Second {
		t.Fatalf("GetTTL = %q, %v, %v; want %q, about 1m", v, ttl, err, want)
	}
	vals, ttls, err := st.GetManyTTL(ctx, []string{key, "yc:missing"})
	if err != nil || string(vals[0]) != string(want) || ttls[0] <= 50*time.Second || vals[1] != nil {
		t.Fatalf("GetManyTTL = %q, %v, %v", vals, ttls, err)
	}
	if _, err := st.Track("yc:", backend.TrackHandler{}); !errors.Is(err, backend.ErrUnsupported) {
		t.Fatalf("Track in compat mode = %v; want ErrUnsupported", err)
	}
}
