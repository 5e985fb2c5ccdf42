package disk

import (
	"bytes"
	"errors"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// noteDamage counts a damaged record met by a read and logs it, at most
// once per 10 s (the Damage limiter's default).
func (s *Store) noteDamage(err error) {
	// Options.Clock: tests see exactly which lines.
	log, reads, notLogged := s.damage.Note(err, s.clock.Now())
	if !log {
		return
	}
	s.o.Logger.Error("yokedcache disk: a read found a damaged record; it is treated as a miss. "+
		"Reopen the store with integrity_check=full to quarantine the file",
		"path", s.path, "error", err, "damaged_reads", reads, "not_logged", notLogged)
}

// decode is decodeRecord for the read paths: a damaged record is counted.
func (s *Store) decode(key, rec []byte, withTags bool) (record, error) {
	r, err := decodeRecord(key, rec, withTags)
	if err != nil {
		s.noteDamage(err)
	}
	return r, err
}

// verifyRecords is the record part of IntegrityFull: every record of the
// data bucket must pass its checksum. It runs after the page checks, so
// the tree can be walked safely.
func verifyRecords(db *bolt.DB) error {
	return db.View(func(tx *bolt.Tx) error {
		d := tx.Bucket(bucketData)
		if d == nil {
			return nil
		}
		v1 := true
		if m := tx.Bucket(bucketMeta); m != nil && string(m.Get(metaRecords)) == recordsV2 {
			v1 = false
		}
		var errs []error
		n := 0
		err := d.ForEach(func(k, v []byte) error {
			if _, err := decodeRecordV(k, v, false, v1); err != nil {
				n++
				if len(errs) < 10 {
					errs = append(errs, err)
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
		if n > 0 {
			return &corruptionError{fmt.Errorf("%d damaged records: %w", n, errors.Join(errs...))}
		}
		return nil
	})
}

// migrateBatch is the number of version 1 records one migration
// transaction rewrites.
const migrateBatch = 1000

// migrateRecords runs before initialize and rewrites every version 1 record (no checksum, written by
// earlier builds) as version 2, a batch per transaction, then marks the
// store (metaRecords) so that a version 1 record is damage from then on.
// A version 1 record that does not decode is left as it is: it reads as
// damage. The checksum covers the record as found: one that was already
// damaged in a way its format cannot show is kept.
func migrateRecords(db *bolt.DB) error {
	var done bool
	if err := db.View(func(tx *bolt.Tx) error {
		m := tx.Bucket(bucketMeta)
		// A new file is marked by initialize; a file without data
		// bucket has nothing to migrate.
		done = m == nil || tx.Bucket(bucketData) == nil || string(m.Get(metaRecords)) == recordsV2
		return nil
	}); err != nil || done {
		return err
	}
	var after []byte
	for !done {
		err := writeTx(db, func(tx *bolt.Tx) error {
			d := tx.Bucket(bucketData)
			type kv struct{ k, v []byte }
			var batch []kv
			c := d.Cursor()
			k, v := seekAfter(c, nil, after)
			for ; k != nil && len(batch) < migrateBatch; k, v = c.Next() {
				after = bytes.Clone(k)
				if len(v) == 0 || v[0] != recordVersion1 {
					continue
				}
				r, err := decodeRecordV(k, v, true, true)
				if err != nil {
					continue
				}
				batch = append(batch, kv{after, encodeRecord(k, r.expireAt, r.tags, r.value)})
			}
			done = k == nil
			if len(batch) > 0 {
				// Record sizes change: initialize recounts.
				if err := tx.Bucket(bucketMeta).Delete(metaClean); err != nil {
					return err
				}
			}
			for _, e := range batch {
				if err := d.Put(e.k, e.v); err != nil {
					return err
				}
			}
			if done {
				return tx.Bucket(bucketMeta).Put(metaRecords, []byte(recordsV2))
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}
