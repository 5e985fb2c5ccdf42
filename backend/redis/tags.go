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

// monoNanos is the time since New on the monotonic clock, in ns (never
// 0): stepping the wall clock (NTP, a resumed VM) does not move it.
func (s *Store) monoNanos() int64 { return int64(time.Since(s.base)) + 1 }

// serverNowMillis is the estimated server time in Unix milliseconds.
func (s *Store) serverNowMillis() int64 {
	return s.monoNanos()/int64(time.Millisecond) + s.offset.Load()
}

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
// (under the same prefix, so the ACL allows it; with a suffix unique to
// this Store, so two processes never read each other's) and reading its
// PEXPIRETIME. Tags need it: tagged entries expire at an absolute server
// time (PXAT) that the tag index records, and the index is trimmed by
// server time.
func (s *Store) syncClock(ctx context.Context, key string) error {
	last := s.offsetAt.Load()
	if last != 0 && s.monoNanos()-last < int64(clockRefresh) {
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
	probe := key + "\xffclock" + s.probeID
	const probeTTL = 600_000
	t0 := s.monoNanos()
	res := s.cl().DoMulti(ctx,
		s.cl().B().Set().Key(probe).Value("1").PxMilliseconds(probeTTL).Build(),
		s.cl().B().Pexpiretime().Key(probe).Build(),
		s.cl().B().Unlink().Key(probe).Build())
	t1 := s.monoNanos()
	exp, err := res[1].AsInt64()
	if err == nil {
		err = res[0].Error()
	}
	if err == nil && exp <= 0 {
		// The probe is this Store's own key, so only something else
		// deleting it (or a full server) gets here.
		err = fmt.Errorf("PEXPIRETIME of the clock probe returned %d", exp)
	}
	if err != nil {
		if last != 0 {
			return nil // keep the old estimate
		}
		if re, ok := rueidis.IsRedisErr(err); ok && strings.Contains(strings.ToLower(re.Error()), "unknown command") {
			s.legacy.Store(true)
			s.offsetAt.Store(s.monoNanos())
			s.log.Warn("redis: server lacks PEXPIRETIME (Redis < 7.0): tags are unsupported")
			return nil
		}
		return s.wrapErr(err)
	}
	mid := (t0 + t1) / 2 / int64(time.Millisecond)
	s.offset.Store(exp - probeTTL - mid)
	s.offsetAt.Store(s.monoNanos())
	return nil
}

// entryState is what a key holds now, as far as its tags are concerned.
type entryState struct {
	exp  int64    // PEXPIRETIME: absolute expiry in ms, -1 none, -2 missing
	tags []string // the tags stored with the value
	size int      // stored bytes
}

// stateCmds are the commands readState parses, to pipeline after others.
func (s *Store) stateCmds(key string) rueidis.Commands {
	return rueidis.Commands{
		s.cl().B().Pexpiretime().Key(key).Build(),
		s.cl().B().Getrange().Key(key).Start(0).End(headRead - 1).Build(),
		s.cl().B().Strlen().Key(key).Build(),
	}
}

// readState parses the replies to stateCmds(key), reading a tag list
// longer than the head in full. A value that is not a string has no tags.
func (s *Store) readState(ctx context.Context, key string, res []rueidis.RedisResult) (entryState, error) {
	exp, err := res[0].AsInt64()
	if err != nil {
		return entryState{}, s.wrapErr(err)
	}
	head, herr := res[1].ToString()
	size, serr := res[2].AsInt64()
	if exp == -2 || herr != nil || serr != nil {
		return entryState{exp: exp}, nil
	}
	list, need := headTags(head)
	if need > 0 {
		head, err = s.cl().Do(ctx, s.cl().B().Getrange().Key(key).Start(0).End(int64(need-1)).Build()).ToString()
		if err != nil {
			return entryState{}, s.wrapErr(err)
		}
		list, _ = headTags(head)
	}
	return entryState{exp: exp, tags: decodeTags(list), size: int(size)}, nil
}

// indexCmds record key, in state st, in the indexes of its tags: the
// persistent sets for an entry without expiry, else the sorted sets
// scored by its expiry. Recording a member twice changes nothing.
func (s *Store) indexCmds(key string, st entryState) rueidis.Commands {
	var cmds rueidis.Commands
	for _, t := range st.tags {
		switch {
		case st.exp == -1:
			cmds = append(cmds, s.cl().B().Sadd().Key(persistentTagKey(t)).Member(key).Build())
		case st.exp > 0:
			ik := indexKey(t, st.size)
			cmds = append(cmds,
				s.cl().B().Pexpireat().Key(ik).MillisecondsTimestamp(st.exp).Gt().Build(),
				s.cl().B().Zadd().Key(ik).Gt().ScoreMember().ScoreMember(float64(st.exp), key).Build(),
				s.cl().B().Pexpireat().Key(ik).MillisecondsTimestamp(st.exp).Nx().Build())
		}
	}
	return cmds
}

// recordCurrent reads key's state and records it in the indexes of its
// tags (Expire: the entry kept its tags but changed its expiry). An entry
// that now expires also leaves the persistent sets of its tags
// (forgetMemberships).
func (s *Store) recordCurrent(ctx context.Context, key string) error {
	st, err := s.readState(ctx, key, s.cl().DoMulti(ctx, s.stateCmds(key)...))
	if err != nil || len(st.tags) == 0 {
		return err
	}
	if err := s.doAll(ctx, s.indexCmds(key, st)); err != nil {
		return err
	}
	if st.exp > 0 {
		return s.forgetMemberships(ctx, key, st.tags)
	}
	s.persistentWritten(ctx, st.tags, 1)
	return nil
}

// forgetMemberships removes key from the persistent sets of tags (an
// entry without expiry that was deleted or now expires); see forget.
func (s *Store) forgetMemberships(ctx context.Context, key string, tags []string) error {
	return s.forget(ctx, []string{key}, [][]string{tags})
}

// forget removes each keys[i] from the persistent sets of tagsOf[i], then
// reads the keys again and records back those that meanwhile a Set stored
// without expiry and with tags: removing a member is otherwise racy, as a
// concurrent Set's SADD of a member still present changes nothing (its
// value is written before its SADD, so the read sees it). One pipeline,
// plus one more for the rare key recorded back.
func (s *Store) forget(ctx context.Context, keys []string, tagsOf [][]string) error {
	if len(keys) == 0 {
		return nil
	}
	var srems, reads rueidis.Commands
	for i, k := range keys {
		for _, t := range tagsOf[i] {
			srems = append(srems, s.cl().B().Srem().Key(persistentTagKey(t)).Member(k).Build())
		}
		reads = append(reads, s.stateCmds(k)...)
	}
	var res []rueidis.RedisResult
	if s.cluster {
		// A pipeline across nodes is not ordered: the removals must be
		// done before the reads start.
		if err := s.doAll(ctx, srems); err != nil {
			return err
		}
		res = s.cl().DoMulti(ctx, reads...)
	} else {
		res = s.cl().DoMulti(ctx, append(srems, reads...)...)
		for _, r := range res[:len(srems)] {
			if err := r.Error(); err != nil {
				return s.wrapErr(err)
			}
		}
		res = res[len(srems):]
	}
	var back rueidis.Commands
	for i, k := range keys {
		st, err := s.readState(ctx, k, res[3*i:3*i+3])
		if err != nil {
			return err
		}
		if st.exp == -1 {
			back = append(back, s.indexCmds(k, st)...)
		}
	}
	return s.doAll(ctx, back)
}

// InvalidateTags deletes every entry that carries any of tags and returns
// how many it deleted. The first round trip trims each tag's indexes of
// expired members and reads them (ZRANGE of the small and large index,
// SMEMBERS of the persistent set); then, in chunks with several in
// flight, it reads the members' stored tag lists (MGET of small values,
// GETRANGE of the head of large ones) and UNLINKs, in multi-key batches,
// the members whose current value still carries one of tags. A member
// re-set without the tag, deleted or expired is left alone. Last, once
// every chunk succeeded, the persistent sets forget the members seen
// (forget: removed, then re-read and recorded back if a Set stored them
// meanwhile). Nothing is removed from an index before the entries are
// gone, so a concurrent or failed invalidation leaves every live tagged
// entry findable.
//
// In compat mode (Options.Compat) it deletes the members of the tags'
// Python sets first (compatInvalidateTags).
func (s *Store) InvalidateTags(ctx context.Context, tags []string) (int64, error) {
	if err := s.check(ctx); err != nil {
		return 0, err
	}
	if len(tags) == 0 {
		return 0, nil
	}
	if s.compat {
		return s.compatInvalidateTags(ctx, tags)
	}
	return s.invalidateTagsNative(ctx, tags)
}

// invalidateTagsNative is InvalidateTags on the sorted-set layout.
func (s *Store) invalidateTagsNative(ctx context.Context, tags []string) (int64, error) {
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
				s.cl().B().Zremrangebyscore().Key(ik).Min("-inf").Max(now).Build(),
				s.cl().B().Zrange().Key(ik).Min("0").Max("-1").Build())
		}
		cmds = append(cmds, s.cl().B().Smembers().Key(persistentTagKey(t)).Build())
	}
	res := s.cl().DoMulti(ctx, cmds...)
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
	var keys []string
	var tagsOf [][]string
	for i, t := range tags {
		for _, k := range lists[3*i+2] {
			keys = append(keys, k)
			tagsOf = append(tagsOf, []string{t})
		}
	}
	return total.Load(), s.forget(ctx, keys, tagsOf)
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
			cmds[j] = s.cl().B().Getrange().Key(keys[i]).Start(0).End(int64(needs[j] - 1)).Build()
		}
		for j, r := range s.cl().DoMulti(ctx, cmds...) {
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
			cmds[i] = s.cl().B().Getrange().Key(k).Start(0).End(headRead - 1).Build()
		}
		for i, r := range s.cl().DoMulti(ctx, cmds...) {
			b, err := r.ToString()
			if err != nil {
				return nil, s.wrapErr(err)
			}
			out[i] = b
		}
		return out, nil
	}
	err := s.mget(ctx, keys, unlinkBatch, func(i int, m rueidis.RedisMessage) error {
		b, err := m.ToString()
		if err != nil {
			return s.wrapErr(err)
		}
		out[i] = b
		return nil
	})
	if err != nil {
		return nil, err
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
			cmds = append(cmds, s.cl().B().Unlink().Key(ks[:n]...).Build())
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
	var pub rueidis.Commands
	nc := len(cmds)
	if s.pub.Load() && len(keys) > 0 {
		pub = s.publishCmds(keys)
		if !s.cluster {
			cmds = append(cmds, pub...) // after the UNLINKs, in order
		}
	}
	res := s.cl().DoMulti(ctx, cmds...)
	var total int64
	var firstErr error
	for _, r := range res[nc:] {
		if err := r.Error(); err != nil && firstErr == nil {
			firstErr = s.wrapErr(err)
		}
	}
	if s.cluster && len(pub) > 0 {
		firstErr = s.doAll(ctx, pub)
	}
	for _, r := range res[:nc] {
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
