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
	s   *sealer
}

// get returns the opened value under key, ErrNotFound, or ErrDamaged.
func (tx *Tx) get(key []byte) ([]byte, error) {
	item, err := tx.txn.Get(key)
	if errors.Is(err, badger.ErrKeyNotFound) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	return tx.openItem(item)
}

func (tx *Tx) openItem(item *badger.Item) ([]byte, error) {
	var plain []byte
	err := item.Value(func(b []byte) (err error) {
		plain, err = tx.s.open(item.Key(), b)
		return err
	})
	return plain, err
}

// set seals value for key and stores it.
func (tx *Tx) set(key, value []byte) error {
	return tx.txn.Set(key, tx.s.seal(key, value))
}

func (tx *Tx) getJSON(key []byte, v any) error {
	b, err := tx.get(key)
	if err != nil {
		return err
	}
	return decodeJSON(key, b, v)
}

// decodeJSON decodes an authentic value; one that does not decode was
// written by a broken sealfs, and is damage all the same.
func decodeJSON(key, b []byte, v any) error {
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%s does not decode: %w", describeKey(key), ErrDamaged)
	}
	return nil
}

func (tx *Tx) putJSON(key []byte, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return tx.set(key, b)
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
	var damaged error
	for it.Rewind(); it.Valid(); it.Next() {
		item := it.Item()
		var e Entry
		b, err := tx.openItem(item)
		if err == nil {
			err = decodeJSON(item.Key(), b, &e)
		}
		if errors.Is(err, ErrDamaged) {
			// The rest of the directory stays listable.
			damaged = errors.Join(damaged, err)
			continue
		}
		if err != nil {
			return err
		}
		e.Name = string(item.Key()[len(prefix):])
		if !fn(e) {
			break
		}
	}
	return damaged
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
	return tx.get(namedKey(tagXattr, ino, name))
}

// SetXattr stores extended attribute name of ino.
func (tx *Tx) SetXattr(ino Ino, name string, value []byte) error {
	return tx.set(namedKey(tagXattr, ino, name), value)
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
// crash before its last close does not leak it. lastPath is the name it
// had ("" for an O_TMPFILE file), kept for its retired versions.
func (tx *Tx) MarkOrphan(ino Ino, lastPath string) error {
	return tx.set(inoKey(tagOrphan, ino), []byte(lastPath))
}

// OrphanPath returns the last path MarkOrphan recorded for ino; "" when ino
// is not marked.
func (tx *Tx) OrphanPath(ino Ino) (string, error) {
	v, err := tx.get(inoKey(tagOrphan, ino))
	if errors.Is(err, ErrNotFound) {
		return "", nil
	}
	return string(v), err
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
		// A mark decides a deletion: only an authentic one counts.
		if _, err := tx.openItem(it.Item()); err != nil {
			return nil, err
		}
		inos = append(inos, inoFromKey(it.Item().Key()))
	}
	return inos, nil
}

// Contents calls fn for every content record until fn returns false. A
// damaged record stops it with ErrDamaged: callers that act on the whole
// set (removing data no record names) must not act on a part of it.
func (tx *Tx) Contents(fn func(Ino, Content) bool) error {
	var first error
	err := tx.EachContent(func(ino Ino, c Content, err error) bool {
		if err != nil {
			first = err
			return false
		}
		return fn(ino, c)
	})
	if first != nil {
		return first
	}
	return err
}

// EachContent is Contents for a caller that goes on past damage (sealfs
// check): fn gets each damaged record's error instead of its value.
func (tx *Tx) EachContent(fn func(Ino, Content, error) bool) error {
	prefix := []byte{tagContent}
	it := tx.txn.NewIterator(badger.IteratorOptions{Prefix: prefix, PrefetchValues: true, PrefetchSize: 64})
	defer it.Close()
	for it.Rewind(); it.Valid(); it.Next() {
		var c Content
		b, err := tx.openItem(it.Item())
		if err == nil {
			err = decodeJSON(it.Item().Key(), b, &c)
		}
		if err != nil && !errors.Is(err, ErrDamaged) {
			return err
		}
		if !fn(inoFromKey(it.Item().Key()), c, err) {
			return nil
		}
	}
	return nil
}
