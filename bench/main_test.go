package bench_test

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/yokedcache/yokedcache/bench/internal/rounds"
	"github.com/yokedcache/yokedcache/internal/testserver"
)

// TestMain runs the benchmarks, prints every group's table, then stops
// the shared redis-server and memcached.
func TestMain(m *testing.M) { rounds.Main(m, testserver.StopShared) }

// value100 is the 100-byte value the byte-valued groups store.
var value100 = bytes.Repeat([]byte("v"), 100)

// keyNames returns n keys "k:0" ... "k:<n-1>" and the same keys with the
// Cache's default prefix ("yokedcache:k:0" ...), as the backends store
// them.
func keyNames(n int) (keys, stored []string) {
	keys, stored = make([]string, n), make([]string, n)
	for i := range n {
		keys[i] = fmt.Sprint("k:", i)
		stored[i] = "yokedcache:" + keys[i]
	}
	return keys, stored
}
