package sqlite_test

import (
	"bytes"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/yokedcache/yokedcache/backend"
	"github.com/yokedcache/yokedcache/backend/sqlite"
)

// BenchmarkKeyCheck is the A/B benchmark of the per-row check on
// Store.Get (file database, 1000 keys):
//
//   - "on": Store.Get as built (reads the value, with its checksum in
//     front, and the expiry; verifies the CRC-32C of key and value);
//
//   - "off": the same with the check turned off by the unexported knob
//     (the Go side of the check);
//
//   - "v1": the previous Get, emulated: the version 1 query (value and
//     expiry only) on the same database, prepared, no check;
//
//   - "interleaved": the three in rotating blocks of 64 Gets inside one
//     run, reporting the ratios of their mean times (on/v1 is the whole
//     cost of the check, on/off its Go side), which a busy machine
//     disturbs much less than separate runs.
//
//     go test -run '^$' -bench BenchmarkKeyCheck -count 6 ./backend/sqlite/
func BenchmarkKeyCheck(b *testing.B) {
	for _, size := range []int{100, 16 << 10} {
		b.Run(fmt.Sprintf("value=%d", size), func(b *testing.B) {
			s, err := sqlite.New(sqlite.Options{Path: filepath.Join(b.TempDir(), "cache.db"), Logger: quiet(), CleanupInterval: -1})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			val := bytes.Repeat([]byte("v"), size)
			keys := make([]string, 1000)
			for i := range keys {
				keys[i] = fmt.Sprintf("bench:key:%d", i)
				if err := s.Set(ctx, keys[i], val, backend.SetOptions{TTL: time.Hour}); err != nil {
					b.Fatal(err)
				}
			}
			v1, err := s.DB().PrepareContext(ctx, `SELECT value, expires_at FROM yokedcache_entries WHERE key = ?`)
			if err != nil {
				b.Fatal(err)
			}
			defer v1.Close()
			gets := [3]func(b *testing.B, i int){
				func(b *testing.B, i int) { // on, off
					if _, err := s.Get(ctx, keys[i%len(keys)]); err != nil {
						b.Fatal(err)
					}
				},
				nil,
				func(b *testing.B, i int) { // v1
					var v []byte
					var exp int64
					if err := v1.QueryRowContext(ctx, keys[i%len(keys)]).Scan(&v, &exp); err != nil {
						b.Fatal(err)
					}
					if exp != 0 && exp <= time.Now().UnixNano() {
						b.Fatal("expired")
					}
				},
			}
			gets[1] = gets[0]
			names := [3]string{"on", "off", "v1"}
			for k, name := range names {
				b.Run(name, func(b *testing.B) {
					defer sqlite.SetKeyCheck(sqlite.SetKeyCheck(k != 1))
					i := 0
					for b.Loop() {
						gets[k](b, i)
						i++
					}
				})
			}
			b.Run("interleaved", func(b *testing.B) {
				defer sqlite.SetKeyCheck(sqlite.SetKeyCheck(true))
				var d [3]time.Duration
				var n [3]int
				i := 0
				for b.Loop() {
					k := (i / 64) % 3
					if i%64 == 0 {
						sqlite.SetKeyCheck(k != 1)
					}
					t0 := time.Now()
					gets[k](b, i)
					d[k] += time.Since(t0)
					n[k]++
					i++
				}
				if n[0] > 0 && n[1] > 0 && n[2] > 0 {
					mean := func(k int) float64 { return float64(d[k]) / float64(n[k]) }
					b.ReportMetric(mean(0)/mean(2), "on/v1")
					b.ReportMetric(mean(0)/mean(1), "on/off")
				}
			})
		})
	}
}

// BenchmarkOpenIntegrityCheck measures New+Close of a 100 000-entry
// database (100-byte values, about 20 MB) with each IntegrityCheck.
//
//	go test -run '^$' -bench BenchmarkOpenIntegrityCheck -benchtime 5x ./backend/sqlite/
func BenchmarkOpenIntegrityCheck(b *testing.B) {
	path := filepath.Join(b.TempDir(), "cache.db")
	s, err := sqlite.New(sqlite.Options{Path: path, Logger: quiet(), CleanupInterval: -1})
	if err != nil {
		b.Fatal(err)
	}
	val := bytes.Repeat([]byte("v"), 100)
	for i := 0; i < 100_000; i += 1000 {
		items := make([]backend.Item, 1000)
		for j := range items {
			items[j] = backend.Item{Key: fmt.Sprintf("bench:key:%d", i+j), Value: val, SetOptions: backend.SetOptions{TTL: time.Hour}}
		}
		if err := s.SetMany(ctx, items); err != nil {
			b.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		b.Fatal(err)
	}
	for _, c := range []sqlite.IntegrityCheck{sqlite.IntegrityOff, sqlite.IntegrityQuick, sqlite.IntegrityFull} {
		b.Run(string(c), func(b *testing.B) {
			for b.Loop() {
				s, err := sqlite.New(sqlite.Options{Path: path, Logger: quiet(), CleanupInterval: -1, IntegrityCheck: c})
				if err != nil {
					b.Fatal(err)
				}
				if err := s.Close(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkChecksum measures the row checksum alone, for a 13-byte key
// and a 100-byte value: the CPU cost the check adds to a Get.
func BenchmarkChecksum(b *testing.B) {
	val := make([]byte, 100)
	for b.Loop() {
		_ = sqlite.RowSum("bench:key:123", val)
	}
}
