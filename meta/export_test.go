package meta

import badger "github.com/dgraph-io/badger/v4"

// Raw access to what Badger holds, for tests that play an attacker who can
// write the store but has no key (Badger's own encryption is not
// authenticated, so such an attacker can rewrite values).

// InodeKey, ContentKey and EntryKey are the Badger keys of those records.
func InodeKey(ino Ino) []byte              { return inoKey(tagInode, ino) }
func ContentKey(ino Ino) []byte            { return inoKey(tagContent, ino) }
func EntryKey(dir Ino, name string) []byte { return namedKey(tagEntry, dir, name) }

// RawValue returns the stored (sealed) bytes under key.
func (s *Store) RawValue(key []byte) ([]byte, error) {
	var v []byte
	err := s.db.View(func(txn *badger.Txn) error {
		item, err := txn.Get(key)
		if err != nil {
			return err
		}
		v, err = item.ValueCopy(nil)
		return err
	})
	return v, err
}

// SetRawValue stores value under key as is, bypassing sealing.
func (s *Store) SetRawValue(key, value []byte) error {
	return s.db.Update(func(txn *badger.Txn) error { return txn.Set(key, value) })
}
