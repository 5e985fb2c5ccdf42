package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	neturl "net/url"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/spf13/cobra"

	"github.com/yokedcache/yokedcache"
	"github.com/yokedcache/yokedcache/backend"
)

type benchOptions struct {
	all         bool
	targets     []string
	ops         int
	keys        int
	valueSize   int
	concurrency int
	fuzzyOps    int
	noProgress  bool
	// near adds a near-cache tier (default settings) to every target
	// that is not in-process and has none.
	near bool
}

// opResult is one operation's measurement.
type opResult struct {
	Op          string  `json:"op"`
	N           int     `json:"n"`
	P50NS       int64   `json:"p50_ns"`
	P99NS       int64   `json:"p99_ns"`
	OpsPerSec   float64 `json:"ops_per_sec"`
	Unsupported bool    `json:"unsupported,omitempty"`
	Error       string  `json:"error,omitempty"`
}

// benchResult is one backend's measurements.
type benchResult struct {
	Backend string     `json:"backend"`
	URL     string     `json:"url"`
	Skipped string     `json:"skipped,omitempty"`
	Ops     []opResult `json:"ops,omitempty"`
	// Near describes the near-cache tier the target was measured with.
	Near *nearBench `json:"near,omitempty"`
}

// nearBench is the near-cache part of a benchResult: the tier's mode and
// its local hit ratio during the near_hot_get workload.
type nearBench struct {
	Mode       string  `json:"mode"`
	Live       bool    `json:"live"`
	HotKeys    int     `json:"hot_keys"`
	HitRatio   float64 `json:"hit_ratio"`
	MaxEntries int     `json:"max_entries"`
}

func (r *benchResult) op(name string) *opResult {
	for i := range r.Ops {
		if r.Ops[i].Op == name {
			return &r.Ops[i]
		}
	}
	return nil
}

func (a *app) benchCommand() *cobra.Command {
	var o benchOptions
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Measure get/set/tagged set/invalidate/fuzzy latency and throughput",
		Long: `Run a standard workload against the configured backend (or, with --all,
every backend this machine can reach) and print the "Choosing a backend"
table with measured p50/p99 latency and throughput.

The workload uses its own random key prefix and flushes it afterwards.
--all measures mem://, a temporary disk directory and SQLite file, and
every URL the configuration names (--url/--redis-url, YOKEDCACHE_URL,
YOKEDCACHE_REDIS_URL, routes), plus any --target; it never probes servers
you did not name. Unreachable backends are listed as skipped.

A target with a near cache (a URL with ?near_cache=..., YOKEDCACHE_NEAR_*,
near_cache in the configuration file; or any shared target with --near)
also runs a hot-key workload: gets of a few hot keys through the near
cache (near_hot_get) and the same gets on the backend alone
(backend_hot_get), with the near cache's hit ratio.`,
		Example: `  yokedcache bench
  yokedcache bench --all --target redis://127.0.0.1:6379/0 --target memcached://127.0.0.1:11211
  yokedcache bench --target redis://10.0.0.5:6379/0 --concurrency 8 -o json
  yokedcache bench --target 'redis://10.0.0.5:6379/0?near_cache=10000'
  yokedcache bench --all --near`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if o.ops < 10 || o.keys < 10 || o.concurrency < 1 || o.valueSize < 1 || o.fuzzyOps < 1 {
				return withCode(exitUsage, errors.New("--ops and --keys must be at least 10; --concurrency, --value-size and --fuzzy-ops at least 1"))
			}
			cfg, err := a.config()
			if err != nil {
				return err
			}
			var results []benchResult
			if !o.all && len(o.targets) == 0 {
				r, err := a.benchOne(cfg, "", o)
				if err != nil {
					return classify(err)
				}
				results = append(results, r)
			} else {
				var targets []string
				if o.all {
					all, cleanup := defaultTargets(cfg)
					defer cleanup()
					targets = all
				}
				for _, t := range o.targets {
					if !slices.Contains(targets, t) {
						targets = append(targets, t)
					}
				}
				for _, t := range targets {
					c := cfg
					c.Routes, c.Backend = nil, nil
					c.URL, c.RedisURL = t, ""
					r, err := a.benchOne(c, t, o)
					if err != nil {
						if len(targets) == 1 && !o.all {
							return classify(err)
						}
						r = benchResult{Backend: schemeName(t), URL: backend.RedactURL(t), Skipped: err.Error()}
					}
					results = append(results, r)
				}
			}
			return a.printBench(results, o)
		},
	}
	f := cmd.Flags()
	f.BoolVar(&o.all, "all", false, "benchmark every backend this machine can reach")
	f.StringArrayVar(&o.targets, "target", nil, "backend URL to benchmark (repeatable; with --all, added to its list)")
	f.IntVar(&o.ops, "ops", 10000, "operations per measured operation type")
	f.IntVar(&o.keys, "keys", 1000, "size of the keyspace (fuzzy search scans it)")
	f.IntVar(&o.valueSize, "value-size", 100, "value size in bytes")
	f.IntVar(&o.concurrency, "concurrency", 1, "concurrent workers")
	f.IntVar(&o.fuzzyOps, "fuzzy-ops", 20, "fuzzy searches")
	f.BoolVar(&o.noProgress, "no-progress", false, "no progress bar (it is shown only when standard error is a terminal)")
	f.BoolVar(&o.near, "near", false, "put a near cache (default settings) in front of every shared target that has none, and measure hot-key gets through it")
	return cmd
}

func schemeName(u string) string {
	scheme, _, _ := strings.Cut(u, "://")
	switch {
	case scheme == "mem" || scheme == "memory":
		return "memory"
	case strings.HasPrefix(scheme, "redis") || scheme == "unix":
		return "redis"
	case scheme == "file":
		return "disk"
	}
	return scheme
}

// defaultTargets lists the backends --all tries: the embedded ones and
// the configured URLs. It never guesses servers on local ports: a cache
// server is benchmarked only when the user named it.
func defaultTargets(cfg yokedcache.Config) ([]string, func()) {
	targets := []string{"mem://"}
	urls := []string{cfg.RedisURL, cfg.URL}
	for _, r := range cfg.Routes {
		urls = append(urls, r.URL)
	}
	for _, u := range urls {
		if u != "" && !slices.Contains(targets, u) {
			targets = append(targets, u)
		}
	}
	schemes := backend.DefaultURLMux().Schemes()
	cleanup := func() {}
	if slices.Contains(schemes, "file") || slices.Contains(schemes, "sqlite") {
		dir, err := os.MkdirTemp("", "yokedcache-bench-")
		if err == nil {
			cleanup = func() { _ = os.RemoveAll(dir) }
			if slices.Contains(schemes, "file") {
				targets = append(targets, "file://"+filepath.ToSlash(filepath.Join(dir, "disk")))
			}
			if slices.Contains(schemes, "sqlite") {
				targets = append(targets, "sqlite://"+filepath.ToSlash(filepath.Join(dir, "bench.db")))
			}
		}
	}
	return targets, cleanup
}

// progress draws a bar on a terminal.
type progress struct {
	w     io.Writer
	label string
	total int64
	done  atomic.Int64
	last  atomic.Int64
}

func (a *app) newProgress(label string, total int, o benchOptions) *progress {
	if o.noProgress || !isTerminal(a.stderr) {
		return nil
	}
	return &progress{w: a.stderr, label: label, total: int64(total)}
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

func (p *progress) add(n int) {
	if p == nil {
		return
	}
	d := p.done.Add(int64(n))
	pct := min(d*100/p.total, 100) // the near-cache workload may add to the total
	if pct != p.last.Load() && p.last.CompareAndSwap(p.last.Load(), pct) {
		const width = 30
		fill := int(pct * width / 100)
		fmt.Fprintf(p.w, "\r%-28s [%s%s] %3d%%", p.label, strings.Repeat("#", fill), strings.Repeat(" ", width-fill), pct)
	}
}

func (p *progress) finish() {
	if p != nil {
		fmt.Fprintf(p.w, "\r%s\r", strings.Repeat(" ", 70))
	}
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// benchOne runs the workload on one backend.
func (a *app) benchOne(cfg yokedcache.Config, url string, o benchOptions) (benchResult, error) {
	cfg.KeyPrefix = "yokedcache-bench-" + randomHex(4)
	cfg.Routes = nil
	cfg.Logger = newLogger(a.stderr, levelWarn)
	if o.near && cfg.Near == nil && !hasNearParam(cfg.URL) && !hasNearParam(cfg.RedisURL) && (url == "" || schemeName(url) != "memory") {
		cfg.Near = &yokedcache.NearOptions{}
	}
	c, err := yokedcache.New(cfg)
	if err != nil {
		return benchResult{}, err
	}
	defer c.Close()
	res := benchResult{Backend: c.Backend(), URL: backend.RedactURL(url)}
	if url == "" {
		res.URL = "(configured)"
	}
	pctx, cancel := context.WithTimeout(a.ctx, 3*time.Second)
	err = c.Ping(pctx)
	cancel()
	if err != nil {
		return res, err
	}
	ctx := a.ctx
	defer func() {
		fctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = c.Flush(fctx)
	}()
	value := []byte(strings.Repeat("v", o.valueSize))
	key := func(i int) string { return fmt.Sprintf("bench:user:%06d", i%o.keys) }
	tkey := func(i int) string { return fmt.Sprintf("bench:tagged:%06d", i%o.keys) }
	invRounds := max(10, min(100, o.ops/50))
	total := 3*o.ops + invRounds + o.fuzzyOps
	p := a.newProgress(fmt.Sprintf("bench %s", res.Backend), total, o)
	defer p.finish()

	// measure runs f n times; setup, if non-nil, runs untimed before each
	// call (then throughput is derived from the timed part only).
	measure := func(name string, n int, setup, f func(i int) error) opResult {
		lat := make([]time.Duration, n)
		var next atomic.Int64
		var firstErr error
		var mu sync.Mutex
		var wg sync.WaitGroup
		start := time.Now()
		for range min(o.concurrency, n) {
			wg.Go(func() {
				for {
					i := int(next.Add(1) - 1)
					if i >= n || ctx.Err() != nil {
						return
					}
					var err error
					if setup != nil {
						err = setup(i)
					}
					if err == nil {
						t := time.Now()
						err = f(i)
						lat[i] = time.Since(t)
					}
					p.add(1)
					if err != nil {
						mu.Lock()
						if firstErr == nil {
							firstErr = err
						}
						mu.Unlock()
						next.Store(int64(n)) // stop
						return
					}
				}
			})
		}
		wg.Wait()
		wall := time.Since(start)
		r := opResult{Op: name, N: n}
		if firstErr != nil {
			r.Error = firstErr.Error()
			r.Unsupported = errors.Is(firstErr, yokedcache.ErrUnsupported)
			return r
		}
		if err := ctx.Err(); err != nil {
			r.Error = err.Error()
			return r
		}
		var sum time.Duration
		for _, d := range lat {
			sum += d
		}
		slices.Sort(lat)
		r.P50NS = int64(lat[n/2])
		r.P99NS = int64(lat[min(n-1, n*99/100)])
		r.OpsPerSec = float64(n) / wall.Seconds()
		if setup != nil && sum > 0 {
			r.OpsPerSec = float64(n) / (sum.Seconds() / float64(min(o.concurrency, n)))
		}
		return r
	}

	res.Ops = append(res.Ops, measure("set", o.ops, nil, func(i int) error {
		return c.Set(ctx, key(i), value, yokedcache.WithTTL(10*time.Minute))
	}))
	res.Ops = append(res.Ops, measure("get", o.ops, nil, func(i int) error {
		_, err := c.GetBytes(ctx, key(i))
		return err
	}))
	res.Ops = append(res.Ops, measure("tagged_set", o.ops, nil, func(i int) error {
		return c.Set(ctx, tkey(i), value, yokedcache.WithTTL(10*time.Minute),
			yokedcache.WithTags(fmt.Sprintf("bench-group-%d", i%50), "bench-all"))
	}))
	// Each invalidation drops a tag carried by 10 entries written (untimed)
	// just before it.
	invTag := func(i int) string { return fmt.Sprintf("bench-inv-%d", i) }
	res.Ops = append(res.Ops, measure("invalidate", invRounds, func(i int) error {
		items := make(map[string]any, 10)
		for j := range 10 {
			items[fmt.Sprintf("bench:inv:%d:%d", i, j)] = value
		}
		return c.SetMany(ctx, items, yokedcache.WithTTL(10*time.Minute), yokedcache.WithTags(invTag(i)))
	}, func(i int) error {
		_, err := c.InvalidateTags(ctx, invTag(i))
		return err
	}))
	queries := []string{"user 42", "bench user 000123", "tagged 99", "usr 7", "nothing like it"}
	res.Ops = append(res.Ops, measure("fuzzy", o.fuzzyOps, nil, func(i int) error {
		_, err := c.FuzzySearch(ctx, queries[i%len(queries)], yokedcache.WithThreshold(80), yokedcache.WithMaxResults(10))
		return err
	}))
	if err := a.benchNear(ctx, c, cfg, &res, o, key, measure); err != nil {
		return res, err
	}
	return res, nil
}

// benchHotKeys is the size of the hot-key workload's key set.
const benchHotKeys = 100

// benchNear measures, when c has a near cache, gets of a few hot keys
// (written by the set workload) through the tier and on the backend alone
// (a second Cache on the same backend, without the tier).
func (a *app) benchNear(ctx context.Context, c *yokedcache.Cache, cfg yokedcache.Config, res *benchResult, o benchOptions,
	key func(int) string, measure func(string, int, func(int) error, func(int) error) opResult) error {
	sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	before, err := c.Stats(sctx)
	cancel()
	if err != nil || len(before.Near) == 0 {
		return nil // no tier (or no numbers to compare)
	}
	hot := min(o.keys, benchHotKeys)
	for i := range hot { // warm the tier, untimed
		if _, err := c.GetBytes(ctx, key(i)); err != nil {
			break // measure reports the failure
		}
	}
	sctx, cancel = context.WithTimeout(ctx, 30*time.Second)
	before, _ = c.Stats(sctx)
	cancel()
	res.Ops = append(res.Ops, measure("near_hot_get", o.ops, nil, func(i int) error {
		_, err := c.GetBytes(ctx, key(i%hot))
		return err
	}))
	sctx, cancel = context.WithTimeout(ctx, 30*time.Second)
	after, _ := c.Stats(sctx)
	cancel()
	if len(before.Near) > 0 && len(after.Near) > 0 {
		b, n := before.Near[0], after.Near[0]
		nb := &nearBench{Mode: n.Mode, Live: n.Live, HotKeys: hot, MaxEntries: n.MaxEntries}
		if dh, dm := n.Hits-b.Hits, n.Misses-b.Misses; dh+dm > 0 {
			nb.HitRatio = float64(dh) / float64(dh+dm)
		}
		res.Near = nb
	}
	plainCfg := cfg
	plainCfg.Near = nil
	plainCfg.URL, plainCfg.RedisURL = stripNearParams(cfg.URL), stripNearParams(cfg.RedisURL)
	plainCfg.KeyPrefix = c.KeyPrefix()
	plain, err := yokedcache.New(plainCfg)
	if err != nil {
		// A single-process backend (disk) cannot be opened a second time
		// while the near cache's Cache holds it: no comparison, not a
		// failure.
		r := opResult{Op: "backend_hot_get", N: o.ops, Unsupported: true,
			Error: "cannot open the backend a second time in this process without the near cache: " + err.Error()}
		res.Ops = append(res.Ops, r)
		return nil
	}
	defer plain.Close()
	res.Ops = append(res.Ops, measure("backend_hot_get", o.ops, nil, func(i int) error {
		_, err := plain.GetBytes(ctx, key(i%hot))
		return err
	}))
	return nil
}

// nearURLParams are the backend-URL parameters that configure a near
// cache (see yokedcache.Open).
var nearURLParams = []string{"near_cache", "near_max_bytes", "near_ttl", "near_mode", "near_policy"}

// hasNearParam reports whether the backend URL raw sets a near cache.
func hasNearParam(raw string) bool {
	if raw == "" {
		return false
	}
	u, err := neturl.Parse(raw)
	if err != nil {
		return false
	}
	q := u.Query()
	for _, p := range nearURLParams {
		if q.Has(p) {
			return true
		}
	}
	return false
}

// stripNearParams returns the backend URL raw without its near-cache
// parameters.
func stripNearParams(raw string) string {
	if !hasNearParam(raw) {
		return raw
	}
	u, err := neturl.Parse(raw)
	if err != nil {
		return raw
	}
	q := u.Query()
	for _, p := range nearURLParams {
		q.Del(p)
	}
	u.RawQuery = q.Encode()
	return u.String()
}

var backendTraits = map[string][2]string{ // shared across processes, persistent
	"memory":    {"No", "No"},
	"redis":     {"Yes", "Optional"},
	"memcached": {"Yes", "No"},
	"disk":      {"No (one process)", "Yes"},
	"sqlite":    {"Yes (same file)", "Yes"},
	"router":    {"per route", "per route"},
}

func latencyCell(r *opResult) string {
	switch {
	case r == nil:
		return "-"
	case r.Unsupported:
		return "unsupported"
	case r.Error != "":
		return "error"
	}
	return ms(time.Duration(r.P50NS)) + " / " + ms(time.Duration(r.P99NS))
}

func throughputCell(r *opResult) string {
	if r == nil || r.Error != "" {
		return "-"
	}
	switch v := r.OpsPerSec; {
	case v >= 1e6:
		return fmt.Sprintf("%.1fM ops/s", v/1e6)
	case v >= 1e3:
		return fmt.Sprintf("%.0fK ops/s", v/1e3)
	default:
		return fmt.Sprintf("%.0f ops/s", v)
	}
}

func yesNo(r *opResult) string {
	switch {
	case r == nil:
		return "-"
	case r.Unsupported:
		return "No"
	case r.Error != "":
		return "error"
	}
	return "Yes"
}

func (a *app) printBench(results []benchResult, o benchOptions) error {
	var ran []benchResult
	for _, r := range results {
		if r.Skipped == "" {
			ran = append(ran, r)
		} else if a.output == "table" {
			fmt.Fprintf(a.stderr, "yokedcache: bench: skipped %s (%s): %s\n", r.Backend, r.URL, r.Skipped)
		}
	}
	if a.output == "json" || a.output == "yaml" {
		if err := a.print(nil, map[string]any{
			"results": results,
			"settings": map[string]any{"ops": o.ops, "keys": o.keys, "value_size": o.valueSize, "concurrency": o.concurrency,
				"fuzzy_ops": o.fuzzyOps, "near": o.near, "gomaxprocs": runtime.GOMAXPROCS(0), "go": runtime.Version(), "os_arch": runtime.GOOS + "/" + runtime.GOARCH},
		}); err != nil {
			return err
		}
		return a.benchStatus(results)
	}
	header := []string{""}
	for _, r := range ran {
		header = append(header, r.Backend)
	}
	t := &table{header: header}
	row := func(name string, cell func(r *benchResult) string) {
		cells := []string{name}
		for i := range ran {
			cells = append(cells, cell(&ran[i]))
		}
		t.add(cells...)
	}
	row("Shared across processes", func(r *benchResult) string { return orDash(backendTraits[r.Backend][0]) })
	row("Persistent across restarts", func(r *benchResult) string { return orDash(backendTraits[r.Backend][1]) })
	row("Latency get p50 / p99", func(r *benchResult) string { return latencyCell(r.op("get")) })
	row("Latency set p50 / p99", func(r *benchResult) string { return latencyCell(r.op("set")) })
	row("Latency tagged set p50 / p99", func(r *benchResult) string { return latencyCell(r.op("tagged_set")) })
	row("Latency invalidate p50 / p99", func(r *benchResult) string { return latencyCell(r.op("invalidate")) })
	row("Latency fuzzy search p50 / p99", func(r *benchResult) string { return latencyCell(r.op("fuzzy")) })
	row("Throughput get", func(r *benchResult) string { return throughputCell(r.op("get")) })
	row("Throughput set", func(r *benchResult) string { return throughputCell(r.op("set")) })
	if slices.ContainsFunc(ran, func(r benchResult) bool { return r.Near != nil }) {
		row("Latency hot get near p50 / p99", func(r *benchResult) string { return latencyCell(r.op("near_hot_get")) })
		row("Latency hot get backend p50 / p99", func(r *benchResult) string { return latencyCell(r.op("backend_hot_get")) })
		row("Throughput hot get near", func(r *benchResult) string { return throughputCell(r.op("near_hot_get")) })
		row("Throughput hot get backend", func(r *benchResult) string { return throughputCell(r.op("backend_hot_get")) })
		row("Near cache", func(r *benchResult) string {
			if r.Near == nil {
				return "-"
			}
			mode := r.Near.Mode
			if mode == "" {
				mode = "connecting"
			}
			return fmt.Sprintf("%s, %d hot keys, hit ratio %.1f%%", mode, r.Near.HotKeys, 100*r.Near.HitRatio)
		})
	}
	row("Tags", func(r *benchResult) string { return yesNo(r.op("tagged_set")) })
	row("Fuzzy search", func(r *benchResult) string { return yesNo(r.op("fuzzy")) })
	if err := a.print(t, nil); err != nil {
		return err
	}
	if a.output == "table" {
		fmt.Fprintf(a.stdout, "\nMeasured on this machine: %d ops per operation (%d fuzzy searches over %d+ keys), %d-byte values, concurrency %d, GOMAXPROCS %d, %s %s/%s.\n",
			o.ops, o.fuzzyOps, 2*o.keys, o.valueSize, o.concurrency, runtime.GOMAXPROCS(0), runtime.Version(), runtime.GOOS, runtime.GOARCH)
	}
	return a.benchStatus(results)
}

// benchStatus reports every failed measurement on standard error and
// returns the exit status: 3 when no backend could be reached, 1 when any
// measured operation failed (an unsupported one is not a failure).
func (a *app) benchStatus(results []benchResult) error {
	ran, failed := 0, 0
	for _, r := range results {
		if r.Skipped != "" {
			continue
		}
		ran++
		for _, op := range r.Ops {
			if op.Error != "" && !op.Unsupported {
				failed++
				fmt.Fprintf(a.stderr, "yokedcache: bench: %s %s failed: %s\n", r.Backend, op.Op, op.Error)
			}
		}
	}
	switch {
	case ran == 0:
		return withCode(exitConnFail, errors.New("bench: no backend could be reached"))
	case failed > 0:
		return withCode(exitError, fmt.Errorf("bench: %d measured operation(s) failed", failed))
	}
	return nil
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
