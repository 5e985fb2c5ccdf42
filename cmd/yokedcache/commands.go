package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"go.yaml.in/yaml/v3"

	"github.com/yokedcache/yokedcache"
	"github.com/yokedcache/yokedcache/backend"
	"github.com/yokedcache/yokedcache/backend/memory"
)

// ---- ping ----

func (a *app) pingCommand() *cobra.Command {
	var n int
	var interval time.Duration
	var showTiming bool
	var timeout string
	cmd := &cobra.Command{
		Use:   "ping",
		Short: "Check that the backend is reachable (exit 3 if not)",
		Example: `  yokedcache ping -r redis://localhost:6379/0
  yokedcache ping -t 2
  yokedcache ping --count 5 --interval 200ms --show-timing`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if n < 1 {
				return withCode(exitUsage, fmt.Errorf("--count must be at least 1"))
			}
			if interval < 0 {
				return withCode(exitUsage, fmt.Errorf("--interval %v: must not be negative", interval))
			}
			pingTimeout, err := backend.ParseDuration(timeout)
			if err == nil && pingTimeout <= 0 {
				err = errors.New("must be > 0")
			}
			if err != nil {
				return withCode(exitUsage, fmt.Errorf("--timeout (-t) %q: %v: want seconds (as in Python YokedCache) or a Go duration such as 500ms", timeout, err))
			}
			// --timeout is each ping's bound: the Cache's own health
			// timeout must not cut it shorter.
			c, cfg, err := a.openWith(func(cfg *yokedcache.Config) { cfg.HealthTimeout = pingTimeout })
			if err != nil {
				return err
			}
			defer c.Close()
			if cfg.URL == "" && cfg.RedisURL == "" && cfg.Backend == nil && len(cfg.Routes) == 0 {
				// Python YokedCache's CLI pings redis://localhost:6379/0
				// when nothing is configured; say what this pinged.
				fmt.Fprintln(a.stderr, "yokedcache: note: no backend configured: this pings the in-process memory backend, which is always up; to ping a Redis use -r redis://localhost:6379/0 (Python YokedCache's default) or set YOKEDCACHE_REDIS_URL")
			}
			type result struct {
				OK        bool    `json:"ok"`
				LatencyMS float64 `json:"latency_ms"`
				Error     string  `json:"error,omitempty"`
			}
			var results []result
			var lat []time.Duration
			failed, refused := 0, false
			for i := 0; i < n; i++ {
				if i > 0 {
					select {
					case <-time.After(interval):
					case <-a.ctx.Done():
						return withCode(exitError, a.ctx.Err())
					}
				}
				ctx, cancel := context.WithTimeout(a.ctx, pingTimeout)
				start := time.Now()
				err := c.Ping(ctx)
				d := time.Since(start)
				cancel()
				r := result{OK: err == nil, LatencyMS: float64(d.Microseconds()) / 1000}
				if err != nil {
					failed++
					// A configuration refusal (a database index out of
					// range) exits 2: it needs a fix, not a retry.
					if exitCodeOf(classify(err)) == exitUsage {
						refused = true
					}
					r.Error = err.Error()
					if a.output == "table" {
						fmt.Fprintf(a.stderr, "FAIL (%s): %v\n", ms(d), err)
					}
				} else {
					lat = append(lat, d)
					if a.output == "table" {
						fmt.Fprintf(a.stdout, "OK (%s)\n", ms(d))
					}
				}
				results = append(results, r)
			}
			if a.output == "table" && showTiming {
				if len(lat) > 0 {
					slices.Sort(lat)
					var sum time.Duration
					for _, d := range lat {
						sum += d
					}
					fmt.Fprintf(a.stdout, "%d pings, %d failed; backend %s; min/avg/max = %s/%s/%s\n",
						n, failed, c.Backend(), ms(lat[0]), ms(sum/time.Duration(len(lat))), ms(lat[len(lat)-1]))
				} else {
					fmt.Fprintf(a.stdout, "%d pings, %d failed; backend %s\n", n, failed, c.Backend())
				}
			}
			if a.output != "table" {
				t := &table{header: []string{"PING", "OK", "LATENCY_MS", "ERROR"}}
				for i, r := range results {
					t.add(fmt.Sprint(i+1), fmt.Sprint(r.OK), fmt.Sprint(r.LatencyMS), r.Error)
				}
				out := map[string]any{"backend": c.Backend(), "pings": results, "failed": failed}
				if err := a.print(t, out); err != nil {
					return err
				}
			}
			if failed > 0 {
				if refused {
					return withCode(exitUsage, nil)
				}
				return withCode(exitConnFail, nil)
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&timeout, "timeout", "t", "5", "time allowed for each ping: seconds (as in Python YokedCache) or a Go duration")
	cmd.Flags().IntVar(&n, "count", 1, "number of pings")
	cmd.Flags().DurationVar(&interval, "interval", time.Second, "time between pings")
	cmd.Flags().BoolVar(&showTiming, "show-timing", false, "print a min/avg/max summary")
	return cmd
}

// ---- stats ----

type statsOutput struct {
	Backend   string            `json:"backend"`
	KeyPrefix string            `json:"key_prefix"`
	Stats     yokedcache.Stats  `json:"stats"`
	Covers    map[string]string `json:"covers"`
	Notes     []string          `json:"notes,omitempty"`
	Time      time.Time         `json:"time"`
	// Rates, with --watch from the second refresh on: the change of the
	// cumulative counters since the previous refresh.
	Rates *statsRates `json:"rates,omitempty"`
}

func scopeText(scope, prefix string) string {
	switch scope {
	case "prefix":
		return fmt.Sprintf("keys under %q in the backend", prefix+":")
	case "backend":
		return "everything in the backend store (all prefixes)"
	case "server":
		return "the whole server (all prefixes and databases)"
	case "mixed":
		return "summed over routes with different scopes (see routes)"
	case "", "unknown":
		return "not reported by this backend"
	}
	return scope
}

func (a *app) statsCommand() *cobra.Command {
	var watch bool
	var interval time.Duration
	var times int
	cmd := &cobra.Command{
		Use:   "stats",
		Short: "Show what the backend knows: keys, memory, evictions, server counters",
		Long: `Show what the backend knows about this cache: keys and bytes under the key
prefix (or for the whole store, as the "covers" column says), evictions,
expirations and backend-specific counters (Redis: server hits/misses, pool).
Hit/miss/set counters of the cache API count this CLI process only.

With --watch, each refresh after the first adds rates over the interval:
the backend's reads/s and hit ratio (server-wide: Redis keyspace hits and
misses, memcached get hits and misses), Redis commands/s, evictions/s,
expirations/s, the change in keys and each near cache's reads/s and hit
ratio.

A near cache (--url ...?near_cache=N, YOKEDCACHE_NEAR_CACHE, near_cache in
the configuration file) is shown per tier: its mode (tracking, stream,
ttl), whether it is live, local hits and misses, copies held against its
bounds, invalidations, resets and lag. The tier lives in each process: the
CLI shows its own.

-o prometheus (or -f prometheus) prints the Prometheus text exposition of
package github.com/yokedcache/yokedcache/prometheus, labelled
cache=<key prefix> (for a file named "prometheus", write -o ./prometheus).`,
		Example: `  yokedcache stats -f json
  yokedcache stats -f csv -o stats.csv
  yokedcache stats -w --interval 5s --times 3
  yokedcache stats -o prometheus`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if interval < 0 || (watch && interval == 0) {
				return withCode(exitUsage, fmt.Errorf("--interval %v: must be > 0", interval))
			}
			if times < 0 {
				return withCode(exitUsage, fmt.Errorf("--times %d: must not be negative (0: until interrupted)", times))
			}
			return a.withCache(func(c *yokedcache.Cache, cfg yokedcache.Config) error {
				var prev *statsSnap
				for i := 0; ; i++ {
					if watch && a.output == "yaml" && i > 0 {
						fmt.Fprintln(a.stdout, "---") // one YAML document per refresh
					}
					cur, err := a.printStats(c, watch, prev)
					if err != nil {
						return err
					}
					prev = cur
					if !watch || (times > 0 && i+1 >= times) {
						return nil
					}
					select {
					case <-time.After(interval):
					case <-a.ctx.Done():
						return nil
					}
					if a.output == "table" || a.output == "prometheus" {
						fmt.Fprintln(a.stdout)
					}
				}
			})
		},
	}
	cmd.Flags().BoolVarP(&watch, "watch", "w", false, "refresh until interrupted, with rates since the previous refresh (-o json: one object per line)")
	cmd.Flags().DurationVar(&interval, "interval", 2*time.Second, "refresh interval with --watch")
	cmd.Flags().IntVar(&times, "times", 0, "with --watch: stop after this many refreshes (0: until interrupted)")
	a.addFormatFlag(cmd)
	return cmd
}

// printStats prints one snapshot, with the rates since prev when it is
// not nil, and returns the snapshot. With watch, JSON output is one
// compact object per line (JSON Lines), so that a stream of snapshots can
// be read line by line.
func (a *app) printStats(c *yokedcache.Cache, watch bool, prev *statsSnap) (*statsSnap, error) {
	ctx, cancel := context.WithTimeout(a.ctx, 30*time.Second)
	defer cancel()
	st, err := c.Stats(ctx)
	if err != nil {
		return nil, err
	}
	cur := &statsSnap{at: time.Now(), st: st}
	if a.output == "prometheus" {
		return cur, a.printPrometheus(c)
	}
	out := statsOutput{Backend: c.Backend(), KeyPrefix: c.KeyPrefix(), Stats: st, Time: cur.at.UTC(), Covers: map[string]string{
		"keys": scopeText(st.Scope, c.KeyPrefix()), "bytes": scopeText(st.Scope, c.KeyPrefix()),
		"evictions": "the backend since it started", "expirations": "the backend since it started",
		"hits": "this CLI process only", "misses": "this CLI process only", "sets": "this CLI process only",
	}}
	if len(st.Near) > 0 {
		out.Covers["near"] = "this CLI process's near cache"
	}
	if prev != nil {
		out.Rates = rates(prev, cur)
	}
	if isProcessLocal(c.Backend()) {
		out.Notes = append(out.Notes, "the memory backend lives inside one process: this CLI sees its own, empty cache; point it at a shared backend (--url, --redis-url) to inspect your application's data")
	}
	t := &table{header: []string{"METRIC", "VALUE", "COVERS"}}
	t.add("backend", out.Backend, "")
	t.add("key_prefix", c.KeyPrefix(), "")
	t.add("keys", count(st.Keys), out.Covers["keys"])
	t.add("bytes", humanBytes(st.Bytes), out.Covers["bytes"])
	t.add("evictions", fmt.Sprint(st.Evictions), out.Covers["evictions"])
	t.add("expirations", fmt.Sprint(st.Expirations), out.Covers["expirations"])
	for _, k := range slices.Sorted(maps.Keys(st.Extra)) {
		if m, ok := st.Extra[k].(map[string]any); ok {
			for _, sub := range slices.Sorted(maps.Keys(m)) {
				t.add(k+"."+sub, cellText(m[sub]), "backend-reported")
			}
			continue
		}
		t.add(k, cellText(st.Extra[k]), "backend-reported")
	}
	for _, r := range st.Routes {
		name := r.Route
		if name == "" {
			name = "(default)"
		}
		v := fmt.Sprintf("%s keys, %s (%s)", count(r.Keys), humanBytes(r.Bytes), r.Backend)
		if r.Error != "" {
			v = "error: " + r.Error
		}
		t.add("route "+name, v, scopeText(r.Scope, c.KeyPrefix()))
	}
	t.add("hits", fmt.Sprint(st.Hits), out.Covers["hits"])
	t.add("misses", fmt.Sprint(st.Misses), out.Covers["misses"])
	t.add("sets", fmt.Sprint(st.Sets), out.Covers["sets"])
	for _, b := range st.Breakers {
		name := b.Route
		if name == "" {
			name = "(default)"
		}
		v := fmt.Sprintf("%s (%s; %d opens, %d rejected)", b.State, b.Backend, b.Opens, b.Rejected)
		if b.LastError != "" {
			v += ": " + b.LastError
		}
		t.add("breaker "+name, v, "this process")
	}
	for _, n := range st.Near {
		name := n.Route
		if name == "" {
			name = "(default)"
		}
		t.add("near "+name, nearText(n), "this CLI process's near cache")
	}
	if r := out.Rates; r != nil {
		t.add("interval", fmt.Sprintf("%.1fs", r.IntervalSeconds), "rates below: change since the previous refresh")
		if r.ReadsPerSec != nil {
			t.add("reads/s", fmt.Sprintf("%.1f", *r.ReadsPerSec), r.Source)
			ratio := "-"
			if r.HitRatio != nil {
				ratio = fmt.Sprintf("%.1f%%", 100**r.HitRatio)
			}
			t.add("hit ratio", ratio, r.Source+", over the interval")
		}
		if r.CommandsPerSec != nil {
			t.add("commands/s", fmt.Sprintf("%.1f", *r.CommandsPerSec), "server-wide (Redis INFO total_commands_processed)")
		}
		t.add("evictions/s", fmt.Sprintf("%.1f", r.EvictionsPerSec), out.Covers["evictions"])
		t.add("expirations/s", fmt.Sprintf("%.1f", r.ExpirationsPerSec), out.Covers["expirations"])
		if r.KeysChange != nil {
			t.add("keys change", fmt.Sprintf("%+d", *r.KeysChange), out.Covers["keys"])
		}
		for _, n := range r.Near {
			name := n.Route
			if name == "" {
				name = "(default)"
			}
			ratio := "-"
			if n.HitRatio != nil {
				ratio = fmt.Sprintf("%.1f%%", 100**n.HitRatio)
			}
			t.add("near "+name+" reads/s", fmt.Sprintf("%.1f", n.ReadsPerSec), "this CLI process's near cache")
			t.add("near "+name+" hit ratio", ratio, "this CLI process's near cache, over the interval")
		}
	}
	if a.output == "table" {
		if err := a.print(t, nil); err != nil {
			return nil, err
		}
		for _, n := range out.Notes {
			fmt.Fprintln(a.stdout, "note:", n)
		}
		return cur, nil
	}
	if a.output == "csv" {
		return cur, a.print(t, nil)
	}
	if watch && a.output == "json" {
		return cur, json.NewEncoder(a.stdout).Encode(out)
	}
	return cur, a.print(t, out)
}

func isProcessLocal(name string) bool { return name == "memory" }

// nearText summarizes a near-cache tier in one cell: mode and liveness,
// local hits and misses with their ratio, copies held against the bounds,
// invalidations, resets and the invalidation-stream lag.
func nearText(n yokedcache.NearStats) string {
	mode := n.Mode
	if mode == "" {
		mode = "connecting"
	}
	live := "live"
	if !n.Live {
		live = "not live: reads go to the backend"
	}
	ratio := "-"
	if t := n.Hits + n.Misses; t > 0 {
		ratio = fmt.Sprintf("%.1f%%", 100*float64(n.Hits)/float64(t))
	}
	maxBytes := "unbounded"
	if n.MaxBytes >= 0 {
		maxBytes = humanBytes(n.MaxBytes)
	}
	v := fmt.Sprintf("%s (%s, %s); %d hits, %d misses (hit ratio %s); %d/%d entries, %s/%s; %d invalidations, %d resets, lag %s",
		mode, n.Backend, live, n.Hits, n.Misses, ratio, n.Entries, n.MaxEntries, humanBytes(n.Bytes), maxBytes,
		n.Invalidations, n.Resets, time.Duration(n.LagSeconds*float64(time.Second)))
	if n.Error != "" {
		v += "; last error: " + n.Error
	}
	return v
}

// cellText renders a backend-reported value: strings and numbers as they
// are, anything else as JSON.
func cellText(v any) string {
	switch v.(type) {
	case string, int, int64, uint64, float64, bool:
		return fmt.Sprint(v)
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

// ---- list ----

type keyOutput struct {
	Key        string   `json:"key"`
	TTLSeconds *float64 `json:"ttl_seconds"` // null: unknown; -1: never expires
	Tags       []string `json:"tags"`
	Value      any      `json:"value,omitempty"`
}

func (a *app) listCommand() *cobra.Command {
	var pattern, prefix string
	var tags []string
	var limit int
	var values bool
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List keys (columns KEY TTL TAGS)",
		Example: `  yokedcache list -p user: -l 50
  yokedcache list -P 'user:*' --limit 50
  yokedcache list --tags users --include-values -f json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if limit < 1 {
				return withCode(exitUsage, fmt.Errorf("--limit must be at least 1"))
			}
			if cmd.Flags().Changed("prefix") {
				if cmd.Flags().Changed("pattern") {
					return withCode(exitUsage, fmt.Errorf("give --prefix (-p) or --pattern (-P), not both"))
				}
				if strings.ContainsAny(prefix, "*?[") {
					return withCode(exitUsage, fmt.Errorf("--prefix (-p) %q: -p takes a key prefix, as in Python YokedCache; for a glob use -P/--pattern %q", prefix, prefix))
				}
				pattern = strings.ReplaceAll(prefix, `\`, `\\`) + "*"
			}
			return a.withCache(func(c *yokedcache.Cache, _ yokedcache.Config) error {
				var keys []string
				truncated := false
				var rows []keyOutput
				flush := func() error {
					if len(keys) == 0 {
						return nil
					}
					vals, err := c.GetMany(a.ctx, keys)
					if err != nil {
						return err
					}
					for _, k := range keys {
						v, ok := vals[k]
						if !ok {
							continue // expired or deleted since listed
						}
						if len(tags) > 0 && !hasAny(v.Tags(), tags) {
							continue
						}
						if len(rows) >= limit {
							truncated = true
							return nil
						}
						row := keyOutput{Key: k, Tags: v.Tags()}
						if row.Tags == nil {
							row.Tags = []string{}
						}
						d, err := c.TTL(a.ctx, k)
						row.TTLSeconds = ttlSeconds(d, err == nil)
						if values {
							row.Value, _ = decodeValue(v)
						}
						rows = append(rows, row)
					}
					keys = keys[:0]
					return nil
				}
				// A failing route (for example one that cannot list keys)
				// ends the listing with an error, after the rows the other
				// routes gave.
				var listErr error
				for k, err := range c.Keys(a.ctx, pattern) {
					if err != nil {
						listErr = err
						break
					}
					keys = append(keys, k)
					if len(keys) == 500 {
						if err := flush(); err != nil {
							return err
						}
					}
					if len(rows) >= limit {
						truncated = true
						break
					}
				}
				if err := flush(); err != nil {
					return err
				}
				slices.SortFunc(rows, func(x, y keyOutput) int { return strings.Compare(x.Key, y.Key) })
				header := []string{"KEY", "TTL", "TAGS"}
				if values {
					header = append(header, "VALUE")
				}
				t := &table{header: header}
				for _, r := range rows {
					ttl := "-"
					if r.TTLSeconds != nil {
						if *r.TTLSeconds < 0 {
							ttl = "never"
						} else {
							ttl = ttlText(time.Duration(*r.TTLSeconds*float64(time.Second)), true)
						}
					}
					cells := []string{r.Key, ttl, strings.Join(r.Tags, ",")}
					if values {
						cells = append(cells, valueText(r.Value))
					}
					t.add(cells...)
				}
				if truncated {
					fmt.Fprintf(a.stderr, "yokedcache: showing the first %d keys; raise --limit to see more\n", limit)
				}
				if len(rows) == 0 && a.output == "table" && isProcessLocal(c.Backend()) {
					fmt.Fprintln(a.stderr, "yokedcache: note: the memory backend is private to this process; use --url or --redis-url to list a shared backend")
				}
				if rows == nil {
					rows = []keyOutput{}
				}
				if listErr != nil && len(rows) == 0 {
					return listErr
				}
				if err := a.print(t, rows); err != nil {
					return err
				}
				return listErr
			})
		},
	}
	cmd.Flags().StringVarP(&prefix, "prefix", "p", "", "only keys starting with this prefix (as in Python YokedCache)")
	cmd.Flags().StringVarP(&pattern, "pattern", "P", "*", "glob over user keys (* ? [...], \\ escapes)")
	cmd.Flags().StringSliceVarP(&tags, "tags", "t", nil, "only entries carrying any of these tags (comma-separated)")
	cmd.Flags().IntVarP(&limit, "limit", "l", 1000, "maximum number of keys")
	cmd.Flags().BoolVar(&values, "include-values", false, "show values")
	a.addFormatFlag(cmd)
	return cmd
}

func hasAny(have, want []string) bool {
	for _, w := range want {
		if slices.Contains(have, w) {
			return true
		}
	}
	return false
}

// ---- get / set / delete ----

func (a *app) getCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "get KEY",
		Short: "Print a value (exit 1 if not found)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			key := args[0]
			return a.withCache(func(c *yokedcache.Cache, _ yokedcache.Config) error {
				vals, err := c.GetMany(a.ctx, []string{key})
				if err != nil {
					// One key: report it as the get it is.
					if ye, ok := errors.AsType[*yokedcache.Error](err); ok && ye.Op == "get_many" {
						ye.Op, ye.Key = "get", key
					}
					return err
				}
				v, ok := vals[key]
				if !ok {
					return withCode(exitError, fmt.Errorf("%q: not found", key))
				}
				x, err := decodeValue(v)
				if err != nil {
					return err
				}
				d, terr := c.TTL(a.ctx, key)
				out := keyOutput{Key: key, TTLSeconds: ttlSeconds(d, terr == nil), Tags: v.Tags(), Value: x}
				if out.Tags == nil {
					out.Tags = []string{}
				}
				switch a.output {
				case "table":
					fmt.Fprintln(a.stdout, valueText(x))
					return nil
				case "csv":
					t := &table{header: []string{"KEY", "TTL", "TAGS", "VALUE"}}
					t.add(key, ttlText(d, terr == nil), strings.Join(out.Tags, ","), valueText(x))
					return a.print(t, nil)
				}
				return a.print(nil, out)
			})
		},
	}
}

func (a *app) setCommand() *cobra.Command {
	var ttl string
	var tags []string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "set KEY VALUE",
		Short: "Store a value ('-' reads it from standard input)",
		Example: `  yokedcache set greeting hello --ttl 60
  yokedcache set user:1 '{"name":"Alice"}' --json --tags users,tenant:7
  cat big.json | yokedcache set report - --json --ttl 1h`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			key, raw := args[0], args[1]
			if raw == "-" {
				b, err := io.ReadAll(a.stdin)
				if err != nil {
					return withCode(exitError, fmt.Errorf("reading standard input: %w", err))
				}
				raw = strings.TrimSuffix(string(b), "\n")
			}
			var value any = raw
			if asJSON {
				dec := json.NewDecoder(strings.NewReader(raw))
				dec.UseNumber()
				var v any
				if err := dec.Decode(&v); err != nil {
					return withCode(exitUsage, fmt.Errorf("--json: the value is not JSON: %v: %w", err, yokedcache.ErrInvalidValue))
				}
				// Only white space may follow the value (dec.More is
				// false before a stray '}' or ']').
				if _, err := dec.Token(); err != io.EOF {
					return withCode(exitUsage, fmt.Errorf("--json: trailing data after the JSON value: %w", yokedcache.ErrInvalidValue))
				}
				value = v
			}
			var opts []yokedcache.SetOption
			if ttl != "" {
				d, err := parseTTL(ttl)
				if err != nil {
					hint := ""
					if !strings.ContainsAny(ttl, "0123456789") {
						hint = " (-t is the TTL, as in Python YokedCache; tags are --tags)"
					}
					return withCode(exitUsage, fmt.Errorf("--ttl%s: %w", hint, err))
				}
				opts = append(opts, yokedcache.WithTTL(d))
			}
			if len(tags) > 0 {
				opts = append(opts, yokedcache.WithTags(tags...))
			}
			return a.withCache(func(c *yokedcache.Cache, _ yokedcache.Config) error {
				if err := c.Set(a.ctx, key, value, opts...); err != nil {
					return err
				}
				return a.done(map[string]any{"key": key, "stored": true}, "OK")
			})
		},
	}
	cmd.Flags().StringVarP(&ttl, "ttl", "t", "", "time to live: seconds (as in Python YokedCache) or a Go duration (default: the configured default TTL; 'never' for no expiry)")
	cmd.Flags().StringSliceVar(&tags, "tags", nil, "tags (comma-separated)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "parse VALUE as JSON and store the structure")
	return cmd
}

// parseTTL parses a --ttl or warm-file ttl: seconds, a Go duration or
// "never". Errors (including NaN and infinities) match ErrInvalidTTL.
func parseTTL(s string) (time.Duration, error) {
	if s == "never" || s == "-1" {
		return yokedcache.NoExpiry, nil
	}
	d, err := backend.ParseDuration(s)
	if err == nil && d == 0 {
		err = fmt.Errorf("%q: a TTL must be > 0 (or 'never')", s)
	}
	if err != nil {
		return 0, fmt.Errorf("%v: %w", err, yokedcache.ErrInvalidTTL)
	}
	return d, nil
}

// done prints a one-line confirmation (table) or a small object.
func (a *app) done(obj map[string]any, line string) error {
	if a.output == "table" || a.output == "csv" {
		fmt.Fprintln(a.stdout, line)
		return nil
	}
	return a.print(nil, obj)
}

func (a *app) deleteCommand() *cobra.Command {
	return &cobra.Command{
		Use:     "delete KEY...",
		Aliases: []string{"del"},
		Short:   "Delete keys and report how many existed (exit 1 if any was not found)",
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withCache(func(c *yokedcache.Cache, _ yokedcache.Config) error {
				keys := slices.Compact(slices.Sorted(slices.Values(args)))
				n, err := c.DeleteMany(a.ctx, keys...)
				if err != nil {
					return err
				}
				if err := a.done(map[string]any{"deleted": n, "requested": len(keys)}, fmt.Sprintf("deleted %d of %d", n, len(keys))); err != nil {
					return err
				}
				if n < int64(len(keys)) {
					// As in Python YokedCache: a key that was not there
					// is exit 1.
					if len(keys) == 1 {
						return withCode(exitError, fmt.Errorf("%q: not found", keys[0]))
					}
					return withCode(exitError, fmt.Errorf("%d of %d keys not found", int64(len(keys))-n, len(keys)))
				}
				return nil
			})
		},
	}
}

// ---- invalidate / flush ----

func (a *app) invalidateCommand() *cobra.Command {
	var tags []string
	var pattern string
	cmd := &cobra.Command{
		Use:   "invalidate",
		Short: "Invalidate entries by tag (--tags) or key pattern (--pattern)",
		Example: `  yokedcache invalidate --tags users
  yokedcache invalidate --pattern 'session:*'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if len(tags) == 0 && pattern == "" {
				return withCode(exitUsage, fmt.Errorf("give --tags or --pattern"))
			}
			return a.withCache(func(c *yokedcache.Cache, _ yokedcache.Config) error {
				// A failing route does not undo the other routes' work:
				// print what was invalidated, then fail with the error.
				out := map[string]any{}
				var lines []string
				var errs []error
				if len(tags) > 0 {
					n, err := c.InvalidateTags(a.ctx, tags...)
					errs = append(errs, err)
					out["tags"], out["invalidated_by_tags"] = tags, n
					if n < 0 {
						lines = append(lines, fmt.Sprintf("invalidated tags %s (the backend cannot count entries)", strings.Join(tags, ",")))
					} else {
						lines = append(lines, fmt.Sprintf("invalidated %d entries tagged %s", n, strings.Join(tags, ",")))
					}
				}
				if pattern != "" {
					n, err := c.InvalidatePattern(a.ctx, pattern)
					errs = append(errs, err)
					out["pattern"], out["invalidated_by_pattern"] = pattern, n
					lines = append(lines, fmt.Sprintf("invalidated %d keys matching %s", n, pattern))
				}
				err := errors.Join(errs...)
				if err != nil {
					out["error"] = err.Error()
				}
				if perr := a.done(out, strings.Join(lines, "\n")); perr != nil {
					return perr
				}
				return err
			})
		},
	}
	cmd.Flags().StringSliceVarP(&tags, "tags", "t", nil, "tags to invalidate (comma-separated)")
	cmd.Flags().StringVarP(&pattern, "pattern", "p", "", "glob over user keys")
	return cmd
}

func (a *app) flushCommand() *cobra.Command {
	var yes, all bool
	var pattern, key string
	var tags []string
	cmd := &cobra.Command{
		Use:   "flush",
		Short: "Remove entries: --all under the key prefix, or by --pattern, --tags or --key (asks unless --force)",
		Long: `Remove entries, as Python YokedCache's flush does: give exactly one of
--all (every key under the key prefix; other prefixes are untouched),
--pattern GLOB, --tags a,b or --key KEY. It asks for confirmation unless
--force (-f) or --yes (-y) is given. A --key that does not exist exits 1.`,
		Example: `  yokedcache flush --all --force
  yokedcache flush --pattern 'temp:*' -f
  yokedcache flush --tags user_data,session_data --force
  yokedcache flush --key user:1`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var chosen []string
			for _, name := range []string{"all", "pattern", "tags", "key"} {
				if cmd.Flags().Changed(name) {
					chosen = append(chosen, "--"+name)
				}
			}
			switch {
			case len(chosen) == 0:
				return withCode(exitUsage, errors.New("flush needs what to remove: --all (every key under the key prefix), --pattern GLOB, --tags a,b or --key KEY, as in Python YokedCache (e.g. yokedcache flush --all --force)"))
			case len(chosen) > 1:
				return withCode(exitUsage, fmt.Errorf("give one of --all, --pattern, --tags, --key (got %s)", strings.Join(chosen, ", ")))
			case cmd.Flags().Changed("all") && !all:
				return withCode(exitUsage, errors.New("--all=false removes nothing; leave it out"))
			case cmd.Flags().Changed("pattern") && pattern == "",
				cmd.Flags().Changed("key") && key == "",
				cmd.Flags().Changed("tags") && len(tags) == 0:
				return withCode(exitUsage, fmt.Errorf("%s: empty value", chosen[0]))
			}
			return a.withCache(func(c *yokedcache.Cache, _ yokedcache.Config) error {
				if !yes {
					var what string
					switch {
					case all:
						what = fmt.Sprintf("every key under %q", c.KeyPrefix()+":")
					case pattern != "":
						what = fmt.Sprintf("keys matching %q", pattern)
					case len(tags) > 0:
						what = fmt.Sprintf("entries tagged %s", strings.Join(tags, ","))
					default:
						what = fmt.Sprintf("key %q", key)
					}
					fmt.Fprintf(a.stderr, "Remove %s on the %s backend? Other prefixes are untouched. [y/N] ", what, c.Backend())
					line, _ := bufio.NewReader(a.stdin).ReadString('\n')
					if ans := strings.ToLower(strings.TrimSpace(line)); ans != "y" && ans != "yes" {
						return withCode(exitError, errors.New("flush aborted"))
					}
				}
				switch {
				case all:
					if err := c.Flush(a.ctx); err != nil {
						return err
					}
					return a.done(map[string]any{"flushed": true, "key_prefix": c.KeyPrefix()}, fmt.Sprintf("flushed %q", c.KeyPrefix()+":"))
				case pattern != "":
					n, err := c.InvalidatePattern(a.ctx, pattern)
					if err != nil {
						return err
					}
					return a.done(map[string]any{"pattern": pattern, "deleted": n}, fmt.Sprintf("deleted %d keys matching %s", n, pattern))
				case len(tags) > 0:
					n, err := c.InvalidateTags(a.ctx, tags...)
					if err != nil {
						return err
					}
					line := fmt.Sprintf("deleted %d entries tagged %s", n, strings.Join(tags, ","))
					if n < 0 {
						line = fmt.Sprintf("invalidated tags %s (the backend cannot count entries)", strings.Join(tags, ","))
					}
					return a.done(map[string]any{"tags": tags, "deleted": n}, line)
				}
				n, err := c.DeleteMany(a.ctx, key)
				if err != nil {
					return err
				}
				if err := a.done(map[string]any{"key": key, "deleted": n}, fmt.Sprintf("deleted %d of 1", n)); err != nil {
					return err
				}
				if n == 0 {
					return withCode(exitError, fmt.Errorf("%q: not found", key))
				}
				return nil
			})
		},
	}
	cmd.Flags().BoolVarP(&all, "all", "a", false, "remove every key under the key prefix")
	cmd.Flags().StringVarP(&pattern, "pattern", "p", "", "remove keys matching this glob")
	cmd.Flags().StringSliceVarP(&tags, "tags", "t", nil, "remove entries carrying any of these tags (comma-separated)")
	cmd.Flags().StringVarP(&key, "key", "k", "", "remove this key")
	cmd.Flags().BoolVarP(&yes, "force", "f", false, "do not ask for confirmation (as in Python YokedCache)")
	cmd.Flags().BoolVarP(&yes, "yes", "y", false, "do not ask for confirmation")
	return cmd
}

// ---- search ----

func (a *app) searchCommand() *cobra.Command {
	var threshold, max int
	var tags []string
	cmd := &cobra.Command{
		Use:   "search QUERY",
		Short: "Fuzzy-search keys (scores like fuzzywuzzy's partial_ratio)",
		Example: `  yokedcache search alice -t 60 -m 5
  yokedcache search alice --tags users -f json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if threshold < 0 || threshold > 100 {
				return withCode(exitUsage, fmt.Errorf("--threshold %d: want 0-100", threshold))
			}
			if max < 1 {
				return withCode(exitUsage, fmt.Errorf("--max-results %d: want at least 1", max))
			}
			return a.withCache(func(c *yokedcache.Cache, _ yokedcache.Config) error {
				opts := []yokedcache.SearchOption{yokedcache.WithThreshold(threshold), yokedcache.WithMaxResults(max)}
				if len(tags) > 0 {
					opts = append(opts, yokedcache.WithSearchTags(tags...))
				}
				res, err := c.FuzzySearch(a.ctx, args[0], opts...)
				if err != nil {
					return err
				}
				type hit struct {
					Key   string `json:"key"`
					Score int    `json:"score"`
					Value any    `json:"value"`
				}
				hits := []hit{}
				t := &table{header: []string{"SCORE", "KEY", "VALUE"}}
				for _, r := range res {
					x, _ := decodeValue(r.Value)
					hits = append(hits, hit{r.Key, r.Score, x})
					t.add(fmt.Sprint(r.Score), r.Key, valueText(x))
				}
				return a.print(t, hits)
			})
		},
	}
	cmd.Flags().IntVarP(&threshold, "threshold", "t", 80, "minimum score 0-100")
	cmd.Flags().IntVarP(&max, "max-results", "m", 10, "maximum number of results")
	cmd.Flags().StringSliceVar(&tags, "tags", nil, "only entries carrying any of these tags")
	a.addFormatFlag(cmd)
	return cmd
}

// ---- health ----

func (a *app) healthCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "health",
		Short: "Detailed health check (exit 0 healthy, 1 degraded, 3 unhealthy)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, _, err := a.open()
			if err != nil {
				return err
			}
			defer c.Close()
			ctx, cancel := context.WithTimeout(a.ctx, 30*time.Second)
			defer cancel()
			r := c.DetailedHealthCheck(ctx)
			t := &table{header: []string{"CHECK", "VALUE"}}
			t.add("status", r.Status)
			t.add("backend", r.Backend)
			t.add("latency", ms(r.Latency))
			t.add("keys", count(r.Stats.Keys))
			for _, k := range slices.Sorted(maps.Keys(r.Details)) {
				b, _ := json.Marshal(r.Details[k])
				t.add(k, string(b))
			}
			for _, rh := range r.Routes {
				name := rh.Route
				if name == "" {
					name = "(default)"
				}
				v := fmt.Sprintf("%s (%s, %s)", rh.Status, rh.Backend, ms(rh.Latency))
				if rh.Error != "" {
					v += ": " + rh.Error
				}
				t.add("routes."+name, v)
			}
			for _, w := range r.Warnings {
				t.add("warning", w)
			}
			for _, e := range r.Errors {
				t.add("error", e)
			}
			if err := a.print(t, r); err != nil {
				return err
			}
			switch r.Status {
			case "healthy":
				return nil
			case "degraded":
				return withCode(exitError, nil)
			}
			return withCode(exitConnFail, nil)
		},
	}
}

// ---- warm ----

// warmEntry is one entry of a warm file.
type warmEntry struct {
	Key   string   `yaml:"key" json:"key"`
	Value any      `yaml:"value" json:"value"`
	TTL   string   `yaml:"ttl" json:"ttl"`
	Tags  []string `yaml:"tags" json:"tags"`
}

func (a *app) warmCommand() *cobra.Command {
	var configFile string
	cmd := &cobra.Command{
		Use:   "warm [FILE]",
		Short: "Load entries from a YAML or JSON file ('-' for standard input)",
		Long: `Load entries from a YAML or JSON file: a list of entries, a mapping with
an "entries" list, or Python YokedCache's warm file (a "warm" mapping with
an "items" list). Each entry has key, value (any YAML/JSON value; strings
are stored as strings, everything else as JSON), and optional ttl (seconds
or a Go duration, or "never") and tags.

  entries:
    - key: config:site
      value: {theme: dark, beta: true}
      ttl: 1h
      tags: [config]
    - key: greeting
      value: hello

  warm:            # Python YokedCache's layout
    items:
      - {key: greeting, value: hello, ttl: 60, tags: [demo]}

The file is FILE, or --config-file FILE, or else, as in Python
YokedCache, the configuration file (-c/--config or
$YOKEDCACHE_CONFIG_FILE), which may then hold both the settings and the
"warm" section.`,
		Example: `  yokedcache warm entries.yaml
  yokedcache warm --config-file warming_config.yaml
  yokedcache -c app.yaml warm`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var file string
			switch {
			case len(args) == 1 && configFile != "":
				return withCode(exitUsage, fmt.Errorf("give the warm file once: FILE or --config-file, not both"))
			case len(args) == 1:
				file = args[0]
			case configFile != "":
				file = configFile
			case a.configFile != "":
				file = a.configFile
			default:
				if v, ok := a.lookup(yokedcache.EnvConfigFile); ok && strings.TrimSpace(v) != "" {
					file = strings.TrimSpace(v)
				}
			}
			if file == "" {
				return withCode(exitUsage, fmt.Errorf("warm needs a file: yokedcache warm FILE, or --config-file FILE as in Python YokedCache"))
			}
			args = []string{file}
			var data []byte
			var err error
			if args[0] == "-" {
				data, err = io.ReadAll(a.stdin)
			} else {
				data, err = os.ReadFile(args[0])
			}
			if err != nil {
				return withCode(exitUsage, err)
			}
			entries, err := parseWarm(data)
			if err != nil {
				return withCode(exitUsage, fmt.Errorf("%s: %w", args[0], err))
			}
			type prepared struct {
				key  string
				val  any
				opts []yokedcache.SetOption
			}
			var items []prepared
			for i, e := range entries {
				if e.Key == "" {
					return withCode(exitUsage, fmt.Errorf("%s: entry %d has no key", args[0], i+1))
				}
				var opts []yokedcache.SetOption
				if e.TTL != "" {
					d, err := parseTTL(e.TTL)
					if err != nil {
						return withCode(exitUsage, fmt.Errorf("%s: entry %q: ttl: %w", args[0], e.Key, err))
					}
					opts = append(opts, yokedcache.WithTTL(d))
				}
				if len(e.Tags) > 0 {
					opts = append(opts, yokedcache.WithTags(e.Tags...))
				}
				items = append(items, prepared{e.Key, e.Value, opts})
			}
			return a.withCache(func(c *yokedcache.Cache, _ yokedcache.Config) error {
				for _, it := range items {
					if err := c.Set(a.ctx, it.key, it.val, it.opts...); err != nil {
						return err
					}
				}
				return a.done(map[string]any{"warmed": len(items)}, fmt.Sprintf("warmed %d entries", len(items)))
			})
		},
	}
	cmd.Flags().StringVar(&configFile, "config-file", "", "the warm file (Python YokedCache's spelling of FILE)")
	return cmd
}

func parseWarm(data []byte) ([]warmEntry, error) {
	var node yaml.Node
	if err := yaml.Unmarshal(data, &node); err != nil {
		return nil, err
	}
	if len(node.Content) == 0 {
		return nil, nil
	}
	doc := node.Content[0]
	var list *yaml.Node
	switch doc.Kind {
	case yaml.SequenceNode:
		list = doc
	case yaml.MappingNode:
		if py := mappingValue(doc, "warm"); py != nil {
			// Python YokedCache's layout: warm: {items: [...]}. The
			// other top-level keys are the file's settings.
			if py.Kind != yaml.MappingNode {
				return nil, fmt.Errorf(`line %d: "warm" must be a mapping with an "items" list`, py.Line)
			}
			if err := onlyFields(py, "items"); err != nil {
				return nil, fmt.Errorf(`%w ("warm" has an "items" list)`, err)
			}
			list = mappingValue(py, "items")
			break
		}
		if mappingValue(doc, "entries") == nil {
			return nil, errors.New(`no "entries" list and no "warm" section (Python YokedCache's warm: {items: [...]})`)
		}
		if err := onlyFields(doc, "entries"); err != nil {
			return nil, fmt.Errorf(`%w (a warm file has an "entries" list)`, err)
		}
		list = mappingValue(doc, "entries")
	default:
		return nil, errors.New(`want a list of entries, a mapping with "entries", or Python YokedCache's "warm" mapping with "items"`)
	}
	if list == nil || (list.Kind == yaml.ScalarNode && list.Tag == "!!null") {
		return nil, nil
	}
	if list.Kind != yaml.SequenceNode {
		return nil, fmt.Errorf("line %d: want a list of entries (each with key, value, and optional ttl and tags)", list.Line)
	}
	for _, item := range list.Content {
		if item.Kind != yaml.MappingNode {
			return nil, fmt.Errorf("line %d: an entry must be a mapping with key, value, and optional ttl and tags", item.Line)
		}
		if err := onlyFields(item, "key", "value", "ttl", "tags"); err != nil {
			return nil, fmt.Errorf("%w (an entry has key, value, and optional ttl and tags)", err)
		}
	}
	// Decoding the nodes of the file itself keeps its line numbers.
	var entries []warmEntry
	if err := list.Decode(&entries); err != nil {
		return nil, warmDecodeErr(err)
	}
	for i := range entries {
		entries[i].Value = jsonFriendly(entries[i].Value)
	}
	return entries, nil
}

// onlyFields reports the first key of mapping m that is not one of names.
func onlyFields(m *yaml.Node, names ...string) error {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if k := m.Content[i]; !slices.Contains(names, k.Value) {
			return fmt.Errorf("line %d: unknown field %q", k.Line, k.Value)
		}
	}
	return nil
}

// jsonFriendly converts YAML's map[any]any (non-string keys) to
// map[string]any so that the JSON codec can encode it.
func jsonFriendly(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			x[k] = jsonFriendly(e)
		}
		return x
	case map[any]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[fmt.Sprint(k)] = jsonFriendly(e)
		}
		return m
	case []any:
		for i, e := range x {
			x[i] = jsonFriendly(e)
		}
		return x
	}
	return v
}

// ---- export-config ----

func (a *app) exportConfigCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "export-config",
		Short: "Print the effective configuration (YAML, or JSON with -o json) with secrets redacted",
		Example: `  yokedcache export-config
  yokedcache export-config -o config.yaml
  yokedcache export-config -f json -o config.json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := a.config()
			if err != nil {
				return err
			}
			fc := cfg.Redacted()
			if fc.KeyPrefix == "" {
				fc.KeyPrefix = yokedcache.DefaultKeyPrefix
			}
			if fc.DefaultTTL == 0 {
				fc.DefaultTTL = yokedcache.Duration(yokedcache.DefaultTTL)
			}
			if fc.TTLJitterPercent == nil {
				j := yokedcache.DefaultTTLJitterPercent
				fc.TTLJitterPercent = &j
			}
			if fc.MemoryMaxSize == 0 {
				fc.MemoryMaxSize = memory.DefaultMaxSize
			}
			if fc.MemoryCleanupInterval == 0 {
				fc.MemoryCleanupInterval = yokedcache.Duration(memory.DefaultCleanupInterval)
			}
			if fc.Compression == "" {
				fc.Compression = "none"
			}
			if fc.CompressionThreshold == 0 {
				fc.CompressionThreshold = yokedcache.DefaultCompressionThreshold
			}
			if fc.URL == "" && fc.RedisURL == "" {
				fc.URL = "mem://"
			}
			if a.output == "json" {
				enc := json.NewEncoder(a.stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(fc)
			}
			enc := yaml.NewEncoder(a.stdout)
			enc.SetIndent(2)
			if err := enc.Encode(fc); err != nil {
				return err
			}
			return enc.Close()
		},
	}
	a.addFormatFlag(cmd)
	return cmd
}
