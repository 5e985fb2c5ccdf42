package backend_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/yokedcache/yokedcache/backend"
	_ "github.com/yokedcache/yokedcache/backend/disk"
	_ "github.com/yokedcache/yokedcache/backend/memcached"
	_ "github.com/yokedcache/yokedcache/backend/memory"
	_ "github.com/yokedcache/yokedcache/backend/redis"
	_ "github.com/yokedcache/yokedcache/backend/sqlite"
	"github.com/yokedcache/yokedcache/internal/testserver"
)

// plantedSecret is the password the secrets tests hide everywhere; no
// message may contain it (nor its first half, see noSecret).
const plantedSecret = "s3cretPWzq81"

// secretParams are misspelled, unknown or generic parameter names that
// carry plantedSecret.
var secretParams = []string{"sentinel_pasword", "sentinel_pw", "passwd", "token", "x", "Password", "DB"}

// noSecret fails when s shows plantedSecret or a fragment of it.
func noSecret(t *testing.T, what, s string) {
	t.Helper()
	if strings.Contains(s, plantedSecret) || strings.Contains(s, plantedSecret[:6]) || strings.Contains(s, plantedSecret[6:]) {
		t.Errorf("%s shows the secret: %s", what, s)
	}
}

// captureDefaultLog sends slog.Default to a buffer until the test ends.
func captureDefaultLog(t *testing.T) *testserver.LogBuffer {
	t.Helper()
	buf := new(testserver.LogBuffer)
	prev := slog.Default()
	slog.SetDefault(slog.New(slog.NewJSONHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug})))
	t.Cleanup(func() { slog.SetDefault(prev) })
	return buf
}

// baseURLs returns a URL for every registered scheme that would otherwise
// open (or fail only to connect): dead servers, fresh directories.
func baseURLs(t *testing.T) map[string]string {
	dead, dir := testserver.ClosedAddr(t), t.TempDir()
	known := map[string]string{
		"mem":             "mem://",
		"memory":          "memory://",
		"redis":           "redis://" + dead + "/0?socket_connect_timeout=1",
		"rediss":          "rediss://" + dead + "/0?socket_connect_timeout=1",
		"redis+sentinel":  "redis+sentinel://" + dead + "/mymaster?socket_connect_timeout=1",
		"rediss+sentinel": "rediss+sentinel://" + dead + "/mymaster?socket_connect_timeout=1",
		"redis+cluster":   "redis+cluster://" + dead + "?socket_connect_timeout=1",
		"rediss+cluster":  "rediss+cluster://" + dead + "?socket_connect_timeout=1",
		"unix":            "unix://" + filepath.Join(dir, "no-redis.sock"),
		"memcached":       "memcached://" + dead + "?timeout=1s",
		"file":            "file://" + filepath.Join(dir, "disk"),
		"sqlite":          "sqlite://" + filepath.Join(dir, "cache.db"),
	}
	out := map[string]string{}
	for _, s := range backend.DefaultURLMux().Schemes() {
		if u, ok := known[s]; ok {
			out[s] = u
		} else {
			out[s] = s + "://127.0.0.1:1"
		}
	}
	return out
}

// withParam adds name=value to raw's query.
func withParam(raw, name, value string) string {
	sep := "?"
	if strings.Contains(raw, "?") {
		sep = "&"
	}
	return raw + sep + url.QueryEscape(name) + "=" + url.QueryEscape(value)
}

// withPassword puts user:password into raw's authority.
func withPassword(raw, password string) string {
	scheme, rest, _ := strings.Cut(raw, "://")
	return scheme + "://app:" + url.PathEscape(password) + "@" + rest
}

// TestSecretsNeverInOpenErrors plants a password in the user information,
// in misspelled and unknown query parameters and in malformed URLs of every
// registered scheme, and checks backend.Open's and backend.ParseURL's
// errors, the redacted URL and the default logger for it. An unknown
// parameter must still be named.
func TestSecretsNeverInOpenErrors(t *testing.T) {
	logs := captureDefaultLog(t)
	for scheme, base := range baseURLs(t) {
		cases := map[string]string{
			"userinfo":          withPassword(base, plantedSecret),
			"userinfo and hash": withPassword(base, "12") + "#" + plantedSecret + "@h",
			"hash in password":  strings.Replace(withPassword(base, "12"), "12@", "12#"+plantedSecret+"@", 1),
			"glued name":        withParam(base, "sentinel_password:"+plantedSecret, ""),
			"bare value":        withParam(base, "x", "1") + "&sentinel_password:" + plantedSecret,
			"bad port":          scheme + "://app:" + plantedSecret + "@h:port/0",
			"no slashes":        scheme + ":app:" + plantedSecret + "@h:1/0",
			"bad escape":        scheme + "://app:" + plantedSecret + "%zz@h/0?token=" + plantedSecret,
			"query in password": scheme + "://app:" + plantedSecret[:6] + "?" + plantedSecret[6:] + "@h/0",
			// Go ends the user information at '/', '?' or '#': with a
			// numeric first part the rest is a host, path or query.
			"slash in password":    scheme + "://app:12/" + plantedSecret + "@h/0",
			"question in password": scheme + "://app:12?" + plantedSecret + "@h",
			"user with slash":      scheme + "://12:34/" + plantedSecret + "@h:1",
			"at in query":          withParam(base, "x", "1") + "&" + plantedSecret + "@h",
		}
		for _, p := range secretParams {
			cases["param "+p] = withParam(base, p, plantedSecret)
			cases["params "+p+" with userinfo"] = withParam(withPassword(base, plantedSecret), p, plantedSecret)
		}
		for name, raw := range cases {
			raw := raw
			t.Run(scheme+"/"+name, func(t *testing.T) {
				noSecret(t, "RedactURL", backend.RedactURL(raw))
				if u, err := url.Parse(raw); err == nil {
					noSecret(t, "RedactedURL", backend.RedactedURL(u))
				}
				if _, err := backend.ParseURL(raw); err != nil {
					noSecret(t, "ParseURL error", err.Error())
				}
				b, err := backend.Open(t.Context(), raw)
				if err == nil {
					_ = b.Close()
					if strings.HasPrefix(name, "param ") {
						t.Fatalf("Open(%s) accepted an unknown parameter", backend.RedactURL(raw))
					}
					return
				}
				noSecret(t, "Open error", err.Error())
				if strings.HasPrefix(name, "param ") {
					p := strings.Fields(name)[1]
					if !errors.Is(err, backend.ErrInvalidConfig) {
						t.Errorf("Open error %v does not match ErrInvalidConfig", err)
					}
					if !strings.Contains(err.Error(), p) {
						t.Errorf("Open error %q does not name the parameter %s", err, p)
					}
				}
			})
		}
	}
	noSecret(t, "the log", logs.String())
}

// TestAtAfterHost: an '@' after the host of a URL with a host or user
// information is a password that needed percent-encoding; a path with an
// '@' is fine where there is no host.
func TestAtAfterHost(t *testing.T) {
	for _, raw := range []string{
		"redis://app:12/" + plantedSecret + "@h/0",
		"redis://12:34/" + plantedSecret + "@h",
		"redis://app:pw@h/0?x=" + plantedSecret + "@h",
		"memcached://h:1?" + plantedSecret + "@h",
	} {
		_, err := backend.ParseURL(raw)
		if !errors.Is(err, backend.ErrInvalidConfig) || !strings.Contains(err.Error(), "percent-encode") {
			t.Errorf("ParseURL(%s): %v, want a percent-encoding hint", backend.RedactURL(raw), err)
		}
		if err != nil {
			noSecret(t, "ParseURL error", err.Error())
		}
		u, _ := url.Parse(raw)
		if _, err := backend.DefaultURLMux().OpenParsed(t.Context(), u); !errors.Is(err, backend.ErrInvalidConfig) {
			t.Errorf("OpenParsed(%s): %v", backend.RedactURL(raw), err)
		} else {
			noSecret(t, "OpenParsed error", err.Error())
		}
	}
	for _, raw := range []string{"file:///var/cache/app@2", "unix:///run/redis@6379.sock", "unix://:pw@/run/redis@6379.sock", "redis://h/0?ssl_ca_certs=/ca%40prod.pem"} {
		if _, err := backend.ParseURL(raw); err != nil {
			t.Errorf("ParseURL(%s): %v", raw, err)
		}
	}
}

// TestEveryParamClassified: every query parameter a built-in backend reads
// (found in its url.go) is either shown by RedactURL (IsPublicParam) or
// named like a secret (IsSecretParam). A new harmless parameter must be
// added to publicParams in redact.go, or export-config prints it as xxxxx.
func TestEveryParamClassified(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("*", "url.go"))
	if err != nil || len(files) < 5 {
		t.Fatalf("url.go files: %v %v", files, err)
	}
	re := regexp.MustCompile(`(?:q\.String|q\.All|durParam|boolParam)\("([A-Za-z0-9_.-]+)"|parseBool\(q, "([A-Za-z0-9_.-]+)"|\{"([A-Za-z0-9_.-]+)", &o\.`)
	seen := 0
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range re.FindAllStringSubmatch(string(src), -1) {
			name := m[1] + m[2] + m[3]
			seen++
			if !backend.IsPublicParam(name) && !backend.IsSecretParam(name) {
				t.Errorf("%s reads the parameter %q, which RedactURL hides: add it to publicParams in backend/redact.go", f, name)
			}
		}
	}
	if seen < 30 {
		t.Fatalf("found only %d parameters: has the parsing code changed shape?", seen)
	}
}

// TestRedactURLHidesUnknownParams: values of parameters that are not known
// to be harmless are hidden whatever their name; known ones stay readable.
func TestRedactURLHidesUnknownParams(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"redis://127.0.0.1:6390/0?sentinel_pasword=" + plantedSecret, "redis://127.0.0.1:6390/0?sentinel_pasword=xxxxx"},
		{"redis://127.0.0.1:6390/0?sentinel_pw=" + plantedSecret + "&db=1&socket_timeout=2s", "redis://127.0.0.1:6390/0?sentinel_pw=xxxxx&db=1&socket_timeout=2s"},
		{"redis://h/0?x=" + plantedSecret + "&x=2", "redis://h/0?x=xxxxx&x=xxxxx"},
		{"redis://h/0?DB=" + plantedSecret, "redis://h/0?DB=xxxxx"},
		{"redis://h/0?sentinel_password:" + plantedSecret, "redis://h/0?sentinel_passwordxxxxx"},
		{"redis://h/0?sentinel_password%3A" + plantedSecret + "=1", "redis://h/0?sentinel_passwordxxxxx=xxxxx"},
		{"memcached://h:11211?timeout=1s&weights=1", "memcached://h:11211?timeout=1s&weights=1"},
		{"sqlite:///c.db?busy_timeout=1s&synchronous=full", "sqlite:///c.db?busy_timeout=1s&synchronous=full"},
		{"file:///d?max_size=1GB&verify=false", "file:///d?max_size=1GB&verify=false"},
		{"mem://?max_size=5&shards=4&prefix=app&default_ttl=60", "mem://?max_size=5&shards=4&prefix=app&default_ttl=60"},
		{"redis://h/0?ssl_ca_certs=/ca.pem&flag", "redis://h/0?ssl_ca_certs=/ca.pem&flag"},
		// Unparseable: every value is hidden.
		{"redis://u:" + plantedSecret + "%zz@h/0?db=1", "redis://xxxxx@h/0?db=xxxxx"},
	} {
		if got := backend.RedactURL(c.in); got != c.want {
			t.Errorf("RedactURL(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

// listerOpener is a third-party opener that lists its public parameters;
// it opens nothing.
type listerOpener struct{}

func (listerOpener) PublicParams() []string { return []string{"yc_test_level", "yc_test_token"} }

func (listerOpener) OpenURL(_ context.Context, u *url.URL) (backend.Backend, error) {
	q := backend.NewQueryParams(u.Query())
	q.String("yc_test_level")
	q.String("yc_test_token")
	if err := q.Finish(); err != nil {
		return nil, fmt.Errorf("yc-test-lister: %w", err)
	}
	return nil, fmt.Errorf("yc-test-lister: opens nothing: %w", backend.ErrInvalidConfig)
}

func init() { backend.Register("yc-test-lister", listerOpener{}) }

// TestPublicParamLister: a registered opener can make its parameters'
// values printable, but never one named like a secret.
func TestPublicParamLister(t *testing.T) {
	got := backend.RedactURL("yc-test-lister://h?yc_test_level=3&yc_test_token=" + plantedSecret + "&other=4")
	if want := "yc-test-lister://h?yc_test_level=3&yc_test_token=xxxxx&other=xxxxx"; got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}

// TestFinishNamesWithoutValues: the unknown-parameter error names each
// parameter once, never a value, and cuts names that carry one.
func TestFinishNamesWithoutValues(t *testing.T) {
	q, _ := url.ParseQuery("sentinel_pw=" + plantedSecret + "&sentinel_password%3A" + plantedSecret + "=&db=1&zz=1&zz=2")
	p := backend.NewQueryParams(q)
	p.String("db")
	err := p.Finish()
	if !errors.Is(err, backend.ErrInvalidConfig) {
		t.Fatalf("Finish: %v", err)
	}
	noSecret(t, "Finish", err.Error())
	if want := "unknown URL parameter(s) sentinel_passwordxxxxx, sentinel_pw, zz: "; !strings.HasPrefix(err.Error(), want) {
		t.Fatalf("Finish: %q, want prefix %q", err, want)
	}
}
