package sqlite_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/yokedcache/yokedcache/backend"
	"github.com/yokedcache/yokedcache/backend/sqlite"
)

// BenchmarkGetManyStrategies compares ways to read 100 keys: the Store's
// GetMany (a prepared statement taking the keys as a JSON array, through
// json_each), the same without the Store around it, a prepared
// SELECT ... IN (?, ...) of exactly 100 parameters, and a prepared
// single-key SELECT looped inside one read transaction.
//
//	go test -run '^$' -bench BenchmarkGetManyStrategies -benchtime 2s ./backend/sqlite/
func BenchmarkGetManyStrategies(b *testing.B) {
	ctx := context.Background()
	store, err := sqlite.New(sqlite.Options{Path: filepath.Join(b.TempDir(), "cache.db")})
	if err != nil {
		b.Fatal(err)
	}
	defer store.Close()
	val := bytes.Repeat([]byte("v"), 100)
	keys := make([]string, 100)
	for i := range keys {
		keys[i] = fmt.Sprintf("bench:key:%d", i)
		if err := store.Set(ctx, keys[i], val, backend.SetOptions{TTL: time.Hour}); err != nil {
			b.Fatal(err)
		}
	}
	var db *sql.DB
	store.As(&db)
	b.Run("store_GetMany_json_each", func(b *testing.B) {
		for b.Loop() {
			if _, err := store.GetMany(ctx, keys); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("IN_literal_prepared", func(b *testing.B) {
		q := `SELECT key, value, expires_at FROM yokedcache_entries WHERE key IN (?` + strings.Repeat(",?", len(keys)-1) + `)`
		st, err := db.Prepare(q)
		if err != nil {
			b.Fatal(err)
		}
		defer st.Close()
		args := make([]any, len(keys))
		for i, k := range keys {
			args[i] = k
		}
		for b.Loop() {
			rows, err := st.Query(args...)
			readRows(b, rows, err)
		}
	})
	b.Run("json_each", func(b *testing.B) {
		st, err := db.Prepare(`SELECT key, value, expires_at FROM yokedcache_entries WHERE key IN (SELECT value FROM json_each(?))`)
		if err != nil {
			b.Fatal(err)
		}
		defer st.Close()
		for b.Loop() {
			js, _ := json.Marshal(keys)
			rows, err := st.Query(string(js))
			readRows(b, rows, err)
		}
	})
	b.Run("loop_in_tx", func(b *testing.B) {
		st, err := db.Prepare(`SELECT value, expires_at FROM yokedcache_entries WHERE key = ?`)
		if err != nil {
			b.Fatal(err)
		}
		defer st.Close()
		for b.Loop() {
			tx, err := db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
			if err != nil {
				b.Fatal(err)
			}
			ts := tx.Stmt(st)
			for _, k := range keys {
				var v []byte
				var exp int64
				if err := ts.QueryRow(k).Scan(&v, &exp); err != nil {
					b.Fatal(err)
				}
			}
			_ = tx.Rollback()
		}
	})
}

func readRows(b *testing.B, rows *sql.Rows, err error) {
	if err != nil {
		b.Fatal(err)
	}
	n := 0
	for rows.Next() {
		var k string
		var v []byte
		var exp int64
		if err := rows.Scan(&k, &v, &exp); err != nil {
			b.Fatal(err)
		}
		n++
	}
	rows.Close()
	if n != 100 {
		b.Fatal(n)
	}
}
