package redis

import (
	"context"
	"strconv"
	"strings"
	"time"

	"github.com/redis/rueidis"

	"github.com/yokedcache/yokedcache/backend"
)

const bytesSample = 1000

// isNoPerm reports a NOPERM reply: the server answered, so it is reachable
// and we are authenticated, but the ACL refuses the command.
func isNoPerm(err error) bool {
	re, ok := rueidis.IsRedisErr(err)
	return ok && strings.HasPrefix(re.Error(), "NOPERM")
}

// Ping sends PING. A NOPERM reply (the minimal ACL user may not run PING)
// still proves the server is reachable and we are authenticated, so it
// counts as success.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.check(ctx); err != nil {
		return err
	}
	err := s.cl().Do(ctx, s.cl().B().Ping().Build()).Error()
	if err == nil || isNoPerm(err) {
		return nil
	}
	return s.wrapErr(err)
}

// info runs INFO section on every node and returns the fields of the
// first; ok is false when INFO is refused (NOPERM).
func (s *Store) info(ctx context.Context, section string) (map[string]string, bool, error) {
	txt, err := s.cl().Do(ctx, s.cl().B().Info().Section(section).Build()).ToString()
	if err != nil {
		if isNoPerm(err) {
			return nil, false, nil
		}
		return nil, false, s.wrapErr(err)
	}
	m := make(map[string]string)
	for _, line := range strings.Split(txt, "\n") {
		line = strings.TrimSpace(line)
		if k, v, ok := strings.Cut(line, ":"); ok && !strings.HasPrefix(k, "#") {
			m[k] = v
		}
	}
	return m, true, nil
}

// Stats reports this prefix's keys and memory.
//
// Keys: when the database (DBSIZE, summed over cluster masters) holds at
// most Options.StatsScanLimit keys, the keys under prefix are counted with
// SCAN MATCH (Scope "prefix", internal keys excluded and reported as
// Extra["internal_keys"]); otherwise Keys is DBSIZE (Scope "database").
// Bytes: MEMORY USAGE of up to 1000 scanned keys, extrapolated to the
// count (prefix scope only; -1 otherwise). Evictions and Expirations are
// the server's INFO counters (server-wide) when INFO is allowed, else 0;
// Extra says which, and then also holds the server's keyspace_hits,
// keyspace_misses and total_commands_processed (prefixed "server_").
func (s *Store) Stats(ctx context.Context, prefix string) (backend.Stats, error) {
	st := backend.Stats{Keys: -1, Bytes: -1, Extra: map[string]any{}}
	if err := s.check(ctx); err != nil {
		return st, err
	}
	nodes, err := s.nodes(ctx)
	if err != nil {
		return st, err
	}
	var dbsize int64
	for _, n := range nodes {
		v, err := n.Do(ctx, n.B().Dbsize().Build()).AsInt64()
		if err != nil {
			return st, s.wrapErr(err)
		}
		dbsize += v
	}
	st.Extra["dbsize"] = dbsize
	if s.compat {
		st.Extra["compat"] = string(CompatPython)
		st.Extra["python_pickle_refused"] = s.pickles.Load()
	}
	if prefix == "" || s.opts.StatsScanLimit < 0 || dbsize > int64(s.opts.StatsScanLimit) {
		st.Keys, st.Scope = dbsize, "database"
		st.Extra["keys_method"] = "DBSIZE (database larger than the scan limit)"
	} else {
		var keys, internal int64
		var sample []string
		for batch, err := range s.scanRaw(ctx, redisGlobEscape(prefix)+"*") {
			if err != nil {
				return st, err
			}
			for _, k := range batch {
				if backend.IsInternalKey(k) {
					internal++
					continue
				}
				keys++
				if len(sample) < bytesSample {
					sample = append(sample, k)
				}
			}
		}
		st.Keys, st.Scope = keys, "prefix"
		st.Extra["internal_keys"] = internal
		st.Extra["keys_method"] = "SCAN MATCH prefix*"
		st.Bytes = 0
		if len(sample) > 0 {
			cmds := make(rueidis.Commands, len(sample))
			for i, k := range sample {
				cmds[i] = s.cl().B().MemoryUsage().Key(k).Build()
			}
			var sum int64
			for _, r := range s.cl().DoMulti(ctx, cmds...) {
				v, err := r.AsInt64()
				if err != nil && !rueidis.IsRedisNil(err) {
					return st, s.wrapErr(err)
				}
				sum += v
			}
			st.Bytes = sum * keys / int64(len(sample))
			st.Extra["bytes_method"] = "MEMORY USAGE of " + strconv.Itoa(len(sample)) + " keys, extrapolated"
		}
	}
	inf, ok, err := s.info(ctx, "stats")
	if err != nil {
		return st, err
	}
	if ok {
		st.Evictions, _ = strconv.ParseInt(inf["evicted_keys"], 10, 64)
		st.Expirations, _ = strconv.ParseInt(inf["expired_keys"], 10, 64)
		st.Extra["counters_scope"] = "server (INFO stats)"
		// Server-wide cumulative counters, for rates (yokedcache stats --watch).
		for _, k := range []string{"keyspace_hits", "keyspace_misses", "total_commands_processed"} {
			if v, err := strconv.ParseInt(inf[k], 10, 64); err == nil {
				st.Extra["server_"+k] = v
			}
		}
		if mem, ok, _ := s.info(ctx, "memory"); ok {
			if v, err := strconv.ParseInt(mem["used_memory"], 10, 64); err == nil {
				st.Extra["server_used_memory"] = v
			}
		}
	} else {
		st.Extra["counters_scope"] = "unavailable: INFO refused by the ACL"
	}
	st.Extra["connection_pool"] = s.poolStats()
	return st, nil
}

// poolStats describes the connections. rueidis multiplexes commands over
// a few auto-pipelined connections per node instead of checking
// connections out of a pool, so: misses = connections dialled, total =
// connections open, idle = open connections not in use (pipelined
// connections are never checked out, so all open ones), timeouts =
// operations that failed with a timeout; hits (a pooled connection
// reused) is not counted on the hot path and reported as -1.
func (s *Store) poolStats() map[string]any {
	if !s.owned {
		return map[string]any{"model": "caller's rueidis client: not observed"}
	}
	dials, closes := s.conn.dials.Load(), s.conn.closes.Load()
	return map[string]any{
		"model":       "rueidis auto-pipelining",
		"hits":        int64(-1),
		"misses":      dials,
		"timeouts":    s.conn.timeouts.Load(),
		"total":       dials - closes,
		"idle":        dials - closes,
		"dial_errors": s.conn.dialErrors.Load(),
		"max_conns":   s.opts.MaxConnections,
	}
}

// HealthDetails reports redis_connected, the probe latency, the server's
// version, role and mode (INFO when allowed, else HELLO) and pool stats.
func (s *Store) HealthDetails(ctx context.Context) (backend.HealthDetails, error) {
	d := backend.HealthDetails{Details: map[string]any{}}
	if err := s.check(ctx); err != nil {
		d.Status = "unhealthy"
		return d, err
	}
	start := time.Now()
	err := s.Ping(ctx)
	lat := time.Since(start)
	d.Details["redis_connected"] = err == nil
	d.Details["probe_latency"] = lat.String()
	d.Details["probe_latency_ms"] = float64(lat.Microseconds()) / 1000
	d.Details["connection_pool"] = s.poolStats()
	d.Details["mode"] = string(s.cl().Mode())
	if err != nil {
		d.Status = "unhealthy"
		return d, err
	}
	d.Status = "healthy"
	if inf, ok, err := s.info(ctx, "server"); err == nil && ok {
		d.Details["server_version"] = inf["redis_version"]
		d.Details["server_mode"] = inf["redis_mode"]
		if rep, ok, err := s.info(ctx, "replication"); err == nil && ok {
			d.Details["role"] = rep["role"]
		}
		d.Details["server_info_source"] = "INFO"
	} else if m, err := s.cl().Do(ctx, s.cl().B().Hello().Build()).AsMap(); err == nil {
		if v, err := msgString(m, "version"); err == nil {
			d.Details["server_version"] = v
		}
		if v, err := msgString(m, "role"); err == nil {
			d.Details["role"] = v
		}
		if v, err := msgString(m, "mode"); err == nil {
			d.Details["server_mode"] = v
		}
		d.Details["server_info_source"] = "HELLO (INFO refused)"
	} else {
		d.Warnings = append(d.Warnings, "server version unavailable: "+s.wrapErr(err).Error())
	}
	return d, nil
}

// msgString returns m[k] as a string.
func msgString(m map[string]rueidis.RedisMessage, k string) (string, error) {
	v, ok := m[k]
	if !ok {
		return "", rueidis.Nil
	}
	return v.ToString()
}
