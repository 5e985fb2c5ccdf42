package main_test

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/yokedcache/yokedcache/internal/testserver"
)

// keyRow is one row of `list -o json`.
type keyRow struct {
	Key        string   `json:"key"`
	TTLSeconds *float64 `json:"ttl_seconds"`
	Tags       []string `json:"tags"`
	Value      any      `json:"value"`
}

// keysOf lists every key of env's cache with its TTL and tags.
func keysOf(t *testing.T, env map[string]string) map[string]keyRow {
	t.Helper()
	var rows []keyRow
	jsonOf(t, cli(t, env, "", "list", "-o", "json", "--include-values").want(t, 0).stdout, &rows)
	out := map[string]keyRow{}
	for _, r := range rows {
		out[r.Key] = r
	}
	return out
}

func keyNames(m map[string]keyRow) string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	return fmt.Sprint(ks)
}

func writeFile(t *testing.T, path, body string) string {
	t.Helper()
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestPythonHabits has one case per row of the "Coming from Python"
// issue: each Python habit either does what Python YokedCache does or is
// refused (exit 2) with what to type instead; never exit 0 with another
// meaning. Each case runs against a fresh SQLite file, seeded with
// user:1 (tag users), user:2 (tag users), other:1 (tag misc) and
// session:x, and checks the exit code, the output and the cache state.
func TestPythonHabits(t *testing.T) {
	type check func(t *testing.T, env map[string]string, dir string, r result)
	cases := []struct {
		name      string
		args      []string // {dir} is replaced by the case's directory
		stdin     string
		code      int
		stdoutHas []string
		stderrHas []string
		check     check
	}{
		{
			name: "set -t 60 is the TTL", args: []string{"set", "k", "v", "-t", "60"}, code: 0, stdoutHas: []string{"OK"},
			check: func(t *testing.T, env map[string]string, _ string, _ result) {
				r := keysOf(t, env)["k"]
				// 60s plus at most the default 10 % jitter.
				if r.TTLSeconds == nil || *r.TTLSeconds <= 0 || *r.TTLSeconds > 66 || len(r.Tags) != 0 || r.Value != "v" {
					t.Fatalf("k: %+v (want TTL <= 60s+10%%, no tags)", r)
				}
			},
		},
		{
			name: "set -t TAG is refused and names --tags", args: []string{"set", "k", "v", "-t", "users"}, code: 2,
			stderrHas: []string{"-t is the TTL", "--tags"},
			check: func(t *testing.T, env map[string]string, _ string, _ result) {
				if _, ok := keysOf(t, env)["k"]; ok {
					t.Fatal("k was stored")
				}
			},
		},
		{
			name: "search -t 60 is the threshold", args: []string{"search", "usr 1", "-t", "60", "-o", "json"}, code: 0,
			stdoutHas: []string{`"key": "user:1"`},
		},
		{
			name: "search -t TAG is refused and names --tags", args: []string{"search", "usr", "-t", "users"}, code: 2,
			stderrHas: []string{"threshold", "--tags"},
		},
		{
			name: "-v is verbose and runs the command", args: []string{"-v", "list"}, code: 0,
			stdoutHas: []string{"user:1", "session:x"},
			check: func(t *testing.T, _ map[string]string, _ string, r result) {
				if strings.Contains(r.stdout, "version") {
					t.Fatalf("-v printed the version:\n%s", r.stdout)
				}
				if !strings.Contains(r.stderr, "level=DEBUG") {
					t.Fatalf("-v: no debug logging on stderr:\n%s", r.stderr)
				}
			},
		},
		{
			name: "list -p is a prefix", args: []string{"list", "-p", "user", "-o", "json"}, code: 0,
			stdoutHas: []string{`"user:1"`, `"user:2"`},
			check: func(t *testing.T, _ map[string]string, _ string, r result) {
				if strings.Contains(r.stdout, "other:1") || strings.Contains(r.stdout, "session:x") {
					t.Fatalf("list -p user listed other keys:\n%s", r.stdout)
				}
			},
		},
		{
			name: "list -p GLOB is refused and names -P", args: []string{"list", "-p", "user:*"}, code: 2,
			stderrHas: []string{"-P/--pattern"},
		},
		{
			name: "delete of a missing key exits 1", args: []string{"delete", "missing"}, code: 1,
			stdoutHas: []string{"deleted 0 of 1"}, stderrHas: []string{`"missing": not found`},
			check: func(t *testing.T, env map[string]string, _ string, _ result) {
				if n := len(keysOf(t, env)); n != 4 {
					t.Fatalf("%d keys left, want 4", n)
				}
			},
		},
		{
			name: "delete of one present and one missing key exits 1 and deletes the present one", args: []string{"delete", "user:1", "missing"}, code: 1,
			stdoutHas: []string{"deleted 1 of 2"}, stderrHas: []string{"1 of 2 keys not found"},
			check: func(t *testing.T, env map[string]string, _ string, _ result) {
				if _, ok := keysOf(t, env)["user:1"]; ok {
					t.Fatal("user:1 still there")
				}
			},
		},
		{
			name: "stats -f json", args: []string{"stats", "-f", "json"}, code: 0, stdoutHas: []string{`"backend": "sqlite"`, `"keys": 4`},
		},
		{
			name: "list -l 2 limits", args: []string{"list", "-l", "2"}, code: 0, stderrHas: []string{"first 2 keys"},
			check: func(t *testing.T, _ map[string]string, _ string, r result) {
				if n := strings.Count(strings.TrimSpace(r.stdout), "\n"); n != 2 {
					t.Fatalf("list -l 2 printed %d rows:\n%s", n, r.stdout)
				}
			},
		},
		{
			name: "ping -t is the timeout in seconds", args: []string{"ping", "-t", "5", "--show-timing"}, code: 0, stdoutHas: []string{"OK (", "backend sqlite"},
		},
		{
			name: "warm -c FILE without a warm section", args: []string{"-c", "{dir}/py.yaml", "warm"}, code: 2, stderrHas: []string{`no "entries" list and no "warm" section`},
		},
		{
			name: "warm -c FILE warms from that file", args: []string{"-c", "{dir}/warm.yaml", "warm"}, code: 0, stdoutHas: []string{"warmed 1 entries"},
			check: func(t *testing.T, env map[string]string, _ string, _ result) {
				if r, ok := keysOf(t, env)["warmed"]; !ok || r.Value != "hi" {
					t.Fatalf("warmed: %+v", r)
				}
			},
		},
		{
			name: "warm --config-file FILE", args: []string{"warm", "--config-file", "{dir}/warm.yaml"}, code: 0, stdoutHas: []string{"warmed 1 entries"},
			check: func(t *testing.T, env map[string]string, _ string, _ result) {
				if _, ok := keysOf(t, env)["warmed"]; !ok {
					t.Fatal("not warmed")
				}
			},
		},
		{
			name: "export-config -o FILE writes the file", args: []string{"export-config", "-o", "{dir}/exported.yaml"}, code: 0,
			stderrHas: []string{"exported.yaml"},
			check: func(t *testing.T, _ map[string]string, dir string, r result) {
				b, err := os.ReadFile(filepath.Join(dir, "exported.yaml"))
				if err != nil || !strings.Contains(string(b), "url: sqlite://") || !strings.Contains(string(b), "key_prefix: yokedcache") {
					t.Fatalf("exported: %v\n%s", err, b)
				}
				if strings.Contains(r.stdout, "key_prefix") {
					t.Fatalf("export-config -o FILE also printed the config:\n%s", r.stdout)
				}
			},
		},
		{
			name: "stats -o FILE writes the file", args: []string{"stats", "-f", "csv", "-o", "{dir}/stats.csv"}, code: 0,
			check: func(t *testing.T, _ map[string]string, dir string, r result) {
				b, err := os.ReadFile(filepath.Join(dir, "stats.csv"))
				if err != nil || !strings.HasPrefix(string(b), "METRIC,VALUE,COVERS\n") || !strings.Contains(string(b), "keys,4,") {
					t.Fatalf("stats.csv: %v\n%s", err, b)
				}
				if r.stdout != "" {
					t.Fatalf("stdout: %q", r.stdout)
				}
			},
		},
		{
			name: "-o FILE elsewhere is refused", args: []string{"list", "-o", "{dir}/keys.txt"}, code: 2, stderrHas: []string{"only stats and export-config take -o FILE"},
			check: func(t *testing.T, _ map[string]string, dir string, _ result) {
				if _, err := os.Stat(filepath.Join(dir, "keys.txt")); err == nil {
					t.Fatal("keys.txt was created")
				}
			},
		},
		{
			name: "flush --pattern --force", args: []string{"flush", "--pattern", "user:*", "--force"}, code: 0, stdoutHas: []string{"deleted 2 keys"},
			check: func(t *testing.T, env map[string]string, _ string, _ result) {
				if ks := keysOf(t, env); len(ks) != 2 || ks["other:1"].Key == "" || ks["session:x"].Key == "" {
					t.Fatalf("left: %s", keyNames(ks))
				}
			},
		},
		{
			name: "flush --tags -f", args: []string{"flush", "--tags", "misc", "-f"}, code: 0, stdoutHas: []string{"deleted 1 entries"},
			check: func(t *testing.T, env map[string]string, _ string, _ result) {
				if ks := keysOf(t, env); len(ks) != 3 || ks["other:1"].Key != "" {
					t.Fatalf("left: %s", keyNames(ks))
				}
			},
		},
		{
			name: "flush --key --force", args: []string{"flush", "--key", "session:x", "--force"}, code: 0, stdoutHas: []string{"deleted 1 of 1"},
			check: func(t *testing.T, env map[string]string, _ string, _ result) {
				if ks := keysOf(t, env); len(ks) != 3 || ks["session:x"].Key != "" {
					t.Fatalf("left: %s", keyNames(ks))
				}
			},
		},
		{
			name: "flush --key of a missing key exits 1", args: []string{"flush", "-k", "nope", "-f"}, code: 1, stderrHas: []string{"not found"},
		},
		{
			name: "flush --all --force", args: []string{"flush", "--all", "--force"}, code: 0, stdoutHas: []string{`flushed "yokedcache:"`},
			check: func(t *testing.T, env map[string]string, _ string, _ result) {
				if ks := keysOf(t, env); len(ks) != 0 {
					t.Fatalf("left: %s", keyNames(ks))
				}
			},
		},
		{
			name: "flush --force alone is refused", args: []string{"flush", "--force"}, code: 2, stderrHas: []string{"--all", "--pattern", "--tags", "--key"},
			check: func(t *testing.T, env map[string]string, _ string, _ result) {
				if n := len(keysOf(t, env)); n != 4 {
					t.Fatalf("%d keys left, want 4", n)
				}
			},
		},
		{
			name: "flush --all asks without --force", args: []string{"flush", "-a"}, stdin: "n\n", code: 1, stderrHas: []string{"[y/N]", "aborted"},
			check: func(t *testing.T, env map[string]string, _ string, _ result) {
				if n := len(keysOf(t, env)); n != 4 {
					t.Fatalf("%d keys left, want 4", n)
				}
			},
		},
		{
			name: "Python warm file", args: []string{"warm", "{dir}/pywarm.yaml"}, code: 0, stdoutHas: []string{"warmed 2 entries"},
			check: func(t *testing.T, env map[string]string, _ string, _ result) {
				ks := keysOf(t, env)
				a, b := ks["py:a"], ks["py:b"]
				if a.Value != "alpha" || a.TTLSeconds == nil || *a.TTLSeconds > 66 || len(a.Tags) != 1 || a.Tags[0] != "pyt" {
					t.Fatalf("py:a: %+v", a)
				}
				if m, ok := b.Value.(map[string]any); !ok || m["n"] != 1.0 {
					t.Fatalf("py:b: %+v", b)
				}
			},
		},
		{
			name: "bad warm file: no Go type names", args: []string{"warm", "{dir}/badwarm.yaml"}, code: 2, stderrHas: []string{"key, value"},
			check: func(t *testing.T, _ map[string]string, _ string, r result) {
				if strings.Contains(r.stderr, "main.") || strings.Contains(r.stderr, "struct {") {
					t.Fatalf("Go type dump: %s", r.stderr)
				}
			},
		},
		{
			name: "Python config file keys", args: []string{"-c", "{dir}/py.yaml", "set", "fromfile", "x"}, code: 0,
			stderrHas: []string{`note:`, `"prefix" is deprecated`, `"ttl" is deprecated`, `"enable_fuzzy" has no effect`},
			check: func(t *testing.T, env map[string]string, dir string, _ result) {
				// prefix: pyapp and ttl: 120 took effect.
				ks := keysOf(t, map[string]string{"YOKEDCACHE_URL": env["YOKEDCACHE_URL"], "YOKEDCACHE_KEY_PREFIX": "pyapp"})
				r, ok := ks["fromfile"]
				if !ok || r.TTLSeconds == nil || *r.TTLSeconds > 132 || *r.TTLSeconds < 60 {
					t.Fatalf("fromfile under pyapp: %+v (keys %s)", r, keyNames(ks))
				}
			},
		},
		{
			name: "Python config file tables: refused naming routes", args: []string{"-c", "{dir}/pytables.yaml", "ping"}, code: 2,
			stderrHas: []string{"tables", "routes"},
		},
	}

	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			env := map[string]string{"YOKEDCACHE_URL": "sqlite://" + filepath.ToSlash(filepath.Join(dir, "cache.db"))}
			writeFile(t, filepath.Join(dir, "warm.yaml"), "warm:\n  items:\n    - key: warmed\n      value: hi\n")
			writeFile(t, filepath.Join(dir, "pywarm.yaml"), "warm:\n  items:\n    - key: py:a\n      value: alpha\n      ttl: 60\n      tags: [pyt]\n    - key: py:b\n      value: {n: 1}\n")
			writeFile(t, filepath.Join(dir, "badwarm.yaml"), "warm:\n  items:\n    - key: a\n      valu: 1\n")
			writeFile(t, filepath.Join(dir, "py.yaml"), "prefix: pyapp\nttl: 120\nenable_fuzzy: true\nfuzzy_threshold: 80\nlog_level: INFO\nbatch_size: 100\n")
			writeFile(t, filepath.Join(dir, "pytables.yaml"), "tables:\n  users:\n    ttl: 60\n")
			run := func(stdin string, args ...string) result { return cli(t, env, stdin, args...) }
			run("", "set", "user:1", "one", "--tags", "users").want(t, 0)
			run("", "set", "user:2", "two", "--tags", "users").want(t, 0)
			run("", "set", "other:1", "three", "--tags", "misc").want(t, 0)
			run("", "set", "session:x", "four").want(t, 0)
			args := make([]string, len(tc.args))
			for i, a := range tc.args {
				args[i] = strings.ReplaceAll(a, "{dir}", dir)
			}
			r := run(tc.stdin, args...).want(t, tc.code, tc.stdoutHas...)
			for _, s := range tc.stderrHas {
				r.stderrHas(t, s)
			}
			if tc.check != nil {
				tc.check(t, env, dir, r)
			}
		})
	}
}

// TestPythonConfigOnRedis: the redis alias and max_connections of a
// Python configuration file reach a real Redis.
func TestPythonConfigOnRedis(t *testing.T) {
	srv := testserver.StartRedis(t, testserver.RedisOptions{})
	dir := t.TempDir()
	file := writeFile(t, filepath.Join(dir, "py.yaml"), fmt.Sprintf("redis: %s\nmax_connections: 7\nprefix: pyapp\n", srv.URL()))
	cli(t, nil, "", "-c", file, "set", "k", "v").want(t, 0).stderrHas(t, `"redis" is deprecated`).stderrHas(t, `"max_connections" is deprecated`)
	cli(t, nil, "", "-r", srv.URL(), "--key-prefix", "pyapp", "get", "k").want(t, 0, "v")
	cli(t, nil, "", "-c", file, "stats", "-o", "json").want(t, 0, `"backend": "redis"`, `"max_conns": 7`)
	// Both spellings: refused, naming the Go key.
	both := writeFile(t, filepath.Join(dir, "both.yaml"), fmt.Sprintf("redis: %s\nredis_url: %s\n", srv.URL(), srv.URL()))
	cli(t, nil, "", "-c", both, "ping").want(t, 2).stderrHas(t, "keep redis_url")
}

// TestPythonRedisHostPortEnv: YOKEDCACHE_REDIS_HOST and _PORT point the
// CLI at that Redis (not at the memory backend): ping truly pings it, and
// a dead port fails with exit 3.
func TestPythonRedisHostPortEnv(t *testing.T) {
	srv := testserver.StartRedis(t, testserver.RedisOptions{})
	host, port, ok := strings.Cut(srv.Addr, ":")
	if !ok {
		t.Fatalf("addr %q", srv.Addr)
	}
	env := map[string]string{"YOKEDCACHE_REDIS_HOST": host, "YOKEDCACHE_REDIS_PORT": port, "YOKEDCACHE_REDIS_DB": "2"}
	cli(t, env, "", "ping", "--show-timing").want(t, 0, "OK (", "backend redis").stderrHas(t, "YOKEDCACHE_REDIS_URL=redis://"+srv.Addr+"/2")
	cli(t, env, "", "set", "viaenv", "yes").want(t, 0)
	// The same entry through the Go spelling of the same server and DB.
	u := strings.TrimSuffix(srv.URL(), "/0") + "/2"
	cli(t, nil, "", "-r", u, "get", "viaenv").want(t, 0, "yes")
	// A flag URL replaces them.
	cli(t, env, "", "--url", "mem://", "ping", "--show-timing").want(t, 0, "backend memory")
	// With YOKEDCACHE_REDIS_URL they must agree.
	agree := map[string]string{"YOKEDCACHE_REDIS_URL": u, "YOKEDCACHE_REDIS_HOST": host, "YOKEDCACHE_REDIS_PORT": port}
	cli(t, agree, "", "get", "viaenv").want(t, 0, "yes")
	disagree := map[string]string{"YOKEDCACHE_REDIS_URL": u, "YOKEDCACHE_REDIS_PORT": "1"}
	cli(t, disagree, "", "ping").want(t, 2).stderrHas(t, "YOKEDCACHE_REDIS_PORT").stderrHas(t, "disagrees")
	// Pointing at nothing: a connection failure, not a memory OK.
	_, deadPort, _ := strings.Cut(closedPort(t), ":")
	cli(t, map[string]string{"YOKEDCACHE_REDIS_HOST": "127.0.0.1", "YOKEDCACHE_REDIS_PORT": deadPort}, "", "ping").want(t, 3)
	cli(t, map[string]string{"YOKEDCACHE_REDIS_PORT": "http"}, "", "ping").want(t, 2).stderrHas(t, "YOKEDCACHE_REDIS_PORT")
	// Python variables with no Go equivalent are refused, naming it.
	cli(t, map[string]string{"YOKEDCACHE_FUZZY_THRESHOLD": "60"}, "", "ping").want(t, 2).stderrHas(t, "--threshold")
	cli(t, map[string]string{"YOKEDCACHE_CONNECTION_RETRIES": "5"}, "", "ping").want(t, 2).stderrHas(t, "YOKEDCACHE_CONNECTION_RETRIES")
	cli(t, map[string]string{"YOKEDCACHE_ENABLE_FUZZY": "true"}, "", "ping").want(t, 0, "OK").stderrHas(t, "YOKEDCACHE_ENABLE_FUZZY has no effect")
}

// TestPingFailureExitCodes: authentication failures and a disk store held
// by another process are connection failures (3), as docs/cli.md says; a
// database index the server refuses is a configuration error (2).
func TestPingFailureExitCodes(t *testing.T) {
	srv := testserver.StartRedis(t, testserver.RedisOptions{Password: "right-pw"})
	wrong := strings.Replace(srv.URL(), "right-pw", "wrong-pw", 1)
	if wrong == srv.URL() {
		t.Fatalf("URL %s lacks the password", srv.URL())
	}
	cli(t, nil, "", "ping", "-r", wrong).want(t, 3).stderrLacks(t, "wrong-pw")
	cli(t, nil, "", "stats", "-r", wrong).want(t, 3)
	noPW := "redis://" + srv.Addr + "/0"
	cli(t, nil, "", "ping", "-r", noPW).want(t, 3)
	outOfRange := strings.TrimSuffix(srv.URL(), "/0") + "/999"
	cli(t, nil, "", "ping", "-r", outOfRange).want(t, 2).stderrHas(t, "DB index")

	// A disk store held by another process: a watching `stats` holds the
	// lock while this ping waits for it.
	dir := filepath.Join(t.TempDir(), "store")
	u := "file://" + filepath.ToSlash(dir)
	holder := exec.Command(bin, "--url", u, "stats", "-w", "--interval", "1s", "-o", "json")
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "YOKEDCACHE_") {
			holder.Env = append(holder.Env, kv)
		}
	}
	out, err := holder.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var holderErr bytes.Buffer
	holder.Stderr = &holderErr
	if err := holder.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = holder.Process.Kill()
		_ = holder.Wait()
	})
	// The first snapshot means the store is open and locked.
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		if sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
		_, _ = io.Copy(io.Discard, out)
	}()
	select {
	case l, ok := <-lines:
		if !ok {
			t.Fatalf("holder exited: %s", holderErr.String())
		}
		_ = l
	case <-time.After(60 * time.Second):
		t.Fatal("holder printed nothing in 60s")
	}
	cli(t, nil, "", "--url", u+"?lock_timeout=100ms", "ping").want(t, 3).stderrHas(t, "in use")
}

// TestPingUnconfiguredSaysMemory: with nothing configured, ping says it
// pinged the in-process memory backend, where Python YokedCache's CLI
// would have pinged a local Redis.
func TestPingUnconfiguredSaysMemory(t *testing.T) {
	cli(t, nil, "", "ping").want(t, 0, "OK (").stderrHas(t, "in-process memory backend").stderrHas(t, "-r redis://localhost:6379/0")
	cli(t, nil, "", "--url", "mem://", "ping").want(t, 0, "OK (").stderrLacks(t, "no backend configured")
}

// TestNegativeDurationsRefused: negative watch counts and intervals are
// usage errors, not endless or busy loops.
func TestNegativeDurationsRefused(t *testing.T) {
	cli(t, nil, "", "stats", "-w", "--times", "-1").want(t, 2).stderrHas(t, "--times")
	cli(t, nil, "", "stats", "-w", "--interval", "-1s", "--times", "1").want(t, 2).stderrHas(t, "--interval")
	cli(t, nil, "", "stats", "-w", "--interval", "0s", "--times", "1").want(t, 2).stderrHas(t, "--interval")
	cli(t, nil, "", "ping", "--interval", "-1s").want(t, 2).stderrHas(t, "--interval")
	cli(t, nil, "", "ping", "-t", "0").want(t, 2).stderrHas(t, "--timeout")
	cli(t, nil, "", "stats", "-w", "--times", "2", "--interval", "10ms").want(t, 0, "keys")
}

// TestBenchSQLiteShared: bench's table says SQLite is shared across
// processes (one file, many processes), as the README does.
func TestBenchSQLiteShared(t *testing.T) {
	db := filepath.Join(t.TempDir(), "b.db")
	r := cli(t, nil, "", "--url", "sqlite://"+filepath.ToSlash(db), "bench", "--ops", "20", "--keys", "10", "--fuzzy-ops", "1", "--no-progress").want(t, 0, "Shared across processes")
	for _, line := range strings.Split(r.stdout, "\n") {
		if strings.HasPrefix(line, "Shared across processes") && !strings.Contains(line, "Yes") {
			t.Fatalf("bench: %s", line)
		}
	}
}
