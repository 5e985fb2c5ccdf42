package filetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"iter"

	"github.com/yokedcache/yokedcache/backend"
)

// Store is what a corruption campaign reads back from a damaged store.
type Store interface {
	GetMany(ctx context.Context, keys []string) ([][]byte, error)
	Scan(ctx context.Context, pattern string) iter.Seq2[string, error]
	HealthDetails(ctx context.Context) (backend.HealthDetails, error)
}

// ReadBack is a campaign's check of the batch reads and the scan of a
// store whose single reads already ran: keys are read with GetMany in
// chunks of 200 and must never come back with a value other than want(i)
// (a miss is fine), and the scan must end cleanly or with ErrCorrupt.
// damaged is whether any read (including the caller's, passed in)
// reported damage; then health must not say "healthy", or healthMissing
// is true. It returns whether the store was found damaged, the wrong
// values it saw and the problems.
func ReadBack(ctx context.Context, s Store, keys []string, want func(i int) []byte, damaged bool) (_ bool, wrong int, healthMissing bool, errs []error) {
	for i := 0; i < len(keys); i += 200 {
		chunk := keys[i:min(i+200, len(keys))]
		got, err := s.GetMany(ctx, chunk)
		if err != nil {
			if errors.Is(err, backend.ErrCorrupt) {
				damaged = true
				continue
			}
			errs = append(errs, fmt.Errorf("GetMany: %w", err))
			continue
		}
		for j, v := range got {
			if v != nil && !bytes.Equal(v, want(i+j)) {
				wrong++
				errs = append(errs, fmt.Errorf("GetMany returned a wrong value for %s (%.40q)", chunk[j], v))
			}
		}
	}
	for _, err := range s.Scan(ctx, "*") {
		if err != nil {
			if errors.Is(err, backend.ErrCorrupt) {
				damaged = true
			}
			break
		}
	}
	if damaged {
		if h, _ := s.HealthDetails(ctx); h.Status == "healthy" {
			healthMissing = true
			errs = append(errs, fmt.Errorf("reads saw damage but health is %+v", h))
		}
	}
	return damaged, wrong, healthMissing, errs
}
