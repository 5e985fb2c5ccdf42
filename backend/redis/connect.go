package redis

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/redis/rueidis"
)

// clientRef holds the Store's client once it has connected.
type clientRef struct{ c rueidis.Client }

// redialEvery is the shortest time between two dials of a server that is
// down: operations in between fail at once with the last dial's error.
const redialEvery = 100 * time.Millisecond

// dialState serialises the Store's lazy dials: one at a time, in the
// background, never faster than redialEvery.
type dialState struct {
	mu       sync.Mutex
	inflight chan struct{} // closed when the dial in progress ends
	lastErr  error
	lastAt   time.Time
	wg       sync.WaitGroup
	stopped  bool
}

// cl returns the connected client. Only call it after check succeeded.
func (s *Store) cl() rueidis.Client { return s.cp.Load().c }

// connect dials the server (rueidis dials in NewClient, so the client is
// created here rather than in New). The dial runs in the background,
// bounded by ConnectTimeout; the caller waits for it or for its own
// context, whichever ends first. After a failed dial, callers fail at once
// with its error until redialEvery has passed. Once connected, rueidis
// reconnects by itself.
func (s *Store) connect(ctx context.Context) error {
	d := &s.dial
	d.mu.Lock()
	if s.cp.Load() != nil {
		d.mu.Unlock()
		return nil
	}
	if d.stopped {
		d.mu.Unlock()
		return errClosed
	}
	ch := d.inflight
	if ch == nil {
		if d.lastErr != nil && time.Since(d.lastAt) < redialEvery {
			err := d.lastErr
			d.mu.Unlock()
			return s.notConnected(err)
		}
		ch = make(chan struct{})
		d.inflight = ch
		d.wg.Add(1)
		go s.dialOnce(ch)
	}
	d.mu.Unlock()
	select {
	case <-ch:
		if s.cp.Load() != nil {
			return nil
		}
		d.mu.Lock()
		err := d.lastErr
		d.mu.Unlock()
		if err == nil {
			return errClosed
		}
		return s.notConnected(err)
	case <-ctx.Done():
		return fmt.Errorf("redis: connecting to %s: %w", s.opts.target(), ctx.Err())
	}
}

func (s *Store) notConnected(err error) error {
	return fmt.Errorf("redis: not connected to %s: %w", s.opts.target(), err)
}

// dialOnce creates the client and publishes it, unless the Store was
// closed meanwhile.
func (s *Store) dialOnce(ch chan struct{}) {
	d := &s.dial
	defer d.wg.Done()
	c, err := rueidis.NewClient(s.co)
	d.mu.Lock()
	defer d.mu.Unlock()
	switch {
	case err != nil:
		d.lastErr, d.lastAt = err, time.Now()
	case d.stopped:
		c.Close()
		d.lastErr = nil
	default:
		s.cluster = c.Mode() == rueidis.ClientModeCluster
		s.cp.Store(&clientRef{c})
		d.lastErr = nil
	}
	d.inflight = nil
	close(ch)
}

// stopDial stops future dials and waits for one in progress (at most
// ConnectTimeout).
func (s *Store) stopDial() {
	s.dial.mu.Lock()
	s.dial.stopped = true
	s.dial.mu.Unlock()
	s.dial.wg.Wait()
}
