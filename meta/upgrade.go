package meta

import (
	"fmt"

	badger "github.com/dgraph-io/badger/v4"
)

// upgradeBatch bounds the records resealed in one transaction (Badger
// limits a transaction's size).
const upgradeBatch = 1000

// SealPlainValues converts a store written by format 1 (values in the
// clear under Badger's encryption) to sealed values, and syncs. It is
// idempotent: a value that already opens is kept, so an upgrade cut short
// by a crash is finished by the next run. The caller records the new
// format only after it returns. It returns how many values it sealed.
func (s *Store) SealPlainValues() (int, error) {
	sealed := 0
	var after []byte // last key looked at
	for {
		var keys, vals [][]byte
		exhausted := true
		err := s.db.View(func(txn *badger.Txn) error {
			it := txn.NewIterator(badger.IteratorOptions{PrefetchValues: true, PrefetchSize: 64})
			defer it.Close()
			it.Rewind()
			if after != nil {
				// Seek lands on after itself; resume past it.
				for it.Seek(after); it.Valid() && string(it.Item().Key()) == string(after); {
					it.Next()
				}
			}
			for n := 0; it.Valid(); it.Next() {
				if n++; n > upgradeBatch {
					exhausted = false
					return nil
				}
				item := it.Item()
				k := item.KeyCopy(nil)
				after = k
				if unsealed(k) {
					continue
				}
				v, err := item.ValueCopy(nil)
				if err != nil {
					return err
				}
				if _, err := s.s.open(k, v); err == nil {
					continue
				}
				keys, vals = append(keys, k), append(vals, v)
			}
			return nil
		})
		if err == nil && len(keys) > 0 {
			err = s.db.Update(func(txn *badger.Txn) error {
				for i, k := range keys {
					if err := txn.Set(k, s.s.seal(k, vals[i])); err != nil {
						return err
					}
				}
				return nil
			})
		}
		if err != nil {
			return sealed, fmt.Errorf("upgrade metadata: %w", err)
		}
		sealed += len(keys)
		if exhausted {
			return sealed, s.Sync()
		}
	}
}
