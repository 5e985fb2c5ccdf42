package yokedcache

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/yokedcache/yokedcache/backend"
	"github.com/yokedcache/yokedcache/backend/memory"
	"github.com/yokedcache/yokedcache/backend/near"
	"github.com/yokedcache/yokedcache/codec"
)

// FileConfig is the schema of a YAML configuration file (see
// docs/configuration.md). Every field is optional; unknown keys are
// errors, except Python YokedCache's keys, which ParseConfig maps or
// refuses by name. Durations are Go durations ("90s", "5m") or plain
// seconds.
//
//	key_prefix: myapp
//	default_ttl: 5m
//	url: redis://cache:6379/0
//	routes:
//	  hot:
//	    url: mem://?max_size=1000
//	    default_ttl: 60s
//	  session:
//	    url: redis://session-redis:6379/0
//	near_cache:
//	  max_entries: 10000
type FileConfig struct {
	// KeyPrefix is Config.KeyPrefix.
	KeyPrefix string `yaml:"key_prefix,omitempty" json:"key_prefix,omitempty"`
	// DefaultTTL is Config.DefaultTTL.
	DefaultTTL Duration `yaml:"default_ttl,omitempty" json:"default_ttl,omitempty"`
	// TTLJitterPercent is Config.TTLJitterPercent, except that 0 here
	// means exact TTLs (no jitter); leave it out for the default 10.
	TTLJitterPercent *int `yaml:"ttl_jitter_percent,omitempty" json:"ttl_jitter_percent,omitempty"`
	// MemoryMaxSize is Config.Memory.MaxSize.
	MemoryMaxSize int `yaml:"memory_max_size,omitempty" json:"memory_max_size,omitempty"`
	// MemoryCleanupInterval is Config.Memory.CleanupInterval.
	MemoryCleanupInterval Duration `yaml:"memory_cleanup_interval,omitempty" json:"memory_cleanup_interval,omitempty"`
	// MemoryPolicy is Config.Memory.Policy: "lru" or "tinylfu".
	MemoryPolicy string `yaml:"memory_policy,omitempty" json:"memory_policy,omitempty"`
	// Compression is "none", "s2" or "zstd".
	Compression string `yaml:"compression,omitempty" json:"compression,omitempty"`
	// CompressionThreshold is Config.CompressionThreshold, in bytes.
	CompressionThreshold int `yaml:"compression_threshold,omitempty" json:"compression_threshold,omitempty"`
	// LogLevel is "debug", "info", "warn" or "error": a text logger on
	// standard error at that level becomes Config.Logger.
	LogLevel string `yaml:"log_level,omitempty" json:"log_level,omitempty"`
	// URL is Config.URL: any registered backend.
	URL string `yaml:"url,omitempty" json:"url,omitempty"`
	// RedisURL is Config.RedisURL.
	RedisURL string `yaml:"redis_url,omitempty" json:"redis_url,omitempty"`
	// Routes maps key prefixes to their backend and default TTL.
	Routes map[string]RouteConfig `yaml:"routes,omitempty" json:"routes,omitempty"`
	// SigningKeys are Config.SigningKeys, base64, newest first. Redacted
	// shows each as "xxxxx".
	SigningKeys []string `yaml:"signing_keys,omitempty" json:"signing_keys,omitempty"`
	// EncryptionKeys are Config.EncryptionKeys, base64 32-byte keys,
	// newest first. Redacted shows each as "xxxxx".
	EncryptionKeys []string `yaml:"encryption_keys,omitempty" json:"encryption_keys,omitempty"`
	// The resilience settings (docs/resilience.md): Config's fields of
	// the same names. A negative duration or count disables the timeout
	// or the breaker.
	OperationTimeout Timeout  `yaml:"operation_timeout,omitempty" json:"operation_timeout,omitempty"`
	BatchTimeout     Timeout  `yaml:"batch_timeout,omitempty" json:"batch_timeout,omitempty"`
	HealthTimeout    Timeout  `yaml:"health_timeout,omitempty" json:"health_timeout,omitempty"`
	BreakerFailures  int      `yaml:"breaker_failures,omitempty" json:"breaker_failures,omitempty"`
	BreakerCooldown  Duration `yaml:"breaker_cooldown,omitempty" json:"breaker_cooldown,omitempty"`
	WaitReady        Duration `yaml:"wait_ready,omitempty" json:"wait_ready,omitempty"`
	FailClosedLoads  bool     `yaml:"fail_closed_loads,omitempty" json:"fail_closed_loads,omitempty"`
	// Near is Config.Near: a near-cache tier in front of the default
	// backend (see NearConfig).
	Near *NearConfig `yaml:"near_cache,omitempty" json:"near_cache,omitempty"`
}

// RouteConfig is one entry of FileConfig.Routes.
type RouteConfig struct {
	// URL names the route's backend (Config.PrefixURLs). Empty: the route
	// only sets a default TTL and its keys stay on the default backend.
	URL string `yaml:"url,omitempty" json:"url,omitempty"`
	// DefaultTTL is the route's default TTL (Config.RouteDefaultTTL).
	DefaultTTL Duration `yaml:"default_ttl,omitempty" json:"default_ttl,omitempty"`
	// Near is Route.Near: a near-cache tier in front of the route's
	// backend, which needs the route's own url.
	Near *NearConfig `yaml:"near_cache,omitempty" json:"near_cache,omitempty"`
}

// Duration is a time.Duration written as a Go duration ("1m30s") or a
// number of seconds (90) in configuration files.
type Duration time.Duration

// UnmarshalYAML implements yaml.Unmarshaler.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("line %d: a duration must be a scalar such as 90s or 300", n.Line)
	}
	return d.UnmarshalText([]byte(n.Value))
}

// UnmarshalText accepts a Go duration or seconds.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := backend.ParseDuration(strings.TrimSpace(string(b)))
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// MarshalText writes a Go duration.
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// MarshalYAML writes a Go duration.
func (d Duration) MarshalYAML() (any, error) { return time.Duration(d).String(), nil }

// Timeout is a Duration that "-1" or "off" disables (stored as -1), for
// the timeouts of FileConfig.
type Timeout Duration

// UnmarshalYAML implements yaml.Unmarshaler.
func (d *Timeout) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("line %d: a timeout must be a scalar such as 1s, 0.5 or off", n.Line)
	}
	return d.UnmarshalText([]byte(n.Value))
}

// UnmarshalText accepts a Go duration, seconds, or "-1"/"off".
func (d *Timeout) UnmarshalText(b []byte) error {
	switch v := strings.TrimSpace(string(b)); v {
	case "-1", "off":
		*d = -1
		return nil
	}
	return (*Duration)(d).UnmarshalText(b)
}

// MarshalText writes a Go duration, or "off".
func (d Timeout) MarshalText() ([]byte, error) {
	if d < 0 {
		return []byte("off"), nil
	}
	return Duration(d).MarshalText()
}

// MarshalYAML writes a Go duration, or "off".
func (d Timeout) MarshalYAML() (any, error) {
	b, _ := d.MarshalText()
	return string(b), nil
}

// LoadConfig reads a YAML configuration file (schema: FileConfig). Unknown
// keys, malformed values and invalid URLs are errors matching
// ErrInvalidConfig that name the file. Python YokedCache's keys are
// handled as ParseConfig says; their deprecation notes are logged.
func LoadConfig(path string) (Config, error) {
	cfg, notes, err := LoadConfigNotes(path)
	if err != nil {
		return Config{}, err
	}
	logConfigNotes(cfg.Logger, notes)
	return cfg, nil
}

// LoadConfigNotes is LoadConfig returning the deprecation notes (one
// sentence each, see ParseConfigNotes) instead of logging them.
func LoadConfigNotes(path string) (Config, []string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Config{}, nil, fmt.Errorf("config file %s: %w: %w", path, err, ErrInvalidConfig)
	}
	cfg, notes, err := ParseConfigNotes(data)
	if err != nil {
		return Config{}, nil, fmt.Errorf("config file %s: %w", path, err)
	}
	for i, n := range notes {
		notes[i] = fmt.Sprintf("config file %s: %s", path, n)
	}
	return cfg, notes, nil
}

// ParseConfig parses YAML configuration (schema: FileConfig), strictly.
//
// The keys of Python YokedCache's configuration file are accepted where
// Go behaves the same (redis, ttl and prefix as aliases of redis_url,
// default_ttl and key_prefix; max_connections as the Redis URL's
// max_connections parameter; enable_fuzzy, batch_size, enable_compression
// false and fuzzy_threshold 80, which change nothing here; warm, the
// section `yokedcache warm` reads) and refused, naming the Go setting,
// where it would not (tables, invalidation_rules, enable_compression true,
// another fuzzy_threshold). Each accepted Python key yields a deprecation
// note, logged as a warning through the Config's Logger (else
// slog.Default); ParseConfigNotes returns them instead.
func ParseConfig(data []byte) (Config, error) {
	cfg, notes, err := ParseConfigNotes(data)
	if err != nil {
		return Config{}, err
	}
	logConfigNotes(cfg.Logger, notes)
	return cfg, nil
}

// ParseConfigNotes is ParseConfig returning the deprecation notes for
// Python YokedCache keys instead of logging them.
func ParseConfigNotes(data []byte) (Config, []string, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return Config{}, nil, fmt.Errorf("%v: %w", err, ErrInvalidConfig)
	}
	py := takePythonKeys(&root)
	if len(py) > 0 {
		// Decode what is left, strictly, as if the Python keys were absent.
		b, err := yaml.Marshal(&root)
		if err != nil {
			return Config{}, nil, fmt.Errorf("%v: %w", err, ErrInvalidConfig)
		}
		data = b
	}
	var fc FileConfig
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&fc); err != nil && !errors.Is(err, io.EOF) {
		return Config{}, nil, fmt.Errorf("%v: %w", err, ErrInvalidConfig)
	}
	pool, notes, err := fc.applyPythonKeys(py)
	if err != nil {
		return Config{}, nil, err
	}
	cfg, err := fc.Config()
	if err != nil {
		return Config{}, nil, err
	}
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

// pythonFileKeys are the top-level keys of Python YokedCache's
// configuration file (load_config_from_file) that FileConfig does not
// have.
var pythonFileKeys = []string{
	"redis", "ttl", "prefix", "max_connections", "enable_fuzzy", "fuzzy_threshold",
	"enable_compression", "batch_size", "tables", "invalidation_rules", "warm",
}

// takePythonKeys removes the Python keys from a document's top-level
// mapping and returns their values by key.
func takePythonKeys(root *yaml.Node) map[string]*yaml.Node {
	if root.Kind != yaml.DocumentNode || len(root.Content) == 0 || root.Content[0].Kind != yaml.MappingNode {
		return nil
	}
	m := root.Content[0]
	var out map[string]*yaml.Node
	kept := m.Content[:0:0]
	for i := 0; i+1 < len(m.Content); i += 2 {
		k, v := m.Content[i], m.Content[i+1]
		if k.Kind == yaml.ScalarNode && slices.Contains(pythonFileKeys, k.Value) {
			if out == nil {
				out = map[string]*yaml.Node{}
			}
			out[k.Value] = v
			continue
		}
		kept = append(kept, k, v)
	}
	m.Content = kept
	return out
}

// applyPythonKeys maps the Python keys onto fc, returning the Redis pool
// parameters to add to the URL and the deprecation notes, or an error
// matching ErrInvalidConfig that names the Go setting to use instead.
func (fc *FileConfig) applyPythonKeys(py map[string]*yaml.Node) (url.Values, []string, error) {
	var notes []string
	bad := func(key, format string, args ...any) (url.Values, []string, error) {
		return nil, nil, fmt.Errorf("%s: %s: %w", key, fmt.Sprintf(format, args...), ErrInvalidConfig)
	}
	alias := func(key, goKey string, set bool, dst any) error {
		n, ok := py[key]
		if !ok {
			return nil
		}
		if set {
			return fmt.Errorf("%s and %s are both set (%s is Python YokedCache's spelling of %s); keep %s: %w", key, goKey, key, goKey, goKey, ErrInvalidConfig)
		}
		if err := n.Decode(dst); err != nil {
			return fmt.Errorf("%s: %v: %w", key, err, ErrInvalidConfig)
		}
		notes = append(notes, fmt.Sprintf("%q is deprecated (Python YokedCache's spelling): use %q", key, goKey))
		return nil
	}
	if err := alias("redis", "redis_url", fc.RedisURL != "", &fc.RedisURL); err != nil {
		return nil, nil, err
	}
	if err := alias("ttl", "default_ttl", fc.DefaultTTL != 0, &fc.DefaultTTL); err != nil {
		return nil, nil, err
	}
	if err := alias("prefix", "key_prefix", fc.KeyPrefix != "", &fc.KeyPrefix); err != nil {
		return nil, nil, err
	}
	var pool url.Values
	if n, ok := py["max_connections"]; ok {
		var v int
		if err := n.Decode(&v); err != nil || v <= 0 {
			return bad("max_connections", "want a positive integer, got %q", n.Value)
		}
		pool = url.Values{"max_connections": {strconv.Itoa(v)}}
		notes = append(notes, `"max_connections" is deprecated (Python YokedCache's setting): put max_connections=N in the Redis URL's query, or set YOKEDCACHE_MAX_CONNECTIONS`)
	}
	boolKey := func(key string) (bool, bool, error) {
		n, ok := py[key]
		if !ok {
			return false, false, nil
		}
		var b bool
		if err := n.Decode(&b); err != nil {
			return false, true, fmt.Errorf("%s: want true or false, got %q: %w", key, n.Value, ErrInvalidConfig)
		}
		return b, true, nil
	}
	if _, ok, err := boolKey("enable_fuzzy"); err != nil {
		return nil, nil, err
	} else if ok {
		notes = append(notes, `"enable_fuzzy" has no effect and is deprecated: fuzzy search is always available in Go (Cache.FuzzySearch, yokedcache search)`)
	}
	if on, ok, err := boolKey("enable_compression"); err != nil {
		return nil, nil, err
	} else if on {
		return bad("enable_compression", "Python's zlib compression is not available in Go; use compression: s2 or compression: zstd (values Python YokedCache cannot read), or leave compression off")
	} else if ok {
		notes = append(notes, `"enable_compression: false" is deprecated (Python YokedCache's setting): compression is off unless "compression" is set`)
	}
	if n, ok := py["fuzzy_threshold"]; ok {
		var v int
		if err := n.Decode(&v); err != nil || v != 80 {
			return bad("fuzzy_threshold", "%s: Go has no configured default threshold, it is always 80; pass the threshold per search instead (yokedcache search --threshold N, or yokedcache.WithThreshold(N))", n.Value)
		}
		notes = append(notes, `"fuzzy_threshold: 80" is deprecated: 80 is Go's default; pass another per search (yokedcache search --threshold N, yokedcache.WithThreshold)`)
	}
	if n, ok := py["batch_size"]; ok {
		var v int
		if err := n.Decode(&v); err != nil || v <= 0 {
			return bad("batch_size", "want a positive integer, got %q", n.Value)
		}
		notes = append(notes, `"batch_size" has no effect and is deprecated: Go sizes its batches itself`)
	}
	if _, ok := py["tables"]; ok {
		return bad("tables", "Python YokedCache's per-table settings have no Go equivalent; for a default TTL per key prefix use routes: {PREFIX: {default_ttl: 60s}} (see docs/routing.md), and tag entries with WithTags")
	}
	if _, ok := py["invalidation_rules"]; ok {
		return bad("invalidation_rules", "Python YokedCache's invalidation rules have no Go equivalent; invalidate explicitly with Cache.InvalidateTags or Cache.InvalidatePattern (yokedcache invalidate --tags/--pattern)")
	}
	// "warm" is the section `yokedcache warm` reads; it configures nothing.
	return pool, notes, nil
}

// logConfigNotes logs deprecation notes as warnings through l, or
// slog.Default when l is nil.
func logConfigNotes(l *slog.Logger, notes []string) {
	if l == nil {
		l = slog.Default()
	}
	for _, n := range notes {
		l.Warn("yokedcache: deprecated configuration: " + n)
	}
}

// Config converts the file settings to a Config, validating them.
func (fc FileConfig) Config() (Config, error) {
	cfg := Config{
		KeyPrefix:            fc.KeyPrefix,
		DefaultTTL:           time.Duration(fc.DefaultTTL),
		Memory:               memory.Options{MaxSize: fc.MemoryMaxSize, CleanupInterval: time.Duration(fc.MemoryCleanupInterval)},
		CompressionThreshold: fc.CompressionThreshold,
		URL:                  fc.URL,
		RedisURL:             fc.RedisURL,
	}
	bad := func(field, format string, args ...any) (Config, error) {
		return Config{}, fmt.Errorf("%s: %s: %w", field, fmt.Sprintf(format, args...), ErrInvalidConfig)
	}
	badErr := func(field string, err error) (Config, error) {
		if errors.Is(err, ErrInvalidConfig) {
			return Config{}, fmt.Errorf("%s: %w", field, err)
		}
		return bad(field, "%v", err)
	}
	neg := func(d Timeout) time.Duration {
		if d < 0 {
			return -1 // disabled
		}
		return time.Duration(d)
	}
	cfg.OperationTimeout, cfg.BatchTimeout, cfg.HealthTimeout = neg(fc.OperationTimeout), neg(fc.BatchTimeout), neg(fc.HealthTimeout)
	cfg.BreakerFailures, cfg.FailClosedLoads = max(fc.BreakerFailures, -1), fc.FailClosedLoads
	if fc.BreakerCooldown < 0 {
		return bad("breaker_cooldown", "%v is negative", time.Duration(fc.BreakerCooldown))
	}
	if fc.WaitReady < 0 {
		return bad("wait_ready", "%v is negative", time.Duration(fc.WaitReady))
	}
	cfg.BreakerCooldown, cfg.WaitReady = time.Duration(fc.BreakerCooldown), time.Duration(fc.WaitReady)
	if fc.TTLJitterPercent != nil {
		j, err := jitterSetting(*fc.TTLJitterPercent)
		if err != nil {
			return bad("ttl_jitter_percent", "%v", err)
		}
		cfg.TTLJitterPercent = j
	}
	if fc.MemoryMaxSize < 0 {
		return bad("memory_max_size", "%d is negative", fc.MemoryMaxSize)
	}
	if fc.MemoryCleanupInterval < 0 {
		return bad("memory_cleanup_interval", "%v is negative", time.Duration(fc.MemoryCleanupInterval))
	}
	if len(fc.SigningKeys) > 0 {
		k, err := parseKeyList(fc.SigningKeys)
		if err != nil {
			return bad("signing_keys", "%v", err)
		}
		cfg.SigningKeys = k
	}
	if len(fc.EncryptionKeys) > 0 {
		k, err := parseKeyList(fc.EncryptionKeys)
		if err != nil {
			return bad("encryption_keys", "%v", err)
		}
		cfg.EncryptionKeys = k
	}
	if fc.MemoryPolicy != "" {
		p, err := memory.ParsePolicy(fc.MemoryPolicy)
		if err != nil {
			return badErr("memory_policy", err)
		}
		cfg.Memory.Policy = p
	}
	if fc.Compression != "" {
		c, err := parseCompression(fc.Compression)
		if err != nil {
			return bad("compression", "%v", err)
		}
		cfg.Compression = c
	}
	if fc.LogLevel != "" {
		l, err := newLevelLogger(fc.LogLevel)
		if err != nil {
			return bad("log_level", "%v", err)
		}
		cfg.Logger = l
	}
	for name, u := range map[string]string{"url": fc.URL, "redis_url": fc.RedisURL} {
		if u != "" {
			if _, err := backend.ParseURL(u); err != nil {
				return badErr(name, err)
			}
		}
	}
	if fc.URL != "" && fc.RedisURL != "" {
		return bad("url", "url and redis_url are both set; use one")
	}
	nr, err := fc.Near.options("near_cache")
	if err != nil {
		return Config{}, err
	}
	cfg.Near = nr
	seen := map[string]string{} // normalized prefix -> route name
	for _, p := range slices.Sorted(maps.Keys(fc.Routes)) {
		rc := fc.Routes[p]
		if rc.URL == "" && rc.DefaultTTL == 0 {
			return bad("routes."+p, "a route needs a url, a default_ttl or both")
		}
		if np, ok := normalizeRoutePrefix(p); ok {
			if prev, dup := seen[np]; dup {
				return bad("routes", "%q and %q are the same route %q (a trailing ':' is ignored); merge them", prev, p, np)
			}
			seen[np] = p
		}
		if rc.URL != "" {
			if _, err := backend.ParseURL(rc.URL); err != nil {
				return badErr("routes."+p+".url", err)
			}
		}
		rn, err := rc.Near.options("routes." + p + ".near_cache")
		if err != nil {
			return Config{}, err
		}
		if rn != nil && rc.URL == "" {
			return bad("routes."+p+".near_cache", "a near cache needs the route's own url (the top-level near_cache covers the default backend)")
		}
		cfg.Routes = append(cfg.Routes, Route{Prefix: p, URL: rc.URL, DefaultTTL: time.Duration(rc.DefaultTTL), Near: rn})
	}
	// Validate the rest as New would, without opening anything.
	check := cfg
	check.URL, check.RedisURL = "", ""
	if err := check.normalize(); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

// jitterSetting maps a file/env jitter percentage (0 = exact) to Config's.
func jitterSetting(p int) (int, error) {
	switch {
	case p == 0:
		return NoJitter, nil
	case p < 0 || p > 50:
		return 0, fmt.Errorf("%d is out of range 0-50", p)
	}
	return p, nil
}

func parseCompression(s string) (codec.Compression, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "none", "off", "":
		return codec.None, nil
	case "s2":
		return codec.S2, nil
	case "zstd":
		return codec.Zstd, nil
	}
	return 0, fmt.Errorf("%q is not one of none, s2, zstd", s)
}

// ParseLogLevel parses "debug", "info", "warn"/"warning" or "error"
// (any case).
func ParseLogLevel(s string) (slog.Level, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "debug":
		return slog.LevelDebug, nil
	case "info":
		return slog.LevelInfo, nil
	case "warn", "warning":
		return slog.LevelWarn, nil
	case "error":
		return slog.LevelError, nil
	}
	return 0, fmt.Errorf("%q is not one of debug, info, warn, error", s)
}

func newLevelLogger(s string) (*slog.Logger, error) {
	l, err := ParseLogLevel(s)
	if err != nil {
		return nil, err
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: l})), nil
}

// logLevelOf returns the lowest level logger is enabled for.
func logLevelOf(l *slog.Logger) string {
	if l == nil {
		return ""
	}
	for _, lv := range []slog.Level{slog.LevelDebug, slog.LevelInfo, slog.LevelWarn, slog.LevelError} {
		if l.Enabled(context.Background(), lv) {
			return strings.ToLower(lv.String())
		}
	}
	return "error"
}

// Redacted returns the file form of the configuration with every password
// replaced by "xxxxx", safe to print or log. Explicit backend values
// (Backend, and the Backend of a Route) have no file form and are left
// out; String names them.
func (cfg Config) Redacted() FileConfig {
	fc := FileConfig{
		KeyPrefix:             cfg.KeyPrefix,
		DefaultTTL:            Duration(cfg.DefaultTTL),
		MemoryMaxSize:         cfg.Memory.MaxSize,
		MemoryCleanupInterval: Duration(cfg.Memory.CleanupInterval),
		MemoryPolicy:          policyName(cfg.Memory.Policy),
		SigningKeys:           redactedKeys(cfg.SigningKeys),
		EncryptionKeys:        redactedKeys(cfg.EncryptionKeys),
		CompressionThreshold:  cfg.CompressionThreshold,
		LogLevel:              logLevelOf(cfg.Logger),
		URL:                   backend.RedactURL(cfg.URL),
		RedisURL:              backend.RedactURL(cfg.RedisURL),
		OperationTimeout:      Timeout(cfg.OperationTimeout),
		BatchTimeout:          Timeout(cfg.BatchTimeout),
		HealthTimeout:         Timeout(cfg.HealthTimeout),
		BreakerFailures:       cfg.BreakerFailures,
		BreakerCooldown:       Duration(cfg.BreakerCooldown),
		WaitReady:             Duration(cfg.WaitReady),
		FailClosedLoads:       cfg.FailClosedLoads,
		Near:                  nearFileConfig(cfg.Near),
	}
	switch {
	case cfg.TTLJitterPercent == NoJitter:
		z := 0
		fc.TTLJitterPercent = &z
	case cfg.TTLJitterPercent != 0:
		j := cfg.TTLJitterPercent
		fc.TTLJitterPercent = &j
	}
	if cfg.Compression != codec.None {
		fc.Compression = cfg.Compression.String()
	}
	for _, r := range cfg.Routes {
		if r.URL == "" && r.DefaultTTL == 0 {
			continue // a Backend value has no file form
		}
		if fc.Routes == nil {
			fc.Routes = map[string]RouteConfig{}
		}
		fc.Routes[r.Prefix] = RouteConfig{URL: backend.RedactURL(r.URL), DefaultTTL: Duration(r.DefaultTTL), Near: nearFileConfig(r.Near)}
	}
	return fc
}

// String describes the configuration with passwords redacted.
func (cfg Config) String() string {
	var b strings.Builder
	b.WriteString("yokedcache.Config{")
	sep := ""
	field := func(name string, v any) {
		fmt.Fprintf(&b, "%s%s: %v", sep, name, v)
		sep = ", "
	}
	if cfg.KeyPrefix != "" {
		field("KeyPrefix", fmt.Sprintf("%q", cfg.KeyPrefix))
	}
	if cfg.DefaultTTL != 0 {
		field("DefaultTTL", cfg.DefaultTTL)
	}
	if cfg.TTLJitterPercent != 0 {
		field("TTLJitterPercent", cfg.TTLJitterPercent)
	}
	if cfg.Backend != nil {
		field("Backend", backend.Name(cfg.Backend))
	}
	if cfg.URL != "" {
		field("URL", fmt.Sprintf("%q", backend.RedactURL(cfg.URL)))
	}
	if len(cfg.SigningKeys) > 0 {
		field("SigningKeys", fmt.Sprintf("%d key(s), redacted", len(cfg.SigningKeys)))
	}
	if len(cfg.EncryptionKeys) > 0 {
		field("EncryptionKeys", fmt.Sprintf("%d key(s), redacted", len(cfg.EncryptionKeys)))
	}
	if cfg.RedisURL != "" {
		field("RedisURL", fmt.Sprintf("%q", backend.RedactURL(cfg.RedisURL)))
	}
	if len(cfg.Routes) > 0 {
		parts := make([]string, 0, len(cfg.Routes))
		for _, r := range cfg.Routes {
			var what []string
			if r.Backend != nil {
				what = append(what, backend.Name(r.Backend))
			}
			if r.URL != "" {
				what = append(what, strconv.Quote(backend.RedactURL(r.URL)))
			}
			if r.DefaultTTL != 0 {
				what = append(what, "ttl "+r.DefaultTTL.String())
			}
			if r.Near != nil {
				what = append(what, "near "+nearString(r.Near))
			}
			parts = append(parts, fmt.Sprintf("%q: %s", r.Prefix, strings.Join(what, " ")))
		}
		field("Routes", "{"+strings.Join(parts, ", ")+"}")
	}
	if cfg.Memory != (memory.Options{Clock: cfg.Memory.Clock}) {
		field("Memory", fmt.Sprintf("{MaxSize: %d, MaxBytes: %d, CleanupInterval: %v, Shards: %d, Policy: %v}",
			cfg.Memory.MaxSize, cfg.Memory.MaxBytes, cfg.Memory.CleanupInterval, cfg.Memory.Shards, cfg.Memory.Policy))
	}
	if cfg.Near != nil {
		field("Near", nearString(cfg.Near))
	}
	if cfg.Compression != codec.None {
		field("Compression", cfg.Compression)
	}
	if cfg.CompressionThreshold != 0 {
		field("CompressionThreshold", cfg.CompressionThreshold)
	}
	if lv := logLevelOf(cfg.Logger); lv != "" {
		field("LogLevel", lv)
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"OperationTimeout", cfg.OperationTimeout}, {"BatchTimeout", cfg.BatchTimeout}, {"HealthTimeout", cfg.HealthTimeout}, {"BreakerCooldown", cfg.BreakerCooldown}, {"WaitReady", cfg.WaitReady}} {
		if d.v != 0 {
			field(d.name, d.v)
		}
	}
	if cfg.BreakerFailures != 0 {
		field("BreakerFailures", cfg.BreakerFailures)
	}
	if cfg.FailClosedLoads {
		field("FailClosedLoads", true)
	}
	b.WriteString("}")
	return b.String()
}

// Merge returns c with every field that is set (non-zero) in over
// replacing c's. It implements the documented precedence: start from the
// lowest layer and merge each higher one, e.g.
//
//	cfg, err := yokedcache.FromEnv()          // file < environment
//	cfg = cfg.Merge(yokedcache.Config{...})    // < explicit Go values
//
// The backend selection (Backend, URL, RedisURL) is one setting: if over
// sets any of them, c's are all replaced. Routes merge per prefix: a route
// of over replaces c's route with the same prefix. Near is one setting
// too: over's, when set, replaces c's.
func (cfg Config) Merge(over Config) Config {
	out := cfg
	if over.KeyPrefix != "" {
		out.KeyPrefix = over.KeyPrefix
	}
	if over.DefaultTTL != 0 {
		out.DefaultTTL = over.DefaultTTL
	}
	if over.TTLJitterPercent != 0 {
		out.TTLJitterPercent = over.TTLJitterPercent
	}
	if over.Backend != nil || over.URL != "" || over.RedisURL != "" {
		out.Backend, out.URL, out.RedisURL = over.Backend, over.URL, over.RedisURL
	}
	if len(over.Routes) > 0 {
		key := func(p string) string { n, _ := normalizeRoutePrefix(p); return n }
		routes := make([]Route, 0, len(cfg.Routes)+len(over.Routes))
		for _, r := range cfg.Routes {
			if !slices.ContainsFunc(over.Routes, func(o Route) bool { return key(o.Prefix) == key(r.Prefix) }) {
				routes = append(routes, r)
			}
		}
		out.Routes = append(routes, over.Routes...)
	}
	if len(over.SigningKeys) > 0 {
		out.SigningKeys = over.SigningKeys
	}
	if len(over.EncryptionKeys) > 0 {
		out.EncryptionKeys = over.EncryptionKeys
	}
	// Memory merges per field.
	if over.Memory.MaxSize != 0 {
		out.Memory.MaxSize = over.Memory.MaxSize
	}
	if over.Memory.MaxBytes != 0 {
		out.Memory.MaxBytes = over.Memory.MaxBytes
	}
	if over.Memory.CleanupInterval != 0 {
		out.Memory.CleanupInterval = over.Memory.CleanupInterval
	}
	if over.Memory.Shards != 0 {
		out.Memory.Shards = over.Memory.Shards
	}
	if over.Memory.Policy != memory.PolicyLRU {
		out.Memory.Policy = over.Memory.Policy
	}
	if over.Memory.Clock != nil {
		out.Memory.Clock = over.Memory.Clock
	}
	if over.Codec != nil {
		out.Codec = over.Codec
	}
	if len(over.ExtraCodecs) > 0 {
		out.ExtraCodecs = over.ExtraCodecs
	}
	if over.Compression != codec.None {
		out.Compression = over.Compression
	}
	if over.CompressionThreshold != 0 {
		out.CompressionThreshold = over.CompressionThreshold
	}
	if over.MaxValueSize != 0 {
		out.MaxValueSize = over.MaxValueSize
	}
	if over.LoaderTimeout != 0 {
		out.LoaderTimeout = over.LoaderTimeout
	}
	for _, d := range []struct{ dst, src *time.Duration }{
		{&out.OperationTimeout, &over.OperationTimeout}, {&out.BatchTimeout, &over.BatchTimeout},
		{&out.HealthTimeout, &over.HealthTimeout}, {&out.BreakerCooldown, &over.BreakerCooldown},
		{&out.WaitReady, &over.WaitReady},
	} {
		if *d.src != 0 {
			*d.dst = *d.src
		}
	}
	if over.BreakerFailures != 0 {
		out.BreakerFailures = over.BreakerFailures
	}
	if over.FailClosedLoads {
		out.FailClosedLoads = true
	}
	if over.Logger != nil {
		out.Logger = over.Logger
	}
	if over.Clock != nil {
		out.Clock = over.Clock
	}
	if over.Rand != nil {
		out.Rand = over.Rand
	}
	if over.Tracer != nil {
		out.Tracer = over.Tracer
	}
	if over.Near != nil {
		out.Near = over.Near
	}
	return out
}

// Open returns a Cache on the backend named by rawURL, which may be any
// registered scheme (mem://, redis://, memcached://, ...). Two shared query
// parameters configure the Cache and are removed before the backend parses
// the URL:
//
//	prefix           Config.KeyPrefix
//	default_ttl      Config.DefaultTTL (seconds or a Go duration)
//	signing_keys     Config.SigningKeys (base64, comma-separated, newest first)
//	encryption_keys  Config.EncryptionKeys (base64, comma-separated, newest first)
//
// (Keys in a URL end up wherever the URL is written down; prefer the
// environment or a file readable only by the service. Printed URLs show
// them as "xxxxx".)
//
// and the resilience settings (see resilienceParams) and the near-cache
// settings (near_cache, near_max_bytes, near_ttl, near_mode, near_policy:
// Config.Near), which Config.URL and Config.RedisURL accept too.
//
// Every other parameter belongs to the backend (unknown ones are errors).
// base, if given, supplies the remaining settings; its backend selection
// is replaced by the URL. The Cache owns the backend.
func Open(ctx context.Context, rawURL string, base ...Config) (*Cache, error) {
	var cfg Config
	if len(base) > 0 {
		cfg = base[0]
	}
	u, err := backend.ParseURL(rawURL)
	if err != nil {
		return nil, opError("open", "", err)
	}
	if _, _, err := nearFromURLInto(u, &cfg.Near); err != nil {
		return nil, opError("open", "", fmt.Errorf("%s: %w", backend.RedactedURL(u), err))
	}
	q := u.Query()
	if v := q.Get("prefix"); q.Has("prefix") {
		if v == "" {
			return nil, opError("open", "", fmt.Errorf("%s: empty prefix parameter: %w", backend.RedactedURL(u), ErrInvalidConfig))
		}
		cfg.KeyPrefix = v
		q.Del("prefix")
	}
	if q.Has("default_ttl") {
		d, err := backend.ParseDuration(q.Get("default_ttl"))
		if err == nil && d == 0 {
			err = errors.New("must be > 0")
		}
		if err != nil {
			return nil, opError("open", "", fmt.Errorf("%s: default_ttl: %v: %w", backend.RedactedURL(u), err, ErrInvalidConfig))
		}
		cfg.DefaultTTL = d
		q.Del("default_ttl")
	}
	if err := applyResilienceParams(&cfg, u, q); err != nil {
		return nil, opError("open", "", err)
	}
	for _, kp := range []struct {
		name string
		dst  *[][]byte
	}{{"signing_keys", &cfg.SigningKeys}, {"encryption_keys", &cfg.EncryptionKeys}} {
		if !q.Has(kp.name) {
			continue
		}
		keys, err := parseKeyList(strings.Split(q.Get(kp.name), ","))
		if err != nil {
			return nil, opError("open", "", fmt.Errorf("%s: %s: %v: %w", backend.RedactedURL(u), kp.name, err, ErrInvalidConfig))
		}
		*kp.dst = keys
		q.Del(kp.name)
	}
	u.RawQuery = q.Encode()
	b, err := backend.DefaultURLMux().OpenParsed(ctx, u)
	if err != nil {
		return nil, opError("open", "", err)
	}
	cfg.Backend, cfg.URL, cfg.RedisURL = b, "", ""
	c, err := New(cfg)
	if err != nil {
		_ = b.Close()
		return nil, err
	}
	return c, nil
}

// resilienceParams are the URL query parameters that set a Cache's
// resilience settings, in any backend's URL (Open, Config.URL,
// Config.RedisURL, YOKEDCACHE_URL, the YAML url:). They are removed before
// the backend parses the URL. Durations are seconds or Go durations; -1
// disables a timeout or the breaker.
//
//	operation_timeout   Config.OperationTimeout
//	batch_timeout       Config.BatchTimeout
//	health_timeout      Config.HealthTimeout
//	breaker_failures    Config.BreakerFailures
//	breaker_cooldown    Config.BreakerCooldown
//	wait_ready          Config.WaitReady
//	fail_closed_loads   Config.FailClosedLoads (true/false)
var resilienceParams = []string{"operation_timeout", "batch_timeout", "health_timeout", "breaker_failures", "breaker_cooldown", "wait_ready", "fail_closed_loads"}

// applyResilienceParams moves the resilience parameters of q (u's query)
// into cfg, deleting them from q.
func applyResilienceParams(cfg *Config, u *url.URL, q url.Values) error {
	bad := func(name, v string, err error) error {
		return fmt.Errorf("%s: %s=%q: %v: %w", backend.RedactedURL(u), name, v, err, ErrInvalidConfig)
	}
	durs := map[string]*time.Duration{
		"operation_timeout": &cfg.OperationTimeout, "batch_timeout": &cfg.BatchTimeout,
		"health_timeout": &cfg.HealthTimeout, "breaker_cooldown": &cfg.BreakerCooldown, "wait_ready": &cfg.WaitReady,
	}
	for _, name := range resilienceParams {
		if !q.Has(name) {
			continue
		}
		v := q.Get(name)
		q.Del(name)
		switch name {
		case "breaker_failures":
			n, err := strconv.Atoi(v)
			if err == nil && n < -1 {
				err = errors.New("want a positive count, or -1 to disable the breaker")
			}
			if err != nil {
				return bad(name, v, err)
			}
			cfg.BreakerFailures = n
		case "fail_closed_loads":
			b, err := strconv.ParseBool(v)
			if err != nil {
				return bad(name, v, errors.New("want true or false"))
			}
			cfg.FailClosedLoads = b
		default:
			if v == "-1" {
				*durs[name] = -1
				continue
			}
			d, err := backend.ParseDuration(v)
			if err != nil {
				return bad(name, v, err)
			}
			*durs[name] = d
		}
	}
	return nil
}

// policyName is the file form of a memory policy: "" for the default.
func policyName(p memory.Policy) string {
	if p == memory.PolicyLRU {
		return ""
	}
	return p.String()
}

// redactedKeys shows each key as "xxxxx".
func redactedKeys(keys [][]byte) []string {
	if len(keys) == 0 {
		return nil
	}
	out := make([]string, len(keys))
	for i := range out {
		out[i] = "xxxxx"
	}
	return out
}

// NearConfig is the near_cache section of a configuration file, at the
// top level (Config.Near) or in a route (Route.Near). Every field is
// optional; an empty section (near_cache: {}) or near_cache: true turns
// the tier on with its defaults, near_cache: N sets max_entries, and
// near_cache: false (or 0, as in the near_cache URL parameter) leaves it
// off.
//
//	near_cache:
//	  max_entries: 10000   # default 10000
//	  max_bytes: 64MiB     # a size, or -1 for no byte bound; default 64MiB
//	  ttl: 1s              # longest life of a copy; default 1s (1m when tracked)
//	  mode: auto           # auto or ttl
//	  policy: tinylfu      # tinylfu or lru
type NearConfig struct {
	// MaxEntries is NearOptions.MaxEntries.
	MaxEntries int `yaml:"max_entries,omitempty" json:"max_entries,omitempty"`
	// MaxBytes is NearOptions.MaxBytes: a size such as 64MiB, 1GB or
	// 1048576, or -1 for no byte bound.
	MaxBytes string `yaml:"max_bytes,omitempty" json:"max_bytes,omitempty"`
	// TTL is NearOptions.TTL.
	TTL Duration `yaml:"ttl,omitempty" json:"ttl,omitempty"`
	// Mode is NearOptions.Mode: "auto" or "ttl".
	Mode string `yaml:"mode,omitempty" json:"mode,omitempty"`
	// Policy is "tinylfu" (the default) or "lru" (NearOptions.LRU).
	Policy string `yaml:"policy,omitempty" json:"policy,omitempty"`

	off bool // near_cache: false
}

// nearConfigFields are the keys of a near_cache mapping.
var nearConfigFields = []string{"max_entries", "max_bytes", "ttl", "mode", "policy"}

// UnmarshalYAML accepts a mapping, true, false or an entry count.
func (nc *NearConfig) UnmarshalYAML(n *yaml.Node) error {
	switch n.Kind {
	case yaml.ScalarNode:
		v := strings.ToLower(strings.TrimSpace(n.Value))
		switch v {
		case "true", "on", "yes":
			*nc = NearConfig{}
			return nil
		case "false", "off", "no", "0":
			*nc = NearConfig{off: true}
			return nil
		}
		x, err := strconv.Atoi(v)
		if err != nil || x < 0 {
			return fmt.Errorf("line %d: near_cache %q: want a mapping, true, false or an entry count", n.Line, n.Value)
		}
		*nc = NearConfig{MaxEntries: x}
		return nil
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			if k := n.Content[i].Value; !slices.Contains(nearConfigFields, k) {
				return fmt.Errorf("line %d: near_cache: unknown key %q (want %s)", n.Content[i].Line, k, strings.Join(nearConfigFields, ", "))
			}
		}
		type plain NearConfig
		var p plain
		if err := n.Decode(&p); err != nil {
			return fmt.Errorf("line %d: near_cache: %w", n.Line, err)
		}
		*nc = NearConfig(p)
		return nil
	}
	return fmt.Errorf("line %d: near_cache: want a mapping, true, false or an entry count", n.Line)
}

// MarshalYAML writes false for a section that turns the tier off.
func (nc NearConfig) MarshalYAML() (any, error) {
	if nc.off {
		return false, nil
	}
	type plain NearConfig
	return plain(nc), nil
}

// options converts the section to NearOptions (nil: no tier). field names
// the section in errors.
func (nc *NearConfig) options(field string) (*NearOptions, error) {
	if nc == nil || nc.off {
		return nil, nil
	}
	bad := func(key, format string, args ...any) (*NearOptions, error) {
		return nil, fmt.Errorf("%s.%s: %s: %w", field, key, fmt.Sprintf(format, args...), ErrInvalidConfig)
	}
	o := NearOptions{MaxEntries: nc.MaxEntries, TTL: time.Duration(nc.TTL), Mode: strings.ToLower(strings.TrimSpace(nc.Mode))}
	if o.MaxEntries < 0 {
		return bad("max_entries", "%d is negative", o.MaxEntries)
	}
	if v := strings.TrimSpace(nc.MaxBytes); v == "-1" {
		o.MaxBytes = -1
	} else if v != "" {
		b, err := backend.ParseBytes(v)
		if err != nil {
			return bad("max_bytes", "%v: want a size such as 64MiB, or -1 for no byte bound", err)
		}
		o.MaxBytes = b
	}
	if o.TTL < 0 || o.TTL > MaxTTL {
		return bad("ttl", "%v must be in [0, %v]", o.TTL, MaxTTL)
	}
	if o.Mode != "" && o.Mode != near.ModeAuto && o.Mode != near.ModeTTL {
		return bad("mode", "%q: want auto or ttl", nc.Mode)
	}
	if nc.Policy != "" {
		p, err := memory.ParsePolicy(nc.Policy)
		if err != nil {
			return bad("policy", "%q: want tinylfu or lru", nc.Policy)
		}
		o.LRU = p == memory.PolicyLRU
	}
	if err := o.Validate(); err != nil {
		return nil, fmt.Errorf("%s: %v: %w", field, err, ErrInvalidConfig)
	}
	return &o, nil
}

// nearFileConfig is the file form of o (nil: no tier).
func nearFileConfig(o *NearOptions) *NearConfig {
	if o == nil {
		return nil
	}
	nc := &NearConfig{MaxEntries: o.MaxEntries, TTL: Duration(o.TTL), Mode: o.Mode, MaxBytes: formatBytes(o.MaxBytes)}
	if o.LRU {
		nc.Policy = "lru"
	}
	return nc
}

// formatBytes writes a byte bound as ParseBytes reads it: "" for 0, "-1",
// or the largest binary unit that divides it exactly.
func formatBytes(n int64) string {
	switch {
	case n == 0:
		return ""
	case n < 0:
		return "-1"
	}
	for _, u := range []struct {
		name string
		size int64
	}{{"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if n%u.size == 0 {
			return strconv.FormatInt(n/u.size, 10) + u.name
		}
	}
	return strconv.FormatInt(n, 10)
}

// nearString describes o for Config.String.
func nearString(o *NearOptions) string {
	var parts []string
	if o.MaxEntries != 0 {
		parts = append(parts, fmt.Sprintf("MaxEntries: %d", o.MaxEntries))
	}
	if o.MaxBytes != 0 {
		parts = append(parts, fmt.Sprintf("MaxBytes: %d", o.MaxBytes))
	}
	if o.TTL != 0 {
		parts = append(parts, fmt.Sprintf("TTL: %v", o.TTL))
	}
	if o.Mode != "" {
		parts = append(parts, "Mode: "+o.Mode)
	}
	if o.LRU {
		parts = append(parts, "LRU: true")
	}
	return "{" + strings.Join(parts, ", ") + "}"
}
