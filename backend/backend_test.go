package backend

import (
	"slices"
	"testing"
)

func TestUniqueTags(t *testing.T) {
	for _, c := range []struct{ in, want []string }{
		{nil, nil},
		{[]string{"a"}, []string{"a"}},
		{[]string{"a", "b"}, []string{"a", "b"}},
		{[]string{"a", "a"}, []string{"a"}},
		{[]string{"b", "a", "b", "c", "a"}, []string{"b", "a", "c"}},
	} {
		in := slices.Clone(c.in)
		got := UniqueTags(in)
		if !slices.Equal(got, c.want) {
			t.Errorf("UniqueTags(%q) = %q, want %q", c.in, got, c.want)
		}
		if !slices.Equal(in, c.in) {
			t.Errorf("UniqueTags modified its input: %q, was %q", in, c.in)
		}
	}
}
