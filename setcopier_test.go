package yokedcache_test

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/yokedcache/yokedcache"
	"github.com/yokedcache/yokedcache/backend"
	"github.com/yokedcache/yokedcache/backend/memory"
)

// flaky is a backend.SetCopier whose Set fails every other call and keeps
// the key and value it was given on failure, as a pipelined client keeps a
// command it has not written yet.
type flaky struct {
	backend.Backend
	n    int
	kept []struct {
		key   string
		value []byte
		want  string
	}
}

func (f *flaky) SetCopies() bool { return true }

func (f *flaky) Set(ctx context.Context, key string, value []byte, o backend.SetOptions) error {
	f.n++
	if f.n%2 == 0 {
		f.kept = append(f.kept, struct {
			key   string
			value []byte
			want  string
		}{key, value, key + "=" + string(value)})
		return errors.New("flaky: timed out")
	}
	return f.Backend.Set(ctx, strings.Clone(key), append([]byte(nil), value...), o) // a copier copies
}

// TestSetReusesBuffersOnlyAfterSuccess: with a SetCopier backend the Cache
// reuses its key+envelope buffers, but never one whose Set failed.
func TestSetReusesBuffersOnlyAfterSuccess(t *testing.T) {
	ctx := context.Background()
	m, err := memory.New(memory.Options{})
	if err != nil {
		t.Fatal(err)
	}
	f := &flaky{Backend: m}
	c, err := yokedcache.New(yokedcache.Config{Backend: f})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for i := range 200 {
		err := c.Set(ctx, fmt.Sprint("key-", i), fmt.Sprint("value-", i))
		if (i%2 == 1) != (err != nil) {
			t.Fatalf("Set %d = %v", i, err)
		}
	}
	for _, k := range f.kept {
		if got := k.key + "=" + string(k.value); got != k.want {
			t.Fatalf("a failed Set's key and value were overwritten by a later Set: %q, want %q", got, k.want)
		}
	}
	for i := 0; i < 200; i += 2 {
		if got, err := yokedcache.Get[string](ctx, c, fmt.Sprint("key-", i)); err != nil || got != fmt.Sprint("value-", i) {
			t.Fatalf("Get key-%d = %q, %v", i, got, err)
		}
	}
}

// TestInvalidCodecOpensNothing: New rejects a bad codec before it opens
// any configured backend, so nothing is left open to leak.
func TestInvalidCodecOpensNothing(t *testing.T) {
	var opened atomic.Int64
	backend.Register("yokedcache-test-counting", backend.URLOpenerFunc(func(context.Context, *url.URL) (backend.Backend, error) {
		opened.Add(1)
		return memory.New(memory.Options{})
	}))
	_, err := yokedcache.New(yokedcache.Config{
		URL:        "yokedcache-test-counting://",
		PrefixURLs: map[string]string{"r:": "yokedcache-test-counting://"},
		Codec:      reservedCodec{},
	})
	if !errors.Is(err, yokedcache.ErrInvalidConfig) {
		t.Fatalf("New with a codec on a reserved id = %v, want ErrInvalidConfig", err)
	}
	if n := opened.Load(); n != 0 {
		t.Fatalf("New opened %d backends before rejecting the codec", n)
	}
}
