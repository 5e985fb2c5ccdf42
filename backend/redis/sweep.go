package redis

import (
	"context"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/redis/rueidis"
)

// The persistent tag sets (tag + 0xFF + "p") record entries without
// expiry. A member goes when its entry is deleted (Delete), gets an expiry
// (Expire) or is invalidated, but not when its key is simply re-set with a
// TTL, without tags or with other tags: Set does not read what it
// replaces. Two sweeps drop such stale members:
//
//   - on writes: every sweepEvery entries without expiry written under a
//     tag sample sweepSample members of its set (2 per entry written, at
//     most sweepMaxSample per call), so under writes a set stays within
//     about twice its live members;
//   - in the background: every sweepInterval, sweepIdleSample members of
//     each set this Store has written to (up to sweepMaxTags sets), so a
//     set that stops receiving writes still empties of stale members.
const (
	sweepEvery      = 16
	sweepSample     = 32
	sweepMaxSample  = 2048
	sweepIdleSample = 256
	sweepMaxTags    = 4096
	sweepInterval   = time.Minute
)

// sweeper is the background sweep's state.
type sweeper struct {
	mu     sync.Mutex
	tags   map[string]struct{}
	cancel context.CancelFunc
	done   chan struct{}
	closed bool
}

// sweepPersistent drops stale members of the persistent sets of tags: it
// samples up to sample random members of each (SRANDMEMBER) and forgets
// those whose entry is gone, now expires, or no longer carries the tag,
// race-safely (forget). It returns how many members it sampled. On
// writes each entry adds at most one member per tag and the sweeps sample
// sweepSample/sweepEvery = 2 per entry, so stale members go at least as
// fast as they come once half a set is stale.
func (s *Store) sweepPersistent(ctx context.Context, tags []string, sample int64) (int, error) {
	if s.compat {
		return s.prunePython(ctx, tags, sample) // tags are Python set keys
	}
	cmds := make(rueidis.Commands, len(tags))
	for i, t := range tags {
		cmds[i] = s.cl().B().Srandmember().Key(persistentTagKey(t)).Count(sample).Build()
	}
	var (
		members []string
		pairs   []tagMember
	)
	seen := make(map[string]bool)
	for i, r := range s.cl().DoMulti(ctx, cmds...) {
		ks, err := r.AsStrSlice()
		if err != nil {
			return 0, s.wrapErr(err)
		}
		for _, k := range ks {
			pairs = append(pairs, tagMember{tags[i], k})
			if !seen[k] {
				seen[k] = true
				members = append(members, k)
			}
		}
	}
	if len(members) == 0 {
		return 0, nil
	}
	cmds = cmds[:0]
	for _, k := range members {
		cmds = append(cmds, s.stateCmds(k)...)
	}
	res := s.cl().DoMulti(ctx, cmds...)
	states := make(map[string]entryState, len(members))
	for i, k := range members {
		st, err := s.readState(ctx, k, res[3*i:3*i+3])
		if err != nil {
			return 0, err
		}
		states[k] = st
	}
	var keys []string
	var tagsOf [][]string
	for _, p := range pairs {
		st := states[p.member]
		if st.exp == -1 && slices.Contains(st.tags, p.tag) {
			continue
		}
		keys = append(keys, p.member)
		tagsOf = append(tagsOf, []string{p.tag})
	}
	return len(pairs), s.forget(ctx, keys, tagsOf)
}

type tagMember struct{ tag, member string }

// persistentWritten counts n entries without expiry just added to the
// persistent sets of tags, samples those sets when the count passes a
// multiple of sweepEvery, and hands the tags to the background sweep.
// The write itself has succeeded: a failed sweep is logged.
func (s *Store) persistentWritten(ctx context.Context, tags []string, n int) {
	if len(tags) == 0 || n <= 0 {
		return
	}
	s.rememberSweepTags(tags)
	after := s.persistentWrites.Add(uint64(n))
	sweeps := after/sweepEvery - (after-uint64(n))/sweepEvery
	if sweeps == 0 {
		return
	}
	sample := min(int64(sweeps)*sweepSample, sweepMaxSample)
	if _, err := s.sweepPersistent(ctx, tags, sample); err != nil {
		s.log.Warn("redis: sweeping the tag sets of entries without expiry failed", "err", err)
	}
}

// rememberSweepTags adds tags to the background sweep, starting it on
// first use.
func (s *Store) rememberSweepTags(tags []string) {
	w := &s.sweep
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return
	}
	if w.tags == nil {
		w.tags = make(map[string]struct{})
		ctx, cancel := context.WithCancel(context.Background())
		w.cancel, w.done = cancel, make(chan struct{})
		go s.sweepLoop(ctx, w.done)
	}
	for _, t := range tags {
		if len(w.tags) >= sweepMaxTags {
			break
		}
		w.tags[t] = struct{}{}
	}
}

// sweepLoop runs sweepIdle every sweepInterval until ctx is cancelled.
func (s *Store) sweepLoop(ctx context.Context, done chan struct{}) {
	defer close(done)
	tick := time.NewTicker(sweepInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		sctx, cancel := context.WithTimeout(ctx, sweepInterval/2)
		if err := s.sweepIdle(sctx); err != nil && ctx.Err() == nil {
			s.log.Warn("redis: background sweep of the tag sets of entries without expiry failed", "err", err)
		}
		cancel()
	}
}

// sweepIdle samples sweepIdleSample members of each remembered set and
// drops the stale ones; a set found empty is forgotten.
func (s *Store) sweepIdle(ctx context.Context) error {
	w := &s.sweep
	w.mu.Lock()
	tags := slices.Sorted(maps.Keys(w.tags))
	w.mu.Unlock()
	for _, t := range tags {
		n, err := s.sweepPersistent(ctx, []string{t}, sweepIdleSample)
		if err != nil {
			return err
		}
		if n == 0 {
			w.mu.Lock()
			delete(w.tags, t)
			w.mu.Unlock()
		}
	}
	return nil
}

// stopSweep stops the background sweep and waits for it.
func (s *Store) stopSweep() {
	w := &s.sweep
	w.mu.Lock()
	w.closed = true
	cancel, done := w.cancel, w.done
	w.mu.Unlock()
	if cancel != nil {
		cancel()
		<-done
	}
}
