package codec

import "testing"

func TestBuiltinAndNames(t *testing.T) {
	for _, c := range []Codec{JSON, Msgpack} {
		got, ok := Builtin(c.ID())
		if !ok || got != c || NameOf(c.ID()) != c.Name() {
			t.Fatalf("Builtin(%d) = %v, %v; NameOf = %q", c.ID(), got, ok, NameOf(c.ID()))
		}
	}
	if _, ok := Builtin(IDUserMin); ok {
		t.Fatal("a user codec id is not built in")
	}
	for c, want := range map[Compression]string{None: "none", S2: "s2", Zstd: "zstd", 9: "compression(9)"} {
		if c.String() != want {
			t.Fatalf("%d.String() = %q; want %q", c, c.String(), want)
		}
	}
}
