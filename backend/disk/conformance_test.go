package disk_test

import (
	"testing"

	"github.com/yokedcache/yokedcache/backend"
	"github.com/yokedcache/yokedcache/backend/backendtest"
	"github.com/yokedcache/yokedcache/backend/disk"
)

func TestConformance(t *testing.T) {
	backendtest.Run(t, backendtest.Harness{
		Name: "disk",
		New: func(t *testing.T, clock backend.Clock) (backend.Backend, error) {
			return disk.New(disk.Options{Directory: t.TempDir(), Clock: clock, Logger: quietLogger()})
		},
	})
}
