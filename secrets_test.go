package yokedcache_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/yokedcache/yokedcache"
	"github.com/yokedcache/yokedcache/internal/testserver"
)

// rootSecret is the planted password; no output may contain it.
const rootSecret = "s3cretPWroot9"

func secretsNotShown(t *testing.T, what, s string) {
	t.Helper()
	if strings.Contains(s, rootSecret) {
		t.Errorf("%s shows the secret: %s", what, s)
	}
}

// secretURLs are backend URLs that carry rootSecret: in the user
// information, in misspelled or unknown parameters, in malformed text.
func secretURLs(addr string) []string {
	us := []string{
		"redis://:" + rootSecret + "@" + addr + "/0?socket_connect_timeout=1",
		"redis://app:" + rootSecret + "@" + addr + "/0?socket_connect_timeout=1",
		"redis:app:" + rootSecret + "@" + addr + "/0",
		"redis://app:" + rootSecret + "%zz@" + addr + "/0",
		"redis://app:" + rootSecret + "@h:port/0",
		"redis://:12#" + rootSecret + "@" + addr + "/0",
		"redis://" + addr + "/0?sentinel_password:" + rootSecret,
		"memcached://app:" + rootSecret + "@" + addr,
		"mem://?token=" + rootSecret,
	}
	for _, p := range []string{"sentinel_pasword", "sentinel_pw", "passwd", "token", "x"} {
		us = append(us, "redis://"+addr+"/0?socket_connect_timeout=1&"+p+"="+rootSecret)
		us = append(us, "redis+sentinel://"+addr+"/m?socket_connect_timeout=1&"+p+"="+rootSecret)
		us = append(us, "memcached://"+addr+"?"+p+"="+rootSecret)
		us = append(us, "mem://?"+p+"="+rootSecret)
	}
	return us
}

// TestSecretsNeverInConfigErrors: New, Open, FromEnvMap, LoadConfig and
// the printed forms of a Config never show a password, whichever URL,
// variable or file key carries it, and the Logger records none either.
func TestSecretsNeverInConfigErrors(t *testing.T) {
	dead := testserver.ClosedAddr(t)
	dir := t.TempDir()
	logs := new(testserver.LogBuffer)
	logger := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	prev := slog.Default()
	slog.SetDefault(logger)
	t.Cleanup(func() { slog.SetDefault(prev) })
	ctx := context.Background()

	check := func(what string, err error) {
		t.Helper()
		if err != nil {
			secretsNotShown(t, what, err.Error())
			secretsNotShown(t, what+" (%+v)", fmt.Sprintf("%+v", err))
		}
	}
	for i, raw := range secretURLs(dead) {
		name := fmt.Sprintf("url %d", i)
		for _, cfg := range []yokedcache.Config{{URL: raw, Logger: logger}, {RedisURL: raw, Logger: logger},
			{Routes: []yokedcache.Route{{Prefix: "r", URL: raw}}, Logger: logger}} {
			c, err := yokedcache.New(cfg)
			if err == nil {
				check(name+" Ping", c.Ping(ctx))
				_ = c.Close()
			}
			check(name+" New", err)
			secretsNotShown(t, name+" Config.String", cfg.String())
			secretsNotShown(t, name+" Config %v", fmt.Sprintf("%v %+v %s", cfg, cfg, cfg))
			red := cfg.Redacted()
			y, _ := yaml.Marshal(red)
			j, _ := json.Marshal(red)
			secretsNotShown(t, name+" Redacted", string(y)+string(j))
		}
		c, err := yokedcache.Open(ctx, raw, yokedcache.Config{Logger: logger})
		if err == nil {
			check(name+" Open Ping", c.Ping(ctx))
			_ = c.Close()
		}
		check(name+" Open", err)
		for _, v := range []string{yokedcache.EnvURL, yokedcache.EnvRedisURL} {
			env := map[string]string{v: raw, "YOKEDCACHE_REDIS_PASSWORD": rootSecret, "YOKEDCACHE_PASSWORD": rootSecret}
			cfg, err := yokedcache.FromEnvMap(func(k string) (string, bool) { s, ok := env[k]; return s, ok })
			check(name+" FromEnvMap "+v, err)
			if err == nil {
				secretsNotShown(t, name+" FromEnvMap String", cfg.String())
				if c, err := yokedcache.New(cfg); err == nil {
					_ = c.Close()
				} else {
					check(name+" FromEnvMap New", err)
				}
			}
		}
		q := strings.ReplaceAll(raw, "'", "''")
		for j, body := range []string{
			"url: '" + q + "'\n",
			"redis_url: '" + q + "'\n",
			"routes:\n  r:\n    url: '" + q + "'\n",
		} {
			path := filepath.Join(dir, fmt.Sprintf("c%d-%d.yaml", i, j))
			if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
				t.Fatal(err)
			}
			cfg, err := yokedcache.LoadConfig(path)
			check(name+" LoadConfig", err)
			if err == nil {
				secretsNotShown(t, name+" LoadConfig String", cfg.String())
				if c, err := yokedcache.New(cfg); err == nil {
					_ = c.Close()
				} else {
					check(name+" LoadConfig New", err)
				}
			}
		}
	}
	// Secrets under keys the file does not know, and YAML errors.
	for i, body := range []string{
		"redis_password: " + rootSecret + "\n",
		"password: " + rootSecret + "\n",
		"sentinel_pasword: " + rootSecret + "\n",
		"routes:\n  r:\n    password: " + rootSecret + "\n",
		"url: redis://h/0\npassword: '" + rootSecret + "\n",
	} {
		path := filepath.Join(dir, fmt.Sprintf("bad%d.yaml", i))
		if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := yokedcache.LoadConfig(path)
		if err == nil {
			t.Fatalf("LoadConfig accepted %q", body)
		}
		check("LoadConfig", err)
		_, err = yokedcache.FromEnvMap(func(k string) (string, bool) {
			if k == yokedcache.EnvConfigFile {
				return path, true
			}
			return "", false
		})
		check("FromEnvMap with the file", err)
	}
	secretsNotShown(t, "the log", logs.String())
}

// TestSecretsPasswordServerCache: a Cache on a server that requires a
// password works with the right one and fails with a wrong one, and
// neither password reaches an error, the stats, the health report or the
// log.
func TestSecretsPasswordServerCache(t *testing.T) {
	srv := testserver.StartRedis(t, testserver.RedisOptions{Password: rootSecret})
	logs := new(testserver.LogBuffer)
	logger := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	ctx := context.Background()
	const wrong = "wr0ngPWroot"

	bad := "redis://:" + wrong + "@" + srv.Addr + "/0"
	c, err := yokedcache.New(yokedcache.Config{RedisURL: bad, Logger: logger})
	if err == nil {
		err = c.Ping(ctx)
		_ = c.Close()
	}
	if err == nil {
		t.Fatal("a wrong password worked")
	}
	if strings.Contains(err.Error(), wrong) {
		t.Errorf("error shows the wrong password: %v", err)
	}
	secretsNotShown(t, "wrong password error", err.Error())

	u := srv.URL() + "?" + url.Values{"socket_timeout": {"5"}}.Encode()
	c, err = yokedcache.New(yokedcache.Config{RedisURL: u, KeyPrefix: "secrets", Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Set(ctx, "k", "v", yokedcache.WithTTL(time.Minute)); err != nil {
		t.Fatal(err)
	}
	st, err := c.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	rep := c.DetailedHealthCheck(ctx)
	out, _ := json.Marshal(map[string]any{"stats": st, "health": rep})
	secretsNotShown(t, "stats and health", fmt.Sprintf("%s %+v %+v", out, st, rep))
	secretsNotShown(t, "the log", logs.String())
	if strings.Contains(logs.String(), wrong) {
		t.Errorf("the log shows the wrong password: %s", logs.String())
	}
}
