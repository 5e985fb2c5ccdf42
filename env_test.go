package yokedcache_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/yokedcache/yokedcache"
	"github.com/yokedcache/yokedcache/backend"
	"github.com/yokedcache/yokedcache/backend/memory"
	"github.com/yokedcache/yokedcache/codec"
	"github.com/yokedcache/yokedcache/yokedcachetest"
)

func envMap(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func TestFromEnvUnsetIsMemory(t *testing.T) {
	cfg, err := yokedcache.FromEnvMap(envMap(nil))
	if err != nil {
		t.Fatal(err)
	}
	c, err := yokedcache.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if c.Backend() != "memory" || c.KeyPrefix() != "yokedcache" {
		t.Fatalf("backend %q prefix %q", c.Backend(), c.KeyPrefix())
	}
}

func TestFromEnvReadsEveryVariable(t *testing.T) {
	cfg, err := yokedcache.FromEnvMap(envMap(map[string]string{
		"YOKEDCACHE_REDIS_URL":               "redis://:s3cret@cache:6379/0?socket_timeout=2s",
		"YOKEDCACHE_KEY_PREFIX":              "prod_myapp",
		"YOKEDCACHE_DEFAULT_TTL":             "90",
		"YOKEDCACHE_TTL_JITTER_PERCENT":      "0",
		"YOKEDCACHE_MEMORY_MAX_SIZE":         "500",
		"YOKEDCACHE_MEMORY_CLEANUP_INTERVAL": "1m",
		"YOKEDCACHE_MAX_CONNECTIONS":         "25",
		"YOKEDCACHE_SOCKET_TIMEOUT":          "5",
		"YOKEDCACHE_SOCKET_CONNECT_TIMEOUT":  "1.5",
		"YOKEDCACHE_LOG_LEVEL":               "debug",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.KeyPrefix != "prod_myapp" || cfg.DefaultTTL != 90*time.Second || cfg.TTLJitterPercent != yokedcache.NoJitter ||
		cfg.Memory.MaxSize != 500 || cfg.Memory.CleanupInterval != time.Minute || cfg.Logger == nil {
		t.Fatalf("cfg = %v", cfg)
	}
	// Pool settings become URL parameters, without overriding the URL's own.
	for _, want := range []string{"max_connections=25", "socket_timeout=2s", "socket_connect_timeout=1.5s"} {
		if !strings.Contains(cfg.RedisURL, want) {
			t.Errorf("RedisURL %q lacks %s", cfg.RedisURL, want)
		}
	}
	if strings.Contains(cfg.String(), "s3cret") || !strings.Contains(cfg.String(), "xxxxx") {
		t.Errorf("String leaks or hides too much: %s", cfg)
	}
	if lv := cfg.Redacted().LogLevel; lv != "debug" {
		t.Errorf("log level %q", lv)
	}
}

func TestFromEnvGenericURL(t *testing.T) {
	cfg, err := yokedcache.FromEnvMap(envMap(map[string]string{"YOKEDCACHE_URL": "mem://?max_size=10", "YOKEDCACHE_MAX_CONNECTIONS": "3"}))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.URL != "mem://?max_size=10" { // pool settings only apply to Redis URLs
		t.Fatalf("URL = %q", cfg.URL)
	}
	c, err := yokedcache.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if c.Backend() != "memory" {
		t.Fatal(c.Backend())
	}
}

func TestFromEnvMalformedValuesNameTheVariable(t *testing.T) {
	for name, val := range map[string]string{
		"YOKEDCACHE_DEFAULT_TTL":             "soon",
		"YOKEDCACHE_TTL_JITTER_PERCENT":      "80",
		"YOKEDCACHE_MEMORY_MAX_SIZE":         "-3",
		"YOKEDCACHE_MEMORY_CLEANUP_INTERVAL": "x",
		"YOKEDCACHE_MAX_CONNECTIONS":         "many",
		"YOKEDCACHE_SOCKET_TIMEOUT":          "-1",
		"YOKEDCACHE_SOCKET_CONNECT_TIMEOUT":  "1h?",
		"YOKEDCACHE_LOG_LEVEL":               "loud",
		"YOKEDCACHE_REDIS_URL":               "://nope:s3cret@",
		"YOKEDCACHE_URL":                     "no-scheme",
		"YOKEDCACHE_CONFIG_FILE":             filepath.Join(t.TempDir(), "missing.yaml"),
	} {
		_, err := yokedcache.FromEnvMap(envMap(map[string]string{name: val}))
		if !errors.Is(err, yokedcache.ErrInvalidConfig) || !strings.Contains(err.Error(), name) {
			t.Errorf("%s=%q: err = %v", name, val, err)
		}
		if err != nil && strings.Contains(err.Error(), "s3cret") {
			t.Errorf("%s: error leaks the password: %v", name, err)
		}
	}
	_, err := yokedcache.FromEnvMap(envMap(map[string]string{"YOKEDCACHE_URL": "mem://", "YOKEDCACHE_REDIS_URL": "redis://x"}))
	if !errors.Is(err, yokedcache.ErrInvalidConfig) {
		t.Errorf("both URLs: %v", err)
	}
}

// TestFromEnvRejectsNaN: NaN once converted to math.MinInt64, which is
// NoExpiry, and was dropped silently from the Redis pool settings.
func TestFromEnvRejectsNaN(t *testing.T) {
	for _, name := range []string{
		"YOKEDCACHE_DEFAULT_TTL", "YOKEDCACHE_MEMORY_CLEANUP_INTERVAL",
		"YOKEDCACHE_SOCKET_TIMEOUT", "YOKEDCACHE_SOCKET_CONNECT_TIMEOUT",
	} {
		for _, val := range []string{"NaN", "nan", "Inf", "-inf", "1e400"} {
			_, err := yokedcache.FromEnvMap(envMap(map[string]string{name: val, "YOKEDCACHE_REDIS_URL": "redis://h:1/0"}))
			if !errors.Is(err, yokedcache.ErrInvalidConfig) || !strings.Contains(err.Error(), name) {
				t.Errorf("%s=%s: err = %v", name, val, err)
			}
		}
	}
}

// TestConfigErrorsSayInvalidOnce: a wrapped URL error is not followed by a
// second "invalid configuration".
func TestConfigErrorsSayInvalidOnce(t *testing.T) {
	var errs []error
	_, err := yokedcache.FromEnvMap(envMap(map[string]string{"YOKEDCACHE_URL": "::x"}))
	errs = append(errs, err)
	_, err = yokedcache.ParseConfig([]byte("url: '::x'\n"))
	errs = append(errs, err)
	_, err = yokedcache.ParseConfig([]byte("routes:\n  a:\n    url: '::x'\n"))
	errs = append(errs, err)
	_, err = yokedcache.LoadConfig(filepath.Join(t.TempDir(), "missing.yaml"))
	errs = append(errs, err)
	for i, err := range errs {
		if !errors.Is(err, yokedcache.ErrInvalidConfig) {
			t.Errorf("%d: %v does not match ErrInvalidConfig", i, err)
			continue
		}
		if n := strings.Count(err.Error(), "invalid configuration"); n != 1 {
			t.Errorf("%d: %q says invalid configuration %d times", i, err, n)
		}
	}
}

const sampleYAML = `
key_prefix: fileapp
default_ttl: 10m
ttl_jitter_percent: 5
memory_max_size: 2000
memory_cleanup_interval: 30
compression: s2
compression_threshold: 512
log_level: warn
url: mem://
routes:
  hot:
    url: "mem://?max_size=1000"
    default_ttl: 60s
  "session:":
    default_ttl: 1800
`

func writeFile(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "yokedcache.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoadConfig(t *testing.T) {
	cfg, err := yokedcache.LoadConfig(writeFile(t, sampleYAML))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.KeyPrefix != "fileapp" || cfg.DefaultTTL != 10*time.Minute || cfg.TTLJitterPercent != 5 || cfg.Memory.MaxSize != 2000 ||
		cfg.Memory.CleanupInterval != 30*time.Second || cfg.Compression != codec.S2 || cfg.CompressionThreshold != 512 ||
		cfg.URL != "mem://" || len(cfg.Routes) != 2 ||
		cfg.Routes[0] != (yokedcache.Route{Prefix: "hot", URL: "mem://?max_size=1000", DefaultTTL: time.Minute}) ||
		cfg.Routes[1] != (yokedcache.Route{Prefix: "session:", DefaultTTL: 30 * time.Minute}) {
		t.Fatalf("cfg = %v", cfg)
	}
	c, err := yokedcache.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if c.Backend() != "router" {
		t.Fatal(c.Backend())
	}
	// The exported form loads back to the same configuration.
	cfg2, err := yokedcache.FileConfig(cfg.Redacted()).Config()
	if err != nil {
		t.Fatal(err)
	}
	if cfg2.String() != cfg.String() {
		t.Fatalf("round trip:\n%s\n%s", cfg, cfg2)
	}
}

func TestLoadConfigRejects(t *testing.T) {
	for name, body := range map[string]string{
		"unknown key":        "key_prefix: a\nredis_uri: redis://x\n",
		"unknown route key":  "routes:\n  hot:\n    uri: mem://\n",
		"bad duration":       "default_ttl: soon\n",
		"negative duration":  "default_ttl: -5s\n",
		"bad jitter":         "ttl_jitter_percent: 70\n",
		"bad compression":    "compression: lz4\n",
		"bad log level":      "log_level: chatty\n",
		"both urls":          "url: mem://\nredis_url: redis://x\n",
		"url without scheme": "url: /var/cache\n",
		"empty route":        "routes:\n  hot: {}\n",
		"bad prefix":         "key_prefix: 'a:'\n",
		"not a mapping":      "- a\n- b\n",
		"NaN duration":       "default_ttl: nan\n",
		"Inf duration":       "default_ttl: inf\n",
		"NaN cleanup":        "memory_cleanup_interval: NaN\n",
		"NaN route ttl":      "routes:\n  hot:\n    default_ttl: NaN\n",
		"same ttl route":     "routes:\n  user:\n    default_ttl: 60s\n  \"user:\":\n    default_ttl: 1h\n",
		"same route mixed":   "routes:\n  user:\n    url: mem://\n  \"user::\":\n    default_ttl: 1h\n",
		"same url route":     "routes:\n  user:\n    url: mem://\n  \"user:\":\n    url: mem://\n",
	} {
		_, err := yokedcache.ParseConfig([]byte(body))
		if !errors.Is(err, yokedcache.ErrInvalidConfig) {
			t.Errorf("%s: err = %v", name, err)
		}
	}
	if _, err := yokedcache.ParseConfig(nil); err != nil {
		t.Errorf("empty file: %v", err)
	}
}

// Precedence: explicit Go config > environment > file > defaults.
func TestPrecedence(t *testing.T) {
	path := writeFile(t, "key_prefix: file\ndefault_ttl: 60\nmemory_max_size: 100\nurl: mem://\nttl_jitter_percent: 3\n")
	env := map[string]string{
		"YOKEDCACHE_CONFIG_FILE":     path,
		"YOKEDCACHE_KEY_PREFIX":      "env",
		"YOKEDCACHE_DEFAULT_TTL":     "120",
		"YOKEDCACHE_REDIS_URL":       "redis://localhost:1/0",
		"YOKEDCACHE_MEMORY_MAX_SIZE": "",
	}
	cfg, err := yokedcache.FromEnvMap(envMap(env))
	if err != nil {
		t.Fatal(err)
	}
	// env over file; file over defaults; a set URL variable replaces the file's backend.
	if cfg.KeyPrefix != "env" || cfg.DefaultTTL != 2*time.Minute || cfg.Memory.MaxSize != 100 || cfg.TTLJitterPercent != 3 ||
		cfg.URL != "" || cfg.RedisURL != "redis://localhost:1/0" {
		t.Fatalf("env over file: %v", cfg)
	}
	explicit := yokedcache.Config{KeyPrefix: "explicit", URL: "mem://"}
	cfg = cfg.Merge(explicit)
	if cfg.KeyPrefix != "explicit" || cfg.DefaultTTL != 2*time.Minute || cfg.URL != "mem://" || cfg.RedisURL != "" {
		t.Fatalf("explicit over env: %v", cfg)
	}
	// Defaults fill the rest.
	c, err := yokedcache.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if c.KeyPrefix() != "explicit" || c.Backend() != "memory" {
		t.Fatal(c.KeyPrefix(), c.Backend())
	}
}

func TestMergeRoutes(t *testing.T) {
	m := func() backend.Backend {
		s, _ := memory.New(memory.Options{})
		t.Cleanup(func() { _ = s.Close() })
		return s
	}
	base := yokedcache.Config{Routes: []yokedcache.Route{{Prefix: "hot", URL: "mem://", DefaultTTL: time.Second}, {Prefix: "cold", URL: "mem://"}, {Prefix: "keep", DefaultTTL: time.Hour}}}
	hot := m()
	over := yokedcache.Config{Routes: []yokedcache.Route{{Prefix: "hot:", Backend: hot}, {Prefix: "cold", URL: "mem://?max_size=5", DefaultTTL: time.Minute}}}
	got := base.Merge(over)
	byPrefix := map[string]yokedcache.Route{}
	for _, r := range got.Routes {
		byPrefix[r.Prefix] = r
	}
	// A route of over replaces the base route of the same prefix whole.
	if len(got.Routes) != 3 || byPrefix["hot:"].Backend != hot || byPrefix["hot:"].DefaultTTL != 0 || byPrefix["hot"].URL != "" ||
		byPrefix["cold"].URL != "mem://?max_size=5" || byPrefix["cold"].DefaultTTL != time.Minute || byPrefix["keep"].DefaultTTL != time.Hour {
		t.Fatalf("Merge = %v", got)
	}
	if len(base.Routes) != 3 || base.Routes[0].URL != "mem://" {
		t.Fatal("Merge modified its receiver")
	}
}

func TestRouteDefaultTTL(t *testing.T) {
	ctx := t.Context()
	c, _ := yokedcachetest.New(t, yokedcache.Config{
		DefaultTTL: 5 * time.Minute,
		Routes:     []yokedcache.Route{{Prefix: "hot", DefaultTTL: time.Minute}, {Prefix: "user:admin", DefaultTTL: yokedcache.NoExpiry}},
	})
	for key, want := range map[string]time.Duration{
		"hot:1": time.Minute, "hot": time.Minute, "hotel:1": 5 * time.Minute,
		"user:admin:1": yokedcache.NoExpiry, "user:1": 5 * time.Minute,
	} {
		if err := c.Set(ctx, key, "v"); err != nil {
			t.Fatal(err)
		}
		if got, err := c.TTL(ctx, key); err != nil || got != want {
			t.Errorf("TTL(%q) = %v, %v; want %v", key, got, err, want)
		}
	}
	// An explicit TTL still wins.
	_ = c.Set(ctx, "hot:2", "v", yokedcache.WithTTL(time.Hour))
	if got, _ := c.TTL(ctx, "hot:2"); got != time.Hour {
		t.Errorf("explicit TTL = %v", got)
	}
	_, err := yokedcache.New(yokedcache.Config{Routes: []yokedcache.Route{{Prefix: "x", DefaultTTL: -time.Second}}})
	if !errors.Is(err, yokedcache.ErrInvalidConfig) {
		t.Errorf("negative route TTL: %v", err)
	}
}

func TestRoutingConfigErrors(t *testing.T) {
	s, _ := memory.New(memory.Options{})
	defer s.Close()
	for name, cfg := range map[string]yokedcache.Config{
		"route with nothing": {Routes: []yokedcache.Route{{Prefix: "a"}}},
		"route twice":        {Routes: []yokedcache.Route{{Prefix: "a", Backend: s}, {Prefix: "a", URL: "mem://"}}},
		"bad route URL":      {Routes: []yokedcache.Route{{Prefix: "a", URL: "nope://"}}},
		"empty route":        {Routes: []yokedcache.Route{{Prefix: ":", Backend: s}}},
		"route TTL twice":    {Routes: []yokedcache.Route{{Prefix: "user", DefaultTTL: time.Minute}, {Prefix: "user:", DefaultTTL: time.Hour}}},
	} {
		if _, err := yokedcache.New(cfg); !errors.Is(err, yokedcache.ErrInvalidConfig) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestOpenSharedParams(t *testing.T) {
	ctx := t.Context()
	c, err := yokedcache.Open(ctx, "mem://?max_size=100&prefix=svc&default_ttl=90")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if c.KeyPrefix() != "svc" || c.Backend() != "memory" {
		t.Fatal(c.KeyPrefix(), c.Backend())
	}
	_ = c.Set(ctx, "k", "v", yokedcache.WithExactTTL())
	if d, err := c.TTL(ctx, "k"); err != nil || d > 90*time.Second || d < 80*time.Second {
		t.Fatalf("TTL = %v, %v", d, err)
	}
	for _, bad := range []string{"mem://?prefix=", "mem://?default_ttl=soon", "mem://?bogus=1", "nope://", "mem://?prefix=a:", "mem://?default_ttl=NaN", "mem://?default_ttl=-Inf"} {
		if _, err := yokedcache.Open(ctx, bad); !errors.Is(err, yokedcache.ErrInvalidConfig) {
			t.Errorf("Open(%q): %v", bad, err)
		}
	}
}

func TestRedactedURLs(t *testing.T) {
	cfg := yokedcache.Config{
		URL:    "redis://user:pw1@host:6379/0?password=pw2&db=1",
		Routes: []yokedcache.Route{{Prefix: "hot", URL: "mem://?max_size=1000"}, {Prefix: "s", URL: "memcached://h:11211?auth_token=pw3"}},
	}
	fc := cfg.Redacted()
	all := fc.URL + fc.Routes["hot"].URL + fc.Routes["s"].URL + cfg.String()
	for _, secret := range []string{"pw1", "pw2", "pw3"} {
		if strings.Contains(all, secret) {
			t.Errorf("%s leaked: %s", secret, all)
		}
	}
	if fc.Routes["hot"].URL != "mem://?max_size=1000" {
		t.Errorf("URL without secrets changed: %q", fc.Routes["hot"].URL)
	}
	// URLs without "//", or that do not parse, hide everything up to the
	// last '@'; secret query parameters are hidden in every form.
	cfg = yokedcache.Config{
		RedisURL: "default:pw4@h",
		Routes: []yokedcache.Route{
			{Prefix: "a", URL: "redis:admin:pw5@h:6379"},
			{Prefix: "b", URL: "redis+sentinel://h/m?sentinel_password=pw6&bogus=1"},
			{Prefix: "c", URL: "redis://u:pw%ZZ7@h/0?token=pw8"},
		},
	}
	fc = cfg.Redacted()
	all = fc.RedisURL + fc.Routes["a"].URL + fc.Routes["b"].URL + fc.Routes["c"].URL + cfg.String()
	for _, secret := range []string{"pw4", "pw5", "pw6", "pw7", "pw8"} {
		if strings.Contains(all, secret) {
			t.Errorf("%s leaked: %s", secret, all)
		}
	}
}

// FuzzParseConfig: arbitrary file contents never panic, and whatever
// parses is accepted by New's validation.
func FuzzParseConfig(f *testing.F) {
	f.Add([]byte(sampleYAML))
	f.Add([]byte("routes:\n  a: {default_ttl: 5}\n"))
	f.Add([]byte("default_ttl: [1]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := yokedcache.ParseConfig(data)
		if err != nil {
			if !errors.Is(err, yokedcache.ErrInvalidConfig) {
				t.Fatalf("error does not match ErrInvalidConfig: %v", err)
			}
			return
		}
		_ = cfg.String()
		_ = cfg.Redacted()
	})
}

func FuzzFromEnv(f *testing.F) {
	f.Add("YOKEDCACHE_DEFAULT_TTL", "5m")
	f.Add("YOKEDCACHE_REDIS_URL", "redis://:pw@h:1/0")
	f.Add("YOKEDCACHE_MAX_CONNECTIONS", "9999999999999999999")
	f.Fuzz(func(t *testing.T, name, value string) {
		if name == "YOKEDCACHE_CONFIG_FILE" {
			return
		}
		_, err := yokedcache.FromEnvMap(envMap(map[string]string{name: value, "YOKEDCACHE_REDIS_URL": "redis://h:1/0"}))
		if err != nil && !errors.Is(err, yokedcache.ErrInvalidConfig) {
			t.Fatalf("%s=%q: %v", name, value, err)
		}
	})
}

// TestFromEnvKeyPrefixValidated: a bad prefix used to pass FromEnv and
// fail later in New with an error naming KeyPrefix, not the variable.
func TestFromEnvKeyPrefixValidated(t *testing.T) {
	for _, v := range []string{"app:", "a\xffb", ":"} {
		_, err := yokedcache.FromEnvMap(envMap(map[string]string{yokedcache.EnvKeyPrefix: v}))
		if !errors.Is(err, yokedcache.ErrInvalidConfig) || !strings.Contains(err.Error(), yokedcache.EnvKeyPrefix) {
			t.Errorf("%s=%q: err = %v; want ErrInvalidConfig naming the variable", yokedcache.EnvKeyPrefix, v, err)
		}
	}
	cfg, err := yokedcache.FromEnvMap(envMap(map[string]string{yokedcache.EnvKeyPrefix: "app:v2"}))
	if err != nil || cfg.KeyPrefix != "app:v2" {
		t.Fatalf("a valid prefix = %q, %v", cfg.KeyPrefix, err)
	}
}

// TestFromEnvPythonRedisVariables: Python YokedCache's
// YOKEDCACHE_REDIS_HOST, _PORT, _DB and _PASSWORD make a Redis URL, with
// a deprecation note naming YOKEDCACHE_REDIS_URL and no password.
func TestFromEnvPythonRedisVariables(t *testing.T) {
	cfg, notes, err := yokedcache.FromEnvMapNotes(envMap(map[string]string{
		"YOKEDCACHE_REDIS_HOST": "cache.internal", "YOKEDCACHE_REDIS_PORT": "6380",
		"YOKEDCACHE_REDIS_DB": "3", "YOKEDCACHE_REDIS_PASSWORD": "pw-secret",
		"YOKEDCACHE_MAX_CONNECTIONS": "9",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.RedisURL != "redis://:pw-secret@cache.internal:6380/3?max_connections=9" || cfg.URL != "" {
		t.Fatalf("RedisURL %q URL %q", cfg.RedisURL, cfg.URL)
	}
	joined := strings.Join(notes, "\n")
	if !strings.Contains(joined, "YOKEDCACHE_REDIS_URL=redis://:xxxxx@cache.internal:6380/3") || strings.Contains(joined, "pw-secret") {
		t.Fatalf("notes: %s", joined)
	}
	// Only the port: Python's default host and database.
	cfg, _, err = yokedcache.FromEnvMapNotes(envMap(map[string]string{"YOKEDCACHE_REDIS_PORT": "7000"}))
	if err != nil || cfg.RedisURL != "redis://localhost:7000/0" {
		t.Fatalf("port only: %q %v", cfg.RedisURL, err)
	}
	// FromEnvMap gives the same Config.
	cfg, err = yokedcache.FromEnvMap(envMap(map[string]string{"YOKEDCACHE_REDIS_PORT": "7000"}))
	if err != nil || cfg.RedisURL != "redis://localhost:7000/0" {
		t.Fatalf("FromEnvMap: %q %v", cfg.RedisURL, err)
	}
	// The environment overrides the file's URL part by part.
	path := filepath.Join(t.TempDir(), "c.yaml")
	if err := os.WriteFile(path, []byte("redis_url: redis://user:filepw@filehost:6379/1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, _, err = yokedcache.FromEnvMapNotes(envMap(map[string]string{"YOKEDCACHE_CONFIG_FILE": path, "YOKEDCACHE_REDIS_HOST": "envhost"}))
	if err != nil || cfg.RedisURL != "redis://user:filepw@envhost:6379/1" {
		t.Fatalf("over the file: %q %v", cfg.RedisURL, err)
	}
	// With YOKEDCACHE_REDIS_URL they must agree.
	cfg, notes, err = yokedcache.FromEnvMapNotes(envMap(map[string]string{"YOKEDCACHE_REDIS_URL": "redis://h:6379/0", "YOKEDCACHE_REDIS_HOST": "h", "YOKEDCACHE_REDIS_PORT": "6379"}))
	if err != nil || cfg.RedisURL != "redis://h:6379/0" || len(notes) != 1 {
		t.Fatalf("agreeing: %q %q %v", cfg.RedisURL, notes, err)
	}
	for _, tc := range []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"YOKEDCACHE_REDIS_URL": "redis://h:6379/0", "YOKEDCACHE_REDIS_PORT": "6380"}, "disagrees"},
		{map[string]string{"YOKEDCACHE_REDIS_URL": "redis://:a@h:6379/0", "YOKEDCACHE_REDIS_PASSWORD": "b-secret"}, "YOKEDCACHE_REDIS_PASSWORD"},
		{map[string]string{"YOKEDCACHE_URL": "mem://", "YOKEDCACHE_REDIS_HOST": "h"}, "use one"},
		{map[string]string{"YOKEDCACHE_REDIS_PORT": "http"}, "YOKEDCACHE_REDIS_PORT"},
		{map[string]string{"YOKEDCACHE_REDIS_PORT": "70000"}, "1-65535"},
		{map[string]string{"YOKEDCACHE_REDIS_DB": "-1"}, "YOKEDCACHE_REDIS_DB"},
		{map[string]string{"YOKEDCACHE_REDIS_HOST": "a/b"}, "YOKEDCACHE_REDIS_HOST"},
		{map[string]string{"YOKEDCACHE_FUZZY_THRESHOLD": "60"}, "--threshold"},
		{map[string]string{"YOKEDCACHE_ENABLE_CIRCUIT_BREAKER": "true"}, "YOKEDCACHE_ENABLE_CIRCUIT_BREAKER"},
		{map[string]string{"YOKEDCACHE_FALLBACK_ENABLED": "true"}, "YOKEDCACHE_FALLBACK_ENABLED"},
		{map[string]string{"YOKEDCACHE_CONNECTION_RETRIES": "3"}, "YOKEDCACHE_SOCKET_TIMEOUT"},
	} {
		_, err := yokedcache.FromEnvMap(envMap(tc.env))
		if !errors.Is(err, yokedcache.ErrInvalidConfig) || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "-secret") {
			t.Errorf("%v: %v, want ErrInvalidConfig naming %q", tc.env, err, tc.want)
		}
	}
	// Accepted with a note.
	_, notes, err = yokedcache.FromEnvMapNotes(envMap(map[string]string{"YOKEDCACHE_ENABLE_FUZZY": "true", "YOKEDCACHE_FUZZY_THRESHOLD": "80"}))
	if err != nil || len(notes) != 2 {
		t.Fatalf("fuzzy: %q %v", notes, err)
	}
}

// The memory backend's settings, including its eviction policy, come from
// Config.Memory, the environment and the file alike; a mem:// URL's
// parameters override them, and the Cache's clock reaches every memory
// store New opens.
func TestMemorySettings(t *testing.T) {
	cfg, err := yokedcache.FromEnvMap(envMap(map[string]string{"YOKEDCACHE_MEMORY_POLICY": "tinylfu", "YOKEDCACHE_MEMORY_MAX_SIZE": "64"}))
	if err != nil || cfg.Memory.Policy != memory.PolicyTinyLFU || cfg.Memory.MaxSize != 64 {
		t.Fatalf("FromEnv = %+v, %v", cfg.Memory, err)
	}
	if _, err := yokedcache.FromEnvMap(envMap(map[string]string{"YOKEDCACHE_MEMORY_POLICY": "fifo"})); !errors.Is(err, yokedcache.ErrInvalidConfig) || !strings.Contains(err.Error(), "YOKEDCACHE_MEMORY_POLICY") {
		t.Fatalf("bad policy = %v", err)
	}
	fc, err := yokedcache.LoadConfig(writeFile(t, "memory_policy: tinylfu\nmemory_max_size: 32\n"))
	if err != nil || fc.Memory.Policy != memory.PolicyTinyLFU || fc.Memory.MaxSize != 32 {
		t.Fatalf("LoadConfig = %+v, %v", fc.Memory, err)
	}
	if got := fc.Redacted(); got.MemoryPolicy != "tinylfu" || got.MemoryMaxSize != 32 {
		t.Fatalf("Redacted = %+v", got)
	}
	if _, err := yokedcache.LoadConfig(writeFile(t, "memory_policy: fifo\n")); !errors.Is(err, yokedcache.ErrInvalidConfig) {
		t.Fatalf("bad file policy = %v", err)
	}
	// Merge is per field: the environment's policy over the file's size.
	m := fc.Merge(yokedcache.Config{Memory: memory.Options{MaxSize: 16}})
	if m.Memory.MaxSize != 16 || m.Memory.Policy != memory.PolicyTinyLFU {
		t.Fatalf("Merge = %+v", m.Memory)
	}

	ctx := t.Context()
	clock := yokedcachetest.NewClock(time.Unix(1_800_000_000, 0))
	c, err := yokedcache.New(yokedcache.Config{
		Memory: memory.Options{MaxSize: 4}, Clock: clock, TTLJitterPercent: yokedcache.NoJitter,
		Routes: []yokedcache.Route{{Prefix: "r", URL: "mem://?max_size=2"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for i := range 10 {
		_ = c.Set(ctx, fmt.Sprint("d", i), "v", yokedcache.WithTTL(time.Minute))
		_ = c.Set(ctx, fmt.Sprint("r:", i), "v", yokedcache.WithTTL(time.Minute))
	}
	st, err := c.Stats(ctx)
	if err != nil || len(st.Routes) != 2 || st.Routes[0].Keys != 4 || st.Routes[1].Keys != 2 {
		t.Fatalf("bounds: %+v, %v; want 4 entries on the default store and 2 on the route's", st.Routes, err)
	}
	clock.Advance(time.Minute + time.Second) // both stores run on the Cache's clock
	if _, err := c.GetBytes(ctx, "r:9"); !errors.Is(err, yokedcache.ErrNotFound) {
		t.Fatalf("route entry after its TTL on the fake clock: %v", err)
	}
	if _, err := c.GetBytes(ctx, "d9"); !errors.Is(err, yokedcache.ErrNotFound) {
		t.Fatalf("default entry after its TTL on the fake clock: %v", err)
	}
	// A mem:// URL's parameters override Config.Memory.
	c2, err := yokedcache.New(yokedcache.Config{URL: "mem://?max_size=3", Memory: memory.Options{MaxSize: 100}})
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	for i := range 10 {
		_ = c2.Set(ctx, fmt.Sprint("k", i), "v")
	}
	if st, _ := c2.Stats(ctx); st.Keys != 3 {
		t.Fatalf("mem://?max_size=3 holds %d keys", st.Keys)
	}
}
