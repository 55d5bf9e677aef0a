package meta

import (
	"errors"

	badger "github.com/dgraph-io/badger/v4"
)

// Damage is one record that fails authentication.
type Damage struct {
	Ino    Ino    // the inode it belongs to (0: none, e.g. an upload job)
	Record string // which record, as ErrDamaged names it
	Err    error
}

// Verify opens every value in the store and calls fn for each that fails
// (sealfs check). It reads everything once; nothing is changed.
func (s *Store) Verify(fn func(Damage)) error {
	return s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{PrefetchValues: true, PrefetchSize: 64})
		defer it.Close()
		tx := &Tx{txn: txn, s: s.s}
		for it.Rewind(); it.Valid(); it.Next() {
			item := it.Item()
			if unsealed(item.Key()) {
				continue
			}
			_, err := tx.openItem(item)
			if errors.Is(err, ErrDamaged) {
				fn(Damage{Ino: inoFromKey(item.Key()), Record: describeKey(item.Key()), Err: err})
				continue
			}
			if err != nil {
				return err
			}
		}
		return nil
	})
}
