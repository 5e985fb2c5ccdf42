package yokedcache

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"time"

	"github.com/yokedcache/yokedcache/backend"
	"github.com/yokedcache/yokedcache/codec"
	"github.com/yokedcache/yokedcache/internal/envelope"
)

// Ping checks that every backend is reachable and answering; with routes
// it fails when any route's backend fails, naming each.
func (c *Cache) Ping(ctx context.Context) (err error) {
	if c.cfg.Tracer != nil {
		var sp Span
		ctx, sp = c.startFanOut(ctx, "ping", 0)
		defer func() { sp.End(outcome(err)) }()
	}
	if err := c.check(ctx); err != nil {
		return opError("ping", "", err)
	}
	ctx, cancel := c.healthCtx(ctx)
	defer cancel()
	err = c.rt.fanOut(c.rt.members, func(m *member) error {
		ctx, sp := c.rt.roundTrip(ctx, m)
		err := backend.Ping(ctx, m.b, c.prefix+"\xffping")
		sp.end(err)
		return err
	})
	return wrap("ping", "", err)
}

// Health is a cheap liveness check: Ping succeeded within
// Config.HealthTimeout (or the caller's earlier deadline).
func (c *Cache) Health(ctx context.Context) bool { return c.Ping(ctx) == nil }

// HealthReport is the result of DetailedHealthCheck.
type HealthReport struct {
	// Status is "healthy", "degraded" or "unhealthy". With routes it is
	// "healthy" when every route is, "unhealthy" when none is, and
	// "degraded" otherwise.
	Status  string         `json:"status"`
	Backend string         `json:"backend"`
	Latency time.Duration  `json:"latency_ns"`
	Stats   Stats          `json:"stats"`
	Details map[string]any `json:"details,omitempty"`
	// Warnings make the status "degraded"; Errors make it "unhealthy".
	Warnings []string `json:"warnings,omitempty"`
	Errors   []string `json:"errors,omitempty"`
	// Routes has one entry per route (the default first) when the Cache
	// has routes.
	Routes  []RouteHealth `json:"routes,omitempty"`
	Checked time.Time     `json:"checked"`
}

// memberHealth is the health of one backend.
type memberHealth struct {
	status   string
	latency  time.Duration
	details  map[string]any
	warnings []string
	errs     []string
}

// checkMember probes one backend: Ping, then a write/read/delete of an
// internal key, then its own details.
func (c *Cache) checkMember(ctx context.Context, m *member) memberHealth {
	h := memberHealth{details: map[string]any{}}
	start := time.Now()
	var probeErrs []string
	if err := backend.Ping(ctx, m.b, c.prefix+"\xffping"); err != nil {
		probeErrs = append(probeErrs, err.Error())
	} else if err := c.probe(ctx, m.b); err != nil {
		probeErrs = append(probeErrs, err.Error())
	}
	h.latency = time.Since(start)
	status := ""
	if hc, ok := m.b.(backend.HealthChecker); ok {
		d, err := hc.HealthDetails(ctx)
		if err != nil {
			h.errs = append(h.errs, err.Error())
		}
		status = d.Status
		for k, v := range d.Details {
			h.details[k] = v
		}
		h.warnings = append(h.warnings, d.Warnings...)
		if d.Status == "unhealthy" && len(h.errs) == 0 && len(probeErrs) == 0 {
			h.errs = append(h.errs, "backend reports unhealthy")
		} else if d.Status == "degraded" && len(h.warnings) == 0 {
			h.warnings = append(h.warnings, "backend reports degraded")
		}
	}
	if status == "degraded" && len(h.errs) == 0 {
		// Part of the backend answers (one of several servers is down):
		// probes that reached a dead part are warnings, not the verdict.
		h.warnings = append(h.warnings, probeErrs...)
	} else {
		h.errs = append(probeErrs, h.errs...)
	}
	if m.g != nil && m.g.br != nil {
		bs := m.g.br.stats()
		h.details["breaker"] = bs.State
		if bs.State != BreakerClosed {
			h.warnings = append(h.warnings, fmt.Sprintf("circuit breaker %s (%d calls rejected; last error: %s)", bs.State, bs.Rejected, bs.LastError))
		}
	}
	switch {
	case len(h.errs) > 0:
		h.status = "unhealthy"
	case len(h.warnings) > 0:
		h.status = "degraded"
	default:
		h.status = "healthy"
	}
	return h
}

// DetailedHealthCheck probes every backend (Ping, then a write/read/delete
// of an internal key), within Config.HealthTimeout, and reports status
// ("degraded" when part of it answers: one of several servers or routes,
// or an open circuit breaker), latency, counters and the
// backend's own details (Redis: redis_connected, connection_pool, ...);
// with routes, one RouteHealth per route.
func (c *Cache) DetailedHealthCheck(ctx context.Context) HealthReport {
	r := HealthReport{Backend: c.Backend(), Checked: time.Now(), Details: map[string]any{}}
	if c.closed.Load() {
		r.Status = "unhealthy"
		r.Errors = append(r.Errors, ErrClosed.Error())
		return r
	}
	ctx, cancel := c.healthCtx(ctx)
	defer cancel()
	hs := make([]memberHealth, len(c.rt.members))
	var wg sync.WaitGroup
	for i, m := range c.rt.members {
		wg.Go(func() { hs[i] = c.checkMember(ctx, m) })
	}
	wg.Wait()
	if !c.rt.routed {
		h := hs[0]
		r.Status, r.Latency, r.Details, r.Warnings, r.Errors = h.status, h.latency, h.details, h.warnings, h.errs
	} else {
		healthy, unhealthy := 0, 0
		for _, rt := range c.rt.all {
			h := hs[rt.mem.idx]
			rh := RouteHealth{Route: rt.prefix, Backend: rt.mem.name, Status: h.status, Latency: h.latency, Details: h.details, Warnings: h.warnings}
			if len(h.errs) > 0 {
				rh.Error = h.errs[0]
			}
			r.Routes = append(r.Routes, rh)
			r.Latency = max(r.Latency, h.latency)
		}
		for i, h := range hs {
			label := c.rt.failMember(c.rt.members[i], fmt.Errorf("%s", h.status)).Error()
			switch h.status {
			case "healthy":
				healthy++
			case "unhealthy":
				unhealthy++
				for _, e := range h.errs {
					r.Warnings = append(r.Warnings, c.rt.failMember(c.rt.members[i], fmt.Errorf("%s", e)).Error())
				}
			default:
				r.Warnings = append(r.Warnings, label)
			}
			for _, w := range h.warnings {
				r.Warnings = append(r.Warnings, c.rt.failMember(c.rt.members[i], fmt.Errorf("%s", w)).Error())
			}
		}
		switch {
		case unhealthy == len(hs):
			r.Status = "unhealthy"
			r.Errors, r.Warnings = r.Warnings, nil
		case healthy == len(hs) && len(r.Warnings) == 0:
			r.Status = "healthy"
		default:
			r.Status = "degraded"
		}
	}
	if r.Status != "unhealthy" {
		st, err := c.Stats(ctx)
		if err != nil {
			r.Warnings = append(r.Warnings, "stats: "+err.Error())
			if r.Status == "healthy" {
				r.Status = "degraded"
			}
		}
		r.Stats = st
	} else {
		r.Stats = c.counters()
	}
	return r
}

// probe writes, reads and deletes an internal key of its own: probes of
// other routes or processes sharing the server use other keys.
func (c *Cache) probe(ctx context.Context, b backend.Backend) error {
	key := c.prefix + "\xffhealth:" + strconv.FormatUint(rand.Uint64(), 36)
	env, err := envelope.Encode(codec.IDString, []byte("ok"), nil, envelope.EncodeOptions{Threshold: -1})
	if err != nil {
		return err
	}
	if err := b.Set(ctx, key, env, backend.SetOptions{TTL: 10 * time.Second}); err != nil {
		return fmt.Errorf("health probe write: %w", err)
	}
	if _, err := b.Get(ctx, key); err != nil {
		return fmt.Errorf("health probe read: %w", err)
	}
	if _, err := b.Delete(ctx, key); err != nil {
		return fmt.Errorf("health probe delete: %w", err)
	}
	return nil
}
