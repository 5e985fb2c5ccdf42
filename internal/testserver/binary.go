package testserver

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// InstallHint tells how to get the server binaries the tests need.
const InstallHint = "install them with `apt-get install -y redis-server memcached` " +
	"(or run `make test`, which installs them via scripts/test-deps.sh)"

// extraBinDirs are searched after PATH: Debian installs memcached in
// /usr/bin but some images keep daemons in /usr/sbin, which is often not on
// a non-root PATH.
var extraBinDirs = []string{"/usr/sbin", "/usr/bin", "/usr/local/bin", "/usr/local/sbin"}

// LookBinary returns the path of the named executable, searching PATH and
// then /usr/sbin, /usr/bin, /usr/local/bin and /usr/local/sbin. It returns
// "" when none is found.
func LookBinary(name string) string {
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	for _, dir := range extraBinDirs {
		p := filepath.Join(dir, name)
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return p
		}
	}
	return ""
}

// inCI reports whether the CI environment variable is "true" or "1".
func inCI() bool {
	v := os.Getenv("CI")
	return v == "true" || v == "1"
}

// RequireBinary returns the path of the named server binary (for example
// "redis-server" or "memcached"). When it is missing the test is skipped,
// or fails when the CI environment variable is "true" or "1", so that CI
// never passes by silently skipping the server tests. Both messages say
// what to install.
func RequireBinary(tb testing.TB, name string) string {
	tb.Helper()
	if p := LookBinary(name); p != "" {
		return p
	}
	if inCI() {
		tb.Fatalf("testserver: %s not found (CI=%s, so this is an error); %s", name, os.Getenv("CI"), InstallHint)
	} else {
		tb.Skipf("testserver: %s not found, skipping; %s", name, InstallHint)
	}
	return ""
}

// missingFeature skips the test (fails it when CI is set) because the
// installed server lacks a feature.
func missingFeature(tb testing.TB, what string, err error) {
	tb.Helper()
	if inCI() {
		tb.Fatalf("testserver: %s (CI=%s, so this is an error): %v", what, os.Getenv("CI"), err)
	}
	tb.Skipf("testserver: %s, skipping: %v", what, err)
}
