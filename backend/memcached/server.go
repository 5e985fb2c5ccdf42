package memcached

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/yokedcache/yokedcache/backend"
)

// command sends one text-protocol command to the server at addr over a
// fresh connection and returns the reply lines up to "END" (stats) or the
// first line (version). It honours ctx and Options.Timeout.
func (s *Store) command(ctx context.Context, addr net.Addr, cmd string, multi bool) ([]string, error) {
	ctx, cancel := context.WithTimeout(ctx, s.opts.Timeout)
	defer cancel()
	var d net.Dialer
	c, err := d.DialContext(ctx, addr.Network(), addr.String())
	if err != nil {
		return nil, err
	}
	defer c.Close()
	dl, _ := ctx.Deadline()
	_ = c.SetDeadline(dl)
	stop := context.AfterFunc(ctx, func() { _ = c.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	if _, err := c.Write([]byte(cmd + "\r\n")); err != nil {
		return nil, err
	}
	r := bufio.NewReader(c)
	var lines []string
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			if ctx.Err() != nil {
				return nil, fmt.Errorf("%w (%w)", ctx.Err(), err)
			}
			return nil, err
		}
		line = strings.TrimRight(line, "\r\n")
		if line == "ERROR" || strings.HasPrefix(line, "CLIENT_ERROR") || strings.HasPrefix(line, "SERVER_ERROR") {
			return nil, fmt.Errorf("%q: %s", cmd, line)
		}
		if !multi {
			return []string{line}, nil
		}
		if line == "END" {
			return lines, nil
		}
		lines = append(lines, line)
		if len(lines) > 10000 {
			return nil, errors.New("stats reply too long")
		}
	}
}

// serverStatus is the result of probing one server.
type serverStatus struct {
	addr    string
	version string
	latency time.Duration
	stats   map[string]string
	err     error
}

func (s *Store) probeAll(ctx context.Context, cmd string, multi bool) []serverStatus {
	out := make([]serverStatus, len(s.sel.addrs))
	var wg sync.WaitGroup
	for i, a := range s.sel.addrs {
		wg.Go(func() {
			st := serverStatus{addr: a.String()}
			start := time.Now()
			lines, err := s.command(ctx, a, cmd, multi)
			st.latency = time.Since(start)
			st.err = err
			if err == nil && !multi {
				if v, ok := strings.CutPrefix(lines[0], "VERSION "); ok {
					st.version = v
				} else {
					st.err = fmt.Errorf("unexpected reply %q to %q", lines[0], cmd)
				}
			}
			if err == nil && multi {
				st.stats = make(map[string]string, len(lines))
				for _, l := range lines {
					f := strings.Fields(l)
					if len(f) == 3 && f[0] == "STAT" {
						st.stats[f[1]] = f[2]
					}
				}
			}
			out[i] = st
		})
	}
	wg.Wait()
	return out
}

// Ping sends "version" to every server and returns an error naming each
// unreachable one.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.check(ctx); err != nil {
		return err
	}
	var errs []error
	for _, st := range s.probeAll(ctx, "version", false) {
		if st.err != nil {
			errs = append(errs, fmt.Errorf("server %s: %w", st.addr, st.err))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("memcached: ping: %w", errors.Join(errs...))
	}
	return nil
}

// HealthDetails probes every server with "version": healthy when all
// answer, degraded when some do (their keys keep working), unhealthy when
// none does. Details list each server's reachability, version and probe
// latency.
func (s *Store) HealthDetails(ctx context.Context) (backend.HealthDetails, error) {
	if err := s.check(ctx); err != nil {
		return backend.HealthDetails{}, err
	}
	sts := s.probeAll(ctx, "version", false)
	servers := make([]map[string]any, len(sts))
	up := 0
	var warnings []string
	for i, st := range sts {
		m := map[string]any{"addr": st.addr, "reachable": st.err == nil, "latency_ms": float64(st.latency.Microseconds()) / 1000, "breaker": s.sel.markState(i)}
		if st.err == nil {
			up++
			m["version"] = st.version
		} else {
			m["error"] = st.err.Error()
			warnings = append(warnings, fmt.Sprintf("memcached server %s unreachable: %v", st.addr, st.err))
		}
		servers[i] = m
	}
	status := "healthy"
	switch {
	case up == 0:
		status = "unhealthy"
	case up < len(sts):
		status = "degraded"
	}
	return backend.HealthDetails{
		Status: status,
		Details: map[string]any{
			"servers":      servers,
			"reachable":    up,
			"total":        len(sts),
			"distribution": string(s.opts.Distribution),
		},
		Warnings: warnings,
	}, nil
}

// Stats reports the servers' counters summed over the reachable servers
// (Scope "server": memcached cannot count one prefix's keys, so Keys and
// Bytes cover everything on the servers, this package's version counters
// included). Extra holds per-server numbers and the unreachable servers.
// It fails only when no server answers.
func (s *Store) Stats(ctx context.Context, _ string) (backend.Stats, error) {
	if err := s.check(ctx); err != nil {
		return backend.Stats{}, err
	}
	st := backend.Stats{Scope: "server", Extra: map[string]any{}}
	var errs []error
	per := map[string]any{}
	up := 0
	for _, ss := range s.probeAll(ctx, "stats", true) {
		if ss.err != nil {
			errs = append(errs, fmt.Errorf("server %s: %w", ss.addr, ss.err))
			continue
		}
		up++
		num := func(k string) int64 {
			n, _ := strconv.ParseInt(ss.stats[k], 10, 64)
			return n
		}
		st.Keys += num("curr_items")
		st.Bytes += num("bytes")
		st.Evictions += num("evictions")
		st.Expirations += num("expired_unfetched") + num("reclaimed")
		per[ss.addr] = map[string]any{
			"curr_items": num("curr_items"), "bytes": num("bytes"), "limit_maxbytes": num("limit_maxbytes"),
			"evictions": num("evictions"), "get_hits": num("get_hits"), "get_misses": num("get_misses"),
			"curr_connections": num("curr_connections"), "version": ss.stats["version"],
		}
	}
	if up == 0 {
		return backend.Stats{}, fmt.Errorf("memcached: stats: %w", errors.Join(errs...))
	}
	st.Extra["servers"] = per
	if len(errs) > 0 {
		st.Extra["unreachable"] = errors.Join(errs...).Error()
	}
	return st, nil
}
