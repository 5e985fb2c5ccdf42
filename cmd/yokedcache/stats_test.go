package main_test

import (
	"strings"
	"testing"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/yokedcache/yokedcache/internal/testserver"
)

// parseExposition checks that s is the Prometheus text format and
// returns its families by name.
func parseExposition(t *testing.T, s string) map[string]bool {
	t.Helper()
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(strings.NewReader(s))
	if err != nil {
		t.Fatalf("not the Prometheus text format: %v\n%s", err, s)
	}
	names := map[string]bool{}
	for n := range mfs {
		names[n] = true
	}
	return names
}

func TestStatsPrometheus(t *testing.T) {
	for _, args := range [][]string{{"stats", "-o", "prometheus"}, {"stats", "-f", "prometheus"}} {
		r := cli(t, nil, "", args...).want(t, 0,
			"# TYPE yokedcache_hits_total counter",
			`yokedcache_backend_up{backend="memory",cache="yokedcache",route=""} 1`,
			`yokedcache_keys{backend="memory",cache="yokedcache",route=""} 0`)
		names := parseExposition(t, r.stdout)
		for _, n := range []string{"yokedcache_hits_total", "yokedcache_misses_total", "yokedcache_evictions_total"} {
			if !names[n] {
				t.Errorf("%v: no %s in\n%s", args, n, r.stdout)
			}
		}
	}
	// -o FILE with -f prometheus writes the exposition to the file.
	file := t.TempDir() + "/metrics.prom"
	cli(t, nil, "", "stats", "-o", file, "-f", "prometheus").want(t, 0).stderrHas(t, "output written to")
	// Only stats has the format.
	cli(t, nil, "", "get", "k", "-o", "prometheus").want(t, 2).stderrHas(t, "want table, json, csv or yaml")
	cli(t, nil, "", "stats", "-o", "json", "-f", "prometheus").want(t, 2).stderrHas(t, "disagree")
}

// watchLine is the part of a stats --watch -o json line the tests read.
type watchLine struct {
	Rates *struct {
		IntervalSeconds float64  `json:"interval_seconds"`
		ReadsPerSec     *float64 `json:"reads_per_sec"`
		HitRatio        *float64 `json:"hit_ratio"`
		CommandsPerSec  *float64 `json:"commands_per_sec"`
		KeysChange      *int64   `json:"keys_change"`
		Source          string   `json:"source"`
	} `json:"rates"`
}

func TestStatsWatchRatesMemory(t *testing.T) {
	r := cli(t, nil, "", "stats", "--watch", "--interval", "10ms", "--times", "2", "-o", "json").want(t, 0)
	lines := strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n")
	if len(lines) != 2 {
		t.Fatalf("--watch --times 2 -o json: want 2 lines:\n%s", r.stdout)
	}
	var first, second watchLine
	jsonOf(t, lines[0], &first)
	jsonOf(t, lines[1], &second)
	if first.Rates != nil {
		t.Errorf("first refresh has rates %+v; want none (nothing to compare with)", first.Rates)
	}
	if r := second.Rates; r == nil || r.IntervalSeconds <= 0 || r.KeysChange == nil || *r.KeysChange != 0 || r.ReadsPerSec != nil {
		t.Errorf("second refresh rates %+v; want an interval, keys change 0, no server reads (memory)", r)
	}
	cli(t, nil, "", "stats", "--watch", "--interval", "10ms", "--times", "2").want(t, 0, "interval", "evictions/s", "keys change")
}

// On Redis the rates come from the server's counters: the reads and hit
// ratio of the interval.
func TestStatsWatchRatesRedis(t *testing.T) {
	srv := testserver.StartRedis(t, testserver.RedisOptions{})
	env := map[string]string{"YOKEDCACHE_REDIS_URL": srv.URL()}
	cli(t, env, "", "set", "k", "v").want(t, 0)
	cli(t, env, "", "get", "k").want(t, 0)
	cli(t, env, "", "get", "nope").want(t, 1)
	r := cli(t, env, "", "stats", "--watch", "--interval", "100ms", "--times", "2", "-o", "json").want(t, 0)
	lines := strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n")
	if len(lines) != 2 {
		t.Fatalf("want 2 lines:\n%s", r.stdout)
	}
	var second watchLine
	jsonOf(t, lines[1], &second)
	rt := second.Rates
	// The first refresh's own commands (DBSIZE, SCAN, INFO) fall in the
	// interval, so commands/s > 0; reads may be 0.
	if rt == nil || rt.ReadsPerSec == nil || rt.CommandsPerSec == nil || *rt.CommandsPerSec <= 0 || !strings.Contains(rt.Source, "Redis") {
		t.Fatalf("Redis rates %+v; want reads/s, commands/s > 0 and the source", rt)
	}
	cli(t, env, "", "stats", "--watch", "--interval", "100ms", "--times", "2").want(t, 0, "reads/s", "hit ratio", "commands/s")
	cli(t, env, "", "stats", "-o", "prometheus").want(t, 0,
		`yokedcache_keys{backend="redis",cache="yokedcache",route=""} 1`, "yokedcache_pool_connections")
}
