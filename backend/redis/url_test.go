package redis

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/yokedcache/yokedcache/backend"
)

func TestParseURLForms(t *testing.T) {
	cases := []struct {
		url  string
		want Options
	}{
		{"redis://localhost:6379/0", Options{Mode: Standalone, Network: "tcp", Addrs: []string{"localhost:6379"}}},
		{"redis://localhost", Options{Mode: Standalone, Network: "tcp", Addrs: []string{"localhost:6379"}}},
		{"redis://:secret@host:6379/2", Options{Mode: Standalone, Network: "tcp", Addrs: []string{"host:6379"}, Password: "secret", DB: 2}},
		{"redis://user:secret@host:6379/0", Options{Mode: Standalone, Network: "tcp", Addrs: []string{"host:6379"}, Username: "user", Password: "secret"}},
		{"redis://[::1]:7000/3", Options{Mode: Standalone, Network: "tcp", Addrs: []string{"[::1]:7000"}, DB: 3}},
		{"redis://h?db=4", Options{Mode: Standalone, Network: "tcp", Addrs: []string{"h:6379"}, DB: 4}},
		{"redis://h?flush_delay=0", Options{Mode: Standalone, Network: "tcp", Addrs: []string{"h:6379"}, FlushDelay: -1}},
		{"redis://h?flush_delay=50us", Options{Mode: Standalone, Network: "tcp", Addrs: []string{"h:6379"}, FlushDelay: 50 * time.Microsecond}},
		{"redis://h?publish_invalidations=true", Options{Mode: Standalone, Network: "tcp", Addrs: []string{"h:6379"}, PublishInvalidations: true}},
		{"redis+cluster://h1:7000?publish_invalidations=0", Options{Mode: Cluster, Network: "tcp", Addrs: []string{"h1:7000"}}},
		{"redis+sentinel://s1:26379,s2:26380/mymaster/1", Options{Mode: Sentinel, Network: "tcp", Addrs: []string{"s1:26379", "s2:26380"}, MasterName: "mymaster", DB: 1}},
		{"redis+sentinel://u:p@s1,s2/mm?sentinel_password=sp&sentinel_username=su", Options{Mode: Sentinel, Network: "tcp", Addrs: []string{"s1:26379", "s2:26379"}, MasterName: "mm", Username: "u", Password: "p", SentinelUsername: "su", SentinelPassword: "sp"}},
		{"redis+cluster://h1:7000,h2:7001", Options{Mode: Cluster, Network: "tcp", Addrs: []string{"h1:7000", "h2:7001"}}},
		{"redis+cluster://h1:7000?addr=h2:7001&addr=h3", Options{Mode: Cluster, Network: "tcp", Addrs: []string{"h1:7000", "h2:7001", "h3:6379"}}},
		{"redis+cluster://?addr=h2:7001", Options{Mode: Cluster, Network: "tcp", Addrs: []string{"h2:7001"}}},
		{"unix:///tmp/redis.sock?db=5", Options{Mode: Standalone, Network: "unix", Addrs: []string{"/tmp/redis.sock"}, DB: 5}},
		{"unix://:pw@/tmp/redis.sock", Options{Mode: Standalone, Network: "unix", Addrs: []string{"/tmp/redis.sock"}, Password: "pw"}},
		{"redis://h/0?max_connections=7&socket_connect_timeout=1.5&socket_timeout=250ms&socket_keepalive=false&retry_on_timeout=no&health_check_interval=10&stats_scan_limit=-1",
			Options{Mode: Standalone, Network: "tcp", Addrs: []string{"h:6379"}, MaxConnections: 7, ConnectTimeout: 1500 * time.Millisecond,
				SocketTimeout: 250 * time.Millisecond, DisableKeepAlive: true, DisableRetry: true, HealthCheckInterval: 10 * time.Second, StatsScanLimit: -1}},
	}
	for _, c := range cases {
		got, err := ParseURL(c.url)
		if err != nil {
			t.Errorf("ParseURL(%q): %v", c.url, err)
			continue
		}
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("ParseURL(%q) =\n%+v\nwant\n%+v", c.url, got, c.want)
		}
	}
}

func TestParseURLTLS(t *testing.T) {
	o, err := ParseURL("rediss://my-redis.example.com:6380/0")
	if err != nil {
		t.Fatal(err)
	}
	if o.TLS == nil || o.TLS.InsecureSkipVerify || o.TLS.ServerName != "my-redis.example.com" {
		t.Fatalf("rediss:// TLS = %+v; want verification on for the host", o.TLS)
	}
	o, err = ParseURL("rediss://h:6380/0?ssl_cert_reqs=none")
	if err != nil || !o.TLS.InsecureSkipVerify {
		t.Fatalf("ssl_cert_reqs=none: %v %+v", err, o.TLS)
	}
	o, err = ParseURL("rediss://h:6380/0?ssl_check_hostname=false")
	if err != nil || !o.TLS.InsecureSkipVerify || o.TLS.VerifyConnection == nil {
		t.Fatalf("ssl_check_hostname=false must still verify the chain: %v %+v", err, o.TLS)
	}
	if _, err := ParseURL("redis://h/0?ssl_ca_certs=/x"); !errors.Is(err, backend.ErrInvalidConfig) {
		t.Fatalf("ssl params on redis:// = %v; want ErrInvalidConfig", err)
	}
	if _, err := ParseURL("rediss://h/0?ssl_ca_certs=/does/not/exist"); !errors.Is(err, backend.ErrInvalidConfig) || !strings.Contains(err.Error(), "ssl_ca_certs") {
		t.Fatalf("missing CA file = %v", err)
	}
	dir := t.TempDir()
	bad := filepath.Join(dir, "ca.pem")
	os.WriteFile(bad, []byte("not pem"), 0o600)
	if _, err := ParseURL("rediss://h/0?ca_file=" + bad); !errors.Is(err, backend.ErrInvalidConfig) {
		t.Fatalf("non-PEM CA = %v", err)
	}
	if _, err := ParseURL("rediss://h/0?ssl_certfile=/a"); !errors.Is(err, backend.ErrInvalidConfig) {
		t.Fatalf("certfile without keyfile = %v", err)
	}
	o, err = ParseURL("rediss+sentinel://s1/mm")
	if err != nil || o.TLS == nil || o.Mode != Sentinel {
		t.Fatalf("rediss+sentinel: %v %+v", err, o)
	}
	o, err = ParseURL("rediss+cluster://h1:1,h2:2")
	if err != nil || o.TLS == nil || o.Mode != Cluster {
		t.Fatalf("rediss+cluster: %v %+v", err, o)
	}
}

func TestParseURLErrors(t *testing.T) {
	const pw = "s3cr3tPW"
	bad := []struct{ url, want string }{
		{"http://h", "unsupported scheme"},
		{"redis://:" + pw + "@h:notaport/0", "port"},
		{"redis://:" + pw + "@h:6379/x", "database"},
		{"redis://:" + pw + "@h:6379/0/1", "path"},
		{"redis://:" + pw + "@h:6379/0?bogus=1", "bogus"},
		{"redis://:" + pw + "@h:6379/0?db=1", "both"},
		{"redis://:" + pw + "@h:6379/0?socket_timeout=abc", "socket_timeout"},
		{"redis://:" + pw + "@h:6379/0?socket_timeout=-1", "socket_timeout"},
		{"redis://:" + pw + "@h:6379/0?max_connections=0", "max_connections"},
		{"redis://:" + pw + "@h:6379/0?socket_keepalive=maybe", "socket_keepalive"},
		{"redis://:" + pw + "@h:6379/0?publish_invalidations=maybe", "publish_invalidations"},
		{"redis://:" + pw + "@h:6379/0?sentinel_password=x", "sentinel_password"},
		{"redis+sentinel://:" + pw + "@s1", "master name"},
		{"redis+cluster://:" + pw + "@h1:1/2", "db 0"},
		{"redis+cluster://:" + pw + "@", "at least one"},
		{"unix://:" + pw + "@", "socket path"},
		{"unix://:" + pw + "@host/tmp/x", "empty host"},
		{"redis://:" + pw + "@:6379", "host"},
		{"rediss://:" + pw + "@h/0?ssl_cert_reqs=maybe", "ssl_cert_reqs"},
		{"", "empty"},
		{"redis://:" + pw + "@h:99999/0", "port"},
		{"redis://:" + pw + "@h:6379/0#frag", "fragment"},
		{"redis://:" + pw + "@h:6379/0?socket_timeout=NaN", "socket_timeout"},
		{"redis://:" + pw + "@h:6379/0?flush_delay=NaN", "flush_delay"},
		{"redis://:" + pw + "@h:6379/0?health_check_interval=Inf", "health_check_interval"},
		// Secrets in query parameters and in URLs without "//".
		{"redis+sentinel://h/m?sentinel_password=" + pw + "&bogus=1", "bogus"},
		{"redis://h/0?password=" + pw, "password"},
		{"redis:admin:" + pw + "@h:6379", "scheme://host"},
		{"redis:/admin:" + pw + "@h:6379", "missing host"},
	}
	for _, c := range bad {
		_, err := ParseURL(c.url)
		if !errors.Is(err, backend.ErrInvalidConfig) {
			t.Errorf("ParseURL(%q) = %v; want ErrInvalidConfig", c.url, err)
			continue
		}
		if !strings.Contains(err.Error(), c.want) {
			t.Errorf("ParseURL(%q) = %q; want it to mention %q", c.url, err, c.want)
		}
		if strings.Contains(err.Error(), pw) {
			t.Errorf("ParseURL(%q) error leaks the password: %q", c.url, err)
		}
	}
}

func TestOptionsStringRedacts(t *testing.T) {
	o, err := ParseURL("redis+sentinel://u:topsecret@s1/mm?sentinel_password=alsosecret")
	if err != nil {
		t.Fatal(err)
	}
	s := o.String()
	if strings.Contains(s, "topsecret") || strings.Contains(s, "alsosecret") {
		t.Fatalf("String() leaks a password: %s", s)
	}
	if !strings.Contains(s, "mm") || !strings.Contains(s, "u") {
		t.Fatalf("String() = %s", s)
	}
}

func TestOptionsDefaults(t *testing.T) {
	o, err := Options{}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	if o.MaxConnections != 50 || o.ConnectTimeout != 5*time.Second || o.SocketTimeout != 5*time.Second ||
		o.HealthCheckInterval != 30*time.Second || o.DisableKeepAlive || o.DisableRetry || o.Addrs[0] != "127.0.0.1:6379" {
		t.Fatalf("defaults = %+v", o)
	}
	co := o.clientOption()
	if co.BlockingPoolSize != 50 || co.Dialer.Timeout != 5*time.Second || co.ConnWriteTimeout != 5*time.Second ||
		co.Dialer.KeepAlive != 30*time.Second || co.MaxFlushDelay != 20*time.Microsecond || !co.DisableCache || co.ClientSetInfo == nil || len(co.ClientSetInfo) != 0 {
		t.Fatalf("client option = %+v", co)
	}
	in := Options{Addrs: []string{"a:1"}}
	if _, err := New(Options{Addrs: []string{"a:1", "b:2"}}); !errors.Is(err, backend.ErrInvalidConfig) {
		t.Fatalf("two addrs standalone = %v", err)
	}
	if _, err := in.withDefaults(); err != nil || in.MaxConnections != 0 {
		t.Fatal("withDefaults modified the caller's options")
	}
}

func TestGlobHelpers(t *testing.T) {
	if got := redisGlobEscape(`a*b?c[d]e\f`); got != `a\*b\?c\[d\]e\\f` {
		t.Fatalf("escape = %q", got)
	}
	_, m, err := matchFor(`p:user\*:[ab]*`)
	if err != nil || m != `p:user\*:*` {
		t.Fatalf("matchFor = %q, %v", m, err)
	}
	if _, _, err := matchFor("p:[unclosed"); !errors.Is(err, backend.ErrInvalidKey) {
		t.Fatalf("bad pattern = %v", err)
	}
	// CRC16 test vectors from the Redis Cluster specification.
	if slot("123456789") != 0x31C3&16383 || slot("{user1000}.following") != slot("{user1000}.followers") {
		t.Fatal("slot")
	}
	tags := []string{"a", "", "b:c", "x\xff:tag:y"}
	if got := decodeTags(encodeTags(tags)); !reflect.DeepEqual(got, tags) {
		t.Fatalf("tags round trip = %q", got)
	}
}

func FuzzParseURL(f *testing.F) {
	for _, s := range []string{
		"redis://localhost:6379/0", "redis://:pw@h/1", "rediss://u:p@h:6380/0?ssl_cert_reqs=none",
		"redis+sentinel://s1:26379,s2/mm/0?sentinel_password=x", "redis+cluster://h1:1,h2:2?addr=h3:3",
		"unix:///tmp/r.sock?db=1", "redis://[::1]:1/0?socket_timeout=1s", "redis://h?db=x",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		o, err := ParseURL(s)
		if err != nil {
			if !errors.Is(err, backend.ErrInvalidConfig) {
				t.Fatalf("ParseURL(%q) = %v; want ErrInvalidConfig", s, err)
			}
			if o.Password != "" && len(o.Password) > 3 && strings.Contains(err.Error(), o.Password) {
				t.Fatalf("error leaks the password")
			}
			return
		}
		if _, err := o.withDefaults(); err != nil {
			t.Fatalf("ParseURL(%q) accepted options that New rejects: %v", s, err)
		}
		if o.Password != "" && len(o.Password) > 3 && strings.Contains(o.String(), o.Password) {
			t.Fatalf("String leaks the password")
		}
	})
}

func TestPublishInvalidationsParamIsPublic(t *testing.T) {
	u, err := backend.ParseURL("redis://:secret@h:6379/0?publish_invalidations=true")
	if err != nil {
		t.Fatal(err)
	}
	got := backend.RedactedURL(u)
	if !strings.Contains(got, "publish_invalidations=true") || strings.Contains(got, "secret") {
		t.Fatalf("RedactedURL = %q; want the parameter shown and the password hidden", got)
	}
}
