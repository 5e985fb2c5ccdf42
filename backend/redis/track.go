package redis

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/rueidis"

	"github.com/yokedcache/yokedcache/backend"
)

// Near cache support (backend.Tracker); see the package doc.
const (
	// DefaultTrackPingInterval is Options.TrackPingInterval's default.
	DefaultTrackPingInterval = 500 * time.Millisecond
	// DefaultTrackPingTimeout is Options.TrackPingTimeout's default.
	DefaultTrackPingTimeout = time.Second
	// DefaultStreamMaxLen is Options.StreamMaxLen's default.
	DefaultStreamMaxLen = 10_000

	// streamSuffix follows the first ':'-terminated segment of a key to
	// name its invalidation stream: "yokedcache:" + 0xFF + "near:stream".
	streamSuffix = "\xffnear:stream"
	// streamBlock is how long one XREAD waits for events; streamCount
	// how many it reads at most.
	streamBlock = time.Second
	streamCount = 512
	// publishAllOver: a deletion of more keys publishes "everything
	// under the prefix may have changed" instead of the keys.
	publishAllOver = 1000
	// publishChunk bounds the keys of one stream entry.
	publishChunk = 1000
	// Reconnection backoff of a tracking: doubling, with jitter.
	trackBackoffMin = 50 * time.Millisecond
	trackBackoffMax = 2 * time.Second
)

// streamKeyFor returns the invalidation stream of a stored key or prefix:
// its first segment up to and including the first ':', then
// streamSuffix; "" when it has no ':'. Publishers and readers derive it
// the same way, whatever the Cache's key prefix (which may itself hold
// ':'): readers filter the events by their own prefix.
func streamKeyFor(key string) string {
	i := strings.IndexByte(key, ':')
	if i < 0 {
		return ""
	}
	return key[:i+1] + streamSuffix
}

// trackSet holds a Store's running trackings, so that Close stops them.
type trackSet struct {
	mu     sync.Mutex
	set    map[*tracking]struct{}
	closed bool
}

// Track starts delivering changes of the stored keys beginning with
// prefix to h (backend.Tracker); see the package doc ("Near cache
// support"). It never dials: the Store connects lazily in the
// tracking's goroutine. In compat mode (Options.Compat) it returns an
// error matching backend.ErrUnsupported: Python's key cleaning would
// report keys the Cache does not know.
func (s *Store) Track(prefix string, h backend.TrackHandler) (backend.Tracking, error) {
	if s.closed.Load() {
		return nil, errClosed
	}
	if s.compat {
		return nil, backend.Unsupported("redis", "tracking (near cache)", "compat=python stores keys under Python's cleaned names")
	}
	if h.Keys == nil {
		h.Keys = func([]string) {}
	}
	if h.Reset == nil {
		h.Reset = func() {}
	}
	ctx, cancel := context.WithCancel(context.Background())
	t := &tracking{s: s, prefix: prefix, h: h, ctx: ctx, cancel: cancel, done: make(chan struct{})}
	ts := &s.track
	ts.mu.Lock()
	if ts.closed {
		ts.mu.Unlock()
		cancel()
		return nil, errClosed
	}
	if ts.set == nil {
		ts.set = make(map[*tracking]struct{})
	}
	ts.set[t] = struct{}{}
	ts.mu.Unlock()
	// Until this tracking knows whether the server tracks for it, the
	// Store publishes its writes: if CLIENT TRACKING turns out to be
	// refused, the other processes' stream readers must not have missed
	// the writes made in between.
	s.pub.Store(true)
	go t.run()
	return t, nil
}

// trackedByServer stops publishing once the server tracks keys for this
// Store's trackings, unless Options.PublishInvalidations asks for it or
// another tracking of the Store follows a stream.
func (s *Store) trackedByServer() {
	if s.opts.PublishInvalidations {
		return
	}
	ts := &s.track
	ts.mu.Lock()
	defer ts.mu.Unlock()
	for t := range ts.set {
		if m := t.getMode(); m != backend.TrackModeTracking {
			return
		}
	}
	s.pub.Store(false)
}

// stopTrackings stops every tracking and refuses new ones (Close).
func (s *Store) stopTrackings() {
	ts := &s.track
	ts.mu.Lock()
	ts.closed = true
	all := make([]*tracking, 0, len(ts.set))
	for t := range ts.set {
		all = append(all, t)
	}
	ts.mu.Unlock()
	for _, t := range all {
		t.Stop()
	}
}

// tracking is a running Track.
type tracking struct {
	s      *Store
	prefix string
	h      backend.TrackHandler
	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}

	// streamLast is the ID of the last stream entry read (only the
	// tracking's goroutine uses it).
	streamLast string

	notes, resets atomic.Int64
	mu            sync.Mutex
	mode          string
	live          bool
	lag           time.Duration
	err           error
}

// Status reports the tracking's mode and health.
func (t *tracking) Status() backend.TrackStatus {
	t.mu.Lock()
	defer t.mu.Unlock()
	return backend.TrackStatus{
		Mode:          t.mode,
		Live:          t.live,
		Notifications: t.notes.Load(),
		Resets:        t.resets.Load(),
		Lag:           t.lag,
		Err:           t.err,
	}
}

// Stop ends the tracking, closes its connections and waits for its
// goroutines.
func (t *tracking) Stop() {
	t.cancel()
	<-t.done
	ts := &t.s.track
	ts.mu.Lock()
	delete(ts.set, t)
	ts.mu.Unlock()
}

func (t *tracking) reset() {
	t.resets.Add(1)
	t.h.Reset()
}

// deliver passes the changed keys under the prefix to the handler,
// without internal keys (tag indexes, the stream itself).
func (t *tracking) deliver(keys []string) {
	out := keys[:0:0]
	for _, k := range keys {
		if strings.HasPrefix(k, t.prefix) && !backend.IsInternalKey(k) {
			out = append(out, k)
		}
	}
	if len(out) == 0 {
		return
	}
	t.notes.Add(int64(len(out)))
	t.h.Keys(out)
}

// up marks notifications as flowing in mode, after a Reset: changes
// before now may have been missed.
func (t *tracking) up(mode string) {
	t.reset()
	t.mu.Lock()
	t.mode, t.live = mode, true
	t.mu.Unlock()
}

// down marks notifications as stopped, recording err, and resets the
// handler if they were flowing.
func (t *tracking) down(err error) {
	t.mu.Lock()
	was := t.live
	t.live = false
	if err != nil {
		t.err = err
	}
	t.mu.Unlock()
	if was {
		t.reset()
	}
}

// fail marks notifications as stopped at once, before the connections
// are closed (which may wait for a hung server), and returns err.
func (t *tracking) fail(err error) error {
	t.down(err)
	return err
}

func (t *tracking) setMode(m string) {
	t.mu.Lock()
	t.mode = m
	t.mu.Unlock()
}

func (t *tracking) getMode() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.mode
}

// run connects, follows and reconnects with backoff until Stop.
func (t *tracking) run() {
	defer close(t.done)
	backoff := trackBackoffMin
	for {
		wasLive, err := t.session()
		if t.ctx.Err() != nil {
			t.down(nil)
			return
		}
		if err == nil {
			err = errors.New("redis: tracking connection ended")
		}
		t.down(err)
		if wasLive {
			backoff = trackBackoffMin
		}
		wait := backoff + rand.N(backoff/2+1)
		backoff = min(2*backoff, trackBackoffMax)
		tm := time.NewTimer(wait)
		select {
		case <-t.ctx.Done():
			tm.Stop()
			return
		case <-tm.C:
		}
	}
}

// session connects the Store if needed and follows the server in the
// chosen mode until an error; it reports whether it went live.
func (t *tracking) session() (bool, error) {
	if err := t.s.check(t.ctx); err != nil {
		return false, err
	}
	switch t.getMode() {
	case backend.TrackModeStream:
		return t.streamSession()
	case backend.TrackModeTTL:
		return false, fmt.Errorf("redis: no invalidation stream for prefix %q (it needs a ':')", t.prefix)
	}
	live, err := t.trackingSession()
	if err == nil || !trackingRefused(err) {
		return live, err
	}
	if streamKeyFor(t.prefix) == "" {
		t.setMode(backend.TrackModeTTL)
		t.s.log.Warn("redis: CLIENT TRACKING refused and the prefix has no ':' for an invalidation stream: the near cache relies on its local TTL",
			"prefix", t.prefix, "err", err)
		return false, err
	}
	t.setMode(backend.TrackModeStream)
	// From now on this Store publishes its writes to the stream too.
	t.s.pub.Store(true)
	t.s.log.Info("redis: CLIENT TRACKING refused; near cache follows the invalidation stream (only yokedcache writers that publish are seen)",
		"prefix", t.prefix, "err", err)
	return t.streamSession()
}

// trackingRefused reports whether err is the server's refusal of CLIENT
// TRACKING (NOPERM, an unknown command or subcommand, a proxy's error)
// rather than a connection problem.
func trackingRefused(err error) bool {
	re, ok := rueidis.IsRedisErr(err)
	return ok && !re.IsLoading() && !re.IsTryAgain() && !re.IsClusterDown()
}

// isReply reports whether err is a reply of the server (so the
// connection works), not a network error or a timeout.
func isReply(err error) bool {
	_, ok := rueidis.IsRedisErr(err)
	return ok
}

// trackingSession turns on CLIENT TRACKING BCAST PREFIX on a dedicated
// connection per master and follows it, PINGing every TrackPingInterval.
func (t *tracking) trackingSession() (bool, error) {
	s := t.s
	var nodes []rueidis.Client
	if s.cluster {
		ctx, cancel := context.WithTimeout(t.ctx, s.opts.SocketTimeout)
		ns, err := s.nodes(ctx)
		cancel()
		if err != nil {
			return false, err
		}
		nodes = ns
	} else {
		nodes = []rueidis.Client{s.cl()}
	}
	sctx, scancel := context.WithCancel(t.ctx)
	var wg sync.WaitGroup
	var conns []rueidis.DedicatedClient
	defer func() {
		scancel()
		for _, dc := range conns {
			dc.Close()
		}
		wg.Wait()
	}()
	errc := make(chan error, len(nodes))
	onInval := func(msgs []rueidis.RedisMessage) {
		if msgs == nil {
			// FLUSHALL / FLUSHDB, or the connection closed.
			t.reset()
			return
		}
		keys := make([]string, 0, len(msgs))
		for _, m := range msgs {
			if k, err := m.ToString(); err == nil {
				keys = append(keys, k)
			}
		}
		t.deliver(keys)
	}
	for _, n := range nodes {
		dc, _ := n.Dedicate()
		conns = append(conns, dc)
		closed := dc.SetOnInvalidations(onInval)
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case err, ok := <-closed:
				if !ok || err == nil {
					err = errors.New("tracking connection closed")
				}
				errc <- err
			case <-sctx.Done():
			}
		}()
		on := dc.B().ClientTracking().On()
		var cmd rueidis.Completed
		if t.prefix != "" {
			cmd = on.Prefix().Prefix(t.prefix).Bcast().Build()
		} else {
			cmd = on.Bcast().Build()
		}
		ctx, cancel := context.WithTimeout(t.ctx, s.opts.SocketTimeout)
		err := dc.Do(ctx, cmd).Error()
		cancel()
		if err != nil {
			if isReply(err) {
				return false, err // refused: trackingRefused decides
			}
			return false, s.wrapErr(fmt.Errorf("CLIENT TRACKING: %w", err))
		}
	}
	var topo string
	if s.cluster {
		topo = nodeAddrs(s.cl())
	}
	t.up(backend.TrackModeTracking)
	t.s.trackedByServer()
	tick := time.NewTicker(s.opts.TrackPingInterval)
	defer tick.Stop()
	for {
		select {
		case <-t.ctx.Done():
			return true, nil
		case err := <-errc:
			return true, t.fail(s.wrapErr(err))
		case <-tick.C:
			if s.cluster && nodeAddrs(s.cl()) != topo {
				// A failover or resharding: track the new masters.
				return true, t.fail(errors.New("redis: cluster topology changed"))
			}
			for _, dc := range conns {
				ctx, cancel := context.WithTimeout(t.ctx, s.opts.TrackPingTimeout)
				err := dc.Do(ctx, dc.B().Ping().Build()).Error()
				cancel()
				if err != nil && !isReply(err) {
					if t.ctx.Err() != nil {
						return true, nil
					}
					return true, t.fail(s.wrapErr(fmt.Errorf("tracking connection PING: %w", err)))
				}
			}
		}
	}
}

// nodeAddrs lists the client's nodes, sorted, to notice topology changes.
func nodeAddrs(c rueidis.Client) string {
	ns := c.Nodes()
	addrs := make([]string, 0, len(ns))
	for a := range ns {
		addrs = append(addrs, a)
	}
	slices.Sort(addrs)
	return strings.Join(addrs, ",")
}

// streamSession follows the invalidation stream of the prefix with XREAD
// BLOCK on a dedicated connection.
func (t *tracking) streamSession() (bool, error) {
	s := t.s
	key := streamKeyFor(t.prefix)
	dc, _ := s.cl().Dedicate()
	var once sync.Once
	closeDC := func() { once.Do(dc.Close) }
	stop := context.AfterFunc(t.ctx, closeDC)
	defer func() {
		stop()
		closeDC()
	}()
	// The first session starts at the stream's end; a later one resumes
	// where the last one stopped, so that entries published meanwhile
	// are still delivered (after the Reset every reconnection makes).
	last := t.streamLast
	if last == "" {
		ctx, cancel := context.WithTimeout(t.ctx, s.opts.SocketTimeout)
		id, err := lastStreamID(dc.Do(ctx, dc.B().Xrevrange().Key(key).End("+").Start("-").Count(1).Build()))
		cancel()
		if err != nil {
			if t.ctx.Err() != nil {
				return false, nil
			}
			return false, s.wrapErr(fmt.Errorf("XREVRANGE: %w", err))
		}
		last = id
	}
	defer func() { t.streamLast = last }()
	t.up(backend.TrackModeStream)
	// prev is the ID the previous XREAD read after: an oldest entry
	// newer than it means entries this reader never saw are gone (trimmed
	// past it, or the stream deleted and recreated while it blocked).
	prev := last
	// added is the stream's entries-added counter (XINFO STREAM, Redis
	// 7+) seen last: it only grows while the stream lives, so a smaller
	// one means the stream was deleted and recreated, even when the new
	// entries' IDs are not below last (a recreation within the same
	// millisecond as the last entry read). -1: unknown.
	added := int64(-1)
	for {
		// The newest and the oldest entry, read just before the XREAD on
		// the same connection, tell whether the stream was deleted or
		// recreated, or trimmed past last.
		ctx, cancel := context.WithTimeout(t.ctx, streamBlock+s.opts.TrackPingTimeout)
		res := dc.DoMulti(ctx,
			dc.B().Xrevrange().Key(key).End("+").Start("-").Count(1).Build(),
			dc.B().Xrange().Key(key).Start("-").End("+").Count(1).Build(),
			dc.B().XinfoStream().Key(key).Build(),
			dc.B().Xread().Count(streamCount).Block(streamBlock.Milliseconds()).Streams().Key(key).Id(last).Build())
		cancel()
		if t.ctx.Err() != nil {
			return true, nil
		}
		newest, err := firstStreamID(res[0])
		if err != nil {
			return true, t.fail(s.wrapErr(fmt.Errorf("XREVRANGE: %w", err)))
		}
		first, err := firstStreamID(res[1])
		if err != nil {
			return true, t.fail(s.wrapErr(fmt.Errorf("XRANGE: %w", err)))
		}
		nowAdded := entriesAdded(res[2])
		recreated := added > 0 && nowAdded >= 0 && nowAdded < added
		added = nowAdded
		m, err := res[3].AsMap()
		if err != nil && !rueidis.IsRedisNil(err) {
			return true, t.fail(s.wrapErr(fmt.Errorf("XREAD: %w", err)))
		}
		if last != "0-0" && (newest == "" || idLess(newest, last) || recreated) {
			// Deleted (DEL, FLUSHALL), perhaps recreated with smaller
			// IDs: read the new stream from its start.
			t.reset()
			last, prev = "0-0", "0-0"
			continue
		}
		if prev != "0-0" && first != "" && idLess(prev, first) {
			t.reset()
		}
		prev = last
		if err != nil {
			continue // XREAD timed out: nothing new
		}
		msg := m[key]
		entries, err := msg.ToArray()
		if err != nil {
			return true, t.fail(s.wrapErr(fmt.Errorf("XREAD: %w", err)))
		}
		var keys []string
		all := false
		for _, e := range entries {
			parts, err := e.ToArray()
			if err != nil || len(parts) != 2 {
				return true, t.fail(errors.New("redis: XREAD: malformed entry"))
			}
			id, err := parts[0].ToString()
			if err != nil {
				return true, t.fail(s.wrapErr(fmt.Errorf("XREAD: %w", err)))
			}
			fv, _ := parts[1].AsStrSlice() // nil for a deleted entry
			for i := 0; i+1 < len(fv); i += 2 {
				switch fv[i] {
				case "k":
					keys = append(keys, fv[i+1])
				case "a":
					p := fv[i+1]
					if strings.HasPrefix(p, t.prefix) || strings.HasPrefix(t.prefix, p) {
						all = true
					}
				}
			}
			last = id
		}
		if all {
			t.reset()
		}
		t.deliver(keys)
		t.setLag(last)
	}
}

// setLag records the delay of the entry id (its time is the server's).
func (t *tracking) setLag(id string) {
	ms, ok := idMillis(id)
	if !ok {
		return
	}
	now := time.Now().UnixMilli()
	if t.s.offsetAt.Load() != 0 {
		now = t.s.serverNowMillis()
	}
	lag := max(time.Duration(now-ms)*time.Millisecond, 0)
	t.mu.Lock()
	t.lag = lag
	t.mu.Unlock()
}

// lastStreamID parses XREVRANGE ... COUNT 1: the newest entry's ID, or
// "0-0" for an empty or missing stream.
func lastStreamID(r rueidis.RedisResult) (string, error) {
	id, err := firstStreamID(r)
	if err != nil {
		return "", err
	}
	if id == "" {
		return "0-0", nil
	}
	return id, nil
}

// entriesAdded parses the entries-added field of XINFO STREAM: 0 for a
// missing stream, -1 when unknown (Redis < 7, a refused command).
func entriesAdded(r rueidis.RedisResult) int64 {
	m, err := r.AsMap()
	if err != nil {
		if re, ok := rueidis.IsRedisErr(err); ok && strings.Contains(re.Error(), "no such key") {
			return 0
		}
		return -1
	}
	v, ok := m["entries-added"]
	if !ok {
		return -1
	}
	n, err := v.AsInt64()
	if err != nil {
		return -1
	}
	return n
}

// firstStreamID parses XRANGE/XREVRANGE ... COUNT 1: the entry's ID, or
// "" for none.
func firstStreamID(r rueidis.RedisResult) (string, error) {
	arr, err := r.ToArray()
	if err != nil {
		return "", err
	}
	if len(arr) == 0 {
		return "", nil
	}
	parts, err := arr[0].ToArray()
	if err != nil || len(parts) == 0 {
		return "", fmt.Errorf("malformed stream entry: %v", err)
	}
	return parts[0].ToString()
}

// idMillis is the millisecond part of a stream ID.
func idMillis(id string) (int64, bool) {
	ms, _, _ := strings.Cut(id, "-")
	n, err := strconv.ParseInt(ms, 10, 64)
	return n, err == nil
}

// idLess compares two stream IDs ("ms-seq").
func idLess(a, b string) bool {
	am, as, _ := strings.Cut(a, "-")
	bm, bs, _ := strings.Cut(b, "-")
	an, _ := strconv.ParseUint(am, 10, 64)
	bn, _ := strconv.ParseUint(bm, 10, 64)
	if an != bn {
		return an < bn
	}
	aq, _ := strconv.ParseUint(as, 10, 64)
	bq, _ := strconv.ParseUint(bs, 10, 64)
	return aq < bq
}

// Publishing (stream mode): XADD stream MAXLEN ~ n * k key k key ...

// publishCmds returns the XADDs announcing that keys changed: per
// stream, the keys in entries of at most publishChunk, or one "a" entry
// (everything under the keys' first segment) when there are more than
// publishAllOver. Internal keys and keys without ':' are skipped.
func (s *Store) publishCmds(keys []string) rueidis.Commands {
	var streams []string
	var groups [][]string
	for _, k := range keys {
		if backend.IsInternalKey(k) {
			continue
		}
		sk := streamKeyFor(k)
		if sk == "" {
			continue
		}
		gi := -1
		for i, x := range streams {
			if x == sk {
				gi = i
				break
			}
		}
		if gi < 0 {
			gi = len(streams)
			streams = append(streams, sk)
			groups = append(groups, nil)
		}
		groups[gi] = append(groups[gi], k)
	}
	var cmds rueidis.Commands
	for i, sk := range streams {
		ks := groups[i]
		if len(ks) > publishAllOver {
			cmds = append(cmds, s.xadd(sk, "a", sk[:len(sk)-len(streamSuffix)]))
			continue
		}
		for lo := 0; lo < len(ks); lo += publishChunk {
			chunk := ks[lo:min(lo+publishChunk, len(ks))]
			fields := make([]string, 0, 2*len(chunk))
			for _, k := range chunk {
				fields = append(fields, "k", k)
			}
			cmds = append(cmds, s.xadd(sk, fields...))
		}
	}
	return cmds
}

// publishAllCmds announces that every key under prefix may have changed.
func (s *Store) publishAllCmds(prefix string) rueidis.Commands {
	sk := streamKeyFor(prefix)
	if sk == "" {
		return nil
	}
	return rueidis.Commands{s.xadd(sk, "a", prefix)}
}

// xadd is XADD stream MAXLEN ~ StreamMaxLen * fields...
func (s *Store) xadd(stream string, fields ...string) rueidis.Completed {
	fv := s.cl().B().Xadd().Key(stream).Maxlen().Almost().Threshold(strconv.Itoa(s.opts.StreamMaxLen)).Id("*").FieldValue()
	for i := 0; i+1 < len(fields); i += 2 {
		fv = fv.FieldValue(fields[i], fields[i+1])
	}
	return fv.Build()
}

// doPublished runs cmds and then announces keys on their streams, when
// this Store publishes (Options.PublishInvalidations or a tracking in
// stream mode): in the same pipeline on one connection (executed in
// order), in a second round trip on Cluster, where a pipeline across
// nodes is not ordered.
func (s *Store) doPublished(ctx context.Context, cmds rueidis.Commands, keys []string) error {
	if !s.pub.Load() {
		return s.doAll(ctx, cmds)
	}
	pub := s.publishCmds(keys)
	if !s.cluster {
		return s.doAll(ctx, append(cmds, pub...))
	}
	if err := s.doAll(ctx, cmds); err != nil {
		return err
	}
	return s.doAll(ctx, pub)
}

// publish announces keys when this Store publishes (after a write that
// completed).
func (s *Store) publish(ctx context.Context, keys []string) error {
	if !s.pub.Load() || len(keys) == 0 {
		return nil
	}
	return s.doAll(ctx, s.publishCmds(keys))
}
