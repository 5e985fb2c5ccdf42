package sqlite_test

import (
	"database/sql"
	"path/filepath"
	"sync"
	"testing"

	"github.com/yokedcache/yokedcache/backend"
	"github.com/yokedcache/yokedcache/backend/backendtest"
	"github.com/yokedcache/yokedcache/backend/sqlite"
)

func TestConformance(t *testing.T) {
	t.Run("file", func(t *testing.T) {
		backendtest.Run(t, backendtest.Harness{
			Name: "sqlite file",
			New: func(t *testing.T, clock backend.Clock) (backend.Backend, error) {
				return sqlite.New(sqlite.Options{Path: filepath.Join(t.TempDir(), "cache.db"), Clock: clock})
			},
		})
	})
	t.Run("memory", func(t *testing.T) {
		backendtest.Run(t, backendtest.Harness{
			Name: "sqlite :memory:",
			New: func(t *testing.T, clock backend.Clock) (backend.Backend, error) {
				return sqlite.New(sqlite.Options{Path: sqlite.MemoryPath, Clock: clock})
			},
		})
	})
	t.Run("shared_file", func(t *testing.T) {
		// Every New of one test opens another Store on the same file, as
		// a second process would.
		var (
			mu    sync.Mutex
			paths = map[*testing.T]string{}
		)
		backendtest.Run(t, backendtest.Harness{
			Name:   "sqlite shared file",
			Shared: true,
			New: func(t *testing.T, clock backend.Clock) (backend.Backend, error) {
				mu.Lock()
				p, ok := paths[t]
				if !ok {
					p = filepath.Join(t.TempDir(), "cache.db")
					paths[t] = p
					t.Cleanup(func() { mu.Lock(); delete(paths, t); mu.Unlock() })
				}
				mu.Unlock()
				return sqlite.New(sqlite.Options{Path: p, Clock: clock})
			},
		})
	})
	t.Run("existing_db", func(t *testing.T) {
		// Options.DB: the caller's *sql.DB, with deferred transactions.
		backendtest.Run(t, backendtest.Harness{
			Name: "sqlite Options.DB",
			New: func(t *testing.T, clock backend.Clock) (backend.Backend, error) {
				db, err := sql.Open(sqlite.DriverName, filepath.Join(t.TempDir(), "app.db")+
					"?_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)")
				if err != nil {
					return nil, err
				}
				t.Cleanup(func() { _ = db.Close() })
				return sqlite.New(sqlite.Options{DB: db, Clock: clock})
			},
		})
	})
}
