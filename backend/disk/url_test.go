package disk_test

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/yokedcache/yokedcache/backend"
	"github.com/yokedcache/yokedcache/backend/disk"
)

func TestParseURL(t *testing.T) {
	o, err := disk.ParseURL("file:///var/cache/myapp?max_size=5GB&cleanup_interval=5m")
	if err != nil {
		t.Fatal(err)
	}
	if o.Directory != "/var/cache/myapp" || o.MaxSizeBytes != 5e9 || o.CleanupInterval != 5*time.Minute {
		t.Fatalf("ParseURL = %+v", o)
	}
	o, err = disk.ParseURL("file://localhost/tmp/x/?max_size=-1&cleanup_interval=0&lock_timeout=2&sync=true&verify=false&allow_world_writable=1")
	if err != nil {
		t.Fatal(err)
	}
	want := disk.Options{Directory: "/tmp/x", MaxSizeBytes: -1, CleanupInterval: -1, LockTimeout: 2 * time.Second,
		Sync: true, SkipVerify: true, AllowWorldWritable: true}
	if o != want {
		t.Fatalf("ParseURL = %+v; want %+v", o, want)
	}
	for _, c := range []struct {
		url  string
		want disk.IntegrityCheck
		skip bool
	}{
		{"file:///x?integrity_check=off", disk.IntegrityOff, true},
		{"file:///x?integrity_check=Quick", disk.IntegrityQuick, false},
		{"file:///x?integrity_check=full&verify=false", disk.IntegrityFull, false},
	} {
		o, err := disk.ParseURL(c.url)
		if err != nil || o.IntegrityCheck != c.want || o.SkipVerify != c.skip {
			t.Errorf("ParseURL(%q) = %+v, %v; want IntegrityCheck %q, SkipVerify %v", c.url, o, err, c.want, c.skip)
		}
	}
	if _, err := disk.New(disk.Options{Directory: t.TempDir(), SkipVerify: true, IntegrityCheck: disk.IntegrityFull}); !errors.Is(err, backend.ErrInvalidConfig) {
		t.Errorf("New with SkipVerify and IntegrityCheck full = %v; want ErrInvalidConfig", err)
	}
	for _, bad := range []string{
		"file:///var/cache?integrity_check=fast",
		"file:///var/cache?nope=1",
		"file:///var/cache?max_size=lots",
		"file:///var/cache?max_size=0",
		"file:///var/cache?cleanup_interval=-1s",
		"file:///var/cache?lock_timeout=0",
		"file:///var/cache?cleanup_interval=NaN",
		"file:///var/cache?lock_timeout=nan",
		"file:///var/cache?lock_timeout=Inf",
		"file:///var/cache?sync=maybe",
		"file://otherhost/var/cache",
		"file://user:pw@/var/cache",
		"file:relative/dir",
		"file://",
		"file:///var/cache#frag",
		"mem://",
		"",
	} {
		if _, err := disk.ParseURL(bad); !errors.Is(err, backend.ErrInvalidConfig) {
			t.Errorf("ParseURL(%q) = %v; want ErrInvalidConfig", bad, err)
		}
	}
	if _, err := disk.ParseURL("file://user:secret@/x"); err == nil || strings.Contains(err.Error(), "secret") {
		t.Errorf("error shows the password: %v", err)
	}
}

func TestOpenURL(t *testing.T) {
	dir := t.TempDir()
	b, err := backend.Open(ctx, "file://"+dir+"?max_size=1MiB&cleanup_interval=1m")
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if backend.Name(b) != "disk" {
		t.Fatalf("opened %q", backend.Name(b))
	}
	st, err := b.(backend.Stater).Stats(ctx, "")
	if err != nil || st.Extra["max_size_bytes"] != int64(1<<20) {
		t.Fatalf("Stats = %+v, %v", st, err)
	}
	if _, err := backend.Open(ctx, "file://"+dir+"?bogus=1"); !errors.Is(err, backend.ErrInvalidConfig) {
		t.Fatalf("unknown parameter: %v", err)
	}
}

func FuzzParseURL(f *testing.F) {
	for _, s := range []string{
		"file:///var/cache/myapp?max_size=5GB&cleanup_interval=5m",
		"file://localhost/x?sync=true&verify=0",
		"file:///a?max_size=-1&lock_timeout=1.5",
		"file:rel", "file://h/x", "file:///%00", "file:///a?max_size=1e400",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		o, err := disk.ParseURL(raw)
		if err != nil {
			if !errors.Is(err, backend.ErrInvalidConfig) {
				t.Fatalf("ParseURL(%q) error %v does not match ErrInvalidConfig", raw, err)
			}
			return
		}
		if !filepath.IsAbs(o.Directory) || filepath.Clean(o.Directory) != o.Directory || o.MaxSizeBytes < -1 ||
			o.LockTimeout < 0 || o.CleanupInterval < -1 {
			t.Fatalf("ParseURL(%q) = %+v: invalid options accepted", raw, o)
		}
	})
}
