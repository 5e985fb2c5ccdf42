package yokedcache

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/yokedcache/yokedcache/backend"
)

// The environment variables FromEnv reads.
const (
	EnvConfigFile            = "YOKEDCACHE_CONFIG_FILE"
	EnvURL                   = "YOKEDCACHE_URL"
	EnvRedisURL              = "YOKEDCACHE_REDIS_URL"
	EnvKeyPrefix             = "YOKEDCACHE_KEY_PREFIX"
	EnvDefaultTTL            = "YOKEDCACHE_DEFAULT_TTL"
	EnvTTLJitterPercent      = "YOKEDCACHE_TTL_JITTER_PERCENT"
	EnvMemoryMaxSize         = "YOKEDCACHE_MEMORY_MAX_SIZE"
	EnvMemoryCleanupInterval = "YOKEDCACHE_MEMORY_CLEANUP_INTERVAL"
	EnvMaxConnections        = "YOKEDCACHE_MAX_CONNECTIONS"
	EnvSocketTimeout         = "YOKEDCACHE_SOCKET_TIMEOUT"
	EnvSocketConnectTimeout  = "YOKEDCACHE_SOCKET_CONNECT_TIMEOUT"
	EnvLogLevel              = "YOKEDCACHE_LOG_LEVEL"
)

// FromEnv builds a Config from the YOKEDCACHE_* environment variables:
//
//	YOKEDCACHE_CONFIG_FILE              YAML file loaded first (LoadConfig); variables override it
//	YOKEDCACHE_URL                      any backend: mem://, redis://..., memcached://..., file://..., sqlite://...
//	YOKEDCACHE_REDIS_URL                Redis URL; with neither URL set the memory backend is used
//	YOKEDCACHE_KEY_PREFIX               Config.KeyPrefix: valid UTF-8, not ending in ':'
//	YOKEDCACHE_DEFAULT_TTL              seconds (300) or a Go duration (5m), at most MaxTTL
//	YOKEDCACHE_TTL_JITTER_PERCENT       0-50; 0 means exact TTLs
//	YOKEDCACHE_MEMORY_MAX_SIZE          entries
//	YOKEDCACHE_MEMORY_CLEANUP_INTERVAL  seconds or a Go duration
//	YOKEDCACHE_MAX_CONNECTIONS          Redis pool size        } added to a Redis URL as
//	YOKEDCACHE_SOCKET_TIMEOUT           Redis read/write timeout } max_connections, socket_timeout,
//	YOKEDCACHE_SOCKET_CONNECT_TIMEOUT   Redis dial timeout      } socket_connect_timeout unless it has them
//	YOKEDCACHE_LOG_LEVEL                debug, info, warn or error: a text logger on standard error
//
// Empty variables count as unset. A malformed value is an error matching
// ErrInvalidConfig that names the variable. The three Redis pool settings
// apply only when the resulting backend URL is a Redis URL and are
// otherwise validated and not used.
//
// Precedence: environment over file over defaults; merge explicit Go
// values on top with Config.Merge.
func FromEnv() (Config, error) { return FromEnvMap(os.LookupEnv) }

// FromEnvMap is FromEnv reading variables through lookup (os.LookupEnv, or
// a map in tests).
func FromEnvMap(lookup func(string) (string, bool)) (Config, error) {
	get := func(name string) (string, bool) {
		v, ok := lookup(name)
		v = strings.TrimSpace(v)
		return v, ok && v != ""
	}
	bad := func(name, v string, err error) (Config, error) {
		shown := v
		if strings.Contains(name, "URL") {
			shown = backend.RedactURL(v)
		}
		if errors.Is(err, ErrInvalidConfig) {
			return Config{}, fmt.Errorf("environment variable %s=%q: %w", name, shown, err)
		}
		return Config{}, fmt.Errorf("environment variable %s=%q: %v: %w", name, shown, err, ErrInvalidConfig)
	}
	var base Config
	if path, ok := get(EnvConfigFile); ok {
		c, err := LoadConfig(path)
		if err != nil {
			return Config{}, fmt.Errorf("%s: %w", EnvConfigFile, err)
		}
		base = c
	}
	var env Config
	u, hasURL := get(EnvURL)
	ru, hasRedis := get(EnvRedisURL)
	if hasURL && hasRedis {
		return Config{}, fmt.Errorf("both %s and %s are set; use one: %w", EnvURL, EnvRedisURL, ErrInvalidConfig)
	}
	if hasURL {
		if _, err := backend.ParseURL(u); err != nil {
			return bad(EnvURL, u, err)
		}
		env.URL = u
	}
	if hasRedis {
		if _, err := backend.ParseURL(ru); err != nil {
			return bad(EnvRedisURL, ru, err)
		}
		env.RedisURL = ru
	}
	if v, ok := get(EnvKeyPrefix); ok {
		if err := validKeyPrefix(v); err != nil {
			return bad(EnvKeyPrefix, v, err)
		}
		env.KeyPrefix = v
	}
	durVar := func(name string, dst *time.Duration) error {
		v, ok := get(name)
		if !ok {
			return nil
		}
		d, err := backend.ParseDuration(v)
		if err == nil && d == 0 {
			err = fmt.Errorf("must be > 0")
		}
		if err != nil {
			_, e := bad(name, v, err)
			return e
		}
		*dst = d
		return nil
	}
	if err := durVar(EnvDefaultTTL, &env.DefaultTTL); err != nil {
		return Config{}, err
	}
	if env.DefaultTTL > MaxTTL {
		v, _ := get(EnvDefaultTTL)
		return bad(EnvDefaultTTL, v, fmt.Errorf("exceeds MaxTTL %v", MaxTTL))
	}
	if err := durVar(EnvMemoryCleanupInterval, &env.MemoryCleanupInterval); err != nil {
		return Config{}, err
	}
	if v, ok := get(EnvTTLJitterPercent); ok {
		n, err := strconv.Atoi(v)
		if err == nil {
			n, err = jitterSetting(n)
		}
		if err != nil {
			return bad(EnvTTLJitterPercent, v, err)
		}
		env.TTLJitterPercent = n
	}
	if v, ok := get(EnvMemoryMaxSize); ok {
		n, err := strconv.Atoi(v)
		if err == nil && n <= 0 {
			err = fmt.Errorf("must be a positive number of entries")
		}
		if err != nil {
			return bad(EnvMemoryMaxSize, v, err)
		}
		env.MemoryMaxSize = n
	}
	if v, ok := get(EnvLogLevel); ok {
		l, err := newLevelLogger(v)
		if err != nil {
			return bad(EnvLogLevel, v, err)
		}
		env.Logger = l
	}
	// Redis pool settings, validated now, applied to the final URL.
	pool := url.Values{}
	if v, ok := get(EnvMaxConnections); ok {
		n, err := strconv.Atoi(v)
		if err == nil && n <= 0 {
			err = fmt.Errorf("must be a positive integer")
		}
		if err != nil {
			return bad(EnvMaxConnections, v, err)
		}
		pool.Set("max_connections", strconv.Itoa(n))
	}
	for name, param := range map[string]string{EnvSocketTimeout: "socket_timeout", EnvSocketConnectTimeout: "socket_connect_timeout"} {
		var d time.Duration
		if err := durVar(name, &d); err != nil {
			return Config{}, err
		}
		if d > 0 {
			pool.Set(param, d.String())
		}
	}
	cfg := base.Merge(env)
	if len(pool) > 0 {
		switch {
		case cfg.RedisURL != "":
			cfg.RedisURL = addParams(cfg.RedisURL, pool)
		case isRedisURL(cfg.URL):
			cfg.URL = addParams(cfg.URL, pool)
		}
	}
	return cfg, nil
}

func isRedisURL(raw string) bool {
	u, err := url.Parse(raw)
	if err != nil {
		return false
	}
	s := strings.ToLower(u.Scheme)
	return strings.HasPrefix(s, "redis") || s == "unix"
}

// addParams adds the parameters the URL does not already set.
func addParams(raw string, params url.Values) string {
	u, err := url.Parse(raw)
	if err != nil {
		return raw // reported by New
	}
	q := u.Query()
	for k, v := range params {
		if !q.Has(k) {
			q[k] = v
		}
	}
	u.RawQuery = q.Encode()
	return u.String()
}
