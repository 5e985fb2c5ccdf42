package bench_test

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/yokedcache/yokedcache"
	"github.com/yokedcache/yokedcache/bench/internal/rounds"
	"github.com/yokedcache/yokedcache/internal/testserver"
)

// Seal group: Get and Set of signed (Config.SigningKeys, HMAC-SHA-256) and
// encrypted (Config.EncryptionKeys, AES-256-GCM) values against the same
// Cache without protection, on memory and on Redis, for 100 B, 4 KiB and
// 64 KiB values.
//
//	go test -run '^$' -bench 'Seal' -benchtime 1x -slice 300ms -rounds 7
func BenchmarkSeal(b *testing.B) {
	ctx := b.Context()
	signKey := bytes.Repeat([]byte{1}, 32)
	encKey := bytes.Repeat([]byte{2}, 32)
	backends := []struct {
		name string
		cfg  func() yokedcache.Config
	}{
		{"memory", func() yokedcache.Config { return yokedcache.Config{} }},
		{"redis", func() yokedcache.Config {
			return yokedcache.Config{RedisURL: testserver.SharedRedis(b).URL()}
		}},
	}
	for _, be := range backends {
		for _, size := range []int{100, 4 << 10, 64 << 10} {
			b.Run(fmt.Sprintf("%s/%dB", be.name, size), func(b *testing.B) {
				val := bytes.Repeat([]byte{'v'}, size)
				const keys = 256
				mk := func(prefix string, mod func(*yokedcache.Config)) *yokedcache.Cache {
					cfg := be.cfg()
					cfg.KeyPrefix = prefix
					mod(&cfg)
					c, err := yokedcache.New(cfg)
					if err != nil {
						b.Fatal(err)
					}
					b.Cleanup(func() { _ = c.Flush(ctx); c.Close() })
					for i := range keys {
						if err := c.Set(ctx, fmt.Sprint("k", i), val); err != nil {
							b.Fatal(err)
						}
					}
					return c
				}
				plain := mk("seal-none", func(*yokedcache.Config) {})
				signed := mk("seal-sign", func(c *yokedcache.Config) { c.SigningKeys = [][]byte{signKey} })
				enc := mk("seal-enc", func(c *yokedcache.Config) { c.EncryptionKeys = [][]byte{encKey} })
				get := func(c *yokedcache.Cache) func(w *rounds.Worker) error {
					return func(w *rounds.Worker) error {
						_, err := c.GetBytes(ctx, fmt.Sprint("k", w.Intn(keys)))
						return err
					}
				}
				set := func(c *yokedcache.Cache) func(w *rounds.Worker) error {
					return func(w *rounds.Worker) error {
						return c.Set(ctx, fmt.Sprint("k", w.Intn(keys)), val)
					}
				}
				notes := []string{
					fmt.Sprintf("MB/s = %d / (ns/op) × 1000; ratio < 1: the protected Cache is slower by 1/ratio", size),
				}
				b.Run("Get", func(b *testing.B) {
					rounds.Run(b, rounds.Group{
						Title:      fmt.Sprintf("Get %d B on %s: unprotected vs signed vs encrypted", size, be.name),
						Notes:      notes,
						Contenders: []rounds.Contender{{Name: "Get plain", Op: get(plain)}, {Name: "Get signed", Op: get(signed)}, {Name: "Get encrypted", Op: get(enc)}},
					})
				})
				b.Run("Set", func(b *testing.B) {
					rounds.Run(b, rounds.Group{
						Title:      fmt.Sprintf("Set %d B on %s: unprotected vs signed vs encrypted", size, be.name),
						Notes:      notes,
						Contenders: []rounds.Contender{{Name: "Set plain", Op: set(plain)}, {Name: "Set signed", Op: set(signed)}, {Name: "Set encrypted", Op: set(enc)}},
					})
				})
			})
		}
	}
}
