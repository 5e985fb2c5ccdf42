package yokedcache

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"

	"github.com/yokedcache/yokedcache/backend"
	"github.com/yokedcache/yokedcache/backend/memory"
	"github.com/yokedcache/yokedcache/backend/near"
)

// NearOptions configures a near-cache tier (Config.Near, Route.Near): the
// bounds of the local copies (MaxEntries, default 10 000; MaxBytes,
// default 64 MiB), their longest life (TTL; default 1 min when the shared
// backend pushes invalidations, 1 s otherwise), the coherence Mode ("auto"
// or "ttl") and the eviction policy (W-TinyLFU, or LRU). See package
// backend/near for what each mode guarantees. Prefix and Clock are set by
// the Cache.
type NearOptions = near.Options

// NearStats is what a near-cache tier reports in Stats.Near and
// RouteStats.Near.
type NearStats struct {
	// Route is the first route the tier serves ("" for the default).
	Route   string `json:"route"`
	Backend string `json:"backend"`
	// Mode is "tracking", "stream" or "ttl" ("" until the tracker has
	// connected); Live reports whether local copies are being kept.
	Mode string `json:"mode"`
	Live bool   `json:"live"`
	// Hits and Misses count local reads; a miss reads the backend.
	Hits   int64 `json:"hits"`
	Misses int64 `json:"misses"`
	// Fills counts copies kept; Evictions copies dropped for the bounds;
	// Invalidations keys notified as changed by other writers; Resets the
	// times every copy was dropped (lost or resumed notifications).
	Fills         int64 `json:"fills"`
	Evictions     int64 `json:"evictions"`
	Invalidations int64 `json:"invalidations"`
	Resets        int64 `json:"resets"`
	// Entries and Bytes are the copies held, within MaxEntries and
	// MaxBytes (-1: no byte bound).
	Entries    int64 `json:"entries"`
	Bytes      int64 `json:"bytes"`
	MaxEntries int   `json:"max_entries"`
	MaxBytes   int64 `json:"max_bytes"`
	// LagSeconds is the delay of the last invalidation-stream event.
	LagSeconds float64 `json:"lag_seconds"`
	// Error is why invalidations last stopped, if they did.
	Error string `json:"error,omitempty"`
}

// nearStats returns member m's tier numbers, or nil without a tier.
func (m *member) nearStats() *NearStats {
	if m.nr == nil {
		return nil
	}
	st := m.nr.NearStats()
	ns := &NearStats{
		Backend: m.name, Mode: st.Mode, Live: st.Live,
		Hits: st.Hits, Misses: st.Misses, Fills: st.Fills, Evictions: st.Evictions,
		Invalidations: st.Invalidations, Resets: st.Resets,
		Entries: st.Entries, Bytes: st.Bytes, MaxEntries: st.MaxEntries, MaxBytes: st.MaxBytes,
		LagSeconds: st.Lag.Seconds(),
	}
	if len(m.routes) > 0 {
		ns.Route = m.routes[0].prefix
	}
	if st.Err != nil {
		ns.Error = st.Err.Error()
	}
	return ns
}

// nearParams are the URL query parameters that configure a near cache on
// any backend URL; the Cache removes them before the backend sees the URL.
var nearParams = []string{"near_cache", "near_max_bytes", "near_ttl", "near_mode", "near_policy"}

// nearFromURL applies u's near-cache parameters over o (nil: none yet),
// strips them from u and returns the result (nil: no tier). It reports
// whether u changed.
func nearFromURL(u *url.URL, o *NearOptions) (*NearOptions, bool, error) {
	q := u.Query()
	has := false
	for _, p := range nearParams {
		if q.Has(p) {
			has = true
		}
	}
	if !has {
		return o, false, nil
	}
	var n NearOptions
	if o != nil {
		n = *o
	}
	on := true
	bad := func(p, v, want string) error {
		return fmt.Errorf("%s=%q: want %s: %w", p, v, want, ErrInvalidConfig)
	}
	if v := q.Get("near_cache"); q.Has("near_cache") {
		switch strings.ToLower(v) {
		case "true", "on", "yes", "":
		case "false", "off", "no", "0":
			on = false
		default:
			x, err := strconv.Atoi(v)
			if err != nil || x < 0 {
				return nil, false, bad("near_cache", v, "an entry count, true or false")
			}
			n.MaxEntries = x
		}
	}
	if v := q.Get("near_max_bytes"); q.Has("near_max_bytes") {
		if v == "-1" {
			n.MaxBytes = -1
		} else {
			x, err := backend.ParseBytes(v)
			if err != nil {
				return nil, false, bad("near_max_bytes", v, "a size such as 64MiB, or -1 for no byte bound")
			}
			n.MaxBytes = x
		}
	}
	if v := q.Get("near_ttl"); q.Has("near_ttl") {
		d, err := backend.ParseDuration(v)
		if err != nil {
			return nil, false, bad("near_ttl", v, "a duration such as 1s")
		}
		n.TTL = d
	}
	if q.Has("near_mode") {
		n.Mode = strings.ToLower(q.Get("near_mode"))
	}
	if v := q.Get("near_policy"); q.Has("near_policy") {
		p, err := memory.ParsePolicy(v)
		if err != nil {
			return nil, false, bad("near_policy", v, "tinylfu or lru")
		}
		n.LRU = p == memory.PolicyLRU
	}
	for _, p := range nearParams {
		q.Del(p)
	}
	u.RawQuery = q.Encode()
	if !on {
		return nil, true, nil
	}
	if err := n.Validate(); err != nil {
		return nil, false, fmt.Errorf("%v: %w", err, ErrInvalidConfig)
	}
	return &n, true, nil
}

// stripNear applies the near-cache parameters of the backend URL raw over
// *o and returns the URL without them.
func stripNear(raw string, o **NearOptions) (string, error) {
	u, err := backend.ParseURL(raw)
	if err != nil {
		return "", err
	}
	n, changed, err := nearFromURL(u, *o)
	if err != nil {
		return "", err
	}
	if !changed {
		return raw, nil
	}
	*o = n
	return u.String(), nil
}

// validNear checks a near-cache setting of Config or a Route.
func validNear(where string, o *NearOptions) error {
	if o == nil {
		return nil
	}
	if err := o.Validate(); err != nil {
		return fmt.Errorf("%s: %v: %w", where, err, ErrInvalidConfig)
	}
	return nil
}

// addNear puts a near-cache tier with options o in front of member m.
func (m *member) addNear(cfg *Config, o NearOptions) error {
	if m.inproc {
		return fmt.Errorf("a near cache in front of the in-process %s backend would only copy it: %w", m.name, ErrInvalidConfig)
	}
	o.Prefix = cfg.KeyPrefix + ":"
	if o.Clock == nil {
		o.Clock = cfg.Clock
	}
	nb, err := near.New(m.b, o)
	if err != nil {
		return fmt.Errorf("%v: %w", err, ErrInvalidConfig)
	}
	m.setBackend(nb)
	m.nr = nb
	return nil
}

// nearFromURLInto is nearFromURL storing the result in *o.
func nearFromURLInto(u *url.URL, o **NearOptions) (*NearOptions, bool, error) {
	n, changed, err := nearFromURL(u, *o)
	if err == nil && changed {
		*o = n
	}
	return n, changed, err
}

// dropNear drops member m's near-cache copy of key (a copy that did not
// decode: the next read asks the shared backend again).
func (c *Cache) dropNear(m *member, key string) {
	if m.nr != nil {
		c.withKey(key, m.nr.Drop)
	}
}
