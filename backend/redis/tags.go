package redis

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/redis/rueidis"
	"golang.org/x/sync/errgroup"
)

const (
	clockRefresh = time.Minute
	unlinkBatch  = 512
	// checkChunk members are checked and unlinked per pipeline, with
	// checkInFlight pipelines in flight: the client builds and parses
	// some while the server works on others.
	checkChunk    = 1250
	checkInFlight = 8
)

// serverNowMillis is the estimated server time in Unix milliseconds.
func (s *Store) serverNowMillis() int64 { return time.Now().UnixMilli() + s.offset.Load() }

// trimBefore is the bound below which index members count as expired
// ("(ms" for ZREMRANGEBYSCORE): the estimated server time less a second,
// so an error in the clock estimate never drops a live member. Members
// that expired within the second are read once more and found missing.
func (s *Store) trimBefore() string {
	return "(" + strconv.FormatInt(s.serverNowMillis()-1000, 10)
}

// expiryAt returns the absolute expiry (server ms) of a tagged entry
// written now with ttl: the entry gets it with PXAT and its tags' indexes
// as its score, so the indexes drop it exactly when it expires.
func (s *Store) expiryAt(ttl time.Duration) int64 {
	return s.serverNowMillis() + ttlMillis(ttl)
}

// syncClock estimates the server clock's offset from ours when it is
// unknown or older than clockRefresh, by writing a probe key next to key
// (under the same prefix, so the ACL allows it) and reading its
// PEXPIRETIME. Tags need it: tagged entries expire at an absolute server
// time (PXAT) that the tag index records, and the index is trimmed by
// server time.
func (s *Store) syncClock(ctx context.Context, key string) error {
	last := s.offsetAt.Load()
	if last != 0 && time.Since(time.Unix(0, last)) < clockRefresh {
		return nil
	}
	if last != 0 {
		if !s.clockMu.TryLock() {
			return nil // someone refreshes; the old estimate is fine
		}
	} else {
		s.clockMu.Lock()
	}
	defer s.clockMu.Unlock()
	if s.offsetAt.Load() != last {
		return nil
	}
	probe := key + "\xffclock"
	const probeTTL = 600_000
	t0 := time.Now()
	res := s.c.DoMulti(ctx,
		s.c.B().Set().Key(probe).Value("1").PxMilliseconds(probeTTL).Build(),
		s.c.B().Pexpiretime().Key(probe).Build(),
		s.c.B().Unlink().Key(probe).Build())
	t1 := time.Now()
	exp, err := res[1].AsInt64()
	if err == nil {
		err = res[0].Error()
	}
	if err != nil {
		if last != 0 {
			return nil // keep the old estimate
		}
		if re, ok := rueidis.IsRedisErr(err); ok && strings.Contains(strings.ToLower(re.Error()), "unknown command") {
			s.legacy.Store(true)
			s.offsetAt.Store(time.Now().UnixNano())
			s.log.Warn("redis: server lacks PEXPIRETIME (Redis < 7.0): tags are unsupported")
			return nil
		}
		return s.wrapErr(err)
	}
	mid := (t0.UnixNano() + t1.UnixNano()) / 2 / int64(time.Millisecond)
	s.offset.Store(exp - probeTTL - mid)
	s.offsetAt.Store(time.Now().UnixNano())
	return nil
}

// InvalidateTags deletes every entry that carries any of tags and returns
// how many it deleted. The first round trip trims each tag's indexes of
// expired members and reads them (ZRANGE of the small and large index,
// SMEMBERS of the persistent set); then, in chunks with several in
// flight, it reads the members' stored tag lists (MGET of small values,
// GETRANGE of the head of large ones) and UNLINKs, in multi-key batches,
// the members whose current value still carries one of tags. A member
// re-set without the tag, deleted or expired is left alone. Last, the
// persistent sets lose the members seen (deleted or no longer theirs).
func (s *Store) InvalidateTags(ctx context.Context, tags []string) (int64, error) {
	if err := s.check(); err != nil {
		return 0, err
	}
	if len(tags) == 0 {
		return 0, nil
	}
	if err := s.syncClock(ctx, tags[0]); err != nil {
		return 0, err
	}
	if s.legacy.Load() {
		return 0, errLegacyTags
	}
	now := s.trimBefore()
	cmds := make(rueidis.Commands, 0, 5*len(tags))
	for _, t := range tags {
		for _, ik := range []string{t, largeIndexKey(t)} {
			cmds = append(cmds,
				s.c.B().Zremrangebyscore().Key(ik).Min("-inf").Max(now).Build(),
				s.c.B().Zrange().Key(ik).Min("0").Max("-1").Build())
		}
		cmds = append(cmds, s.c.B().Smembers().Key(persistentTagKey(t)).Build())
	}
	res := s.c.DoMulti(ctx, cmds...)
	lists := make([][]string, 0, 3*len(tags)) // small, large, persistent per tag
	sources := 0
	for i := range tags {
		for j, r := range res[5*i : 5*i+5] {
			if j == 0 || j == 2 {
				if err := r.Error(); err != nil {
					return 0, s.wrapErr(err)
				}
				continue
			}
			ks, err := r.AsStrSlice()
			if err != nil {
				return 0, s.wrapErr(err)
			}
			lists = append(lists, ks)
			if len(ks) > 0 {
				sources++
			}
		}
	}
	var small, large []string
	if sources <= 1 {
		// The common case, one tag with one kind of member: no dedupe.
		for i, ks := range lists {
			switch {
			case len(ks) == 0:
			case i%3 == 0:
				small = ks
			default:
				large = ks
			}
		}
	} else {
		seen := make(map[string]struct{})
		for i, ks := range lists {
			for _, k := range ks {
				if _, ok := seen[k]; ok {
					continue
				}
				seen[k] = struct{}{}
				if i%3 == 0 {
					small = append(small, k)
				} else {
					large = append(large, k)
				}
			}
		}
	}
	var (
		total atomic.Int64
		g     errgroup.Group
	)
	g.SetLimit(checkInFlight)
	for _, part := range []struct {
		keys  []string
		whole bool
	}{{small, true}, {large, false}} {
		for lo := 0; lo < len(part.keys); lo += checkChunk {
			chunk := part.keys[lo:min(lo+checkChunk, len(part.keys))]
			g.Go(func() error {
				n, err := s.checkAndUnlink(ctx, chunk, part.whole, tags)
				total.Add(n)
				return err
			})
		}
	}
	if err := g.Wait(); err != nil {
		return total.Load(), err
	}
	var cleanup rueidis.Commands
	for i, t := range tags {
		if ps := lists[3*i+2]; len(ps) > 0 {
			cleanup = append(cleanup, s.c.B().Srem().Key(persistentTagKey(t)).Member(ps...).Build())
		}
	}
	return total.Load(), s.doAll(ctx, cleanup)
}

// checkAndUnlink deletes those of keys whose stored value carries any of
// tags and returns how many it deleted. whole: read whole values (MGET,
// for small values; per slot on Cluster); otherwise the head of each
// (GETRANGE), and again in full where a tag list is longer than the head.
func (s *Store) checkAndUnlink(ctx context.Context, keys []string, whole bool, tags []string) (int64, error) {
	heads, err := s.readHeads(ctx, keys, whole)
	if err != nil {
		return 0, err
	}
	victims := make([]string, 0, len(keys))
	var longer []int
	var needs []int
	for i, h := range heads {
		list, need := headTags(h)
		if need > 0 {
			longer, needs = append(longer, i), append(needs, need)
			continue
		}
		if list != "" && listHasAny(list, tags) {
			victims = append(victims, keys[i])
		}
	}
	if len(longer) > 0 {
		cmds := make(rueidis.Commands, len(longer))
		for j, i := range longer {
			cmds[j] = s.c.B().Getrange().Key(keys[i]).Start(0).End(int64(needs[j] - 1)).Build()
		}
		for j, r := range s.c.DoMulti(ctx, cmds...) {
			h, err := r.ToString()
			if err != nil {
				return 0, s.wrapErr(err)
			}
			if list, need := headTags(h); need == 0 && listHasAny(list, tags) {
				victims = append(victims, keys[longer[j]])
			}
		}
	}
	return s.unlink(ctx, victims)
}

// readHeads returns the stored bytes of keys ("" for a missing key),
// aliasing the replies: whole values with MGET when whole, else the first
// headRead bytes of each with GETRANGE.
func (s *Store) readHeads(ctx context.Context, keys []string, whole bool) ([]string, error) {
	out := make([]string, len(keys))
	if !whole {
		cmds := make(rueidis.Commands, len(keys))
		for i, k := range keys {
			cmds[i] = s.c.B().Getrange().Key(k).Start(0).End(headRead - 1).Build()
		}
		for i, r := range s.c.DoMulti(ctx, cmds...) {
			b, err := r.ToString()
			if err != nil {
				return nil, s.wrapErr(err)
			}
			out[i] = b
		}
		return out, nil
	}
	var groups [][]int
	if s.cluster {
		groups = groupBySlot(keys)
	}
	n := len(groups)
	if !s.cluster {
		n = (len(keys) + unlinkBatch - 1) / unlinkBatch
	}
	cmds := make(rueidis.Commands, n)
	for gi := range cmds {
		if !s.cluster {
			cmds[gi] = s.c.B().Mget().Key(keys[gi*unlinkBatch : min((gi+1)*unlinkBatch, len(keys))]...).Build()
			continue
		}
		g := groups[gi]
		ks := make([]string, len(g))
		for j, i := range g {
			ks[j] = keys[i]
		}
		cmds[gi] = s.c.B().Mget().Key(ks...).Build()
	}
	for gi, r := range s.c.DoMulti(ctx, cmds...) {
		arr, err := r.ToArray()
		if err != nil {
			return nil, s.wrapErr(err)
		}
		want := len(arr)
		if s.cluster {
			want = len(groups[gi])
		} else {
			want = min((gi+1)*unlinkBatch, len(keys)) - gi*unlinkBatch
		}
		if len(arr) != want {
			return nil, fmt.Errorf("redis: MGET returned %d values for %d keys", len(arr), want)
		}
		for j := range arr {
			if arr[j].IsNil() {
				continue
			}
			b, err := arr[j].ToString()
			if err != nil {
				return nil, s.wrapErr(err)
			}
			if s.cluster {
				out[groups[gi][j]] = b
			} else {
				out[gi*unlinkBatch+j] = b
			}
		}
	}
	return out, nil
}

// unlink deletes keys with multi-key UNLINKs of at most unlinkBatch keys
// (one hash slot each on Cluster), in one pipeline, and returns how many
// existed.
func (s *Store) unlink(ctx context.Context, keys []string) (int64, error) {
	var cmds rueidis.Commands
	add := func(ks []string) {
		for len(ks) > 0 {
			n := min(len(ks), unlinkBatch)
			cmds = append(cmds, s.c.B().Unlink().Key(ks[:n]...).Build())
			ks = ks[n:]
		}
	}
	if s.cluster {
		for _, g := range groupBySlot(keys) {
			ks := make([]string, len(g))
			for j, i := range g {
				ks[j] = keys[i]
			}
			add(ks)
		}
	} else {
		add(keys)
	}
	var total int64
	var firstErr error
	for _, r := range s.c.DoMulti(ctx, cmds...) {
		n, err := r.AsInt64()
		if err != nil {
			if firstErr == nil {
				firstErr = s.wrapErr(err)
			}
			continue
		}
		total += n
	}
	return total, firstErr
}
