// Package filetest holds the test support shared by the backends that
// keep files (disk, SQLite): the corruption campaign's settings and its
// read-back of a damaged store, and file mode checks.
package filetest

import (
	"os"
	"strconv"
	"testing"
)

// CampaignFlips is the number of byte flips of a corruption campaign:
// YOKEDCACHE_CORRUPT_FLIPS when set (make corrupt sets 1000), else 50
// (10 with -short).
func CampaignFlips(tb testing.TB) int {
	tb.Helper()
	if v := os.Getenv("YOKEDCACHE_CORRUPT_FLIPS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			tb.Fatalf("YOKEDCACHE_CORRUPT_FLIPS=%q: want a positive count", v)
		}
		return n
	}
	if testing.Short() {
		return 10
	}
	return 50
}

// CampaignSeed is a corruption campaign's PRNG seed
// (YOKEDCACHE_CORRUPT_SEED, default 1).
func CampaignSeed(tb testing.TB) uint64 {
	tb.Helper()
	if v := os.Getenv("YOKEDCACHE_CORRUPT_SEED"); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			tb.Fatalf("YOKEDCACHE_CORRUPT_SEED=%q: want a number", v)
		}
		return n
	}
	return 1
}

// Perm returns the permission bits of path.
func Perm(tb testing.TB, path string) os.FileMode {
	tb.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		tb.Fatal(err)
	}
	return fi.Mode().Perm()
}
