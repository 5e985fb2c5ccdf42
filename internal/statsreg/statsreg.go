// Package statsreg is the set of named Caches an exporter reports (the
// prometheus and otel packages): Add, Remove, and a concurrent read of
// every Cache's Stats with a timeout.
package statsreg

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/yokedcache/yokedcache"
)

// Registry holds named Caches. Its zero value is not usable; use New.
type Registry struct {
	pkg     string // names the exporter in errors
	timeout time.Duration

	mu     sync.Mutex
	caches map[string]*entry
}

// entry is one Cache and its last Stats.
type entry struct {
	c    *yokedcache.Cache
	mu   sync.Mutex
	st   yokedcache.Stats
	err  error
	when time.Time
}

// Snapshot is one Cache's Stats at a collection.
type Snapshot struct {
	Name  string
	Stats yokedcache.Stats
	// Err is the error Stats returned with Stats (the backend part is
	// then missing).
	Err error
}

// New returns a Registry whose reads of Stats are bounded by timeout;
// pkg prefixes its errors ("yokedcache/prometheus").
func New(pkg string, timeout time.Duration) *Registry {
	return &Registry{pkg: pkg, timeout: timeout, caches: map[string]*entry{}}
}

// Add registers c under name, which must be non-empty and unused.
func (r *Registry) Add(name string, c *yokedcache.Cache) error {
	if name == "" || c == nil {
		return errors.New(r.pkg + ": Add needs a name and a Cache")
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.caches[name]; ok {
		return fmt.Errorf("%s: a Cache named %q is already added", r.pkg, name)
	}
	r.caches[name] = &entry{c: c}
	return nil
}

// Remove forgets the Cache named name and reports whether there was one.
func (r *Registry) Remove(name string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	_, ok := r.caches[name]
	delete(r.caches, name)
	return ok
}

// Stats reads every Cache's Stats concurrently, each bounded by the
// Registry's timeout, reusing one read younger than maxAge (0: always
// read), sorted by name.
func (r *Registry) Stats(ctx context.Context, maxAge time.Duration) []Snapshot {
	r.mu.Lock()
	names := make([]string, 0, len(r.caches))
	for n := range r.caches {
		names = append(names, n)
	}
	slices.Sort(names)
	es := make([]*entry, len(names))
	for i, n := range names {
		es[i] = r.caches[n]
	}
	r.mu.Unlock()
	out := make([]Snapshot, len(names))
	var wg sync.WaitGroup
	for i, e := range es {
		wg.Go(func() {
			e.mu.Lock()
			defer e.mu.Unlock()
			if maxAge <= 0 || e.when.IsZero() || time.Since(e.when) > maxAge {
				ctx, cancel := context.WithTimeout(ctx, r.timeout)
				e.st, e.err = e.c.Stats(ctx)
				cancel()
				e.when = time.Now()
			}
			out[i] = Snapshot{Name: names[i], Stats: e.st, Err: e.err}
		})
	}
	wg.Wait()
	return out
}
