package yokedcache

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/yokedcache/yokedcache/backend"
	"github.com/yokedcache/yokedcache/codec"
)

// FileConfig is the schema of a YAML configuration file (see
// docs/configuration.md). Every field is optional; unknown keys are
// errors. Durations are Go durations ("90s", "5m") or plain seconds.
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
type FileConfig struct {
	// KeyPrefix is Config.KeyPrefix.
	KeyPrefix string `yaml:"key_prefix,omitempty" json:"key_prefix,omitempty"`
	// DefaultTTL is Config.DefaultTTL.
	DefaultTTL Duration `yaml:"default_ttl,omitempty" json:"default_ttl,omitempty"`
	// TTLJitterPercent is Config.TTLJitterPercent, except that 0 here
	// means exact TTLs (no jitter); leave it out for the default 10.
	TTLJitterPercent *int `yaml:"ttl_jitter_percent,omitempty" json:"ttl_jitter_percent,omitempty"`
	// MemoryMaxSize is Config.MemoryMaxSize.
	MemoryMaxSize int `yaml:"memory_max_size,omitempty" json:"memory_max_size,omitempty"`
	// MemoryCleanupInterval is Config.MemoryCleanupInterval.
	MemoryCleanupInterval Duration `yaml:"memory_cleanup_interval,omitempty" json:"memory_cleanup_interval,omitempty"`
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
}

// RouteConfig is one entry of FileConfig.Routes.
type RouteConfig struct {
	// URL names the route's backend (Config.PrefixURLs). Empty: the route
	// only sets a default TTL and its keys stay on the default backend.
	URL string `yaml:"url,omitempty" json:"url,omitempty"`
	// DefaultTTL is the route's default TTL (Config.RouteDefaultTTL).
	DefaultTTL Duration `yaml:"default_ttl,omitempty" json:"default_ttl,omitempty"`
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

// LoadConfig reads a YAML configuration file (schema: FileConfig). Unknown
// keys, malformed values and invalid URLs are errors matching
// ErrInvalidConfig that name the file.
func LoadConfig(path string) (Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("config file %s: %w: %w", path, err, ErrInvalidConfig)
	}
	cfg, err := ParseConfig(data)
	if err != nil {
		return Config{}, fmt.Errorf("config file %s: %w", path, err)
	}
	return cfg, nil
}

// ParseConfig parses YAML configuration (schema: FileConfig), strictly.
func ParseConfig(data []byte) (Config, error) {
	var fc FileConfig
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&fc); err != nil && !errors.Is(err, io.EOF) {
		return Config{}, fmt.Errorf("%v: %w", err, ErrInvalidConfig)
	}
	return fc.Config()
}

// Config converts the file settings to a Config, validating them.
func (fc FileConfig) Config() (Config, error) {
	cfg := Config{
		KeyPrefix:             fc.KeyPrefix,
		DefaultTTL:            time.Duration(fc.DefaultTTL),
		MemoryMaxSize:         fc.MemoryMaxSize,
		MemoryCleanupInterval: time.Duration(fc.MemoryCleanupInterval),
		CompressionThreshold:  fc.CompressionThreshold,
		URL:                   fc.URL,
		RedisURL:              fc.RedisURL,
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
			if cfg.PrefixURLs == nil {
				cfg.PrefixURLs = map[string]string{}
			}
			cfg.PrefixURLs[p] = rc.URL
		}
		if rc.DefaultTTL != 0 {
			if cfg.RouteDefaultTTL == nil {
				cfg.RouteDefaultTTL = map[string]time.Duration{}
			}
			cfg.RouteDefaultTTL[p] = time.Duration(rc.DefaultTTL)
		}
	}
	// Validate the rest as New would, without opening anything.
	check := cfg
	check.URL, check.RedisURL, check.PrefixURLs = "", "", nil
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
// (Backend, DefaultBackend, PrefixBackends) have no file form and are left
// out; String names them.
func (c Config) Redacted() FileConfig {
	fc := FileConfig{
		KeyPrefix:             c.KeyPrefix,
		DefaultTTL:            Duration(c.DefaultTTL),
		MemoryMaxSize:         c.MemoryMaxSize,
		MemoryCleanupInterval: Duration(c.MemoryCleanupInterval),
		CompressionThreshold:  c.CompressionThreshold,
		LogLevel:              logLevelOf(c.Logger),
		URL:                   backend.RedactURL(c.URL),
		RedisURL:              backend.RedactURL(c.RedisURL),
	}
	switch {
	case c.TTLJitterPercent == NoJitter:
		z := 0
		fc.TTLJitterPercent = &z
	case c.TTLJitterPercent != 0:
		j := c.TTLJitterPercent
		fc.TTLJitterPercent = &j
	}
	if c.Compression != codec.None {
		fc.Compression = c.Compression.String()
	}
	for p, u := range c.PrefixURLs {
		if fc.Routes == nil {
			fc.Routes = map[string]RouteConfig{}
		}
		rc := fc.Routes[p]
		rc.URL = backend.RedactURL(u)
		fc.Routes[p] = rc
	}
	for p, d := range c.RouteDefaultTTL {
		if fc.Routes == nil {
			fc.Routes = map[string]RouteConfig{}
		}
		rc := fc.Routes[p]
		rc.DefaultTTL = Duration(d)
		fc.Routes[p] = rc
	}
	return fc
}

// String describes the configuration with passwords redacted.
func (c Config) String() string {
	var b strings.Builder
	b.WriteString("yokedcache.Config{")
	sep := ""
	field := func(name string, v any) {
		fmt.Fprintf(&b, "%s%s: %v", sep, name, v)
		sep = ", "
	}
	if c.KeyPrefix != "" {
		field("KeyPrefix", fmt.Sprintf("%q", c.KeyPrefix))
	}
	if c.DefaultTTL != 0 {
		field("DefaultTTL", c.DefaultTTL)
	}
	if c.TTLJitterPercent != 0 {
		field("TTLJitterPercent", c.TTLJitterPercent)
	}
	if c.Backend != nil {
		field("Backend", backend.Name(c.Backend))
	}
	if c.DefaultBackend != nil {
		field("DefaultBackend", backend.Name(c.DefaultBackend))
	}
	if c.URL != "" {
		field("URL", fmt.Sprintf("%q", backend.RedactURL(c.URL)))
	}
	if c.RedisURL != "" {
		field("RedisURL", fmt.Sprintf("%q", backend.RedactURL(c.RedisURL)))
	}
	if len(c.PrefixBackends) > 0 {
		var parts []string
		for _, p := range slices.Sorted(maps.Keys(c.PrefixBackends)) {
			parts = append(parts, fmt.Sprintf("%q: %s", p, backend.Name(c.PrefixBackends[p])))
		}
		field("PrefixBackends", "{"+strings.Join(parts, ", ")+"}")
	}
	if len(c.PrefixURLs) > 0 {
		var parts []string
		for _, p := range slices.Sorted(maps.Keys(c.PrefixURLs)) {
			parts = append(parts, fmt.Sprintf("%q: %q", p, backend.RedactURL(c.PrefixURLs[p])))
		}
		field("PrefixURLs", "{"+strings.Join(parts, ", ")+"}")
	}
	if len(c.RouteDefaultTTL) > 0 {
		var parts []string
		for _, p := range slices.Sorted(maps.Keys(c.RouteDefaultTTL)) {
			parts = append(parts, fmt.Sprintf("%q: %v", p, c.RouteDefaultTTL[p]))
		}
		field("RouteDefaultTTL", "{"+strings.Join(parts, ", ")+"}")
	}
	if c.MemoryMaxSize != 0 {
		field("MemoryMaxSize", c.MemoryMaxSize)
	}
	if c.MemoryCleanupInterval != 0 {
		field("MemoryCleanupInterval", c.MemoryCleanupInterval)
	}
	if c.Compression != codec.None {
		field("Compression", c.Compression)
	}
	if c.CompressionThreshold != 0 {
		field("CompressionThreshold", c.CompressionThreshold)
	}
	if lv := logLevelOf(c.Logger); lv != "" {
		field("LogLevel", lv)
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
// The backend selection (Backend, DefaultBackend, URL, RedisURL) is one
// setting: if over sets any of them, c's are all replaced. Route maps
// merge per prefix, over winning.
func (c Config) Merge(over Config) Config {
	out := c
	if over.KeyPrefix != "" {
		out.KeyPrefix = over.KeyPrefix
	}
	if over.DefaultTTL != 0 {
		out.DefaultTTL = over.DefaultTTL
	}
	if over.TTLJitterPercent != 0 {
		out.TTLJitterPercent = over.TTLJitterPercent
	}
	if over.Backend != nil || over.DefaultBackend != nil || over.URL != "" || over.RedisURL != "" {
		out.Backend, out.DefaultBackend, out.URL, out.RedisURL = over.Backend, over.DefaultBackend, over.URL, over.RedisURL
	}
	if len(over.PrefixBackends) > 0 || len(over.PrefixURLs) > 0 {
		pb := maps.Clone(c.PrefixBackends)
		pu := maps.Clone(c.PrefixURLs)
		for p, b := range over.PrefixBackends {
			if pb == nil {
				pb = map[string]backend.Backend{}
			}
			pb[p] = b
			delete(pu, p)
		}
		for p, u := range over.PrefixURLs {
			if pu == nil {
				pu = map[string]string{}
			}
			pu[p] = u
			delete(pb, p)
		}
		out.PrefixBackends, out.PrefixURLs = pb, pu
	}
	if len(over.RouteDefaultTTL) > 0 {
		rt := maps.Clone(c.RouteDefaultTTL)
		if rt == nil {
			rt = map[string]time.Duration{}
		}
		maps.Copy(rt, over.RouteDefaultTTL)
		out.RouteDefaultTTL = rt
	}
	if over.MemoryMaxSize != 0 {
		out.MemoryMaxSize = over.MemoryMaxSize
	}
	if over.MemoryCleanupInterval != 0 {
		out.MemoryCleanupInterval = over.MemoryCleanupInterval
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
	if over.Logger != nil {
		out.Logger = over.Logger
	}
	if over.Clock != nil {
		out.Clock = over.Clock
	}
	if over.Rand != nil {
		out.Rand = over.Rand
	}
	return out
}

// Open returns a Cache on the backend named by rawURL, which may be any
// registered scheme (mem://, redis://, memcached://, ...). Two shared query
// parameters configure the Cache and are removed before the backend parses
// the URL:
//
//	prefix       Config.KeyPrefix
//	default_ttl  Config.DefaultTTL (seconds or a Go duration)
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
		return nil, &Error{Op: "open", Err: err}
	}
	q := u.Query()
	if v := q.Get("prefix"); q.Has("prefix") {
		if v == "" {
			return nil, &Error{Op: "open", Err: fmt.Errorf("%s: empty prefix parameter: %w", backend.RedactedURL(u), ErrInvalidConfig)}
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
			return nil, &Error{Op: "open", Err: fmt.Errorf("%s: default_ttl: %v: %w", backend.RedactedURL(u), err, ErrInvalidConfig)}
		}
		cfg.DefaultTTL = d
		q.Del("default_ttl")
	}
	u.RawQuery = q.Encode()
	b, err := backend.DefaultURLMux().OpenParsed(ctx, u)
	if err != nil {
		return nil, &Error{Op: "open", Err: err}
	}
	cfg.Backend, cfg.DefaultBackend, cfg.URL, cfg.RedisURL = b, nil, "", ""
	c, err := New(cfg)
	if err != nil {
		_ = b.Close()
		return nil, err
	}
	return c, nil
}
