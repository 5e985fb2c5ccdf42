package yokedcache

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/yokedcache/yokedcache/backend"
	"github.com/yokedcache/yokedcache/backend/memory"
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
	EnvMemoryPolicy          = "YOKEDCACHE_MEMORY_POLICY"
	EnvSigningKeys           = "YOKEDCACHE_SIGNING_KEYS"
	EnvEncryptionKeys        = "YOKEDCACHE_ENCRYPTION_KEYS"
	EnvMaxConnections        = "YOKEDCACHE_MAX_CONNECTIONS"
	EnvSocketTimeout         = "YOKEDCACHE_SOCKET_TIMEOUT"
	EnvSocketConnectTimeout  = "YOKEDCACHE_SOCKET_CONNECT_TIMEOUT"
	EnvLogLevel              = "YOKEDCACHE_LOG_LEVEL"
	// The resilience settings (docs/resilience.md); each is also a URL
	// parameter of the same name in lower case without the prefix.
	EnvOperationTimeout = "YOKEDCACHE_OPERATION_TIMEOUT"
	EnvBatchTimeout     = "YOKEDCACHE_BATCH_TIMEOUT"
	EnvHealthTimeout    = "YOKEDCACHE_HEALTH_TIMEOUT"
	EnvBreakerFailures  = "YOKEDCACHE_BREAKER_FAILURES"
	EnvBreakerCooldown  = "YOKEDCACHE_BREAKER_COOLDOWN"
	EnvWaitReady        = "YOKEDCACHE_WAIT_READY"
	EnvFailClosedLoads  = "YOKEDCACHE_FAIL_CLOSED_LOADS"
	// The near-cache settings (Config.Near, docs/configuration.md); each
	// is also a URL parameter of the same name in lower case without the
	// prefix.
	EnvNearCache    = "YOKEDCACHE_NEAR_CACHE"
	EnvNearMaxBytes = "YOKEDCACHE_NEAR_MAX_BYTES"
	EnvNearTTL      = "YOKEDCACHE_NEAR_TTL"
	EnvNearMode     = "YOKEDCACHE_NEAR_MODE"
	EnvNearPolicy   = "YOKEDCACHE_NEAR_POLICY"
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
//	YOKEDCACHE_MEMORY_POLICY            lru (default) or tinylfu
//	YOKEDCACHE_SIGNING_KEYS             base64 keys, comma-separated, newest first
//	YOKEDCACHE_ENCRYPTION_KEYS          base64 32-byte keys, comma-separated, newest first
//	YOKEDCACHE_MAX_CONNECTIONS          Redis pool size        } added to a Redis URL as
//	YOKEDCACHE_SOCKET_TIMEOUT           Redis read/write timeout } max_connections, socket_timeout,
//	YOKEDCACHE_SOCKET_CONNECT_TIMEOUT   Redis dial timeout      } socket_connect_timeout unless it has them
//	YOKEDCACHE_LOG_LEVEL                debug, info, warn or error: a text logger on standard error
//	YOKEDCACHE_OPERATION_TIMEOUT        } Config.OperationTimeout, BatchTimeout, HealthTimeout,
//	YOKEDCACHE_BATCH_TIMEOUT            } BreakerFailures, BreakerCooldown, WaitReady and
//	YOKEDCACHE_HEALTH_TIMEOUT           } FailClosedLoads (docs/resilience.md): durations in
//	YOKEDCACHE_BREAKER_FAILURES         } seconds or Go syntax, -1 disables; a count; true/false
//	YOKEDCACHE_BREAKER_COOLDOWN
//	YOKEDCACHE_WAIT_READY
//	YOKEDCACHE_FAIL_CLOSED_LOADS
//	YOKEDCACHE_NEAR_CACHE               Config.Near: a near-cache tier in front of the default
//	                                    backend: an entry count (10000), true, or false (or 0)
//	YOKEDCACHE_NEAR_MAX_BYTES           a size (64MiB), or -1 for no byte bound
//	YOKEDCACHE_NEAR_TTL                 longest life of a local copy: seconds or a Go duration
//	YOKEDCACHE_NEAR_MODE                auto (track changes when the backend can) or ttl
//	YOKEDCACHE_NEAR_POLICY              tinylfu (default) or lru
//
// Python YokedCache's variables (YOKEDCACHE_REDIS_HOST, _PORT, _DB,
// _PASSWORD and others) are accepted with a deprecation note, logged as a
// warning, or refused naming the Go setting: see FromEnvMapNotes.
//
// Any YOKEDCACHE_NEAR_* variable but YOKEDCACHE_NEAR_CACHE=false turns
// the tier on; the variables override the file's near_cache section field
// by field, and YOKEDCACHE_NEAR_CACHE=false turns the file's tier off.
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
	cfg, notes, err := FromEnvMapNotes(lookup)
	if err != nil {
		return Config{}, err
	}
	logConfigNotes(cfg.Logger, notes)
	return cfg, nil
}

// Python YokedCache's environment variables that have no YOKEDCACHE_*
// counterpart of the same name in Go (see FromEnvMapNotes).
const (
	envPyRedisHost        = "YOKEDCACHE_REDIS_HOST"
	envPyRedisPort        = "YOKEDCACHE_REDIS_PORT"
	envPyRedisDB          = "YOKEDCACHE_REDIS_DB"
	envPyRedisPassword    = "YOKEDCACHE_REDIS_PASSWORD"
	envPyEnableFuzzy      = "YOKEDCACHE_ENABLE_FUZZY"
	envPyFuzzyThreshold   = "YOKEDCACHE_FUZZY_THRESHOLD"
	envPyCircuitBreaker   = "YOKEDCACHE_ENABLE_CIRCUIT_BREAKER"
	envPyFallbackEnabled  = "YOKEDCACHE_FALLBACK_ENABLED"
	envPyConnectionRetrys = "YOKEDCACHE_CONNECTION_RETRIES"
)

// PythonRedisEnv returns Python YokedCache's Redis connection variables,
// YOKEDCACHE_REDIS_HOST, _PORT, _DB and _PASSWORD, which FromEnv turns
// into a Redis URL. A caller that replaces the URL variables with its own
// URL (as the CLI's --url and --redis-url flags do) hides these too.
func PythonRedisEnv() []string {
	return []string{envPyRedisHost, envPyRedisPort, envPyRedisDB, envPyRedisPassword}
}

// FromEnvMapNotes is FromEnvMap returning deprecation notes instead of
// logging them. Besides the variables FromEnv lists it reads Python
// YokedCache's:
//
//	YOKEDCACHE_REDIS_HOST, _PORT, _DB, _PASSWORD
//	    a Redis URL redis://[:PASSWORD@]HOST:PORT/DB (defaults localhost,
//	    6379, 0), or those parts replaced in the configuration file's Redis
//	    URL; with YOKEDCACHE_REDIS_URL or YOKEDCACHE_URL set they must agree
//	    with it. Deprecated: set YOKEDCACHE_REDIS_URL.
//	YOKEDCACHE_ENABLE_FUZZY
//	    no effect (fuzzy search is always available); deprecated.
//	YOKEDCACHE_FUZZY_THRESHOLD
//	    80, Go's fixed default, is accepted (deprecated); any other value
//	    is refused: pass the threshold per search.
//	YOKEDCACHE_ENABLE_CIRCUIT_BREAKER, _FALLBACK_ENABLED, _CONNECTION_RETRIES
//	    refused: Go returns backend errors to the caller and bounds retries
//	    itself (see docs/redis.md).
func FromEnvMapNotes(lookup func(string) (string, bool)) (Config, []string, error) {
	var notes []string
	get := func(name string) (string, bool) {
		v, ok := lookup(name)
		v = strings.TrimSpace(v)
		return v, ok && v != ""
	}
	bad := func(name, v string, err error) (Config, []string, error) {
		shown := v
		if strings.Contains(name, "URL") {
			shown = backend.RedactURL(v)
		}
		if strings.HasSuffix(name, "_KEYS") {
			shown = "xxxxx" // never echo a key
		}
		if errors.Is(err, ErrInvalidConfig) {
			return Config{}, nil, fmt.Errorf("environment variable %s=%q: %w", name, shown, err)
		}
		return Config{}, nil, fmt.Errorf("environment variable %s=%q: %v: %w", name, shown, err, ErrInvalidConfig)
	}
	var base Config
	if path, ok := get(EnvConfigFile); ok {
		c, fileNotes, err := LoadConfigNotes(path)
		if err != nil {
			return Config{}, nil, fmt.Errorf("%s: %w", EnvConfigFile, err)
		}
		base = c
		notes = append(notes, fileNotes...)
	}
	var env Config
	u, hasURL := get(EnvURL)
	ru, hasRedis := get(EnvRedisURL)
	if hasURL && hasRedis {
		return Config{}, nil, fmt.Errorf("both %s and %s are set; use one: %w", EnvURL, EnvRedisURL, ErrInvalidConfig)
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
			_, _, e := bad(name, v, err)
			return e
		}
		*dst = d
		return nil
	}
	if err := durVar(EnvDefaultTTL, &env.DefaultTTL); err != nil {
		return Config{}, nil, err
	}
	if env.DefaultTTL > MaxTTL {
		v, _ := get(EnvDefaultTTL)
		return bad(EnvDefaultTTL, v, fmt.Errorf("exceeds MaxTTL %v", MaxTTL))
	}
	if err := durVar(EnvMemoryCleanupInterval, &env.Memory.CleanupInterval); err != nil {
		return Config{}, nil, err
	}
	if v, ok := get(EnvMemoryPolicy); ok {
		p, err := memory.ParsePolicy(v)
		if err != nil {
			return bad(EnvMemoryPolicy, v, err)
		}
		env.Memory.Policy = p
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
		env.Memory.MaxSize = n
	}
	for _, kv := range []struct {
		name string
		dst  *[][]byte
	}{{EnvSigningKeys, &env.SigningKeys}, {EnvEncryptionKeys, &env.EncryptionKeys}} {
		if v, ok := get(kv.name); ok {
			keys, err := parseKeyList(strings.Split(v, ","))
			if err != nil {
				return bad(kv.name, v, err)
			}
			*kv.dst = keys
		}
	}
	if v, ok := get(EnvLogLevel); ok {
		l, err := newLevelLogger(v)
		if err != nil {
			return bad(EnvLogLevel, v, err)
		}
		env.Logger = l
	}
	{
		q := url.Values{}
		for i, name := range []string{EnvOperationTimeout, EnvBatchTimeout, EnvHealthTimeout, EnvBreakerFailures, EnvBreakerCooldown, EnvWaitReady, EnvFailClosedLoads} {
			if v, ok := get(name); ok {
				q.Set(resilienceParams[i], v)
			}
		}
		if len(q) > 0 {
			if err := applyResilienceParams(&env, &url.URL{Scheme: "env"}, q); err != nil {
				return Config{}, nil, fmt.Errorf("environment: %w", err)
			}
		}
	}
	nearOff := false
	if n, set, off, err := nearFromEnv(get, base.Near); err != nil {
		return Config{}, nil, err
	} else if set {
		env.Near, nearOff = n, off
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
			return Config{}, nil, err
		}
		if d > 0 {
			pool.Set(param, d.String())
		}
	}
	cfg := base.Merge(env)
	if nearOff {
		cfg.Near = nil
	}
	pyNotes, err := applyPythonEnv(&cfg, get, hasURL || hasRedis)
	if err != nil {
		return Config{}, nil, err
	}
	notes = append(notes, pyNotes...)
	if len(pool) > 0 {
		switch {
		case cfg.RedisURL != "":
			cfg.RedisURL = addParams(cfg.RedisURL, pool)
		case isRedisURL(cfg.URL):
			cfg.URL = addParams(cfg.URL, pool)
		}
	}
	return cfg, notes, nil
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

// applyPythonEnv applies Python YokedCache's variables (see
// FromEnvMapNotes) to cfg. envURL reports that YOKEDCACHE_URL or
// YOKEDCACHE_REDIS_URL is set, so that cfg's URL came from the
// environment and the Python Redis variables must agree with it.
func applyPythonEnv(cfg *Config, get func(string) (string, bool), envURL bool) ([]string, error) {
	var notes []string
	bad := func(name, v string, format string, args ...any) error {
		if name == envPyRedisPassword {
			v = "xxxxx"
		}
		return fmt.Errorf("environment variable %s=%q: %s: %w", name, v, fmt.Sprintf(format, args...), ErrInvalidConfig)
	}
	if _, ok := get(envPyEnableFuzzy); ok {
		notes = append(notes, envPyEnableFuzzy+" has no effect and is deprecated: fuzzy search is always available in Go")
	}
	if v, ok := get(envPyFuzzyThreshold); ok {
		if n, err := strconv.Atoi(v); err != nil || n != 80 {
			return nil, bad(envPyFuzzyThreshold, v, "Go has no configured default threshold, it is always 80; pass the threshold per search (yokedcache search --threshold N, or yokedcache.WithThreshold(N)) and unset the variable")
		}
		notes = append(notes, envPyFuzzyThreshold+"=80 is deprecated: 80 is Go's default")
	}
	// Python's circuit breaker and fallback switches map onto the
	// Cache's breaker and fail-open loads (docs/resilience.md), both on
	// by default.
	for _, sw := range []struct {
		name, goName string
		off          func()
	}{
		{envPyCircuitBreaker, EnvBreakerFailures + "=-1 to disable", func() { cfg.BreakerFailures = -1 }},
		{envPyFallbackEnabled, EnvFailClosedLoads + "=true to disable", func() { cfg.FailClosedLoads = true }},
	} {
		v, ok := get(sw.name)
		if !ok {
			continue
		}
		on, err := strconv.ParseBool(v)
		if err != nil {
			return nil, bad(sw.name, v, "want true or false")
		}
		if !on {
			sw.off()
		}
		notes = append(notes, fmt.Sprintf("%s is deprecated: it is on by default in Go; use %s", sw.name, sw.goName))
	}
	if v, ok := get(envPyConnectionRetrys); ok {
		return nil, bad(envPyConnectionRetrys, v, "Python YokedCache's setting has no Go equivalent: Go bounds Redis retries itself (socket timeouts: YOKEDCACHE_SOCKET_TIMEOUT, YOKEDCACHE_SOCKET_CONNECT_TIMEOUT; operation timeouts: YOKEDCACHE_OPERATION_TIMEOUT); unset the variable")
	}

	host, hasHost := get(envPyRedisHost)
	port, hasPort := get(envPyRedisPort)
	db, hasDB := get(envPyRedisDB)
	pw, hasPW := get(envPyRedisPassword)
	if !hasHost && !hasPort && !hasDB && !hasPW {
		return notes, nil
	}
	if hasPort {
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return nil, bad(envPyRedisPort, port, "want a port number 1-65535")
		}
	}
	if hasDB {
		if n, err := strconv.Atoi(db); err != nil || n < 0 {
			return nil, bad(envPyRedisDB, db, "want a database number 0 or more")
		}
	}
	if hasHost && strings.ContainsAny(host, "/?#@ ") {
		return nil, bad(envPyRedisHost, host, "want a host name or address")
	}
	// The URL to start from: the environment's or the file's Redis URL,
	// else Python's default.
	field := &cfg.RedisURL
	if cfg.RedisURL == "" && cfg.URL != "" {
		field = &cfg.URL
	}
	raw := *field
	from := "the configuration file's URL"
	if envURL {
		from = EnvRedisURL
		if cfg.RedisURL == "" {
			from = EnvURL
		}
	}
	if raw == "" {
		raw, field = "redis://localhost:6379/0", &cfg.RedisURL
		from = ""
	}
	u, err := url.Parse(raw)
	if err != nil || !isRedisURL(raw) || u.Host == "" || strings.Contains(u.Host, ",") {
		names := strings.Join(setNames(hasHost, hasPort, hasDB, hasPW), ", ")
		return nil, fmt.Errorf("%s describe a Redis server but %s is %s; use one: %w", names, from, backend.RedactURL(raw), ErrInvalidConfig)
	}
	curHost, curPort := u.Hostname(), u.Port()
	if curPort == "" {
		curPort = "6379"
	}
	curDB := strings.TrimPrefix(u.Path, "/")
	if curDB == "" {
		curDB = "0"
	}
	curPW, _ := u.User.Password()
	wantHost, wantPort, wantDB, wantPW := curHost, curPort, curDB, curPW
	if hasHost {
		wantHost = host
	}
	if hasPort {
		wantPort = port
	}
	if hasDB {
		wantDB = db
	}
	if hasPW {
		wantPW = pw
	}
	if envURL {
		// Both spellings set: they must describe the same server.
		for _, c := range []struct {
			name, have, want string
		}{{envPyRedisHost, curHost, wantHost}, {envPyRedisPort, curPort, wantPort}, {envPyRedisDB, curDB, wantDB}, {envPyRedisPassword, curPW, wantPW}} {
			if c.have != c.want {
				shown := c.want
				if c.name == envPyRedisPassword {
					shown = "xxxxx"
				}
				return nil, fmt.Errorf("environment variable %s=%q disagrees with %s=%s; set only %s: %w", c.name, shown, from, backend.RedactURL(raw), from, ErrInvalidConfig)
			}
		}
		notes = append(notes, pyVarsPhrase(hasHost, hasPort, hasDB, hasPW)+"; "+from+" alone is enough")
		return notes, nil
	}
	u.Host = net.JoinHostPort(wantHost, wantPort)
	u.Path = "/" + wantDB
	if wantPW != "" {
		user := ""
		if u.User != nil {
			user = u.User.Username()
		}
		u.User = url.UserPassword(user, wantPW)
	}
	*field = u.String()
	if _, err := backend.ParseURL(*field); err != nil {
		return nil, fmt.Errorf("%s: %s: %w", strings.Join(setNames(hasHost, hasPort, hasDB, hasPW), ", "), backend.RedactURL(*field), err)
	}
	notes = append(notes, fmt.Sprintf("%s: set %s=%s instead",
		pyVarsPhrase(hasHost, hasPort, hasDB, hasPW), EnvRedisURL, backend.RedactURL(*field)))
	return notes, nil
}

// setNames names the Python Redis variables that are set.
func setNames(host, port, db, pw bool) []string {
	var out []string
	for _, x := range []struct {
		set  bool
		name string
	}{{host, envPyRedisHost}, {port, envPyRedisPort}, {db, envPyRedisDB}, {pw, envPyRedisPassword}} {
		if x.set {
			out = append(out, x.name)
		}
	}
	return out
}

// pyVarsPhrase says that the set Python Redis variables are deprecated.
func pyVarsPhrase(host, port, db, pw bool) string {
	names := setNames(host, port, db, pw)
	if len(names) == 1 {
		return names[0] + " is Python YokedCache's variable and is deprecated"
	}
	return strings.Join(names, ", ") + " are Python YokedCache's variables and are deprecated"
}

// parseKeyList decodes base64 keys (standard or URL alphabet, padded or
// not). Errors name the key's position, never its value.
func parseKeyList(items []string) ([][]byte, error) {
	var out [][]byte
	for i, it := range items {
		it = strings.TrimSpace(it)
		if it == "" {
			continue
		}
		var k []byte
		var err error
		for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
			if k, err = enc.DecodeString(it); err == nil {
				break
			}
		}
		if err != nil {
			return nil, fmt.Errorf("key %d is not base64", i+1)
		}
		out = append(out, k)
	}
	if len(out) == 0 {
		return nil, errors.New("no key given")
	}
	return out, nil
}

// envNear maps the near-cache variables to their URL parameters (see
// nearParams), near_cache last so that false wins.
var envNear = []struct{ name, param string }{
	{EnvNearMaxBytes, "near_max_bytes"}, {EnvNearTTL, "near_ttl"},
	{EnvNearMode, "near_mode"}, {EnvNearPolicy, "near_policy"},
	{EnvNearCache, "near_cache"},
}

// nearFromEnv applies the YOKEDCACHE_NEAR_* variables over base (the
// file's setting, nil: none) with the near_cache URL parameters'
// semantics (nearFromURL). set reports that a variable is set; off that
// YOKEDCACHE_NEAR_CACHE turns the tier off. Errors name the variable.
func nearFromEnv(get func(string) (string, bool), base *NearOptions) (o *NearOptions, set, off bool, err error) {
	o = base
	for _, e := range envNear {
		v, ok := get(e.name)
		if !ok {
			continue
		}
		set = true
		u := &url.URL{Scheme: "env", RawQuery: url.Values{e.param: {v}}.Encode()}
		n, _, err := nearFromURL(u, o)
		if err != nil {
			msg := strings.TrimPrefix(err.Error(), fmt.Sprintf("%s=%q: ", e.param, v))
			for strings.HasSuffix(msg, ": "+ErrInvalidConfig.Error()) {
				msg = strings.TrimSuffix(msg, ": "+ErrInvalidConfig.Error())
			}
			return nil, false, false, fmt.Errorf("environment variable %s=%q: %s: %w", e.name, v, msg, ErrInvalidConfig)
		}
		if n == nil {
			return nil, true, true, nil
		}
		o = n
	}
	return o, set, false, nil
}
