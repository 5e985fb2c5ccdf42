package disk_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/yokedcache/yokedcache/backend"
	"github.com/yokedcache/yokedcache/backend/disk"
	"github.com/yokedcache/yokedcache/internal/filetest"
	"github.com/yokedcache/yokedcache/yokedcachetest"
)

// campaignClock is the fake clock of the campaign, so that the expiry
// times in the populated file are the same in every run. The seed
// reproduces every flip's offset and mask; the file's page layout still
// varies a little between runs, because bbolt's map freelist hands out
// free pages in Go map order, so the counts (never the verdict) can
// differ by a few.
var campaignClock = yokedcachetest.NewClock(time.Unix(1_700_000_000, 0))

// campaignStep bounds one flip's open, reads and close.
const campaignStep = 2 * time.Minute

// campaignValue is key i's value: small ones, and every 37th over a page
// (an overflow page run).
func campaignValue(i int) []byte {
	if i%37 == 0 {
		return fmt.Appendf(nil, "big#%04d#%s", i, bytes.Repeat([]byte{byte('a' + i%26)}, 5000+i))
	}
	return valN(i)
}

type tally struct {
	flips, aimed                        int
	openCorrupt, openOther, quarantined int
	opened                              int
	ownValues, corruptMisses, plainMiss int
	plainMissOpened                     int
	otherErrs, wrongValues, panics      int
	damagedStores, healthMissing        int
}

func (c tally) String() string {
	return fmt.Sprintf("flips=%d (aimed at branch pages and leaf element tables: %d) | open refused ErrCorrupt=%d, other=%d, "+
		"quarantined on open=%d, opened with the data=%d | reads: own value=%d, corrupt miss=%d, plain miss=%d (of which in stores opened with their data: %d), other error=%d | "+
		"WRONG VALUES=%d, PANICS=%d | stores with damage seen=%d, of which health not degraded=%d",
		c.flips, c.aimed, c.openCorrupt, c.openOther, c.quarantined, c.opened, c.ownValues, c.corruptMisses, c.plainMiss, c.plainMissOpened,
		c.otherErrs, c.wrongValues, c.panics, c.damagedStores, c.healthMissing)
}

// TestCorruptionCampaign flips one seeded random byte in a copy of a
// populated store file per step, a quarter of them aimed at branch pages
// and the element tables of leaf pages, reopens it (the default quick
// check for three steps in four, full for the fourth) and reads every key
// with Get and GetMany: each read must be the key's own value or a miss
// matching ErrCorrupt, or the open quarantines the file (health degraded)
// or fails with ErrCorrupt. No wrong value, no panic, no step over
// campaignStep; health is degraded whenever damage was seen. make
// corrupt runs it with 1000 flips; YOKEDCACHE_CORRUPT_NOCHECK=1 turns the
// read checks off, as a control that must fail.
func TestCorruptionCampaign(t *testing.T) {
	const n = 1500
	baseDir := t.TempDir()
	s := open(t, disk.Options{Directory: baseDir, CleanupInterval: -1, Clock: campaignClock})
	for i := 0; i < n; i += 100 {
		var items []backend.Item
		for j := i; j < min(i+100, n); j++ {
			items = append(items, backend.Item{Key: keyN(j), Value: campaignValue(j),
				SetOptions: backend.SetOptions{TTL: time.Hour, Tags: []string{fmt.Sprint("t", j%5)}}})
		}
		must(t, s.SetMany(ctx, items))
	}
	for i := 0; i < n; i += 7 {
		must(t, s.Set(ctx, keyN(i), campaignValue(i), backend.SetOptions{TTL: time.Hour}))
	}
	must(t, s.Close())
	orig, err := os.ReadFile(filepath.Join(baseDir, disk.FileName))
	must(t, err)
	// bbolt's meta page holds the page size at offset 16 (after the page
	// header) + 8 (magic, version).
	ps := int(binary.NativeEndian.Uint32(orig[16+8:]))
	type region struct{ start, end int }
	var aimed []region
	for p := 2; (p+1)*ps <= len(orig); p++ {
		hdr := orig[p*ps:]
		flags := binary.NativeEndian.Uint16(hdr[8:])
		count := int(binary.NativeEndian.Uint16(hdr[10:]))
		switch flags {
		case 0x01: // branch: the whole page
			aimed = append(aimed, region{p * ps, (p + 1) * ps})
		case 0x02: // leaf: header and element table
			aimed = append(aimed, region{p * ps, p*ps + min(ps, 16+16*count)})
		}
	}
	if len(aimed) == 0 {
		t.Fatal("no branch or leaf pages found")
	}

	flips := filetest.CampaignFlips(t)
	if os.Getenv("YOKEDCACHE_CORRUPT_NOCHECK") == "1" {
		// The control: without the read checks the same flips must
		// produce wrong values, or the campaign proves nothing.
		defer disk.SetKeyCheck(disk.SetKeyCheck(false))
	}
	rng := rand.New(rand.NewPCG(filetest.CampaignSeed(t), 0xd15c))
	var c tally
	for step := range flips {
		b := bytes.Clone(orig)
		var off int
		if step%4 == 3 {
			r := aimed[rng.IntN(len(aimed))]
			off = r.start + rng.IntN(r.end-r.start)
			c.aimed++
		} else {
			off = rng.IntN(len(b))
		}
		b[off] ^= byte(1 + rng.IntN(255))
		c.flips++
		check := disk.IntegrityQuick
		if step%4 == 1 {
			check = disk.IntegrityFull
		}
		dir := filepath.Join(t.TempDir(), "flip")
		must(t, os.MkdirAll(dir, 0o700))
		must(t, os.WriteFile(filepath.Join(dir, disk.FileName), b, 0o600))
		done := make(chan error, 1)
		go func() { done <- campaignStepRun(dir, check, n, &c) }()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("flip %d (offset %d, page %d, check %s): %v", step, off, off/ps, check, err)
			}
		case <-time.After(campaignStep):
			t.Fatalf("flip %d (offset %d, page %d): step did not finish within %s", step, off, off/ps, campaignStep)
		}
		_ = os.RemoveAll(dir)
	}
	t.Logf("disk corruption campaign (seed %d): %s", filetest.CampaignSeed(t), c)
	if c.wrongValues > 0 || c.panics > 0 || c.healthMissing > 0 {
		t.Fatalf("campaign failed: %s", c)
	}
}

func campaignStepRun(dir string, check disk.IntegrityCheck, n int, c *tally) (err error) {
	defer func() {
		if r := recover(); r != nil {
			c.panics++
			err = fmt.Errorf("panic: %v", r)
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), campaignStep)
	defer cancel()
	s, err := disk.New(disk.Options{Directory: dir, Logger: quietLogger(), CleanupInterval: -1, IntegrityCheck: check, Clock: campaignClock})
	if err != nil {
		if errors.Is(err, backend.ErrCorrupt) {
			c.openCorrupt++
			return nil
		}
		c.openOther++
		return fmt.Errorf("open: %w (want success, quarantine or ErrCorrupt)", err)
	}
	defer s.Close()
	var errs []error
	h, _ := s.HealthDetails(ctx)
	if h.Details["quarantined"] != nil {
		c.quarantined++
		if h.Status == "healthy" {
			c.healthMissing++
			errs = append(errs, fmt.Errorf("quarantined on open but health is %+v", h))
		}
	} else {
		c.opened++
	}
	damaged := false
	for i := range n {
		got, err := s.Get(ctx, keyN(i))
		switch {
		case err == nil && bytes.Equal(got, campaignValue(i)):
			c.ownValues++
		case err == nil:
			c.wrongValues++
			errs = append(errs, fmt.Errorf("Get(%s) returned a wrong value (%d bytes: %.40q)", keyN(i), len(got), got))
		case errors.Is(err, backend.ErrCorrupt):
			c.corruptMisses++
			damaged = true
		case errors.Is(err, backend.ErrNotFound):
			c.plainMiss++
			if h.Details["quarantined"] == nil {
				c.plainMissOpened++
			}
		default:
			c.otherErrs++
			errs = append(errs, fmt.Errorf("Get(%s): %w (matches neither ErrCorrupt nor ErrNotFound)", keyN(i), err))
		}
	}
	keys := make([]string, n)
	for i := range n {
		keys[i] = keyN(i)
	}
	// Damage the single reads saw, or the batch reads and the scan see,
	// must show in health.
	damaged, wrong, healthMissing, more := filetest.ReadBack(ctx, s, keys, campaignValue, damaged)
	if damaged {
		c.damagedStores++
	}
	c.wrongValues += wrong
	if healthMissing {
		c.healthMissing++
	}
	errs = append(errs, more...)
	return errors.Join(errs...)
}
