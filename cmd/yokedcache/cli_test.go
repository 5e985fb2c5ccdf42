package main_test

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/yokedcache/yokedcache/internal/testserver"
)

var bin string

// TestMain builds the CLI once; every test runs the binary black-box.
func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "yokedcache-cli-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	bin = filepath.Join(dir, "yokedcache")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "go build: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

type result struct {
	stdout, stderr string
	code           int
}

// cli runs the binary with a clean YOKEDCACHE_* environment plus env.
func cli(t *testing.T, env map[string]string, stdin string, args ...string) result {
	t.Helper()
	cmd := exec.Command(bin, args...)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "YOKEDCACHE_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return result{out.String(), errb.String(), code}
}

func (r result) want(t *testing.T, code int, stdoutHas ...string) result {
	t.Helper()
	if r.code != code {
		t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", r.code, code, r.stdout, r.stderr)
	}
	for _, s := range stdoutHas {
		if !strings.Contains(r.stdout, s) {
			t.Fatalf("stdout lacks %q:\n%s\nstderr:\n%s", s, r.stdout, r.stderr)
		}
	}
	return r
}

func (r result) stderrHas(t *testing.T, s string) result {
	t.Helper()
	if !strings.Contains(r.stderr, s) {
		t.Fatalf("stderr lacks %q:\n%s", s, r.stderr)
	}
	return r
}

func (r result) stderrLacks(t *testing.T, s string) result {
	t.Helper()
	if strings.Contains(r.stderr, s) {
		t.Fatalf("stderr has %q:\n%s", s, r.stderr)
	}
	return r
}

func jsonOf(t *testing.T, s string, dst any) {
	t.Helper()
	if err := json.Unmarshal([]byte(s), dst); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, s)
	}
}

func closedPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	return addr
}

func TestUsageAndConfigErrors(t *testing.T) {
	cli(t, nil, "", "--version").want(t, 0, "yokedcache version")
	cli(t, nil, "", "--help").want(t, 0, "Exit codes", "ping", "bench")
	cli(t, nil, "", "bogus").want(t, 2).stderrHas(t, "unknown command")
	cli(t, nil, "", "ping", "--nope").want(t, 2).stderrHas(t, "unknown flag")
	cli(t, nil, "", "get").want(t, 2).stderrHas(t, "accepts 1 arg")
	cli(t, nil, "", "-o", "xml", "ping").want(t, 2).stderrHas(t, "--output")
	cli(t, nil, "", "--log-level", "loud", "ping").want(t, 2).stderrHas(t, "--log-level")
	cli(t, map[string]string{"YOKEDCACHE_DEFAULT_TTL": "soon"}, "", "ping").want(t, 2).stderrHas(t, "YOKEDCACHE_DEFAULT_TTL")
	cli(t, nil, "", "--url", "nope://x", "ping").want(t, 2).stderrHas(t, "unknown scheme")
	cli(t, nil, "", "--url", "mem://", "--redis-url", "redis://x", "ping").want(t, 2)
	cli(t, nil, "", "-c", filepath.Join(t.TempDir(), "missing.yaml"), "ping").want(t, 2)
	cli(t, nil, "", "invalidate").want(t, 2).stderrHas(t, "--tags or --pattern")
	cli(t, nil, "", "set", "k", "{", "--json").want(t, 2).stderrHas(t, "not JSON")
	cli(t, nil, "", "set", "k", "v", "--ttl", "soon").want(t, 2).stderrHas(t, "--ttl")
	cli(t, nil, "", "list", "--limit", "0").want(t, 2)
	cli(t, nil, "", "ping", "--count", "0").want(t, 2)
}

// TestBadArgumentsExit2: every malformed argument, flag value, variable or
// file is a usage error (exit 2), not an operation failure (exit 1), and
// NaN or infinite durations are rejected wherever durations are read.
func TestBadArgumentsExit2(t *testing.T) {
	dir := t.TempDir()
	file := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	for _, c := range []struct {
		name   string
		env    map[string]string
		stdin  string
		args   []string
		stderr string
	}{
		{"ttl NaN", nil, "", []string{"set", "k", "v", "--ttl", "NaN"}, "--ttl"},
		{"ttl nan", nil, "", []string{"set", "k", "v", "--ttl", "nan"}, "--ttl"},
		{"ttl Inf", nil, "", []string{"set", "k", "v", "--ttl", "+Inf"}, "--ttl"},
		{"ttl too long", nil, "", []string{"set", "k", "v", "--ttl", "1e12"}, "--ttl"},
		{"env default ttl NaN", map[string]string{"YOKEDCACHE_DEFAULT_TTL": "nan"}, "", []string{"ping"}, "YOKEDCACHE_DEFAULT_TTL"},
		{"env socket timeout NaN", map[string]string{"YOKEDCACHE_SOCKET_TIMEOUT": "NaN"}, "", []string{"ping"}, "YOKEDCACHE_SOCKET_TIMEOUT"},
		{"file default ttl NaN", nil, "", []string{"-c", file("nan.yaml", "default_ttl: nan\n"), "ping"}, "nan"},
		{"file route ttl NaN", nil, "", []string{"-c", file("rnan.yaml", "routes:\n  hot:\n    default_ttl: NaN\n"), "ping"}, "NaN"},
		{"duplicate ttl routes", nil, "", []string{"-c", file("dup.yaml", "routes:\n  user:\n    default_ttl: 60s\n  \"user:\":\n    default_ttl: 1h\n"), "ping"}, "same route"},
		{"warm ttl NaN", nil, `[{"key":"k","value":1,"ttl":"NaN"}]`, []string{"warm", "-"}, "ttl"},
		{"route url ttl NaN", nil, "", []string{"--url", "mem://?cleanup_interval=NaN", "ping"}, "cleanup_interval"},
		{"empty key", nil, "", []string{"set", "", "v"}, "invalid key"},
		{"empty key get", nil, "", []string{"get", ""}, "invalid key"},
		{"threshold over 100", nil, "", []string{"search", "x", "--threshold", "200"}, "--threshold"},
		{"threshold negative", nil, "", []string{"search", "x", "--threshold", "-1"}, "--threshold"},
		{"max results 0", nil, "", []string{"search", "x", "--max-results", "0"}, "--max-results"},
		{"json trailing brace", nil, "", []string{"set", "k", `{"a":1}}`, "--json"}, "trailing data"},
		{"json trailing bracket", nil, "", []string{"set", "k", `[1]]`, "--json"}, "trailing data"},
		{"json second value", nil, "", []string{"set", "k", `{"a":1} 2`, "--json"}, "trailing data"},
		{"json trailing stdin", nil, "{\"a\":1}\n}\n", []string{"set", "k", "-", "--json"}, "trailing data"},
	} {
		t.Run(c.name, func(t *testing.T) {
			cli(t, c.env, c.stdin, c.args...).want(t, 2).stderrHas(t, c.stderr)
		})
	}
	// White space after the JSON value is fine.
	cli(t, nil, "", "set", "k", "{\"a\":1} \n\t", "--json").want(t, 0, "OK")
	// A bad file given with -c is reported as the file, not as
	// YOKEDCACHE_CONFIG_FILE's; from the variable it names the variable.
	bad := file("bad.yaml", "key_prefx: typo\n")
	cli(t, nil, "", "-c", bad, "ping").want(t, 2).stderrHas(t, "config file "+bad).stderrLacks(t, "YOKEDCACHE_CONFIG_FILE")
	cli(t, map[string]string{"YOKEDCACHE_CONFIG_FILE": bad}, "", "ping").want(t, 2).stderrHas(t, "YOKEDCACHE_CONFIG_FILE")
	r := cli(t, nil, "", "-c", filepath.Join(dir, "missing.yaml"), "ping").want(t, 2).stderrLacks(t, "YOKEDCACHE_CONFIG_FILE")
	if n := strings.Count(r.stderr, "invalid configuration"); n != 1 {
		t.Fatalf("\"invalid configuration\" %d times:\n%s", n, r.stderr)
	}
	r = cli(t, map[string]string{"YOKEDCACHE_URL": "::x"}, "", "ping").want(t, 2)
	if n := strings.Count(r.stderr, "invalid configuration"); n != 1 {
		t.Fatalf("\"invalid configuration\" %d times:\n%s", n, r.stderr)
	}
}

// TestSecretsNeverPrinted: passwords in userinfo, in query parameters and
// in URLs that are malformed or lack "//" stay out of every error and
// printed configuration.
func TestSecretsNeverPrinted(t *testing.T) {
	const pw = "TOPSECRET"
	dir := t.TempDir()
	routes := filepath.Join(dir, "routes.yaml")
	if err := os.WriteFile(routes, []byte("routes:\n  s:\n    url: 'redis+sentinel://h/m?sentinel_password="+pw+"&bogus=1'\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	dead := closedPort(t)
	for _, c := range []struct {
		name string
		env  map[string]string
		args []string
		code int
	}{
		{"sentinel_password param", nil, []string{"--url", "redis+sentinel://h/m?sentinel_password=" + pw + "&bogus=1", "ping"}, 2},
		{"password param", nil, []string{"--url", "redis://h/0?password=" + pw, "ping"}, 2},
		{"no slashes", nil, []string{"--url", "redis:admin:" + pw + "@h:6379", "ping"}, 2},
		{"no slashes redis-url", nil, []string{"-r", "redis:admin:" + pw + "@h:6379", "ping"}, 2},
		{"no scheme env", map[string]string{"YOKEDCACHE_REDIS_URL": "default:" + pw + "@h"}, []string{"ping"}, 2},
		{"no scheme export", map[string]string{"YOKEDCACHE_REDIS_URL": "default:" + pw + "@h"}, []string{"export-config"}, 0},
		{"no scheme export json", map[string]string{"YOKEDCACHE_URL": "default:" + pw + "@h"}, []string{"export-config", "-o", "json"}, 0},
		{"hash in password", nil, []string{"--url", "redis://:" + pw + "#x@h", "ping"}, 2},
		{"bad escape", nil, []string{"--url", "redis://u:" + pw + "%zz@h", "ping"}, 2},
		{"memcached credentials", nil, []string{"--url", "memcached://u:" + pw + "@h:11211", "ping"}, 2},
		{"memcached no slashes", nil, []string{"--url", "memcached:u:" + pw + "@h:11211", "ping"}, 2},
		{"route url", nil, []string{"-c", routes, "ping"}, 2},
		{"route url export", nil, []string{"-c", routes, "export-config"}, 0},
		{"bench skipped", nil, []string{"bench", "--target", "mem://", "--target", "redis://u:" + pw + "@" + dead + "/0", "--ops", "10", "--keys", "10", "--fuzzy-ops", "1"}, 0},
		{"dead server", nil, []string{"-r", "redis://u:" + pw + "@" + dead + "/0?socket_timeout=1", "ping"}, 3},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := cli(t, c.env, "", c.args...).want(t, c.code)
			if strings.Contains(r.stdout+r.stderr, pw) {
				t.Fatalf("the password was printed:\nstdout:\n%s\nstderr:\n%s", r.stdout, r.stderr)
			}
		})
	}
}

// TestFlagURLKeepsEnvPoolSettings: a URL given by flag replaces only the
// URL; YOKEDCACHE_MAX_CONNECTIONS and the socket timeouts still apply, as
// they do to YOKEDCACHE_REDIS_URL.
func TestFlagURLKeepsEnvPoolSettings(t *testing.T) {
	pool := map[string]string{"YOKEDCACHE_MAX_CONNECTIONS": "7", "YOKEDCACHE_SOCKET_TIMEOUT": "4s", "YOKEDCACHE_URL": "mem://"}
	for _, args := range [][]string{
		{"-r", "redis://h:6379/0"},
		{"--redis-url", "redis://h:6379/0"},
		{"--url", "redis://h:6379/0"},
	} {
		r := cli(t, pool, "", append(args, "export-config")...).want(t, 0, "max_connections=7", "socket_timeout=4s")
		if strings.Contains(r.stdout, "mem://") {
			t.Fatalf("%v: the flag did not replace YOKEDCACHE_URL:\n%s", args, r.stdout)
		}
	}
	// A URL's own setting wins, as with the variables.
	cli(t, pool, "", "-r", "redis://h:6379/0?max_connections=3", "export-config").want(t, 0, "max_connections=3")
	// Not a Redis URL: the settings do not apply.
	r := cli(t, pool, "", "--url", "mem://?max_size=5", "export-config").want(t, 0, "mem://?max_size=5")
	if strings.Contains(r.stdout, "max_connections") {
		t.Fatalf("pool settings on a memory URL:\n%s", r.stdout)
	}
}

func TestMemoryDefault(t *testing.T) {
	cli(t, nil, "", "ping").want(t, 0, "OK (")
	r := cli(t, nil, "", "ping", "--count", "3", "--interval", "10ms", "--show-timing").want(t, 0, "3 pings, 0 failed; backend memory; min/avg/max")
	if strings.Count(r.stdout, "OK (") != 3 {
		t.Fatalf("want 3 OK lines:\n%s", r.stdout)
	}
	var ping struct {
		Backend string `json:"backend"`
		Failed  int    `json:"failed"`
		Pings   []struct {
			OK bool `json:"ok"`
		} `json:"pings"`
	}
	jsonOf(t, cli(t, nil, "", "ping", "-o", "json").want(t, 0).stdout, &ping)
	if ping.Backend != "memory" || len(ping.Pings) != 1 || !ping.Pings[0].OK {
		t.Fatalf("ping json: %+v", ping)
	}
	cli(t, nil, "", "ping", "-o", "csv").want(t, 0, "PING,OK,LATENCY_MS,ERROR", "1,true,")
	cli(t, nil, "", "ping", "-o", "yaml").want(t, 0, "backend: memory", "failed: 0")
	cli(t, nil, "", "stats", "-o", "csv").want(t, 0, "METRIC,VALUE,COVERS")
	cli(t, nil, "", "stats", "-o", "yaml").want(t, 0, "backend: memory", "covers:")
	// --watch -o json: one compact object per line (JSON Lines).
	r = cli(t, nil, "", "stats", "--watch", "--interval", "10ms", "--times", "3", "-o", "json").want(t, 0)
	lines := strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n")
	if len(lines) != 3 {
		t.Fatalf("--watch -o json: want 3 lines:\n%s", r.stdout)
	}
	for _, l := range lines {
		var st map[string]any
		jsonOf(t, l, &st)
		if st["backend"] != "memory" {
			t.Fatalf("--watch -o json line: %s", l)
		}
	}
	r = cli(t, nil, "", "stats", "--watch", "--interval", "10ms", "--times", "2", "-o", "yaml").want(t, 0)
	dec := yaml.NewDecoder(strings.NewReader(r.stdout))
	for i := 0; i < 2; i++ {
		var doc map[string]any
		if err := dec.Decode(&doc); err != nil || doc["backend"] != "memory" {
			t.Fatalf("--watch -o yaml document %d: %v %v\n%s", i, doc, err, r.stdout)
		}
	}
	cli(t, nil, "", "health", "-o", "yaml").want(t, 0, "status: healthy")
	cli(t, nil, "", "stats").want(t, 0, "backend", "memory", "keys", "this CLI process only", "note: the memory backend lives inside one process")
	r = cli(t, nil, "", "stats", "--watch", "--interval", "10ms", "--times", "3").want(t, 0)
	if strings.Count(r.stdout, "METRIC") != 3 {
		t.Fatalf("--watch --times 3:\n%s", r.stdout)
	}
	cli(t, nil, "", "health").want(t, 0, "healthy")
	// Each invocation has its own memory: a set is not visible to the next.
	cli(t, nil, "", "set", "k", "v").want(t, 0, "OK")
	cli(t, nil, "", "get", "k").want(t, 1).stderrHas(t, "not found")
	cli(t, nil, "", "list").want(t, 0, "KEY").stderrHas(t, "private to this process")
	cli(t, nil, "", "export-config").want(t, 0, "key_prefix: yokedcache", "url: mem://")
	cli(t, nil, "", "completion", "bash").want(t, 0, "bash completion")
	cli(t, nil, "", "completion", "zsh").want(t, 0, "compdef")
}

func TestBenchMemory(t *testing.T) {
	r := cli(t, nil, "", "bench", "--ops", "200", "--keys", "100", "--fuzzy-ops", "3").want(t, 0,
		"memory", "Latency get p50 / p99", "Latency fuzzy search p50 / p99", "Throughput get", "Tags", "Measured on this machine")
	if strings.Contains(r.stdout, "error") {
		t.Fatalf("bench reported an error:\n%s", r.stdout)
	}
	var out struct {
		Results []struct {
			Backend string `json:"backend"`
			Ops     []struct {
				Op        string  `json:"op"`
				P50NS     int64   `json:"p50_ns"`
				P99NS     int64   `json:"p99_ns"`
				OpsPerSec float64 `json:"ops_per_sec"`
				Error     string  `json:"error"`
			} `json:"ops"`
		} `json:"results"`
	}
	jsonOf(t, cli(t, nil, "", "bench", "--ops", "100", "--keys", "50", "--fuzzy-ops", "2", "--concurrency", "2", "--no-progress", "-o", "json").want(t, 0).stdout, &out)
	if len(out.Results) != 1 || len(out.Results[0].Ops) != 5 {
		t.Fatalf("bench json: %+v", out)
	}
	for _, op := range out.Results[0].Ops {
		if op.Error != "" || op.OpsPerSec <= 0 || op.P99NS < op.P50NS {
			t.Fatalf("op %+v", op)
		}
	}
	cli(t, nil, "", "bench", "--ops", "5").want(t, 2)
	// --all: memory, disk and SQLite, plus the configured URL and any
	// --target; no guessed local servers.
	r = cli(t, map[string]string{"YOKEDCACHE_REDIS_URL": "redis://" + closedPort(t) + "/0"}, "", "bench", "--all", "--ops", "50", "--keys", "20", "--fuzzy-ops", "1").
		want(t, 0, "memory", "disk", "sqlite", "Latency get")
	r.stderrHas(t, "skipped redis")
	if strings.Contains(r.stdout+r.stderr, "memcached") || strings.Contains(r.stdout+r.stderr, "6379") {
		t.Fatalf("bench --all probed a server nobody named:\n%s\n%s", r.stdout, r.stderr)
	}
	// Several targets: an unreachable one is skipped, the others measured.
	r = cli(t, nil, "", "bench", "--target", "mem://", "--target", "redis://"+closedPort(t)+"/0", "--ops", "50", "--keys", "20", "--fuzzy-ops", "1").want(t, 0, "memory")
	r.stderrHas(t, "skipped redis")
	// A single unreachable target is a connection failure.
	cli(t, nil, "", "bench", "--target", "redis://"+closedPort(t)+"/0", "--ops", "50").want(t, 3)
}

// TestBenchFailuresExit1: a measured operation that fails is reported on
// standard error (standard output keeps only the table) and the exit
// status is 1, in every output format.
func TestBenchFailuresExit1(t *testing.T) {
	// A memory backend holding one entry: gets of evicted keys miss.
	args := []string{"--url", "mem://?max_size=1&shards=1", "bench", "--ops", "20", "--keys", "10", "--fuzzy-ops", "1", "--no-progress"}
	r := cli(t, nil, "", args...).want(t, 1, "Latency get p50 / p99", "error")
	r.stderrHas(t, "bench: memory get failed").stderrHas(t, "1 measured operation(s) failed")
	if strings.Contains(r.stdout, "failed") || strings.Contains(r.stdout, "not found") {
		t.Fatalf("failures on standard output:\n%s", r.stdout)
	}
	r = cli(t, nil, "", append(args, "-o", "json")...).want(t, 1, `"error"`).stderrHas(t, "bench: memory get failed")
	var out map[string]any
	jsonOf(t, r.stdout, &out)
}

func TestPingExitCodes(t *testing.T) {
	srv := testserver.StartRedis(t, testserver.RedisOptions{})
	cli(t, nil, "", "ping", "-r", srv.URL()).want(t, 0, "OK (")
	cli(t, map[string]string{"YOKEDCACHE_REDIS_URL": srv.URL()}, "", "ping").want(t, 0, "OK (")
	// The pool size from the environment applies to a flag's URL too.
	pool := map[string]string{"YOKEDCACHE_MAX_CONNECTIONS": "7"}
	cli(t, pool, "", "-r", srv.URL(), "stats", "-o", "json").want(t, 0, `"max_conns": 7`)
	cli(t, pool, "", "--url", srv.URL(), "stats", "-o", "json").want(t, 0, `"max_conns": 7`)
	pool["YOKEDCACHE_REDIS_URL"] = srv.URL()
	cli(t, pool, "", "stats", "-o", "json").want(t, 0, `"max_conns": 7`)
	dead := "redis://" + closedPort(t) + "/0"
	cli(t, nil, "", "ping", "--redis-url", dead).want(t, 3)
	cli(t, nil, "", "health", "--redis-url", dead).want(t, 3)
	cli(t, nil, "", "get", "k", "--redis-url", dead).want(t, 3)
	cli(t, nil, "", "bench", "--redis-url", dead, "--ops", "10").want(t, 3)
	// A server that goes away: ping fails with 3 too.
	srv.Stop()
	cli(t, nil, "", "ping", "--url", srv.URL()).want(t, 3)
}

// TestRedis runs every data command against a real Redis, where state
// persists across invocations.
func TestRedis(t *testing.T) {
	srv := testserver.StartRedis(t, testserver.RedisOptions{Password: "s3cret-pw"})
	env := map[string]string{"YOKEDCACHE_REDIS_URL": srv.URL(), "YOKEDCACHE_KEY_PREFIX": "clitest"}
	run := func(stdin string, args ...string) result { return cli(t, env, stdin, args...) }

	run("", "set", "greeting", "hello", "--ttl", "60").want(t, 0, "OK")
	run("", "get", "greeting").want(t, 0, "hello")
	run("", "set", "user:1", `{"name":"Alice","age":30}`, "--json", "--tags", "users,tenant:7", "--ttl", "1h").want(t, 0)
	run("", "set", "user:2", `{"name":"Bob"}`, "--json", "--tags", "users").want(t, 0)
	run("from stdin\n", "set", "note", "-").want(t, 0)
	run("", "get", "note").want(t, 0, "from stdin")
	run("", "set", "forever", "x", "--ttl", "never").want(t, 0)

	var got struct {
		Key        string         `json:"key"`
		TTLSeconds *float64       `json:"ttl_seconds"`
		Tags       []string       `json:"tags"`
		Value      map[string]any `json:"value"`
	}
	jsonOf(t, run("", "get", "user:1", "-o", "json").want(t, 0).stdout, &got)
	if got.Value["name"] != "Alice" || got.Value["age"] != 30.0 || len(got.Tags) != 2 || got.TTLSeconds == nil || *got.TTLSeconds < 3000 {
		t.Fatalf("get -o json: %+v", got)
	}
	run("", "get", "user:1").want(t, 0, `{"age":30,"name":"Alice"}`)
	run("", "get", "user:1", "-o", "csv").want(t, 0, "KEY,TTL,TAGS,VALUE", "user:1")
	run("", "get", "missing").want(t, 1).stderrHas(t, "not found")

	// list: columns, pattern, tags, limit, values, formats.
	r := run("", "list").want(t, 0, "KEY", "TTL", "TAGS", "greeting", "user:1", "users,tenant:7", "never")
	if strings.Contains(r.stdout, "VALUE") {
		t.Fatal("values without --include-values")
	}
	r = run("", "list", "--pattern", "user:*").want(t, 0, "user:1", "user:2")
	if strings.Contains(r.stdout, "greeting") {
		t.Fatalf("--pattern:\n%s", r.stdout)
	}
	r = run("", "list", "--tags", "tenant:7").want(t, 0, "user:1")
	if strings.Contains(r.stdout, "user:2") {
		t.Fatalf("--tags:\n%s", r.stdout)
	}
	r = run("", "list", "--limit", "2").want(t, 0).stderrHas(t, "first 2 keys")
	if n := strings.Count(strings.TrimSpace(r.stdout), "\n"); n != 2 {
		t.Fatalf("--limit 2 printed %d rows:\n%s", n, r.stdout)
	}
	run("", "list", "--pattern", "greeting", "--include-values").want(t, 0, "VALUE", "hello")
	var rows []map[string]any
	jsonOf(t, run("", "list", "-o", "json", "--include-values", "-p", "user:2").want(t, 0).stdout, &rows)
	if len(rows) != 1 || rows[0]["key"] != "user:2" || rows[0]["value"].(map[string]any)["name"] != "Bob" {
		t.Fatalf("list json: %v", rows)
	}
	recs, err := csv.NewReader(strings.NewReader(run("", "list", "-o", "csv").want(t, 0).stdout)).ReadAll()
	if err != nil || len(recs) != 6 || recs[0][0] != "KEY" {
		t.Fatalf("list csv: %v %v", recs, err)
	}
	var yrows []map[string]any
	if err := yaml.Unmarshal([]byte(run("", "list", "-o", "yaml").want(t, 0).stdout), &yrows); err != nil || len(yrows) != 5 {
		t.Fatalf("list yaml: %v %v", yrows, err)
	}

	// search.
	run("", "search", "user").want(t, 0, "SCORE", "user:1", "user:2")
	r = run("", "search", "user", "--max-results", "1").want(t, 0)
	if strings.Count(r.stdout, "user:") != 1 {
		t.Fatalf("--max-results 1:\n%s", r.stdout)
	}
	r = run("", "search", "user", "--tags", "tenant:7").want(t, 0, "user:1")
	if strings.Contains(r.stdout, "user:2") {
		t.Fatalf("search --tags:\n%s", r.stdout)
	}
	r = run("", "search", "greetxx", "--threshold", "100").want(t, 0)
	if strings.Contains(r.stdout, "greeting") {
		t.Fatalf("--threshold 100:\n%s", r.stdout)
	}
	var hits []map[string]any
	jsonOf(t, run("", "search", "greet", "-o", "json").want(t, 0).stdout, &hits)
	if len(hits) != 1 || hits[0]["key"] != "greeting" || hits[0]["value"] != "hello" {
		t.Fatalf("search json: %v", hits)
	}

	// stats shows what the backend knows, not zero counters.
	var st struct {
		Backend string `json:"backend"`
		Stats   struct {
			Keys  int64  `json:"keys"`
			Scope string `json:"scope"`
		} `json:"stats"`
		Covers map[string]string `json:"covers"`
	}
	jsonOf(t, run("", "stats", "-o", "json").want(t, 0).stdout, &st)
	if st.Backend != "redis" || st.Stats.Keys != 5 || st.Covers["keys"] == "" {
		t.Fatalf("stats json: %+v", st)
	}
	run("", "stats").want(t, 0, "keys", "5", "COVERS")
	run("", "health").want(t, 0, "healthy", "redis")
	var h map[string]any
	jsonOf(t, run("", "health", "-o", "json").want(t, 0).stdout, &h)
	if h["status"] != "healthy" {
		t.Fatalf("health json: %v", h)
	}

	// invalidate, delete.
	run("", "invalidate", "--tags", "tenant:7").want(t, 0, "invalidated")
	run("", "get", "user:1").want(t, 1)
	run("", "get", "user:2").want(t, 0, "Bob")
	run("", "invalidate", "--pattern", "user:*").want(t, 0, "invalidated 1 keys")
	run("", "get", "user:2").want(t, 1)
	// A missing key is exit 1, as in Python YokedCache; the rest is deleted.
	run("", "delete", "greeting", "nope").want(t, 1, "deleted 1 of 2")
	run("", "get", "greeting").want(t, 1)
	var del map[string]any
	jsonOf(t, run("", "delete", "note", "-o", "json").want(t, 0).stdout, &del)
	if del["deleted"] != 1.0 {
		t.Fatalf("delete json: %v", del)
	}

	// warm from YAML and JSON files, and from stdin.
	dir := t.TempDir()
	yamlFile := filepath.Join(dir, "warm.yaml")
	_ = os.WriteFile(yamlFile, []byte("entries:\n  - key: config:site\n    value: {theme: dark, beta: true}\n    ttl: 1h\n    tags: [config]\n  - key: plain\n    value: text\n"), 0o600)
	run("", "warm", yamlFile).want(t, 0, "warmed 2 entries")
	run("", "get", "config:site").want(t, 0, `"theme":"dark"`)
	run("", "list", "--tags", "config").want(t, 0, "config:site")
	jsonFile := filepath.Join(dir, "warm.json")
	_ = os.WriteFile(jsonFile, []byte(`[{"key":"j1","value":[1,2,3]},{"key":"j2","value":"x","ttl":"30"}]`), 0o600)
	run("", "warm", jsonFile).want(t, 0, "warmed 2 entries")
	run("", "get", "j1").want(t, 0, "[1,2,3]")
	run(`[{"key":"s1","value":"from stdin"}]`, "warm", "-").want(t, 0, "warmed 1")
	bad := filepath.Join(dir, "bad.yaml")
	_ = os.WriteFile(bad, []byte("entries:\n  - key: a\n    valu: 1\n"), 0o600)
	run("", "warm", bad).want(t, 2)

	// Another key prefix sees nothing of ours.
	cli(t, map[string]string{"YOKEDCACHE_REDIS_URL": srv.URL()}, "", "--key-prefix", "other", "get", "plain").want(t, 1)

	// flush: asks, aborts on no, flushes on yes / --yes, keeps other prefixes.
	cli(t, map[string]string{"YOKEDCACHE_REDIS_URL": srv.URL()}, "", "--key-prefix", "other", "set", "keep", "me").want(t, 0)
	run("n\n", "flush", "--all").want(t, 1).stderrHas(t, "[y/N]")
	run("", "get", "plain").want(t, 0, "text")
	run("y\n", "flush", "--all").want(t, 0, "flushed")
	run("", "get", "plain").want(t, 1)
	run("", "set", "again", "1").want(t, 0)
	run("", "flush", "--yes").want(t, 2) // what to flush is required, as in Python YokedCache
	run("", "get", "again").want(t, 0, "1")
	run("", "flush", "--all", "--yes").want(t, 0)
	run("", "get", "again").want(t, 1)
	cli(t, map[string]string{"YOKEDCACHE_REDIS_URL": srv.URL()}, "", "--key-prefix", "other", "get", "keep").want(t, 0, "me")

	// export-config never prints the password.
	r = run("", "export-config").want(t, 0, "redis_url: redis://:xxxxx@", "key_prefix: clitest")
	if strings.Contains(r.stdout+r.stderr, "s3cret-pw") {
		t.Fatal("export-config leaked the password")
	}
	var ec map[string]any
	jsonOf(t, run("", "export-config", "-o", "json").want(t, 0).stdout, &ec)
	if ec["key_prefix"] != "clitest" || strings.Contains(fmt.Sprint(ec), "s3cret-pw") {
		t.Fatalf("export-config json: %v", ec)
	}
	// Errors never print the password either.
	r = cli(t, nil, "", "--redis-url", "redis://:s3cret-pw@"+closedPort(t)+"/0", "ping")
	if r.code != 3 || strings.Contains(r.stdout+r.stderr, "s3cret-pw") {
		t.Fatalf("ping to a dead server: %d %s", r.code, r.stderr)
	}

	// bench against this Redis.
	run("", "bench", "--ops", "100", "--keys", "50", "--fuzzy-ops", "2").want(t, 0, "redis", "Latency set p50 / p99")
}

// TestConfigFileAndFlags checks -c, flags over environment over file, and
// routes from the file.
func TestConfigFileAndFlags(t *testing.T) {
	srv := testserver.StartRedis(t, testserver.RedisOptions{})
	dir := t.TempDir()
	file := filepath.Join(dir, "yokedcache.yaml")
	body := fmt.Sprintf("key_prefix: fromfile\nredis_url: %s\nlog_level: error\nroutes:\n  local:\n    url: mem://\n    default_ttl: 30s\n", srv.URL())
	if err := os.WriteFile(file, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	cli(t, nil, "", "-c", file, "set", "k", "v").want(t, 0)
	cli(t, nil, "", "--config", file, "--key-prefix", "fromfile", "get", "k").want(t, 0, "v")
	cli(t, map[string]string{"YOKEDCACHE_CONFIG_FILE": file}, "", "get", "k").want(t, 0, "v")
	// Environment beats the file; the flag beats the environment.
	cli(t, map[string]string{"YOKEDCACHE_CONFIG_FILE": file, "YOKEDCACHE_KEY_PREFIX": "fromenv"}, "", "get", "k").want(t, 1)
	cli(t, map[string]string{"YOKEDCACHE_CONFIG_FILE": file, "YOKEDCACHE_KEY_PREFIX": "fromenv"}, "", "--key-prefix", "fromfile", "get", "k").want(t, 0, "v")
	r := cli(t, nil, "", "-c", file, "export-config").want(t, 0, "key_prefix: fromfile", "log_level: error", "routes:", "local:", "default_ttl: 30s")
	_ = r
	cli(t, nil, "", "-c", file, "stats").want(t, 0, "router", "route (default)", "route local")
	cli(t, nil, "", "-c", file, "health").want(t, 0, "healthy", "routes")
	cli(t, nil, "", "-c", file, "--log-level", "debug", "ping").want(t, 0, "OK")
	badFile := filepath.Join(dir, "bad.yaml")
	_ = os.WriteFile(badFile, []byte("key_prefx: typo\n"), 0o600)
	cli(t, nil, "", "-c", badFile, "ping").want(t, 2).stderrHas(t, "key_prefx")
}

// TestMemcached: a backend that cannot list keys says so with exit 1,
// while the rest works across invocations.
func TestMemcached(t *testing.T) {
	mc := testserver.StartMemcached(t, testserver.MemcachedOptions{})
	env := map[string]string{"YOKEDCACHE_URL": "memcached://" + mc.Addr}
	cli(t, env, "", "ping").want(t, 0, "OK (")
	cli(t, env, "", "set", "k", "v", "--tags", "t").want(t, 0)
	cli(t, env, "", "get", "k").want(t, 0, "v")
	cli(t, env, "", "list").want(t, 1).stderrHas(t, "unsupported")
	cli(t, env, "", "invalidate", "--tags", "t").want(t, 0, "cannot count")
	cli(t, env, "", "get", "k").want(t, 1)
	cli(t, env, "", "stats").want(t, 0, "memcached")
	cli(t, env, "", "health").want(t, 0, "healthy")
	// bench with values over the item size: every measured operation
	// fails (fuzzy search is unsupported, not failed), so exit 1.
	r := cli(t, nil, "", "--url", "memcached://"+mc.Addr+"?max_item_size=1KiB", "bench", "--value-size", "4096",
		"--ops", "10", "--keys", "10", "--fuzzy-ops", "1", "--no-progress").want(t, 1, "memcached", "unsupported")
	r.stderrHas(t, "memcached set failed").stderrHas(t, "memcached get failed").stderrHas(t, "memcached tagged_set failed").
		stderrHas(t, "memcached invalidate failed").stderrHas(t, "4 measured operation(s) failed").stderrLacks(t, "fuzzy failed")
}

// TestDiskFile: a file:// cache persists across invocations.
func TestDiskFile(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "cache")
	env := map[string]string{"YOKEDCACHE_URL": "file://" + filepath.ToSlash(dir)}
	cli(t, env, "", "set", "user:1", `{"name":"Ada"}`, "--json", "--tags", "users", "--ttl", "1h").want(t, 0, "OK")
	cli(t, env, "", "set", "other", "x").want(t, 0)
	cli(t, env, "", "get", "user:1").want(t, 0, `{"name":"Ada"}`)
	cli(t, env, "", "list", "--tags", "users").want(t, 0, "user:1", "users")
	cli(t, env, "", "search", "usr 1", "--threshold", "60").want(t, 0, "user:1")
	var st struct {
		Backend string `json:"backend"`
		Stats   struct {
			Keys int64 `json:"keys"`
		} `json:"stats"`
	}
	jsonOf(t, cli(t, env, "", "stats", "-o", "json").want(t, 0).stdout, &st)
	if st.Backend != "disk" || st.Stats.Keys != 2 {
		t.Fatalf("stats: %+v", st)
	}
	cli(t, env, "", "health").want(t, 0, "healthy", "disk")
	cli(t, env, "", "invalidate", "--tags", "users").want(t, 0, "invalidated 1 entries")
	cli(t, env, "", "get", "user:1").want(t, 1)
	cli(t, env, "", "flush", "--all", "--yes").want(t, 0)
	cli(t, env, "", "get", "other").want(t, 1)
	cli(t, env, "", "ping").want(t, 0, "OK (")
}

// TestSQLiteFile runs the data commands against a SQLite file, which
// persists across invocations.
func TestSQLiteFile(t *testing.T) {
	db := filepath.Join(t.TempDir(), "cache.db")
	env := map[string]string{"YOKEDCACHE_URL": "sqlite://" + filepath.ToSlash(db), "YOKEDCACHE_KEY_PREFIX": "app"}
	run := func(stdin string, args ...string) result { return cli(t, env, stdin, args...) }
	run("", "ping", "--show-timing").want(t, 0, "OK (", "backend sqlite")
	run("", "set", "user:1", `{"name":"Ada"}`, "--json", "--tags", "users,admins", "--ttl", "1h").want(t, 0, "OK")
	run("", "set", "user:2", `{"name":"Bob"}`, "--json", "--tags", "users").want(t, 0)
	run("line\n", "set", "note", "-", "--ttl", "never").want(t, 0)
	run("", "get", "user:1").want(t, 0, `{"name":"Ada"}`)
	run("", "get", "note", "-o", "json").want(t, 0, `"ttl_seconds": -1`, `"value": "line"`)
	run("", "list").want(t, 0, "KEY", "TTL", "TAGS", "user:1", "users,admins", "note", "never")
	run("", "list", "--pattern", "user:*", "--tags", "admins", "--include-values", "-o", "csv").want(t, 0, "KEY,TTL,TAGS,VALUE", "user:1")
	run("", "search", "user", "--max-results", "1", "--tags", "admins").want(t, 0, "user:1")
	var st struct {
		Backend string `json:"backend"`
		Stats   struct {
			Keys int64 `json:"keys"`
		} `json:"stats"`
	}
	jsonOf(t, run("", "stats", "-o", "json").want(t, 0).stdout, &st)
	if st.Backend != "sqlite" || st.Stats.Keys != 3 {
		t.Fatalf("stats: %+v", st)
	}
	run("", "stats").want(t, 0, "sqlite", "COVERS")
	run("", "health").want(t, 0, "healthy", "sqlite")
	run("", "invalidate", "--tags", "admins").want(t, 0, "invalidated 1 entries")
	run("", "get", "user:1").want(t, 1)
	run("", "invalidate", "--pattern", "user:*").want(t, 0, "invalidated 1 keys")
	run("", "delete", "note").want(t, 0, "deleted 1 of 1")
	run("", "warm", "-").want(t, 0, "warmed 0 entries")
	run(`[{"key":"w","value":{"a":1},"tags":["t"]}]`, "warm", "-").want(t, 0, "warmed 1 entries")
	run("", "get", "w").want(t, 0, `{"a":1}`)
	run("no\n", "flush", "--all").want(t, 1)
	run("", "get", "w").want(t, 0)
	run("", "flush", "--all", "--yes").want(t, 0, `flushed "app:"`)
	run("", "get", "w").want(t, 1)
	run("", "export-config").want(t, 0, "url: sqlite://", "key_prefix: app")
	run("", "bench", "--ops", "100", "--keys", "50", "--fuzzy-ops", "2").want(t, 0, "sqlite", "Latency get p50 / p99")
}

// TestRoutedPartialFailure: with a route on Memcached (which cannot list
// keys), list prints the other routes' keys and still exits 1 naming the
// route.
func TestRoutedPartialFailure(t *testing.T) {
	mc := testserver.StartMemcached(t, testserver.MemcachedOptions{})
	dir := t.TempDir()
	file := filepath.Join(dir, "cfg.yaml")
	body := fmt.Sprintf("url: sqlite://%s\nroutes:\n  sess:\n    url: memcached://%s\n", filepath.ToSlash(filepath.Join(dir, "c.db")), mc.Addr)
	if err := os.WriteFile(file, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	cli(t, nil, "", "-c", file, "set", "user:1", "u").want(t, 0)
	cli(t, nil, "", "-c", file, "set", "sess:1", "s").want(t, 0)
	cli(t, nil, "", "-c", file, "get", "sess:1").want(t, 0, "s")
	cli(t, nil, "", "-c", file, "list").want(t, 1, "user:1").stderrHas(t, `route "sess" (memcached)`)
	cli(t, nil, "", "-c", file, "list", "--pattern", "user:*").want(t, 0, "user:1")
	cli(t, nil, "", "-c", file, "stats").want(t, 0, "route sess", "route (default)")
	cli(t, nil, "", "-c", file, "health").want(t, 0, "healthy")
	// invalidate --pattern: the default route's keys are invalidated and
	// counted; the Memcached route's error follows, naming it once.
	r := cli(t, nil, "", "-c", file, "invalidate", "--pattern", "*").want(t, 1, "invalidated 1 keys matching *")
	r.stderrHas(t, `route "sess" (memcached)`)
	if n := strings.Count(r.stderr, `route "sess"`); n != 1 {
		t.Fatalf("the route is named %d times:\n%s", n, r.stderr)
	}
	cli(t, nil, "", "-c", file, "get", "user:1").want(t, 1)
	cli(t, nil, "", "-c", file, "get", "sess:1").want(t, 0, "s")
	cli(t, nil, "", "-c", file, "set", "user:2", "u").want(t, 0)
	var out map[string]any
	jsonOf(t, cli(t, nil, "", "-c", file, "invalidate", "--pattern", "*", "-o", "json").want(t, 1).stdout, &out)
	if out["invalidated_by_pattern"] != 1.0 || !strings.Contains(fmt.Sprint(out["error"]), "sess") {
		t.Fatalf("invalidate -o json: %v", out)
	}
}

// TestMemcachedOneServerDown: with one of two servers down, health is
// degraded (exit 1), not unhealthy; with both down it is unhealthy (exit
// 3). docs/memcached.md promises this.
func TestMemcachedOneServerDown(t *testing.T) {
	a := testserver.StartMemcached(t, testserver.MemcachedOptions{})
	b := testserver.StartMemcached(t, testserver.MemcachedOptions{})
	env := map[string]string{"YOKEDCACHE_URL": "memcached://" + a.Addr + "," + b.Addr}
	cli(t, env, "", "health").want(t, 0, "healthy")
	b.Kill()
	cli(t, env, "", "health").want(t, 1, "degraded", b.Addr)
	cli(t, env, "", "health", "-o", "json").want(t, 1, `"status": "degraded"`)
	a.Kill()
	cli(t, env, "", "health").want(t, 3, "unhealthy")
}

// TestNearCacheSQLite runs every command with a near cache configured on
// the backend URL (--url ...?near_cache=N), and checks the near cache's
// numbers in stats, health and bench, and its configuration by
// environment and file.
func TestNearCacheSQLite(t *testing.T) {
	dir := t.TempDir()
	db := "sqlite://" + filepath.ToSlash(filepath.Join(dir, "near.db"))
	u := db + "?near_cache=500&near_ttl=1m"
	env := map[string]string{"YOKEDCACHE_KEY_PREFIX": "app"}
	run := func(stdin string, args ...string) result {
		return cli(t, env, stdin, append([]string{"--url", u}, args...)...)
	}

	run("", "ping").want(t, 0)
	run("", "set", "user:1", `{"name":"Ada"}`, "--json", "--tags", "users").want(t, 0, "OK")
	run("", "set", "note", "hi").want(t, 0)
	run("", "get", "user:1").want(t, 0, `{"name":"Ada"}`)
	run("", "list").want(t, 0, "user:1", "note")
	run("", "search", "user").want(t, 0, "user:1")
	run("", "invalidate", "--tags", "users").want(t, 0, "invalidated 1 entries")
	run("", "delete", "note").want(t, 0, "deleted 1 of 1")
	run(`[{"key":"w","value":1}]`, "warm", "-").want(t, 0, "warmed 1 entries")
	// (backend.RedactURL does not list the near_* parameters as public
	// yet, so their values print as xxxxx.)
	run("", "export-config").want(t, 0, "near.db?near_cache=500&near_ttl=1m")
	run("", "stats").want(t, 0, "near (default)", "ttl (sqlite, live)", "0/500 entries")
	var st struct {
		Stats struct {
			Near []struct {
				Backend    string `json:"backend"`
				Mode       string `json:"mode"`
				Live       bool   `json:"live"`
				MaxEntries int    `json:"max_entries"`
				MaxBytes   int64  `json:"max_bytes"`
			} `json:"near"`
		} `json:"stats"`
	}
	jsonOf(t, run("", "stats", "-o", "json").want(t, 0).stdout, &st)
	if n := st.Stats.Near; len(n) != 1 || n[0].Backend != "sqlite" || n[0].Mode != "ttl" || !n[0].Live || n[0].MaxEntries != 500 || n[0].MaxBytes != 64<<20 {
		t.Fatalf("stats -o json near = %+v", n)
	}
	run("", "stats", "-o", "prometheus").want(t, 0, `yokedcache_near_live{backend="sqlite",cache="app",mode="ttl",route=""} 1`, "yokedcache_near_max_entries")
	r := run("", "stats", "--watch", "--interval", "50ms", "--times", "2").want(t, 0, "near (default) reads/s", "near (default) hit ratio")
	if strings.Count(r.stdout, "near (default)  ") < 2 {
		t.Errorf("stats --watch shows the near cache once per refresh:\n%s", r.stdout)
	}
	var health struct {
		Status  string         `json:"status"`
		Details map[string]any `json:"details"`
	}
	jsonOf(t, run("", "health", "-o", "json").want(t, 0).stdout, &health)
	if health.Status != "healthy" || health.Details["near_mode"] != "ttl" || health.Details["near_live"] != true {
		t.Fatalf("health = %+v", health)
	}
	run("", "flush", "--all", "--yes").want(t, 0)

	// bench: the hot-key workload through the tier and on the backend alone.
	r = run("", "bench", "--ops", "200", "--keys", "50", "--fuzzy-ops", "1", "--no-progress").
		want(t, 0, "Latency hot get near p50 / p99", "Latency hot get backend p50 / p99", "Throughput hot get near", "ttl, 50 hot keys, hit ratio")
	var b struct {
		Results []struct {
			Ops []struct {
				Op        string  `json:"op"`
				OpsPerSec float64 `json:"ops_per_sec"`
				Error     string  `json:"error"`
			} `json:"ops"`
			Near *struct {
				Mode     string  `json:"mode"`
				HitRatio float64 `json:"hit_ratio"`
			} `json:"near"`
		} `json:"results"`
	}
	jsonOf(t, run("", "bench", "--ops", "200", "--keys", "50", "--fuzzy-ops", "1", "--no-progress", "-o", "json").want(t, 0).stdout, &b)
	if len(b.Results) != 1 || b.Results[0].Near == nil || b.Results[0].Near.Mode != "ttl" || b.Results[0].Near.HitRatio < 0.9 {
		t.Fatalf("bench near = %+v", b)
	}
	ops := map[string]bool{}
	for _, op := range b.Results[0].Ops {
		if op.Error != "" || op.OpsPerSec <= 0 {
			t.Errorf("bench op %+v", op)
		}
		ops[op.Op] = true
	}
	if !ops["near_hot_get"] || !ops["backend_hot_get"] {
		t.Errorf("bench ops %v lack the hot-key workload", ops)
	}
	// --near adds a tier to a shared target without one; without it, no
	// hot-key workload.
	cli(t, env, "", "--url", db, "bench", "--near", "--ops", "50", "--keys", "20", "--fuzzy-ops", "1", "--no-progress").want(t, 0, "Latency hot get near")
	r = cli(t, env, "", "--url", db, "bench", "--ops", "50", "--keys", "20", "--fuzzy-ops", "1", "--no-progress").want(t, 0)
	if strings.Contains(r.stdout, "hot get") {
		t.Errorf("bench without a near cache ran the hot-key workload:\n%s", r.stdout)
	}

	// --all --near: no tier in front of mem:// (in-process); disk, which
	// one process holds, gets one but no backend-alone comparison.
	r = cli(t, nil, "", "bench", "--all", "--near", "--ops", "50", "--keys", "20", "--fuzzy-ops", "1", "--no-progress").want(t, 0, "Latency hot get near", "unsupported")
	for _, line := range strings.Split(r.stdout, "\n") {
		if strings.HasPrefix(line, "Near cache") && strings.Count(line, "hit ratio") != 2 {
			t.Errorf("bench --all --near: want a near cache on disk and SQLite only: %s", line)
		}
	}
	// The environment and the configuration file configure it too.
	cli(t, map[string]string{"YOKEDCACHE_URL": db, "YOKEDCACHE_NEAR_CACHE": "77"}, "", "stats").want(t, 0, "0/77 entries")
	file := filepath.Join(dir, "c.yaml")
	if err := os.WriteFile(file, []byte("url: "+db+"\nnear_cache:\n  max_entries: 88\n  max_bytes: -1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cli(t, nil, "", "--config", file, "stats").want(t, 0, "0/88 entries", "unbounded")
	cli(t, nil, "", "--config", file, "export-config").want(t, 0, "near_cache:", "max_entries: 88", "max_bytes: \"-1\"")
	// Mistakes are configuration errors naming the setting.
	cli(t, nil, "", "--url", db+"?near_mode=psychic", "ping").want(t, 2)
	cli(t, map[string]string{"YOKEDCACHE_URL": db, "YOKEDCACHE_NEAR_TTL": "soon"}, "", "ping").want(t, 2).stderrHas(t, "YOKEDCACHE_NEAR_TTL")
	// The in-process memory backend has nothing to put a near cache in front of.
	cli(t, nil, "", "--url", "mem://?near_cache=10", "ping").want(t, 2).stderrHas(t, "near cache")
}

// TestNearCacheRedisHealth: a near cache on Redis reports its mode in
// health and stats through --redis-url.
func TestNearCacheRedisHealth(t *testing.T) {
	srv := testserver.StartRedis(t, testserver.RedisOptions{})
	env := map[string]string{"YOKEDCACHE_KEY_PREFIX": "nearcli"}
	u := srv.URL() + "?near_cache=100"
	var health struct {
		Status   string         `json:"status"`
		Details  map[string]any `json:"details"`
		Warnings []string       `json:"warnings"`
	}
	r := cli(t, env, "", "-r", u, "health", "-o", "json")
	jsonOf(t, r.stdout, &health)
	if _, ok := health.Details["near_mode"]; !ok {
		t.Fatalf("health lacks near_mode: %+v\n%s", health, r.stderr)
	}
	t.Logf("health: exit %d %+v", r.code, health)
	cli(t, env, "", "-r", u, "set", "k", "v").want(t, 0)
	cli(t, env, "", "-r", u, "get", "k").want(t, 0, "v")
	cli(t, env, "", "-r", u, "stats").want(t, 0, "near (default)", "0/100 entries")
}
