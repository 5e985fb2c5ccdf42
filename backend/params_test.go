package backend

import (
	"testing"
	"time"
)

func TestParseDuration(t *testing.T) {
	for _, c := range []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"90", 90 * time.Second, true},
		{"1.5", 1500 * time.Millisecond, true},
		{"0", 0, true},
		{"1m30s", 90 * time.Second, true},
		{"1e9", 1e9 * time.Second, true},
		// NaN converted to math.MinInt64, which is NoExpiry.
		{"NaN", 0, false},
		{"nan", 0, false},
		{"-NaN", 0, false},
		{"Inf", 0, false},
		{"+Inf", 0, false},
		{"-Inf", 0, false},
		{"infinity", 0, false},
		{"1e400", 0, false},
		{"1.1e9", 0, false},
		{"-1", 0, false},
		{"-1s", 0, false},
		{"soon", 0, false},
		{"", 0, false},
		{"3000000h", 0, false}, // overflows time.Duration
	} {
		got, err := ParseDuration(c.in)
		if (err == nil) != c.ok || got != c.want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v, ok=%v", c.in, got, err, c.want, c.ok)
		}
	}
}
