package meta

import (
	"encoding/json"
	"errors"
	"fmt"

	badger "github.com/dgraph-io/badger/v4"
)

// Tx is one metadata transaction, valid only inside Store.Update or Store.View.
type Tx struct {
	txn *badger.Txn
}

func (tx *Tx) getJSON(key []byte, v any) error {
	item, err := tx.txn.Get(key)
	if errors.Is(err, badger.ErrKeyNotFound) {
		return ErrNotFound
	}
	if err != nil {
		return err
	}
	return item.Value(func(b []byte) error { return json.Unmarshal(b, v) })
}

func (tx *Tx) putJSON(key []byte, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return tx.txn.Set(key, b)
}

func (tx *Tx) delete(key []byte) error {
	return tx.txn.Delete(key)
}

// Inode returns the inode ino, or ErrNotFound.
func (tx *Tx) Inode(ino Ino) (Inode, error) {
	var in Inode
	if err := tx.getJSON(inoKey(tagInode, ino), &in); err != nil {
		return Inode{}, fmt.Errorf("inode %d: %w", ino, err)
	}
	return in, nil
}

// PutInode stores in under in.Ino.
func (tx *Tx) PutInode(in Inode) error {
	return tx.putJSON(inoKey(tagInode, in.Ino), in)
}

// DeleteInode removes the inode with its content record, xattrs, orphan
// mark and unsettled mark. Directory entries pointing at it are the caller's to remove.
func (tx *Tx) DeleteInode(ino Ino) error {
	for _, k := range [][]byte{inoKey(tagInode, ino), inoKey(tagContent, ino), inoKey(tagOrphan, ino), inoKey(tagUnsettled, ino)} {
		if err := tx.delete(k); err != nil {
			return err
		}
	}
	names, err := tx.ListXattrs(ino)
	if err != nil {
		return err
	}
	for _, name := range names {
		if err := tx.delete(namedKey(tagXattr, ino, name)); err != nil {
			return err
		}
	}
	return nil
}

// Lookup returns the entry name in directory dir, or ErrNotFound.
func (tx *Tx) Lookup(dir Ino, name string) (Entry, error) {
	var e Entry
	if err := tx.getJSON(namedKey(tagEntry, dir, name), &e); err != nil {
		return Entry{}, err
	}
	e.Name = name
	return e, nil
}

// PutEntry adds or replaces the entry e.Name in directory dir.
func (tx *Tx) PutEntry(dir Ino, e Entry) error {
	return tx.putJSON(namedKey(tagEntry, dir, e.Name), e)
}

// DeleteEntry removes the entry name from directory dir.
func (tx *Tx) DeleteEntry(dir Ino, name string) error {
	return tx.delete(namedKey(tagEntry, dir, name))
}

// Entries calls fn for each entry of dir in name order until fn returns false.
func (tx *Tx) Entries(dir Ino, fn func(Entry) bool) error {
	prefix := inoKey(tagEntry, dir)
	it := tx.txn.NewIterator(badger.IteratorOptions{Prefix: prefix, PrefetchValues: true, PrefetchSize: 64})
	defer it.Close()
	for it.Rewind(); it.Valid(); it.Next() {
		item := it.Item()
		var e Entry
		if err := item.Value(func(b []byte) error { return json.Unmarshal(b, &e) }); err != nil {
			return err
		}
		e.Name = string(item.Key()[len(prefix):])
		if !fn(e) {
			return nil
		}
	}
	return nil
}

// HasEntries reports whether directory dir has any entry.
func (tx *Tx) HasEntries(dir Ino) (bool, error) {
	prefix := inoKey(tagEntry, dir)
	it := tx.txn.NewIterator(badger.IteratorOptions{Prefix: prefix})
	defer it.Close()
	it.Rewind()
	return it.Valid(), nil
}

// Content returns the content record of regular file ino, or ErrNotFound.
func (tx *Tx) Content(ino Ino) (Content, error) {
	var c Content
	if err := tx.getJSON(inoKey(tagContent, ino), &c); err != nil {
		return Content{}, fmt.Errorf("content of inode %d: %w", ino, err)
	}
	return c, nil
}

// PutContent stores the content record of regular file ino.
func (tx *Tx) PutContent(ino Ino, c Content) error {
	return tx.putJSON(inoKey(tagContent, ino), c)
}

// Xattr returns the value of extended attribute name of ino, or ErrNotFound.
func (tx *Tx) Xattr(ino Ino, name string) ([]byte, error) {
	item, err := tx.txn.Get(namedKey(tagXattr, ino, name))
	if errors.Is(err, badger.ErrKeyNotFound) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	return item.ValueCopy(nil)
}

// SetXattr stores extended attribute name of ino.
func (tx *Tx) SetXattr(ino Ino, name string, value []byte) error {
	return tx.txn.Set(namedKey(tagXattr, ino, name), value)
}

// RemoveXattr deletes extended attribute name of ino.
func (tx *Tx) RemoveXattr(ino Ino, name string) error {
	return tx.delete(namedKey(tagXattr, ino, name))
}

// ListXattrs returns the names of ino's extended attributes in order.
func (tx *Tx) ListXattrs(ino Ino) ([]string, error) {
	prefix := inoKey(tagXattr, ino)
	it := tx.txn.NewIterator(badger.IteratorOptions{Prefix: prefix})
	defer it.Close()
	var names []string
	for it.Rewind(); it.Valid(); it.Next() {
		names = append(names, string(it.Item().Key()[len(prefix):]))
	}
	return names, nil
}

// MarkOrphan records that ino has no names left but is still open, so a
// crash before its last close does not leak it.
func (tx *Tx) MarkOrphan(ino Ino) error {
	return tx.txn.Set(inoKey(tagOrphan, ino), nil)
}

// UnmarkOrphan clears the mark of MarkOrphan: the inode got a name again.
func (tx *Tx) UnmarkOrphan(ino Ino) error {
	return tx.delete(inoKey(tagOrphan, ino))
}

// Orphans returns every inode marked by MarkOrphan.
func (tx *Tx) Orphans() ([]Ino, error) {
	prefix := []byte{tagOrphan}
	it := tx.txn.NewIterator(badger.IteratorOptions{Prefix: prefix})
	defer it.Close()
	var inos []Ino
	for it.Rewind(); it.Valid(); it.Next() {
		inos = append(inos, inoFromKey(it.Item().Key()))
	}
	return inos, nil
}

// Contents calls fn for every content record until fn returns false.
func (tx *Tx) Contents(fn func(Ino, Content) bool) error {
	prefix := []byte{tagContent}
	it := tx.txn.NewIterator(badger.IteratorOptions{Prefix: prefix, PrefetchValues: true, PrefetchSize: 64})
	defer it.Close()
	for it.Rewind(); it.Valid(); it.Next() {
		var c Content
		if err := it.Item().Value(func(b []byte) error { return json.Unmarshal(b, &c) }); err != nil {
			return err
		}
		if !fn(inoFromKey(it.Item().Key()), c) {
			return nil
		}
	}
	return nil
}
