package sqlite_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/yokedcache/yokedcache/backend"
	"github.com/yokedcache/yokedcache/backend/sqlite"
	"github.com/yokedcache/yokedcache/internal/filetest"
	"github.com/yokedcache/yokedcache/yokedcachetest"
)

// campaignClock is the fake clock of the campaign, so that the expiry
// times, and so the bytes of the populated file, are the same in every
// run: a seed reproduces a run exactly.
var campaignClock = yokedcachetest.NewClock(time.Unix(1_700_000_000, 0))

// campaignStep bounds one flip's open, reads and close.
const campaignStep = 2 * time.Minute

// campaignValue is key i's value: small ones, and every 37th over a page
// (an overflow chain).
func campaignValue(i int) []byte {
	if i%37 == 0 {
		return fmt.Appendf(nil, "big#%04d#%s", i, bytes.Repeat([]byte{byte('a' + i%26)}, 3000+i))
	}
	return valN(i)
}

// tally is what a campaign saw.
type tally struct {
	flips, aimed                       int
	openCorrupt, openOther, opened     int
	ownValues, corruptMisses, silentMs int
	storesWithPlainMiss                int
	otherErrs, wrongValues, panics     int
	damagedStores, unhealthyMissing    int
}

func (c tally) String() string {
	return fmt.Sprintf("flips=%d (aimed at index/interior pages: %d) | open refused ErrCorrupt=%d, other=%d, opened=%d | "+
		"reads: own value=%d, corrupt miss=%d, plain miss=%d (in %d stores), other error=%d | WRONG VALUES=%d, PANICS=%d | "+
		"stores with damage seen=%d, of which health not degraded=%d",
		c.flips, c.aimed, c.openCorrupt, c.openOther, c.opened, c.ownValues, c.corruptMisses, c.silentMs, c.storesWithPlainMiss,
		c.otherErrs, c.wrongValues, c.panics, c.damagedStores, c.unhealthyMissing)
}

// TestCorruptionCampaign flips one seeded random byte in a copy of a
// populated database per step, a quarter of them aimed at index and
// interior b-tree pages, reopens it (integrity check off for three steps
// in four, full for the fourth) and reads every key with Get and
// GetMany: each read must be the key's own value or a miss matching
// ErrCorrupt (plain misses, from an index that lost a key, are counted);
// an open may fail only with ErrCorrupt (other refusals are counted). No
// wrong value, no panic, no step over campaignStep; health is degraded
// whenever a read saw damage. make corrupt runs it with 1000 flips;
// YOKEDCACHE_CORRUPT_NOCHECK=1 turns the read checks off, as a control
// that must fail.
func TestCorruptionCampaign(t *testing.T) {
	const n = 1500
	base := filepath.Join(t.TempDir(), "base.db")
	s := newStore(t, sqlite.Options{Path: base, CleanupInterval: -1, Clock: campaignClock})
	for i := 0; i < n; i += 100 {
		var items []backend.Item
		for j := i; j < min(i+100, n); j++ {
			items = append(items, backend.Item{Key: keyN(j), Value: campaignValue(j), SetOptions: backend.SetOptions{TTL: time.Hour}})
		}
		must(t, s.SetMany(ctx, items))
	}
	// Some churn, so that free pages and rewritten rows exist.
	for i := 0; i < n; i += 7 {
		must(t, s.Set(ctx, keyN(i), campaignValue(i), backend.SetOptions{TTL: time.Hour}))
	}
	must(t, s.Close())
	orig, err := os.ReadFile(base)
	must(t, err)
	ps := int(orig[16])<<8 | int(orig[17])
	if ps == 1 {
		ps = 65536
	}
	var aimedPages []int
	for p := 0; p*ps < len(orig); p++ {
		hdr := p * ps
		if p == 0 {
			hdr = 100
		}
		switch orig[hdr] {
		case 0x02, 0x05, 0x0a: // interior index, interior table, leaf index
			aimedPages = append(aimedPages, p)
		}
	}
	if len(aimedPages) == 0 {
		t.Fatal("no index or interior pages found")
	}

	flips := filetest.CampaignFlips(t)
	if os.Getenv("YOKEDCACHE_CORRUPT_NOCHECK") == "1" {
		// The control: without the read checks the same flips must
		// produce wrong values, or the campaign proves nothing.
		defer sqlite.SetKeyCheck(sqlite.SetKeyCheck(false))
	}
	rng := rand.New(rand.NewPCG(filetest.CampaignSeed(t), 0x5eed))
	var c tally
	dir := t.TempDir()
	for step := range flips {
		b := bytes.Clone(orig)
		var off int
		if step%4 == 3 {
			p := aimedPages[rng.IntN(len(aimedPages))]
			start := p * ps
			if p == 0 {
				start = 100
			}
			off = start + rng.IntN((p+1)*ps-start)
			c.aimed++
		} else {
			off = rng.IntN(len(b))
		}
		b[off] ^= byte(1 + rng.IntN(255))
		c.flips++
		check := sqlite.IntegrityOff
		if step%4 == 1 {
			check = sqlite.IntegrityFull
		}
		path := filepath.Join(dir, fmt.Sprintf("flip-%d.db", step))
		must(t, os.WriteFile(path, b, 0o600))
		done := make(chan error, 1)
		go func() { done <- campaignStepRun(path, check, n, &c) }()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("flip %d (offset %d, page %d, check %s): %v", step, off, off/ps, check, err)
			}
		case <-time.After(campaignStep):
			t.Fatalf("flip %d (offset %d, page %d): step did not finish within %s\n%s", step, off, off/ps, campaignStep, c)
		}
		for _, suffix := range []string{"", "-wal", "-shm"} {
			_ = os.Remove(path + suffix)
		}
		matches, _ := filepath.Glob(path + ".corrupt-*")
		for _, m := range matches {
			_ = os.Remove(m)
		}
	}
	t.Logf("sqlite corruption campaign (seed %d): %s", filetest.CampaignSeed(t), c)
	if c.wrongValues > 0 || c.panics > 0 || c.unhealthyMissing > 0 {
		t.Fatalf("campaign failed: %s", c)
	}
}

// campaignStepRun opens path, reads every key and checks the results,
// adding to c (only this goroutine writes c while it runs).
func campaignStepRun(path string, check sqlite.IntegrityCheck, n int, c *tally) (err error) {
	defer func() {
		if r := recover(); r != nil {
			c.panics++
			err = fmt.Errorf("panic: %v", r)
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), campaignStep)
	defer cancel()
	s, err := sqlite.New(sqlite.Options{Path: path, Logger: quiet(), CleanupInterval: -1, IntegrityCheck: check, Clock: campaignClock})
	if err != nil {
		if errors.Is(err, backend.ErrCorrupt) {
			c.openCorrupt++
			return nil
		}
		c.openOther++
		return nil
	}
	defer s.Close()
	c.opened++
	damaged := false
	var errs []error
	plain := c.silentMs
	defer func() {
		if c.silentMs > plain {
			c.storesWithPlainMiss++
		}
	}()
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
			c.silentMs++
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
		c.unhealthyMissing++
	}
	errs = append(errs, more...)
	return errors.Join(errs...)
}
