package disk_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/yokedcache/yokedcache/backend"
	"github.com/yokedcache/yokedcache/backend/disk"
)

// The tests below re-execute the test binary as a second process:
// TestHelperProcess does the child's part when helperEnv is set.
const helperEnv = "YOKEDCACHE_DISK_HELPER"

func helper(t *testing.T, mode, dir string, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], append([]string{"-test.run=^TestHelperProcess$", "--", mode, dir}, args...)...)
	cmd.Env = append(os.Environ(), helperEnv+"=1")
	cmd.Stderr = os.Stderr
	return cmd
}

func value(i int) []byte { return fmt.Appendf(nil, "value-%d-%s", i, strings.Repeat("x", i%200)) }

// TestHelperProcess is the child process of the multi-process tests. It is
// a no-op in a normal run.
func TestHelperProcess(t *testing.T) {
	if os.Getenv(helperEnv) != "1" {
		return
	}
	args := os.Args
	for i, a := range args {
		if a == "--" {
			args = args[i+1:]
			break
		}
	}
	mode, dir := args[0], args[1]
	ctx := context.Background()
	s, err := disk.New(disk.Options{Directory: dir, LockTimeout: 5 * time.Second})
	if err != nil {
		fmt.Fprintln(os.Stderr, "helper open:", err)
		os.Exit(2)
	}
	switch mode {
	case "write": // write n entries, close, exit
		n, _ := strconv.Atoi(args[2])
		for i := range n {
			o := backend.SetOptions{TTL: backend.NoExpiry, Tags: []string{"t:all"}}
			if i%2 == 0 {
				o = backend.SetOptions{TTL: time.Hour, Tags: []string{"t:all", "t:even"}}
			}
			if err := s.Set(ctx, "k:"+strconv.Itoa(i), value(i), o); err != nil {
				fmt.Fprintln(os.Stderr, "helper set:", err)
				os.Exit(2)
			}
		}
		if err := s.Close(); err != nil {
			os.Exit(2)
		}
	case "storm": // write until killed, reporting each committed key
		w := bufio.NewWriter(os.Stdout)
		for i := 0; ; i++ {
			key := "k:" + strconv.Itoa(i)
			var err error
			if i%10 == 9 { // a batch of 3
				err = s.SetMany(ctx, []backend.Item{
					{Key: key, Value: value(i), SetOptions: backend.SetOptions{TTL: time.Hour, Tags: []string{"t:batch"}}},
					{Key: key + ":b", Value: value(i), SetOptions: backend.SetOptions{TTL: time.Hour}},
					{Key: key + ":c", Value: value(i), SetOptions: backend.SetOptions{TTL: backend.NoExpiry}},
				})
			} else {
				err = s.Set(ctx, key, value(i), backend.SetOptions{TTL: time.Hour, Tags: []string{"t:" + strconv.Itoa(i%7)}})
			}
			if err != nil {
				fmt.Fprintln(os.Stderr, "helper set:", err)
				os.Exit(2)
			}
			// Reported only after Set returned: the key is committed.
			fmt.Fprintln(w, i)
			if err := w.Flush(); err != nil {
				os.Exit(3)
			}
		}
	case "hold": // hold the lock until stdin closes
		fmt.Println("ready")
		_, _ = io.Copy(io.Discard, os.Stdin)
		if err := s.Close(); err != nil {
			os.Exit(2)
		}
	}
	os.Exit(0)
}

func TestRestartReadsWhatAnotherProcessWrote(t *testing.T) {
	dir := t.TempDir()
	const n = 300
	if out, err := helper(t, "write", dir, strconv.Itoa(n)).Output(); err != nil {
		t.Fatalf("writer process: %v\n%s", err, out)
	}
	ctx := context.Background()
	s := open(t, disk.Options{Directory: dir})
	for i := range n {
		got, err := s.Get(ctx, "k:"+strconv.Itoa(i))
		if err != nil || string(got) != string(value(i)) {
			t.Fatalf("after restart, Get(k:%d) = %q, %v; want %q", i, got, err, value(i))
		}
	}
	ttl, err := s.TTL(ctx, "k:0")
	if err != nil || ttl <= 50*time.Minute || ttl > time.Hour {
		t.Errorf("TTL(k:0) after restart = %v, %v; want about 1h", ttl, err)
	}
	if ttl, err := s.TTL(ctx, "k:1"); err != nil || ttl != backend.NoExpiry {
		t.Errorf("TTL(k:1) after restart = %v, %v; want NoExpiry", ttl, err)
	}
	st, err := s.Stats(ctx, "")
	if err != nil || st.Keys != n {
		t.Errorf("Stats after restart = %+v, %v; want %d keys", st, err, n)
	}
	// The tag index survived too.
	if got, err := s.InvalidateTags(ctx, []string{"t:even"}); err != nil || got != n/2 {
		t.Errorf("InvalidateTags(t:even) after restart = %d, %v; want %d", got, err, n/2)
	}
	if got, err := s.InvalidateTags(ctx, []string{"t:all"}); err != nil || got != n/2 {
		t.Errorf("InvalidateTags(t:all) = %d, %v; want %d", got, err, n/2)
	}
	if st, _ := s.Stats(ctx, ""); st.Keys != 0 {
		t.Errorf("keys after invalidating every tag = %d; want 0", st.Keys)
	}
}

func TestSIGKILLDuringWriteStormKeepsCommittedEntries(t *testing.T) {
	dir := t.TempDir()
	cmd := helper(t, "storm", dir)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(stdout)
	committed := -1
	deadline := time.Now().Add(10 * time.Second)
	for sc.Scan() {
		i, err := strconv.Atoi(sc.Text())
		if err != nil {
			t.Fatalf("child wrote %q", sc.Text())
		}
		committed = i
		if i >= 3000 || time.Now().After(deadline) {
			break
		}
	}
	// Kill mid-storm: the child is writing its next entries right now.
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	// Lines written before the kill are still in the pipe.
	for sc.Scan() {
		if i, err := strconv.Atoi(sc.Text()); err == nil {
			committed = i
		}
	}
	err = cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("child did not die by SIGKILL: %v", err)
	}
	if committed < 100 {
		t.Fatalf("child committed only %d entries before the kill", committed+1)
	}
	t.Logf("child reported %d committed writes before SIGKILL", committed+1)

	ctx := context.Background()
	s := open(t, disk.Options{Directory: dir}) // verifies every page on open
	if st, _ := s.HealthDetails(ctx); st.Status != "healthy" {
		t.Errorf("health after crash = %+v; want healthy (no quarantine)", st)
	}
	for i := 0; i <= committed; i++ {
		keys := []string{"k:" + strconv.Itoa(i)}
		if i%10 == 9 {
			keys = append(keys, keys[0]+":b", keys[0]+":c")
		}
		for _, k := range keys {
			got, err := s.Get(ctx, k)
			if err != nil || string(got) != string(value(i)) {
				t.Fatalf("committed key %s after SIGKILL: %q, %v; want %q", k, got, err, value(i))
			}
		}
	}
	// Not closed cleanly: the counters were rebuilt by a scan.
	if st, _ := s.Stats(ctx, ""); st.Keys != int64(buckets(t, s)["d"]) || st.Keys < int64(committed+1) {
		t.Errorf("Stats after crash = %+v; want %d keys (at least %d)", st, buckets(t, s)["d"], committed+1)
	}
	// The store is fully usable: writes, tag invalidation, sweep.
	if err := s.Set(ctx, "after", []byte("v"), backend.SetOptions{TTL: time.Hour}); err != nil {
		t.Fatal(err)
	}
	n, err := s.InvalidateTags(ctx, []string{"t:batch"})
	if err != nil || n < int64((committed+1)/10) {
		t.Errorf("InvalidateTags(t:batch) = %d, %v; want >= %d", n, err, (committed+1)/10)
	}
}

func TestSecondProcessGetsLockError(t *testing.T) {
	dir := t.TempDir()
	cmd := helper(t, "hold", dir)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || line != "ready\n" {
		t.Fatalf("child: %q, %v", line, err)
	}
	start := time.Now()
	s, err := disk.New(disk.Options{Directory: dir, LockTimeout: 200 * time.Millisecond, Logger: quietLogger()})
	if err == nil {
		s.Close()
		t.Fatal("second process opened a locked store")
	}
	if !errors.Is(err, disk.ErrLocked) || !strings.Contains(err.Error(), dir) {
		t.Fatalf("second opener: %v; want ErrLocked naming the path", err)
	}
	if el := time.Since(start); el > 3*time.Second {
		t.Fatalf("second opener waited %s; want about the 200ms LockTimeout", el)
	}
	// The holder is unaffected and, once it exits, the store opens.
	stdin.Close()
	if err := cmd.Wait(); err != nil {
		t.Fatalf("holder: %v", err)
	}
	open(t, disk.Options{Directory: dir})
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("directory has %d files; want only the store (no quarantine after a lock error)", len(entries))
	}
}
