package disk_test

import (
	"io"
	"log/slog"
	"testing"

	"github.com/yokedcache/yokedcache/backend/disk"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	// Every Store's sweep goroutine must stop on Close.
	goleak.VerifyTestMain(m)
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func open(t testing.TB, o disk.Options) *disk.Store {
	t.Helper()
	if o.Logger == nil {
		o.Logger = quietLogger()
	}
	s, err := disk.New(o)
	if err != nil {
		t.Fatalf("disk.New: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}
