package redis

import (
	"bytes"
	"slices"
	"strings"
	"testing"
)

func FuzzStoredValue(f *testing.F) {
	f.Add([]byte("v"), "a\x00b")
	f.Add([]byte{tagMark, 0x01}, "")
	f.Add([]byte{}, strings.Repeat("long-tag\x00", 30))
	f.Fuzz(func(t *testing.T, value []byte, joined string) {
		var tags []string
		if joined != "" {
			tags = strings.Split(joined, "\x00")
		}
		stored := value
		if len(tags) > 0 || needsHead(value) {
			stored = storedValue(value, tags)
		}
		if got := valueOf(stored); !bytes.Equal(got, value) {
			t.Fatalf("valueOf(stored) = %q, want %q", got, value)
		}
		head := stored[:min(len(stored), headRead)]
		list, need := headTags(string(head))
		if need > 0 {
			if need > len(stored) || need <= len(head) {
				t.Fatalf("need = %d for %d stored bytes, head %d", need, len(stored), len(head))
			}
			list, need = headTags(string(stored[:need]))
			if need != 0 {
				t.Fatalf("need = %d after reading what it asked", need)
			}
		}
		if got := decodeTags(list); !slices.Equal(got, tags) && !(len(got) == 0 && len(tags) == 0) {
			t.Fatalf("tags = %q, want %q", got, tags)
		}
		// Arbitrary bytes never panic.
		valueOf(value)
		_, _ = headTags(string(value))
	})
}
