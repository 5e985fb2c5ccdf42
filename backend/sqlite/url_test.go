package sqlite_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/yokedcache/yokedcache/backend"
	"github.com/yokedcache/yokedcache/backend/sqlite"
)

func TestParseURL(t *testing.T) {
	good := []struct {
		url  string
		want sqlite.Options
	}{
		{"sqlite:///var/cache/myapp/cache.db?busy_timeout=5s&cleanup_interval=5m",
			sqlite.Options{Path: "/var/cache/myapp/cache.db", BusyTimeout: 5 * time.Second, CleanupInterval: 5 * time.Minute}},
		{"sqlite://:memory:", sqlite.Options{Path: ":memory:"}},
		{"sqlite://:memory:?max_entries=1000", sqlite.Options{Path: ":memory:", MaxEntries: 1000}},
		{"sqlite://localhost/tmp/c.db?cleanup_interval=0", sqlite.Options{Path: "/tmp/c.db", CleanupInterval: -1}},
		{"SQLITE:///tmp/a/../c.db?busy_timeout=2&max_size=64MiB&max_open_conns=4&synchronous=full",
			sqlite.Options{Path: "/tmp/c.db", BusyTimeout: 2 * time.Second, MaxSizeBytes: 64 << 20, MaxOpenConns: 4, SyncFull: true}},
		{"sqlite:///tmp/with%20space.db", sqlite.Options{Path: "/tmp/with space.db"}},
		{"sqlite:///tmp/c.db?integrity_check=quick", sqlite.Options{Path: "/tmp/c.db", IntegrityCheck: sqlite.IntegrityQuick}},
		{"sqlite:///tmp/c.db?integrity_check=FULL", sqlite.Options{Path: "/tmp/c.db", IntegrityCheck: sqlite.IntegrityFull}},
		{"sqlite:///tmp/c.db?integrity_check=off", sqlite.Options{Path: "/tmp/c.db", IntegrityCheck: sqlite.IntegrityOff}},
	}
	for _, c := range good {
		got, err := sqlite.ParseURL(c.url)
		if err != nil {
			t.Errorf("ParseURL(%q): %v", c.url, err)
			continue
		}
		if got != c.want {
			t.Errorf("ParseURL(%q) = %+v, want %+v", c.url, got, c.want)
		}
	}
	bad := []string{
		"sqlite://",
		"sqlite:relative.db",
		"sqlite://host/tmp/c.db",
		"sqlite://user:secret@/tmp/c.db",
		"sqlite:///tmp/c.db?unknown=1",
		"sqlite:///tmp/c.db?busy_timeout=-1s",
		"sqlite:///tmp/c.db?busy_timeout=0",
		"sqlite:///tmp/c.db?busy_timeout=NaN",
		"sqlite:///tmp/c.db?cleanup_interval=nan",
		"sqlite:///tmp/c.db?max_entries=-3",
		"sqlite:///tmp/c.db?max_size=lots",
		"sqlite:///tmp/c.db?synchronous=off",
		"sqlite:///tmp/c.db?integrity_check=fast",
		"sqlite:///tmp/c.db?integrity_check=",
		"sqlite:///tmp/c.db?max_open_conns=0",
		"sqlite:///tmp/dir/",
		"sqlite://:memory:/x",
		"sqlite:///tmp/c.db#frag",
		"redis://localhost",
	}
	for _, u := range bad {
		_, err := sqlite.ParseURL(u)
		if !errors.Is(err, backend.ErrInvalidConfig) {
			t.Errorf("ParseURL(%q) = %v, want ErrInvalidConfig", u, err)
		}
		if err != nil && strings.Contains(err.Error(), "secret") {
			t.Errorf("ParseURL(%q) error shows the password: %v", u, err)
		}
	}
}

func TestOpenURL(t *testing.T) {
	dir := t.TempDir()
	for _, u := range []string{"sqlite://:memory:", "sqlite://" + dir + "/c%3Fd%23e%25.db?cleanup_interval=1m"} {
		b, err := backend.Open(ctx, u)
		if err != nil {
			t.Fatalf("Open(%q): %v", u, err)
		}
		if err := b.Set(ctx, "k", []byte("v"), backend.SetOptions{TTL: time.Hour}); err != nil {
			t.Fatal(err)
		}
		if v, err := b.Get(ctx, "k"); err != nil || string(v) != "v" {
			t.Fatalf("Get = %q, %v", v, err)
		}
		if backend.Name(b) != "sqlite" {
			t.Fatal(backend.Name(b))
		}
		if err := b.Close(); err != nil {
			t.Fatal(err)
		}
	}
	// The file name with URI metacharacters was created as named.
	s := newStore(t, sqlite.Options{Path: dir + "/c?d#e%.db"})
	if v, err := s.Get(ctx, "k"); err != nil || string(v) != "v" {
		t.Fatalf("reopening the odd file name: %q, %v", v, err)
	}
}

func FuzzParseURL(f *testing.F) {
	for _, s := range []string{
		"sqlite:///var/cache/myapp/cache.db?busy_timeout=5s&cleanup_interval=5m",
		"sqlite://:memory:", "sqlite://localhost/x.db?max_size=1GB", "sqlite:///a?synchronous=full&max_entries=5",
		"sqlite://u:p@h/x", "sqlite:x", "sqlite:///%00",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		o, err := sqlite.ParseURL(raw)
		if err != nil {
			if !errors.Is(err, backend.ErrInvalidConfig) {
				t.Fatalf("ParseURL(%q) error %v does not match ErrInvalidConfig", raw, err)
			}
			return
		}
		if o.Path == "" || o.DB != nil || o.BusyTimeout < 0 || o.MaxEntries < 0 || o.MaxSizeBytes < 0 {
			t.Fatalf("ParseURL(%q) = %+v", raw, o)
		}
		if o.Path != sqlite.MemoryPath && !strings.HasPrefix(o.Path, "/") {
			t.Fatalf("ParseURL(%q) gave a relative path %q", raw, o.Path)
		}
	})
}
