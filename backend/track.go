package backend

import (
	"context"
	"time"
)

// TTLReader is implemented by shared backends that can return a value
// together with its remaining time to live in one round trip. A near
// cache (package backend/near) uses it so that a local copy never
// outlives the shared entry.
type TTLReader interface {
	// GetTTL is Get that also returns the entry's remaining TTL, or
	// NoExpiry for an entry that never expires.
	GetTTL(ctx context.Context, key string) ([]byte, time.Duration, error)
	// GetManyTTL is GetMany with the remaining TTL of each hit (0 for a
	// miss).
	GetManyTTL(ctx context.Context, keys []string) ([][]byte, []time.Duration, error)
}

// Tracker is implemented by shared backends that can tell a process when
// keys change, whoever changed them, so that a near cache can drop its
// local copies (Redis: server-assisted client-side caching with CLIENT
// TRACKING, or an invalidation stream where the ACL refuses it).
type Tracker interface {
	// Track starts delivering change notifications for the stored keys
	// beginning with prefix to h, in the background: it must not dial a
	// server itself (backends connect lazily). Notifications flow only
	// while the returned Tracking's Status reports Live; every time they
	// stop or start again (a lost connection, a reconnect), h.Reset is
	// called first, because changes in between may have been missed.
	// Tracking stops when Stop is called or the backend is closed.
	Track(prefix string, h TrackHandler) (Tracking, error)
}

// TrackHandler receives a Tracker's notifications. Its functions are
// called from the tracker's goroutines, must be fast and must not call
// back into the backend.
type TrackHandler struct {
	// Keys is called with stored keys that changed (written, deleted,
	// expired or evicted) or may have changed.
	Keys func(keys []string)
	// Reset is called when every key under the prefix may have changed or
	// notifications may have been missed: a flush, a lost connection, a
	// reconnect, a stream that was trimmed past the reader.
	Reset func()
}

// Tracking is a running Tracker subscription.
type Tracking interface {
	// Status reports the subscription's mode and health.
	Status() TrackStatus
	// Stop ends the subscription and waits for its goroutines.
	Stop()
}

// Track modes reported in TrackStatus.Mode.
const (
	// TrackModeTracking: the server pushes invalidations (Redis CLIENT
	// TRACKING in broadcast mode on the prefix). Every writer is seen,
	// including clients outside yokedcache.
	TrackModeTracking = "tracking"
	// TrackModeStream: yokedcache writers publish invalidations to a
	// stream under the prefix that every process reads. Writers outside
	// yokedcache are not seen; a near cache bounds them by its local TTL.
	TrackModeStream = "stream"
	// TrackModeTTL: no notifications; local copies live at most the near
	// cache's local TTL.
	TrackModeTTL = "ttl"
)

// TrackStatus describes a Tracking.
type TrackStatus struct {
	// Mode is one of the TrackMode constants, or "" before the first
	// connection decided it.
	Mode string
	// Live reports that notifications are flowing: a near cache keeps
	// local copies only while it holds.
	Live bool
	// Notifications counts the key notifications received.
	Notifications int64
	// Resets counts the calls to TrackHandler.Reset.
	Resets int64
	// Lag is the delay of the last stream notification (the time between
	// its publication and its receipt, by the publisher's and this
	// machine's clocks); 0 in tracking mode.
	Lag time.Duration
	// Err is the last error that stopped notifications, if any.
	Err error
}
