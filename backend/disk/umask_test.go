//go:build unix

package disk_test

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/yokedcache/yokedcache/backend"
	"github.com/yokedcache/yokedcache/backend/disk"
	"github.com/yokedcache/yokedcache/internal/filetest"
)

// Every file the store creates (the store file, quarantined copies) is
// 0600 and every directory 0700, whatever the umask.
func TestPrivateFilesUnderUmask(t *testing.T) {
	for _, mask := range []int{0o000, 0o022} {
		t.Run(fmt.Sprintf("umask %03o", mask), func(t *testing.T) {
			filetest.WithUmask(mask, func() {
				dir := filepath.Join(t.TempDir(), "a", "b")
				s := open(t, disk.Options{Directory: dir, CleanupInterval: -1})
				must(t, s.Set(ctx, "k", []byte("v"), backend.SetOptions{TTL: time.Hour}))
				must(t, s.Close())
				for _, d := range []string{dir, filepath.Dir(dir)} {
					if m := filetest.Perm(t, d); m != 0o700 {
						t.Errorf("directory %s: mode %#o; want 0700", d, m)
					}
				}
				path := filepath.Join(dir, disk.FileName)
				if m := filetest.Perm(t, path); m != 0o600 {
					t.Errorf("store file: mode %#o; want 0600", m)
				}
				must(t, os.WriteFile(path, []byte("not a database, long enough to be looked at........"), 0o600))
				s = open(t, disk.Options{Directory: dir, CleanupInterval: -1})
				must(t, s.Close())
				aside, _ := filepath.Glob(path + ".corrupt-*")
				if len(aside) != 1 {
					t.Fatalf("quarantined: %v", aside)
				}
				for _, p := range []string{path, aside[0]} {
					if m := filetest.Perm(t, p); m != 0o600 {
						t.Errorf("%s: mode %#o; want 0600", filepath.Base(p), m)
					}
				}
			})
		})
	}
}
