package disk_test

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/yokedcache/yokedcache/backend"
	"github.com/yokedcache/yokedcache/backend/disk"
)

// A writer process is killed mid-storm; its store file is then cut at
// seeded random points (a torn write, or a file system that lost the
// tail), and each cut copy is opened: the open succeeds (quarantining the
// file when its pages are gone) and every value read is the one written
// for that key.
func TestTornStoreFile(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: starts a writer process")
	}
	dir := t.TempDir()
	cmd := helper(t, "storm", dir)
	stdout, err := cmd.StdoutPipe()
	must(t, err)
	must(t, cmd.Start())
	sc := bufio.NewScanner(stdout)
	last := -1
	deadline := time.Now().Add(10 * time.Second)
	for sc.Scan() {
		last, _ = strconv.Atoi(sc.Text())
		if last >= 1500 || time.Now().After(deadline) {
			break
		}
	}
	must(t, cmd.Process.Signal(syscall.SIGKILL))
	for sc.Scan() {
		last, _ = strconv.Atoi(sc.Text())
	}
	_ = cmd.Wait()
	if last < 100 {
		t.Fatalf("the writer committed only %d steps", last+1)
	}
	file, err := os.ReadFile(filepath.Join(dir, disk.FileName))
	must(t, err)
	t.Logf("writer committed %d steps; store file %d bytes", last+1, len(file))

	rng := rand.New(rand.NewPCG(7, 7))
	cuts := []int{len(file), 0, 4096, 2 * 4096, len(file) - 4096, len(file) - 1}
	for range 20 {
		cuts = append(cuts, rng.IntN(len(file)))
	}
	for _, cut := range cuts {
		t.Run(fmt.Sprintf("cut at %d", cut), func(t *testing.T) {
			d := t.TempDir()
			must(t, os.WriteFile(filepath.Join(d, disk.FileName), file[:cut], 0o600))
			s := open(t, disk.Options{Directory: d, CleanupInterval: -1})
			found := 0
			for i := 0; i <= last; i++ {
				keys := []string{"k:" + strconv.Itoa(i)}
				if i%10 == 9 {
					keys = append(keys, keys[0]+":b", keys[0]+":c")
				}
				for _, k := range keys {
					v, err := s.Get(ctx, k)
					switch {
					case err == nil && bytes.Equal(v, value(i)):
						found++
					case err == nil:
						t.Fatalf("%s = %.60q; want %.60q or a miss", k, v, value(i))
					case !errors.Is(err, backend.ErrNotFound) && !errors.Is(err, backend.ErrCorrupt):
						t.Fatalf("%s: %v", k, err)
					}
				}
			}
			h, _ := s.HealthDetails(ctx)
			if cut == len(file) && (found == 0 || h.Status != "healthy") {
				t.Fatalf("the whole file: %d keys read, health %+v", found, h)
			}
			if found == 0 && h.Status == "healthy" && cut > 0 {
				t.Errorf("cut at %d: nothing read back, yet health is healthy: %+v", cut, h)
			}
		})
	}
}
