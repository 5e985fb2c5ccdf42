package backend

import (
	"errors"
	"fmt"
)

// The sentinel errors of yokedcache. Package yokedcache re-exports these
// same values; check them with errors.Is.
var (
	// ErrNotFound reports a miss: the key is absent or expired.
	ErrNotFound = errors.New("yokedcache: not found")
	// ErrInvalidKey reports an empty key, invalid UTF-8 or a key over the
	// maximum length.
	ErrInvalidKey = errors.New("yokedcache: invalid key")
	// ErrInvalidTTL reports a negative TTL (other than NoExpiry) or one
	// above MaxTTL.
	ErrInvalidTTL = errors.New("yokedcache: invalid ttl")
	// ErrInvalidValue reports a value the codec cannot encode.
	ErrInvalidValue = errors.New("yokedcache: invalid value")
	// ErrCorrupt reports stored bytes that do not decode. The Cache treats
	// such an entry as a miss, counts it and logs it.
	ErrCorrupt = errors.New("yokedcache: corrupt value")
	// ErrValueTooLarge reports a value over a backend's item limit.
	ErrValueTooLarge = errors.New("yokedcache: value too large")
	// ErrUnsupported reports a feature the backend cannot honour. It also
	// matches errors.ErrUnsupported.
	ErrUnsupported = fmt.Errorf("yokedcache: %w", errors.ErrUnsupported)
	// ErrClosed reports an operation on a closed cache or backend.
	ErrClosed = errors.New("yokedcache: closed")
	// ErrInvalidConfig reports an invalid option, URL or configuration
	// value.
	ErrInvalidConfig = errors.New("yokedcache: invalid configuration")
	// ErrUnavailable reports a backend call not made because the backend
	// is known to be failing (its circuit breaker is open). Errors that
	// match it also wrap the failure that opened the breaker.
	ErrUnavailable = errors.New("yokedcache: backend unavailable (circuit breaker open)")
)

// Unsupported returns an error matching ErrUnsupported that names what is
// unsupported and why.
func Unsupported(backend, feature, why string) error {
	return fmt.Errorf("%s: %s: %s: %w", backend, feature, why, ErrUnsupported)
}

// PartialError is returned by a batch write (BatchSetter.SetMany) that
// stored some of its items but not all, for example when a router's
// routes fail independently. Done counts the items known to be stored;
// Err is the failure, which errors.Is and errors.As see through.
type PartialError struct {
	Done int64
	Err  error
}

func (e *PartialError) Error() string { return e.Err.Error() }

// Unwrap returns the underlying error.
func (e *PartialError) Unwrap() error { return e.Err }

// ServerError is a failure of one of a backend's several servers (a
// Memcached pool), which keeps serving the keys of the others. Such a
// backend breaks per server (it refuses a failing server's keys at once
// with an error matching ErrUnavailable), so the Cache's circuit breaker
// for the whole backend does not count these failures.
type ServerError struct {
	Server string // "host:port"
	Err    error
}

func (e *ServerError) Error() string { return "server " + e.Server + ": " + e.Err.Error() }

// Unwrap returns the server's error.
func (e *ServerError) Unwrap() error { return e.Err }
