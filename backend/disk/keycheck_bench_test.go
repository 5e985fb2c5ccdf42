package disk_test

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/yokedcache/yokedcache/backend"
	"github.com/yokedcache/yokedcache/backend/disk"
)

// BenchmarkKeyCheck is the A/B benchmark of the per-record check (the
// CRC-32C of key and record) on Store.Get, 1000 keys: "on" and "off" run
// one after the other (with -count they interleave), and
// "interleaved" alternates blocks of 256 Gets with the check on and off
// inside one run and reports the ratio of their times (on/off), which a
// busy machine disturbs much less than two separate runs.
//
//	go test -run '^$' -bench BenchmarkKeyCheck -count 6 ./backend/disk/
func BenchmarkKeyCheck(b *testing.B) {
	for _, size := range []int{100, 16 << 10} {
		b.Run(fmt.Sprintf("value=%d", size), func(b *testing.B) {
			s, err := disk.New(disk.Options{Directory: b.TempDir(), Logger: quietLogger(), CleanupInterval: -1})
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
			get := func(b *testing.B, i int) {
				if _, err := s.Get(ctx, keys[i%len(keys)]); err != nil {
					b.Fatal(err)
				}
			}
			for _, on := range []bool{true, false} {
				b.Run(map[bool]string{true: "on", false: "off"}[on], func(b *testing.B) {
					defer disk.SetKeyCheck(disk.SetKeyCheck(on))
					i := 0
					for b.Loop() {
						get(b, i)
						i++
					}
				})
			}
			b.Run("interleaved", func(b *testing.B) {
				defer disk.SetKeyCheck(disk.SetKeyCheck(true))
				var d [2]time.Duration
				var n [2]int
				i := 0
				for b.Loop() {
					k := (i / 256) % 2 // 0: on, 1: off
					if i%256 == 0 {
						disk.SetKeyCheck(k == 0)
					}
					t0 := time.Now()
					get(b, i)
					d[k] += time.Since(t0)
					n[k]++
					i++
				}
				if n[0] > 0 && n[1] > 0 {
					b.ReportMetric((float64(d[0])/float64(n[0]))/(float64(d[1])/float64(n[1])), "on/off")
				}
			})
		})
	}
}

// BenchmarkOpenIntegrityCheck measures New+Close of a 100 000-entry store
// (100-byte values) with each IntegrityCheck.
//
//	go test -run '^$' -bench BenchmarkOpenIntegrityCheck -benchtime 5x ./backend/disk/
func BenchmarkOpenIntegrityCheck(b *testing.B) {
	dir := b.TempDir()
	s, err := disk.New(disk.Options{Directory: dir, Logger: quietLogger(), CleanupInterval: -1})
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
	for _, c := range []disk.IntegrityCheck{disk.IntegrityOff, disk.IntegrityQuick, disk.IntegrityFull} {
		b.Run(string(c), func(b *testing.B) {
			for b.Loop() {
				s, err := disk.New(disk.Options{Directory: dir, Logger: quietLogger(), CleanupInterval: -1, IntegrityCheck: c})
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

// BenchmarkChecksum measures the record checksum alone, for a 13-byte key
// and the body of a 100-byte value: the whole CPU cost the check adds to a
// Get.
func BenchmarkChecksum(b *testing.B) {
	key, body := []byte("bench:key:123"), make([]byte, 1+8+1+100)
	for b.Loop() {
		_ = disk.RecordSum(key, body)
	}
}
