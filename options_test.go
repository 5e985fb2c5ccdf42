package yokedcache

import (
	"slices"
	"testing"
	"time"
)

func TestCollectSetOptions(t *testing.T) {
	first := make([]string, 1, 8) // spare capacity must not be written
	first[0] = "a"
	o := collectSetOptions([]SetOption{
		WithTTL(time.Minute), WithTags(first...), WithExactTTL(), WithTTL(time.Hour), WithTags("b", "c"), {},
	})
	if o.ttl != time.Hour || !o.noJitter {
		t.Fatalf("ttl %v noJitter %v, want 1h true (the later WithTTL wins)", o.ttl, o.noJitter)
	}
	if !slices.Equal(o.tags, []string{"a", "b", "c"}) {
		t.Fatalf("tags %q, want [a b c] (WithTags options add up)", o.tags)
	}
	if got := first[:2][1]; got != "" {
		t.Fatalf("the caller's tag slice was written past its length: %q", got)
	}
	if o := collectSetOptions(nil); o.ttl != 0 || o.noJitter || o.tags != nil {
		t.Fatalf("no options = %+v, want zero", o)
	}
}

func TestSetOptionsAllocateNothing(t *testing.T) {
	opts := func(o ...SetOption) setOptions { return collectSetOptions(o) }
	if n := testing.AllocsPerRun(100, func() { _ = opts(WithTTL(time.Second), WithExactTTL()) }); n != 0 {
		t.Fatalf("folding WithTTL and WithExactTTL allocated %v times, want 0", n)
	}
}
