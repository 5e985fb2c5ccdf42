package sqlite_test

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/yokedcache/yokedcache/backend"
	"github.com/yokedcache/yokedcache/backend/sqlite"
)

// stormEnv makes the test binary a writer that runs until killed
// (stormChild).
const stormEnv = "YOKEDCACHE_SQLITE_STORM"

// stormValue is the value of key k:j written at step ver: it names its
// key, so that any value read back can be checked exactly.
func stormValue(j, ver int) []byte {
	pad := (j*31 + ver*7) % 600
	if (j+ver)%41 == 0 {
		pad = 5000 + j%1000 // an overflow page
	}
	return fmt.Appendf(nil, "k:%d=%d:%s", j, ver, strings.Repeat("p", pad))
}

// checkStormValue reports whether v is a value stormValue could have
// written for k:j.
func checkStormValue(j int, v []byte) bool {
	rest, ok := bytes.CutPrefix(v, fmt.Appendf(nil, "k:%d=", j))
	if !ok {
		return false
	}
	ver, _, ok := bytes.Cut(rest, []byte(":"))
	if !ok {
		return false
	}
	n, err := strconv.Atoi(string(ver))
	return err == nil && bytes.Equal(v, stormValue(j, n))
}

// stormChild writes k:i at step i, and rewrites k:i/2 every third step,
// printing each step after it committed, until killed.
func stormChild(path string) {
	s, err := sqlite.New(sqlite.Options{Path: path, CleanupInterval: -1})
	if err != nil {
		fmt.Fprintln(os.Stderr, "storm open:", err)
		os.Exit(2)
	}
	w := bufio.NewWriter(os.Stdout)
	for i := 0; ; i++ {
		err := s.Set(ctx, "k:"+strconv.Itoa(i), stormValue(i, i), backend.SetOptions{TTL: time.Hour})
		if err == nil && i%3 == 2 {
			err = s.SetMany(ctx, []backend.Item{{Key: "k:" + strconv.Itoa(i/2), Value: stormValue(i/2, i),
				SetOptions: backend.SetOptions{TTL: time.Hour, Tags: []string{"t"}}}})
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "storm set:", err)
			os.Exit(2)
		}
		fmt.Fprintln(w, i)
		if w.Flush() != nil {
			os.Exit(3)
		}
	}
}

// A writer process is killed mid-storm; its WAL is then cut at seeded
// random points (a torn write of the last frames, or more), and each cut
// copy is opened: the open succeeds and every value read is one the
// writer wrote for that key (SQLite ignores WAL frames after the first
// whose checksum fails, so a torn tail loses only the last commits).
func TestTornWAL(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: starts a writer process")
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "storm.db")
	// The schema first, so that the child's WAL holds only entries.
	s := newStore(t, sqlite.Options{Path: path})
	must(t, s.Close())
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$")
	cmd.Env = append(os.Environ(), stormEnv+"="+path)
	cmd.Stderr = os.Stderr
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
	db, err := os.ReadFile(path)
	must(t, err)
	wal, err := os.ReadFile(path + "-wal")
	must(t, err)
	if len(wal) < 32 {
		t.Fatalf("the killed writer left a %d-byte WAL; want frames", len(wal))
	}
	t.Logf("writer committed %d steps; database %d bytes, WAL %d bytes", last+1, len(db), len(wal))

	rng := rand.New(rand.NewPCG(7, 7))
	cuts := []int{len(wal), 0, 31, 32, len(wal) - 1}
	for range 20 {
		cuts = append(cuts, rng.IntN(len(wal)))
	}
	for _, cut := range cuts {
		t.Run(fmt.Sprintf("wal cut at %d", cut), func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "cut.db")
			must(t, os.WriteFile(p, db, 0o600))
			must(t, os.WriteFile(p+"-wal", wal[:cut], 0o600))
			s, err := sqlite.New(sqlite.Options{Path: p, Logger: quiet(), CleanupInterval: -1, IntegrityCheck: sqlite.IntegrityFull})
			if err != nil {
				t.Fatalf("open after a WAL cut at %d: %v", cut, err)
			}
			defer s.Close()
			found := 0
			for j := 0; j <= last; j++ {
				v, err := s.Get(ctx, "k:"+strconv.Itoa(j))
				switch {
				case err == nil && checkStormValue(j, v):
					found++
				case err == nil:
					t.Fatalf("k:%d = %.60q: not a value the writer wrote for it", j, v)
				case !errors.Is(err, backend.ErrNotFound):
					t.Fatalf("k:%d: %v", j, err)
				}
			}
			if cut == len(wal) && found < last+1 {
				t.Fatalf("with the whole WAL %d of %d committed keys read back", found, last+1)
			}
			if h, _ := s.HealthDetails(ctx); h.Status != "healthy" {
				t.Errorf("health = %+v", h)
			}
		})
	}
}
