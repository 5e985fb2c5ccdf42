package backend

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/yokedcache/yokedcache/internal/glob"
)

// The functions of this file are each capability's fallback, written once,
// in the style of io/fs.ReadFile: they use the capability when b has it and
// emulate it with the base interface otherwise. The Cache uses them, and so
// should anything that composes backends.

// FallbackConcurrency bounds the goroutines a fallback uses to emulate a
// batch on a backend without the batch capability.
const FallbackConcurrency = 16

// BatchChunk is how many keys one emulated batch deletes at a time when a
// pattern or flush is emulated by scanning.
const BatchChunk = 500

// GetMany reads keys from b: with BatchGetter when b has it, otherwise
// with Get on at most FallbackConcurrency goroutines. It returns one slot
// per key (nil: a miss). Without BatchGetter, a failed read fails the call
// but leaves the slots already read in place.
func GetMany(ctx context.Context, b Backend, keys []string) ([][]byte, error) {
	if bg, ok := b.(BatchGetter); ok {
		vals, err := bg.GetMany(ctx, keys)
		if err == nil && len(vals) != len(keys) {
			return nil, fmt.Errorf("%s: GetMany returned %d values for %d keys", Name(b), len(vals), len(keys))
		}
		return vals, err
	}
	out := make([][]byte, len(keys))
	err := forEach(ctx, len(keys), func(i int) error {
		v, err := b.Get(ctx, keys[i])
		if err != nil {
			if errors.Is(err, ErrNotFound) {
				return nil
			}
			return err
		}
		out[i] = v
		return nil
	})
	return out, err
}

// SetMany writes items to b: with BatchSetter when b has it, otherwise
// with Set on at most FallbackConcurrency goroutines. When some items are
// written and others fail, the error is a *PartialError counting the
// written ones.
func SetMany(ctx context.Context, b Backend, items []Item) error {
	if len(items) == 0 {
		return nil
	}
	if bs, ok := b.(BatchSetter); ok {
		return bs.SetMany(ctx, items)
	}
	var done atomic.Int64
	err := forEach(ctx, len(items), func(i int) error {
		if err := b.Set(ctx, items[i].Key, items[i].Value, items[i].SetOptions); err != nil {
			return err
		}
		done.Add(1)
		return nil
	})
	if err != nil && done.Load() > 0 {
		return &PartialError{Done: done.Load(), Err: err}
	}
	return err
}

// Written returns how many of n items a SetMany whose result was err
// wrote: n on success, PartialError.Done on a partial failure, 0 otherwise.
func Written(n int, err error) int64 {
	if err == nil {
		return int64(n)
	}
	if pe, ok := errors.AsType[*PartialError](err); ok {
		return pe.Done
	}
	return 0
}

// DeleteMany removes keys from b and returns how many existed: with
// BatchDeleter when b has it, otherwise with Delete on at most
// FallbackConcurrency goroutines (the count then includes the deletes that
// succeeded before an error).
func DeleteMany(ctx context.Context, b Backend, keys []string) (int64, error) {
	if len(keys) == 0 {
		return 0, nil
	}
	if bd, ok := b.(BatchDeleter); ok {
		return bd.DeleteMany(ctx, keys)
	}
	var n atomic.Int64
	err := forEach(ctx, len(keys), func(i int) error {
		ok, err := b.Delete(ctx, keys[i])
		if ok {
			n.Add(1)
		}
		return err
	})
	return n.Load(), err
}

// DeletePattern removes every stored key of b matching the glob pattern
// and returns how many it removed: with PatternDeleter when b has it,
// otherwise by scanning and deleting in chunks of BatchChunk. Internal
// keys (IsInternalKey) are never deleted. Without either capability the
// error matches ErrUnsupported.
func DeletePattern(ctx context.Context, b Backend, pattern string) (int64, error) {
	if pd, ok := b.(PatternDeleter); ok {
		return pd.DeletePattern(ctx, pattern)
	}
	sc, ok := b.(Scanner)
	if !ok {
		return 0, Unsupported(Name(b), "pattern invalidation", "the backend cannot enumerate keys")
	}
	p, err := glob.Compile(pattern)
	if err != nil {
		return 0, fmt.Errorf("pattern %q: %v: %w", pattern, err, ErrInvalidKey)
	}
	var total int64
	batch := make([]string, 0, BatchChunk)
	flush := func() error {
		n, err := DeleteMany(ctx, b, batch)
		total += n
		batch = batch[:0]
		return err
	}
	for k, err := range sc.Scan(ctx, pattern) {
		if err != nil {
			return total, err
		}
		if IsInternalKey(k) || !p.Match(k) {
			continue
		}
		batch = append(batch, k)
		if len(batch) == BatchChunk {
			if err := flush(); err != nil {
				return total, err
			}
		}
	}
	return total, flush()
}

// Flush removes every key of b under prefix (which ends in ':'): with
// Flusher when b has it, otherwise with DeletePattern(prefix + "*"), which
// leaves internal bookkeeping keys in place. Without any of the
// capabilities the error matches ErrUnsupported.
func Flush(ctx context.Context, b Backend, prefix string) error {
	if fl, ok := b.(Flusher); ok {
		return fl.Flush(ctx, prefix)
	}
	_, isPD := b.(PatternDeleter)
	_, isSc := b.(Scanner)
	if !isPD && !isSc {
		return Unsupported(Name(b), "flush", "the backend can neither flush a prefix nor enumerate keys")
	}
	_, err := DeletePattern(ctx, b, glob.Escape(prefix)+"*")
	return err
}

// Ping checks that b answers: with Pinger when b has it, otherwise with a
// Get of probeKey (an internal key), where a miss is success.
func Ping(ctx context.Context, b Backend, probeKey string) error {
	if p, ok := b.(Pinger); ok {
		return p.Ping(ctx)
	}
	_, err := b.Get(ctx, probeKey)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return err
	}
	return nil
}

// forEach runs f for 0..n-1 on at most FallbackConcurrency goroutines and
// returns the first error; it stops starting work when ctx ends.
func forEach(ctx context.Context, n int, f func(i int) error) error {
	switch n {
	case 0:
		return nil
	case 1:
		return f(0)
	}
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
		sem   = make(chan struct{}, FallbackConcurrency)
	)
	for i := range n {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			wg.Wait()
			if first == nil {
				first = ctx.Err()
			}
			return first
		}
		wg.Go(func() {
			defer func() { <-sem }()
			if err := f(i); err != nil {
				mu.Lock()
				if first == nil {
					first = err
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return first
}
