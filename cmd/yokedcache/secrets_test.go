package main

// This file runs the CLI in-process (run), unlike cli_test.go, so that it
// can also capture slog.Default, which backends log to.

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/yokedcache/yokedcache/internal/testserver"
)

// cliSecret is the planted password; no output may contain it.
const cliSecret = "s3cretPWcli7"

// secretsRun runs the CLI in-process with only env as its environment and
// returns the exit code and everything it printed.
func secretsRun(env map[string]string, args ...string) (int, string) {
	var out, errb testserver.LogBuffer
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	code := run(context.Background(), args, strings.NewReader(""), &out, &errb, lookup)
	return code, "stdout:\n" + out.String() + "\nstderr:\n" + errb.String()
}

// secretsCLIURLs are URLs of addr carrying cliSecret in the user
// information, in misspelled or unknown parameters and in malformed text.
func secretsCLIURLs(addr string) map[string]string {
	us := map[string]string{
		"userinfo":       "redis://app:" + cliSecret + "@" + addr + "/0?socket_connect_timeout=1",
		"password only":  "redis://:" + cliSecret + "@" + addr + "/0?socket_connect_timeout=1",
		"tls":            "rediss://:" + cliSecret + "@" + addr + "/0?socket_connect_timeout=1&ssl_cert_reqs=none",
		"no slashes":     "redis:app:" + cliSecret + "@" + addr + "/0",
		"bad escape":     "redis://app:" + cliSecret + "%zz@" + addr + "/0",
		"hash":           "redis://:12#" + cliSecret + "@" + addr + "/0",
		"glued":          "redis://" + addr + "/0?sentinel_password:" + cliSecret,
		"memcached auth": "memcached://app:" + cliSecret + "@" + addr,
	}
	for _, p := range []string{"sentinel_pasword", "sentinel_pw", "passwd", "token", "x"} {
		us["param "+p] = "redis://" + addr + "/0?socket_connect_timeout=1&" + p + "=" + cliSecret
		us["sentinel "+p] = "redis+sentinel://" + addr + "/m?" + p + "=" + cliSecret
	}
	return us
}

// secretsCommands are the commands every URL is tried with.
var secretsCommands = [][]string{
	{"ping"},
	{"health"},
	{"health", "-o", "json"},
	{"stats"},
	{"stats", "-o", "yaml"},
	{"export-config"},
	{"export-config", "-o", "json"},
	{"get", "k"},
	{"set", "k", "v"},
	{"list"},
	{"bench", "--ops", "10", "--keys", "10", "--fuzzy-ops", "1"},
}

// secretsCheck runs args with the URL given by every flag, variable and
// the configuration file, and fails if the output or the default log
// shows a secret.
func secretsCheck(t *testing.T, dir, raw string, secrets []string, extraEnv map[string]string, args []string) {
	t.Helper()
	file := filepath.Join(dir, fmt.Sprintf("cfg%d.yaml", len(raw)))
	quoted := "'" + strings.ReplaceAll(raw, "'", "''") + "'"
	if err := os.WriteFile(file, []byte("redis_url: "+quoted+"\nroutes:\n  r:\n    url: "+quoted+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	sources := []struct {
		name string
		env  map[string]string
		args []string
	}{
		{"--url", nil, []string{"--url", raw}},
		{"-r", nil, []string{"-r", raw}},
		{"YOKEDCACHE_URL", map[string]string{"YOKEDCACHE_URL": raw}, nil},
		{"YOKEDCACHE_REDIS_URL", map[string]string{"YOKEDCACHE_REDIS_URL": raw}, nil},
		{"--config", nil, []string{"--config", file}},
		{"YOKEDCACHE_CONFIG_FILE", map[string]string{"YOKEDCACHE_CONFIG_FILE": file}, nil},
		{"bench --target", nil, []string{"--target", raw}},
	}
	for _, src := range sources {
		if src.name == "bench --target" && args[0] != "bench" {
			continue
		}
		env := map[string]string{"YOKEDCACHE_KEY_PREFIX": "secrets", "YOKEDCACHE_REDIS_PASSWORD": cliSecret}
		for k, v := range extraEnv {
			env[k] = v
		}
		for k, v := range src.env {
			env[k] = v
		}
		full := append([]string{"--log-level", "debug"}, args...)
		full = append(full, src.args...)
		code, out := secretsRun(env, full...)
		for _, s := range secrets {
			if strings.Contains(out, s) {
				t.Errorf("%s %v (exit %d) printed the secret %q:\n%s", src.name, args, code, s, out)
			}
		}
	}
}

// TestSecretsNeverPrintedInProcess plants a password in URLs (user
// information, misspelled and unknown parameters, malformed text) given by
// every flag, variable and the configuration file, and checks the output
// of ping, health, stats, export-config, get, set, list and bench, and the
// default logger: against a closed port, against a Redis server that
// requires that password, and with a wrong password for it.
func TestSecretsNeverPrintedInProcess(t *testing.T) {
	logs := new(testserver.LogBuffer)
	prev := slog.Default()
	slog.SetDefault(slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	t.Cleanup(func() { slog.SetDefault(prev) })
	dir := t.TempDir()

	t.Run("closed port", func(t *testing.T) {
		for name, raw := range secretsCLIURLs(testserver.ClosedAddr(t)) {
			for _, args := range secretsCommands {
				secretsCheck(t, dir, raw, []string{cliSecret}, nil, args)
			}
			_ = name
		}
	})

	srv := testserver.StartRedis(t, testserver.RedisOptions{Password: cliSecret})
	t.Run("password server", func(t *testing.T) {
		const wrong = "wr0ngPWcli"
		good := "redis://:" + url.PathEscape(cliSecret) + "@" + srv.Addr + "/0"
		urls := map[string]string{
			"right password": good,
			"right user":     "redis://default:" + cliSecret + "@" + srv.Addr + "/0?socket_timeout=5",
			"wrong password": "redis://:" + wrong + "@" + srv.Addr + "/0",
		}
		for name, raw := range secretsCLIURLs(srv.Addr) {
			if strings.HasPrefix(name, "param") || name == "glued" {
				urls[name] = raw
			}
		}
		for _, raw := range urls {
			for _, args := range secretsCommands {
				secretsCheck(t, dir, raw, []string{cliSecret, wrong}, nil, args)
			}
		}
		// The right password works: the commands did reach the server.
		if code, out := secretsRun(map[string]string{"YOKEDCACHE_REDIS_URL": good}, "ping"); code != 0 {
			t.Fatalf("ping with the right password: exit %d\n%s", code, out)
		}
		code, out := secretsRun(map[string]string{"YOKEDCACHE_REDIS_URL": good}, "export-config")
		if code != 0 || !strings.Contains(out, "redis://:xxxxx@"+srv.Addr) {
			t.Fatalf("export-config: exit %d\n%s", code, out)
		}
		// Routes with a good, a wrong and a mistyped URL; bench --all
		// benchmarks every configured URL and lists the failures.
		routed := filepath.Join(dir, "routed.yaml")
		body := fmt.Sprintf("redis_url: '%s'\nroutes:\n  w:\n    url: '%s'\n  m:\n    url: '%s'\n  x:\n    url: '%s'\n",
			good, urls["wrong password"], urls["param sentinel_pasword"], urls["param x"])
		if err := os.WriteFile(routed, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		// Routes that open: one of them cannot log in.
		conn := filepath.Join(dir, "routed-conn.yaml")
		body = fmt.Sprintf("redis_url: '%s'\nroutes:\n  w:\n    url: '%s'\n", good, urls["wrong password"])
		if err := os.WriteFile(conn, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		for _, args := range [][]string{
			{"bench", "--all", "--ops", "10", "--keys", "10", "--fuzzy-ops", "1", "-o", "json"},
			{"export-config"}, {"ping"},
			{"-c", conn, "health", "-o", "json"}, {"-c", conn, "stats"}, {"-c", conn, "ping"},
			{"-c", conn, "set", "w:k", "v"}, {"-c", conn, "list"},
		} {
			file := routed
			if args[0] == "-c" {
				file, args = args[1], args[2:]
			}
			code, out := secretsRun(nil, append([]string{"-c", file, "--log-level", "debug"}, args...)...)
			if strings.Contains(out, cliSecret) || strings.Contains(out, wrong) {
				t.Errorf("routed %v (exit %d) printed a password:\n%s", args, code, out)
			}
			if args[0] == "bench" && (code != 0 || !strings.Contains(out, "sentinel_pasword")) {
				t.Errorf("bench --all: exit %d, want 0 and the mistyped URL listed as skipped:\n%s", code, out)
			}
		}
		// A mistyped parameter is named, without its value.
		code, out = secretsRun(nil, "-r", "redis://127.0.0.1:6390/0?sentinel_pasword="+cliSecret, "ping")
		if code != exitUsage || !strings.Contains(out, "sentinel_pasword") {
			t.Fatalf("mistyped parameter: exit %d\n%s", code, out)
		}
		// rediss:// against a plain server says the handshake failed,
		// and shows no password either. Each run waits for the connect
		// timeout: only a few commands.
		tls := "rediss://:" + cliSecret + "@" + srv.Addr + "/0?socket_connect_timeout=200ms&ssl_cert_reqs=none"
		for _, args := range [][]string{{"ping"}, {"health"}} {
			secretsCheck(t, dir, tls, []string{cliSecret}, nil, args)
		}
		code, out = secretsRun(map[string]string{"YOKEDCACHE_REDIS_URL": tls}, "ping")
		if code != exitConnFail || !strings.Contains(out, "TLS handshake failed") {
			t.Fatalf("rediss:// to a plain server: exit %d\n%s", code, out)
		}
	})
	if strings.Contains(logs.String(), cliSecret) {
		t.Errorf("the default log shows the secret:\n%s", logs.String())
	}
}
