package disk_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/yokedcache/yokedcache"
	"github.com/yokedcache/yokedcache/backend/disk"
)

// A cache whose entries survive restarts: the second Cache, opened on the
// same directory after the first is closed, reads what the first wrote.
func Example() {
	base, err := os.MkdirTemp("", "yokedcache-example-")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(base)
	dir := filepath.Join(base, "cache") // created with mode 0700
	ctx := context.Background()

	st, err := disk.New(disk.Options{Directory: dir, MaxSizeGB: 5})
	if err != nil {
		panic(err)
	}
	c, err := yokedcache.New(yokedcache.Config{Backend: st})
	if err != nil {
		panic(err)
	}
	if err := c.Set(ctx, "user:42", "Ada", yokedcache.WithTTL(time.Hour), yokedcache.WithTags("users")); err != nil {
		panic(err)
	}
	c.Close()

	st, err = disk.New(disk.Options{Directory: dir, MaxSizeGB: 5})
	if err != nil {
		panic(err)
	}
	c, err = yokedcache.New(yokedcache.Config{Backend: st})
	if err != nil {
		panic(err)
	}
	defer c.Close()
	name, err := yokedcache.Get[string](ctx, c, "user:42")
	fmt.Println(name, err)
	n, err := c.InvalidateTags(ctx, "users")
	fmt.Println(n, err)
	// Output:
	// Ada <nil>
	// 1 <nil>
}
