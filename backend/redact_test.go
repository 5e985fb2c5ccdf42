package backend

import (
	"errors"
	"net/url"
	"strings"
	"testing"
)

func TestRedactURL(t *testing.T) {
	for _, c := range []struct {
		in, want string
		secrets  []string // must not appear in the output
	}{
		{in: "", want: ""},
		{in: "mem://", want: "mem://"},
		{in: "redis://h:6379/0", want: "redis://h:6379/0"},
		{in: "redis://user@h:6379/0", want: "redis://user@h:6379/0"},
		{in: "unix:///tmp/r.sock?db=1", want: "unix:///tmp/r.sock?db=1"},
		{in: "redis://user:TOPSECRET@h:6379/0", want: "redis://user:xxxxx@h:6379/0", secrets: []string{"TOPSECRET"}},
		{in: "redis://:TOPSECRET@h", want: "redis://:xxxxx@h", secrets: []string{"TOPSECRET"}},
		// Query parameters: every password-, secret- or token-like name
		// and every unknown one ("bogus": its value may be a misspelled
		// password), keeping the others and their order.
		{in: "redis+sentinel://h/m?sentinel_password=TOPSECRET&bogus=1", want: "redis+sentinel://h/m?sentinel_password=xxxxx&bogus=xxxxx", secrets: []string{"TOPSECRET"}},
		{in: "redis://h?password=P1&db=2&api_token=T1&Client_Secret=S1&passwd=P2", want: "redis://h?password=xxxxx&db=2&api_token=xxxxx&Client_Secret=xxxxx&passwd=xxxxx", secrets: []string{"P1", "T1", "S1", "P2"}},
		{in: "redis://u:P0@h?pass%77ord=P1", want: "redis://u:xxxxx@h?pass%77ord=xxxxx", secrets: []string{"P0", "P1"}},
		{in: "mem://?token=T1", want: "mem://?token=xxxxx", secrets: []string{"T1"}},
		// URLs without "//": Go sees an opaque part, not credentials.
		{in: "redis:admin:SECRET@h:6379", want: "redis:xxxxx@h:6379", secrets: []string{"SECRET", "admin"}},
		{in: "default:SECRET@h", want: "default:xxxxx@h", secrets: []string{"SECRET"}},
		{in: "redis:/admin:SECRET@h", want: "redis:xxxxx@h", secrets: []string{"SECRET"}},
		// A '#' in the password makes the rest a fragment.
		{in: "redis://u:123#SECRET@h", want: "redis://xxxxx@h", secrets: []string{"123", "SECRET"}},
		// Unparseable URLs.
		{in: "redis://u:SE%ZZCRET@h/0?password=P1", want: "redis://xxxxx@h/0?password=xxxxx", secrets: []string{"SE", "CRET", "P1"}},
		{in: "redis://u:SE@CRET@h", want: "redis://u:xxxxx@h", secrets: []string{"SE", "CRET"}},
		{in: ":SECRET@h", want: "xxxxx@h", secrets: []string{"SECRET"}},
		{in: "%zz?token=T1", want: "%zz?token=xxxxx", secrets: []string{"T1"}},
	} {
		got := RedactURL(c.in)
		if got != c.want {
			t.Errorf("RedactURL(%q) = %q, want %q", c.in, got, c.want)
		}
		for _, s := range c.secrets {
			if strings.Contains(got, s) {
				t.Errorf("RedactURL(%q) = %q shows %q", c.in, got, s)
			}
		}
		if u, err := url.Parse(c.in); err == nil && c.in != "" {
			got := RedactedURL(u)
			for _, s := range c.secrets {
				if strings.Contains(got, s) {
					t.Errorf("RedactedURL(%q) = %q shows %q", c.in, got, s)
				}
			}
		}
	}
}

// TestParseURLErrorsHideSecrets: the cause of a parse error may quote part
// of the URL; ParseURL and Open must not repeat it.
func TestParseURLErrorsHideSecrets(t *testing.T) {
	for _, raw := range []string{
		"redis://:TOPSECRET#x@h",        // invalid port ":TOPSECRET"
		"redis://u:TOPSECRET@h:port",    // invalid port
		"default:TOPSECRET@h",           // unknown scheme, opaque
		"redis://u:TOPSECRET@h\x7f",     // control character
		"//u:TOPSECRET@h",               // missing scheme
		"nope://u:TOPSECRET@h?token=T2", // unknown scheme
		"nope:u:TOPSECRET@h?token=T2",   // unknown scheme, opaque
	} {
		_, err := Open(t.Context(), raw)
		if err == nil {
			t.Fatalf("Open(%q) succeeded", raw)
		}
		if !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("Open(%q): %v does not match ErrInvalidConfig", raw, err)
		}
		if strings.Contains(err.Error(), "TOPSECRET") || strings.Contains(err.Error(), "T2") {
			t.Errorf("Open(%q) error shows a secret: %v", raw, err)
		}
	}
}

func TestRedactShowsCacheParams(t *testing.T) {
	got := RedactURL("redis://:secret@h:6379/0?near_cache=100&operation_timeout=50ms&password=p")
	for _, want := range []string{"near_cache=100", "operation_timeout=50ms"} {
		if !strings.Contains(got, want) {
			t.Fatalf("RedactURL = %q; want %q shown", got, want)
		}
	}
	if strings.Contains(got, "secret") || strings.Contains(got, "=p") {
		t.Fatalf("RedactURL = %q leaks a password", got)
	}
}
