//go:build unix

package sqlite_test

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/yokedcache/yokedcache/backend/sqlite"
	"github.com/yokedcache/yokedcache/internal/filetest"
)

// Every file the Store creates is 0600 and every directory 0700,
// whatever the umask.
func TestPrivateFiles(t *testing.T) {
	for _, mask := range []int{0o000, 0o022} {
		t.Run(fmt.Sprintf("umask %03o", mask), func(t *testing.T) {
			filetest.WithUmask(mask, func() {
				dir := filepath.Join(t.TempDir(), "new", "dir")
				path := filepath.Join(dir, "cache.db")
				s := newStore(t, sqlite.Options{Path: path, CleanupInterval: -1})
				set(t, s, "k", "v", time.Hour) // creates the -wal and -shm files
				for _, p := range []string{path, path + "-wal", path + "-shm"} {
					if m := filetest.Perm(t, p); m != 0o600 {
						t.Errorf("%s: mode %#o; want 0600", filepath.Base(p), m)
					}
				}
				for _, d := range []string{dir, filepath.Dir(dir)} {
					if m := filetest.Perm(t, d); m != 0o700 {
						t.Errorf("directory %s: mode %#o; want 0700", d, m)
					}
				}
				must(t, s.Close())

				// A quarantined file is private too, even if it was not.
				bad := filepath.Join(dir, "bad.db")
				must(t, os.WriteFile(bad, bytes.Repeat([]byte("garbage "), 1000), 0o600))
				s = newStore(t, sqlite.Options{Path: bad, CleanupInterval: -1})
				aside, _ := filepath.Glob(bad + ".corrupt-*")
				for _, p := range append(aside, bad) {
					if m := filetest.Perm(t, p); m != 0o600 {
						t.Errorf("%s: mode %#o; want 0600", filepath.Base(p), m)
					}
				}
				must(t, s.Close())
			})
		})
	}
}
