package sqlite_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/yokedcache/yokedcache/backend"
	"github.com/yokedcache/yokedcache/backend/sqlite"
)

const helperEnv = "YOKEDCACHE_SQLITE_HELPER"

// helperMain runs the child side of TestMultiProcess when the test binary
// is re-executed with helperEnv set ("path id n"), and reports whether it
// did.
func helperMain() bool {
	if path := os.Getenv(stormEnv); path != "" {
		stormChild(path)
	}
	spec := os.Getenv(helperEnv)
	if spec == "" {
		return false
	}
	var path, id string
	var n int
	if _, err := fmt.Sscan(spec, &path, &id, &n); err != nil {
		fmt.Fprintln(os.Stderr, "bad spec:", err)
		os.Exit(2)
	}
	if err := child(path, id, n); err != nil {
		fmt.Fprintln(os.Stderr, "child", id+":", err)
		os.Exit(1)
	}
	os.Exit(0)
	return true
}

// child writes n keys (half of them tagged), reads each back, reads the
// other child's keys as they appear, and invalidates its own tag at the
// end; every error fails the child.
func child(path, id string, n int) error {
	ctx := context.Background()
	s, err := sqlite.New(sqlite.Options{Path: path})
	if err != nil {
		return err
	}
	defer s.Close()
	other := "a"
	if id == "a" {
		other = "b"
	}
	for i := range n {
		k := fmt.Sprintf("%s:%d", id, i)
		var tags []string
		if i%2 == 0 {
			tags = []string{"tag-" + id}
		}
		if err := s.Set(ctx, k, []byte(k), backend.SetOptions{TTL: time.Hour, Tags: tags}); err != nil {
			return fmt.Errorf("set %s: %w", k, err)
		}
		if v, err := s.Get(ctx, k); err != nil || string(v) != k {
			return fmt.Errorf("get own %s = %q, %v", k, v, err)
		}
		if _, err := s.Get(ctx, fmt.Sprintf("%s:%d", other, i)); err != nil && !backendNotFound(err) {
			return fmt.Errorf("get other: %w", err)
		}
		if i%50 == 0 {
			if err := s.SetMany(ctx, []backend.Item{{Key: k + ":batch", Value: []byte("b"), SetOptions: backend.SetOptions{TTL: time.Hour}}}); err != nil {
				return fmt.Errorf("set many: %w", err)
			}
		}
	}
	got, err := s.InvalidateTags(ctx, []string{"tag-" + id})
	if err != nil {
		return fmt.Errorf("invalidate: %w", err)
	}
	if got != int64((n+1)/2) {
		return fmt.Errorf("invalidated %d, want %d", got, (n+1)/2)
	}
	return nil
}

func backendNotFound(err error) bool { return err != nil && errors.Is(err, backend.ErrNotFound) }

// TestMultiProcess runs two processes writing, reading and invalidating
// tags on one database file at the same time: no "database is locked"
// error may surface, and the parent then sees every write.
func TestMultiProcess(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: starts two processes")
	}
	path := filepath.Join(t.TempDir(), "shared.db")
	s := newStore(t, sqlite.Options{Path: path}) // creates the schema first
	const n = 400
	var wg sync.WaitGroup
	for _, id := range []string{"a", "b"} {
		wg.Go(func() {
			cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$")
			cmd.Env = append(os.Environ(), helperEnv+"="+path+" "+id+" "+strconv.Itoa(n))
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Errorf("child %s: %v\n%s", id, err, out)
			}
		})
	}
	wg.Wait()
	for _, id := range []string{"a", "b"} {
		for i := range n {
			k := fmt.Sprintf("%s:%d", id, i)
			_, err := s.Get(ctx, k)
			if i%2 == 0 && !backendNotFound(err) {
				t.Fatalf("Get(%s) after the child invalidated its tag = %v, want ErrNotFound", k, err)
			}
			if i%2 == 1 && err != nil {
				t.Fatalf("Get(%s) = %v", k, err)
			}
		}
	}
}

// TestHelperProcess is the entry point of the children; run directly it
// does nothing (TestMain runs the child before any test).
func TestHelperProcess(t *testing.T) {}

// A write waits for another connection's write lock up to the busy
// timeout, then fails with a bounded delay instead of hanging.
func TestBusyTimeout(t *testing.T) {
	path := filepath.Join(t.TempDir(), "busy.db")
	s := newStore(t, sqlite.Options{Path: path, BusyTimeout: 300 * time.Millisecond})
	other, err := sql.Open(sqlite.DriverName, path)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	conn, err := other.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	lock := func() {
		t.Helper()
		if _, err := conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
			t.Fatal(err)
		}
	}
	// Held briefly: the Set waits and succeeds.
	lock()
	go func() {
		time.Sleep(100 * time.Millisecond)
		_, _ = conn.ExecContext(ctx, "COMMIT")
	}()
	if err := s.Set(ctx, "k", []byte("v"), backend.SetOptions{TTL: time.Hour, Tags: []string{"t"}}); err != nil {
		t.Fatalf("Set while another connection held the lock for 100 ms: %v", err)
	}
	// Held for ever: the Set fails after about the busy timeout.
	time.Sleep(20 * time.Millisecond)
	lock()
	start := time.Now()
	err = s.Set(ctx, "k2", []byte("v"), backend.SetOptions{TTL: time.Hour})
	took := time.Since(start)
	_, _ = conn.ExecContext(ctx, "ROLLBACK")
	if err == nil {
		t.Fatal("Set succeeded while another connection held the write lock")
	}
	if took < 250*time.Millisecond || took > 10*time.Second {
		t.Fatalf("Set failed after %v, want about the 300 ms busy timeout", took)
	}
	// Reads are not blocked by a writer (WAL).
	lock()
	defer conn.ExecContext(ctx, "ROLLBACK")
	if v, err := s.Get(ctx, "k"); err != nil || string(v) != "v" {
		t.Fatalf("Get while another connection writes = %q, %v", v, err)
	}
}
