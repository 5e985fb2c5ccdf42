package yokedcache

import (
	"errors"
	"fmt"
	"strings"

	"github.com/yokedcache/yokedcache/backend"
)

// The sentinel errors. Every error a [Cache] method returns is an [*Error]
// that matches one of these (or a context error) with errors.Is. They are
// the same values as package backend's.
var (
	// ErrNotFound: the key is absent, expired or its stored bytes did not
	// decode (then ErrCorrupt matches too).
	ErrNotFound = backend.ErrNotFound
	// ErrInvalidKey: empty key, invalid UTF-8 or longer than MaxKeyLength.
	ErrInvalidKey = backend.ErrInvalidKey
	// ErrInvalidTTL: a negative TTL other than NoExpiry, or one above
	// MaxTTL.
	ErrInvalidTTL = backend.ErrInvalidTTL
	// ErrInvalidValue: the codec cannot encode the value (a channel, a
	// function, a cyclic structure), or the destination is not a pointer.
	ErrInvalidValue = backend.ErrInvalidValue
	// ErrCorrupt: stored bytes are not a valid envelope or do not decode
	// into the destination. Reads treat it as a miss (ErrNotFound matches
	// too), count it in Stats.Corrupt and log it.
	ErrCorrupt = backend.ErrCorrupt
	// ErrValueTooLarge: the encoded value exceeds Config.MaxValueSize or the
	// backend's item limit.
	ErrValueTooLarge = backend.ErrValueTooLarge
	// ErrUnsupported: the backend cannot honour the operation (for example
	// key listing on Memcached). It also matches errors.ErrUnsupported.
	ErrUnsupported = backend.ErrUnsupported
	// ErrClosed: the cache was closed.
	ErrClosed = backend.ErrClosed
	// ErrInvalidConfig: an invalid Config field, environment variable or
	// URL.
	ErrInvalidConfig = backend.ErrInvalidConfig
	// ErrUnavailable: the backend was not called because its circuit
	// breaker is open (it failed repeatedly and is cooling down; see
	// Config.BreakerFailures). The error also wraps the failure that
	// opened the breaker, so errors.Is matches that cause too.
	ErrUnavailable = backend.ErrUnavailable
)

// Error is the type of every error returned by Cache methods. It records
// the operation and the user key (empty for operations without one). Its
// message shows a long key shortened to its first bytes and its length;
// Key holds it whole. A failure of one route's backend, in a Cache with
// routes, wraps a *RouteError naming the route.
type Error struct {
	Op  string // "get", "set", "invalidate_tags", ...
	Key string
	Err error // a sentinel, a backend error or a context error
}

func (e *Error) Error() string {
	msg := trimOwnPrefix(e.Err.Error())
	if e.Key == "" {
		return fmt.Sprintf("yokedcache: %s: %s", e.Op, msg)
	}
	return fmt.Sprintf("yokedcache: %s %q: %s", e.Op, shortKey(e.Key), msg)
}

// Unwrap returns the underlying error.
func (e *Error) Unwrap() error { return e.Err }

// trimOwnPrefix drops the "yokedcache: " that wrapped errors (sentinels,
// backends) carry, so that a message says "yokedcache" once.
func trimOwnPrefix(msg string) string {
	return strings.ReplaceAll(strings.TrimPrefix(msg, "yokedcache: "), ": yokedcache: ", ": ")
}

// opError builds the error of a Cache operation: the one place errors
// are made. Use wrap where err may be nil or already an *Error.
func opError(op, key string, err error) *Error {
	return &Error{Op: op, Key: key, Err: err}
}

func wrap(op, key string, err error) error {
	if err == nil {
		return nil
	}
	var ye *Error
	if errors.As(err, &ye) {
		return err
	}
	return opError(op, key, err)
}

// corruptErr matches both ErrCorrupt and ErrNotFound: undecodable bytes are
// a miss.
type corruptErr struct{ cause error }

func (e *corruptErr) Error() string { return "yokedcache: corrupt value: " + e.cause.Error() }
func (e *corruptErr) Unwrap() []error {
	return []error{backend.ErrCorrupt, backend.ErrNotFound, e.cause}
}
