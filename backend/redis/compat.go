package redis

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/redis/rueidis"

	"github.com/yokedcache/yokedcache/backend"
	"github.com/yokedcache/yokedcache/internal/envelope"
	"github.com/yokedcache/yokedcache/internal/pywire"
)

// Compat selects a stored layout shared with another implementation of
// YokedCache on the same Redis.
type Compat string

// The layouts.
const (
	// CompatNone is this package's own layout (see the package doc, "Tags").
	CompatNone Compat = ""
	// CompatPython is the layout of the Python original, YokedCache 1.0.2:
	// values in its envelope (JSON), tags in a Redis set per tag under
	// "<prefix>:tags:<tag>", keys cleaned as Python cleans them. See the
	// package doc ("Python compatibility") and docs/python.md.
	CompatPython Compat = "python"
)

// compatState is the Store's compat-mode state.
type compatState struct {
	compat bool // Options.Compat == CompatPython
	// pickles counts refused pickled values; pickleLogged: the first was
	// logged.
	pickles      atomic.Int64
	pickleLogged atomic.Bool
	// pyTaggedWrites counts tagged entries written, to prune every
	// pyPruneEvery.
	pyTaggedWrites atomic.Uint64
}

// parseCompat reads the URL parameter and Options value.
func parseCompat(s string) (Compat, error) {
	switch strings.ToLower(s) {
	case "", "none", "go":
		return CompatNone, nil
	case "python":
		return CompatPython, nil
	}
	return CompatNone, fmt.Errorf("compat %q is not one of python, none", s)
}

// The Python original's key rules (scenarios.md §2.6): spaces become '_',
// '\n' and '\r' are dropped, and a key longer than pyMaxKey characters
// keeps its first pyKeyHead characters, then '#' and the SHA-256 (hex) of
// the rest.
const (
	pyMaxKey  = 250
	pyKeyHead = 100
	// pyTagTTLExtra is added to the entry's TTL to expire its tag sets
	// (Python: EXPIRE <set> ttl+60 on every tagged write).
	pyTagTTLExtra = 60 * time.Second
	// Every pyPruneEvery tagged writes, pyPruneSample members of each tag
	// set written are checked and the dead ones removed (prunePython).
	pyPruneEvery  = 16
	pyPruneSample = 32
	pyPruneMaxSet = 64
	// pyTagInfix is how the Cache spells a tag identifier
	// (prefix ":\xfftag:" name).
	pyTagInfix = ":\xfftag:"
)

var pyCleaner = strings.NewReplacer(" ", "_", "\n", "", "\r", "")

// pyClean applies the Python original's key cleaning to a full key.
func pyClean(k string) string {
	if !strings.ContainsAny(k, " \n\r") && (len(k) <= pyMaxKey || utf8.RuneCountInString(k) <= pyMaxKey) {
		return k
	}
	if strings.ContainsAny(k, " \n\r") {
		k = pyCleaner.Replace(k)
	}
	if utf8.RuneCountInString(k) > pyMaxKey {
		i, n := 0, 0
		for i = range k {
			if n == pyKeyHead {
				break
			}
			n++
		}
		sum := sha256.Sum256([]byte(k[i:]))
		k = k[:i] + "#" + hex.EncodeToString(sum[:])
	}
	return k
}

// pyKey is the stored key for key: cleaned as Python cleans it in compat
// mode (internal keys, which hold 0xFF, are never cleaned).
func (s *Store) pyKey(key string) string {
	if !s.compat || backend.IsInternalKey(key) {
		return key
	}
	return pyClean(pyUnprefix(key))
}

// pyUnprefix applies the Python original's rule that a key already
// starting with "<prefix>:" is not prefixed again: the Cache always
// prefixes, so its "P:P:rest" is Python's "P:rest". P is the first ':'
// segment, so with a key prefix that itself contains ':' the rule is not
// applied (docs/python.md).
func pyUnprefix(key string) string {
	i := strings.IndexByte(key, ':')
	if i <= 0 {
		return key
	}
	if rest := key[i+1:]; strings.HasPrefix(rest, key[:i+1]) {
		return rest
	}
	return key
}

// pyKeys maps keys with pyKey, copying only when one changes.
func (s *Store) pyKeys(keys []string) []string {
	if !s.compat {
		return keys
	}
	var out []string
	for i, k := range keys {
		if c := s.pyKey(k); c != k {
			if out == nil {
				out = slices.Clone(keys)
			}
			out[i] = c
		}
	}
	if out == nil {
		return keys
	}
	return out
}

// pyTagKey is the Python tag set of a Cache tag identifier
// ("<prefix>:\xfftag:<name>" → "<prefix>:tags:<name>", cleaned). An
// identifier not built by the Cache names the set itself.
func pyTagKey(id string) string {
	i := strings.Index(id, pyTagInfix)
	if i < 0 {
		return id
	}
	return pyClean(id[:i] + ":tags:" + id[i+len(pyTagInfix):])
}

// pickleError is a pickled Python value: a miss that matches ErrCorrupt.
type pickleError struct{ key string }

func (e *pickleError) Error() string {
	return fmt.Sprintf("redis: %q holds a pickle written by a Python YokedCache configured for pickle serialization; compat=python never unpickles: %v", e.key, backend.ErrCorrupt)
}

func (e *pickleError) Unwrap() []error {
	return []error{backend.ErrCorrupt, backend.ErrNotFound, pywire.ErrPickle}
}

// refusePickle counts a refused pickle and logs the first one. key may
// live in the Cache's pooled buffer: it is copied before it is kept.
func (s *Store) refusePickle(key string) error {
	key = strings.Clone(key)
	s.pickles.Add(1)
	if s.pickleLogged.CompareAndSwap(false, true) {
		s.log.Warn("redis: compat=python: refusing a pickled value, written by a Python YokedCache process configured for pickle serialization (SerializationMethod.PICKLE); reads of pickled values are misses, counted in Stats Extra[\"python_pickle_refused\"]; this is logged once",
			"key", key)
	}
	return &pickleError{key: key}
}

// fromPython turns stored bytes (the tag frame removed) into what the
// Cache reads: a yokedcache envelope. Go envelopes pass unchanged, Python
// JSON and msgpack values (enveloped or bare JSON) are re-wrapped, a
// stored null is a miss (Python's get cannot tell it from one), a pickle
// is a miss matching ErrCorrupt (refusePickle). Bytes Python could not read
// either pass unchanged: the Cache reports them as corrupt.
func (s *Store) fromPython(key string, b []byte) ([]byte, error) {
	if len(b) > 0 && b[0] == codecMagic {
		return b, nil
	}
	v, err := pywire.Decode(b)
	switch {
	case err == nil:
		return envelope.Encode(v.Codec, v.Payload, nil, envelope.EncodeOptions{Threshold: -1})
	case errors.Is(err, pywire.ErrNull):
		return nil, fmt.Errorf("redis: %q holds null, a miss to Python: %w", key, backend.ErrNotFound)
	case errors.Is(err, pywire.ErrPickle):
		return nil, s.refusePickle(key)
	}
	return b, nil
}

// codecMagic is the first byte of a yokedcache envelope.
const codecMagic = 0xCB

// toPython turns the Cache's envelope into the bytes Python writes for the
// same value (pywire.Encode). Bytes that are not an envelope (a direct
// caller of the backend) are stored as given.
func toPython(value []byte) ([]byte, error) {
	env, err := envelope.Decode(value, 0)
	if err != nil {
		if needsHead(value) {
			return storedValue(value, nil), nil
		}
		return value, nil
	}
	out, err := pywire.Encode(env.Codec, env.Payload)
	switch {
	case errors.Is(err, pywire.ErrUnsupportedCodec):
		return nil, fmt.Errorf("redis: compat=python stores JSON, msgpack, string and []byte values: %w: %w", err, backend.ErrUnsupported)
	case err != nil:
		return nil, fmt.Errorf("redis: compat=python: %w: %w", err, backend.ErrInvalidValue)
	}
	return out, nil
}

// compatGet is Get in compat mode.
func (s *Store) compatGet(ctx context.Context, key string) ([]byte, error) {
	key = s.pyKey(key)
	b, err := s.cl().Do(ctx, s.cl().B().Get().Key(key).Build()).AsBytes()
	if err != nil {
		if rueidis.IsRedisNil(err) {
			return nil, backend.ErrNotFound
		}
		return nil, s.wrapErr(err)
	}
	return s.fromPython(key, valueOf(b))
}

// compatGetMany is GetMany in compat mode: a null or a pickle is a miss.
func (s *Store) compatGetMany(ctx context.Context, keys []string) ([][]byte, error) {
	out := make([][]byte, len(keys))
	if len(keys) == 0 {
		return out, nil
	}
	keys = s.pyKeys(keys)
	err := s.mget(ctx, keys, 0, func(i int, m rueidis.RedisMessage) error {
		b, err := m.AsBytes()
		if err != nil {
			return s.wrapErr(err)
		}
		v, err := s.fromPython(keys[i], valueOf(b))
		if err == nil {
			out[i] = v
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// compatSetMany writes items as Python does: SET key <python bytes> with
// the TTL, then per tag SADD <prefix>:tags:<tag> key and EXPIRE the set to
// the TTL plus 60 s (PERSIST for an entry without expiry). One pipeline
// (two on Cluster, entries first).
func (s *Store) compatSetMany(ctx context.Context, items []backend.Item) (err error) {
	var sets, tagCmds rueidis.Commands
	var tagKeys, persistent, written []string
	tagged := 0
	for i := range items {
		it := &items[i]
		key := s.pyKey(it.Key)
		v, err := toPython(it.Value)
		if err != nil {
			return err
		}
		bv := rueidis.BinaryString(v)
		written = append(written, key)
		if it.TTL > 0 {
			sets = append(sets, s.cl().B().Set().Key(key).Value(bv).PxMilliseconds(ttlMillis(it.TTL)).Build())
		} else {
			sets = append(sets, s.cl().B().Set().Key(key).Value(bv).Build())
		}
		if len(it.Tags) > 0 {
			tagged++
		}
		for _, t := range backend.UniqueTags(it.Tags) {
			tk := pyTagKey(t)
			tagCmds = append(tagCmds, s.cl().B().Sadd().Key(tk).Member(key).Build())
			if it.TTL > 0 {
				secs := int64((it.TTL + pyTagTTLExtra + time.Second - 1) / time.Second)
				tagCmds = append(tagCmds, s.cl().B().Expire().Key(tk).Seconds(secs).Build())
			} else {
				tagCmds = append(tagCmds, s.cl().B().Persist().Key(tk).Build())
				if !slices.Contains(persistent, tk) {
					persistent = append(persistent, tk)
				}
			}
			if !slices.Contains(tagKeys, tk) {
				tagKeys = append(tagKeys, tk)
			}
		}
	}
	if !s.cluster {
		if err := s.doPublished(ctx, slices.Concat(sets, tagCmds), written); err != nil {
			return err
		}
	} else {
		defer func() {
			if err == nil {
				err = s.publish(ctx, written)
			}
		}()
		// Entries before memberships, as Python writes them: pruning
		// relies on a member's value being written before it is added.
		if err := s.doAll(ctx, sets); err != nil {
			return err
		}
		if err := s.doAll(ctx, tagCmds); err != nil {
			return err
		}
	}
	if len(persistent) > 0 {
		// Sets of entries without expiry never expire: the background
		// sweep (sweep.go) prunes them every sweepInterval.
		s.rememberSweepTags(persistent)
	}
	if tagged > 0 {
		after := s.pyTaggedWrites.Add(uint64(tagged))
		if after/pyPruneEvery != (after-uint64(tagged))/pyPruneEvery {
			if _, err := s.prunePython(ctx, tagKeys, pyPruneSample); err != nil {
				s.log.Warn("redis: compat=python: pruning tag sets failed", "err", err)
			}
		}
	}
	return nil
}

// prunePython samples up to sample members of each of the tag sets (at
// most pyPruneMaxSet sets) and removes those whose key no longer exists.
// It returns how many members it sampled. A member removed while a writer re-created its key is added
// back: the key is read again after the SREM, and a writer that sets the
// key after that read adds the member itself afterwards (Python and this
// package both write the value before the membership).
func (s *Store) prunePython(ctx context.Context, tagKeys []string, sample int64) (int, error) {
	if len(tagKeys) > pyPruneMaxSet {
		tagKeys = tagKeys[:pyPruneMaxSet]
	}
	cmds := make(rueidis.Commands, len(tagKeys))
	for i, tk := range tagKeys {
		cmds[i] = s.cl().B().Srandmember().Key(tk).Count(sample).Build()
	}
	type pair struct{ set, member string }
	var pairs []pair
	for i, r := range s.cl().DoMulti(ctx, cmds...) {
		ms, err := r.AsStrSlice()
		if err != nil {
			return 0, s.wrapErr(err)
		}
		for _, m := range ms {
			pairs = append(pairs, pair{tagKeys[i], m})
		}
	}
	if len(pairs) == 0 {
		return 0, nil
	}
	exists := func(ps []pair) ([]bool, error) {
		cmds := make(rueidis.Commands, len(ps))
		for i, p := range ps {
			cmds[i] = s.cl().B().Exists().Key(p.member).Build()
		}
		out := make([]bool, len(ps))
		for i, r := range s.cl().DoMulti(ctx, cmds...) {
			n, err := r.AsInt64()
			if err != nil {
				return nil, s.wrapErr(err)
			}
			out[i] = n > 0
		}
		return out, nil
	}
	live, err := exists(pairs)
	if err != nil {
		return 0, err
	}
	var dead []pair
	var srems rueidis.Commands
	for i, p := range pairs {
		if !live[i] {
			dead = append(dead, p)
			srems = append(srems, s.cl().B().Srem().Key(p.set).Member(p.member).Build())
		}
	}
	if len(dead) == 0 {
		return len(pairs), nil
	}
	if err := s.doAll(ctx, srems); err != nil {
		return 0, err
	}
	again, err := exists(dead)
	if err != nil {
		return 0, err
	}
	var back rueidis.Commands
	for i, p := range dead {
		if again[i] {
			back = append(back, s.cl().B().Sadd().Key(p.set).Member(p.member).Build())
		}
	}
	return len(pairs), s.doAll(ctx, back)
}

// compatInvalidateTags deletes the members of each tag's Python set (full
// keys, whatever their prefix, as Python does), then removes those
// members from the sets (Redis drops a set left empty; a member a
// concurrent write added meanwhile stays). It returns how many member
// keys existed. Entries that a Store outside compat mode wrote under the
// same tags (the sorted-set layout) are invalidated too and counted.
func (s *Store) compatInvalidateTags(ctx context.Context, tags []string) (int64, error) {
	tags = backend.UniqueTags(tags)
	cmds := make(rueidis.Commands, len(tags))
	setKeys := make([]string, len(tags))
	for i, t := range tags {
		setKeys[i] = pyTagKey(t)
		cmds[i] = s.cl().B().Smembers().Key(setKeys[i]).Build()
	}
	var members []string
	seen := make(map[string]struct{})
	memberOf := make([][]string, len(tags))
	for i, r := range s.cl().DoMulti(ctx, cmds...) {
		ms, err := r.AsStrSlice()
		if err != nil {
			return 0, s.wrapErr(err)
		}
		memberOf[i] = ms
		for _, m := range ms {
			if _, ok := seen[m]; !ok {
				seen[m] = struct{}{}
				members = append(members, m)
			}
		}
	}
	total, err := s.unlink(ctx, members)
	if err != nil {
		return total, err
	}
	var srems rueidis.Commands
	for i, ms := range memberOf {
		for lo := 0; lo < len(ms); lo += unlinkBatch {
			srems = append(srems, s.cl().B().Srem().Key(setKeys[i]).Member(ms[lo:min(lo+unlinkBatch, len(ms))]...).Build())
		}
	}
	if err := s.doAll(ctx, srems); err != nil {
		return total, err
	}
	n, err := s.invalidateTagsNative(ctx, tags)
	if errors.Is(err, errLegacyTags) {
		err = nil
	}
	return total + n, err
}

// skipPythonTagSets drops, in compat mode, the Python tag sets from a
// batch of scanned keys: keys with ":tags:" in their name that are Redis
// sets (one pipelined TYPE per such key). Keys, FuzzySearch and pattern
// invalidation therefore see only entries; Flush removes the sets with
// everything else under the prefix, as Python's flush_all does.
func (s *Store) skipPythonTagSets(ctx context.Context, batch []string) ([]string, error) {
	if !s.compat {
		return batch, nil
	}
	var idx []int
	var cmds rueidis.Commands
	for i, k := range batch {
		if strings.Contains(k, ":tags:") && !backend.IsInternalKey(k) {
			idx = append(idx, i)
			cmds = append(cmds, s.cl().B().Type().Key(k).Build())
		}
	}
	if len(cmds) == 0 {
		return batch, nil
	}
	drop := make(map[int]bool, len(idx))
	for j, r := range s.cl().DoMulti(ctx, cmds...) {
		typ, err := r.ToString()
		if err != nil {
			return nil, s.wrapErr(err)
		}
		if typ == "set" {
			drop[idx[j]] = true
		}
	}
	out := make([]string, 0, len(batch))
	for i, k := range batch {
		if !drop[i] {
			out = append(out, k)
		}
	}
	return out, nil
}
