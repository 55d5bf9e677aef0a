package version

import (
	"fmt"
	"time"

	"github.com/sealfs/sealfs/crypto"
	"github.com/sealfs/sealfs/meta"
)

// WriteAt writes p at off. The caller checked that the disk can hold the
// growth.
func (f *File) WriteAt(p []byte, off int64) (int, error) {
	if err := f.beginChange(); err != nil {
		return 0, err
	}
	n, err := f.content.WriteAt(p, off)
	if n > 0 {
		f.changed()
	}
	return n, err
}

// Truncate changes the size and saves it. Truncating to zero starts a new,
// empty version under a fresh DEK without reading the old one, so a new
// backup never shares a key with the one it replaces and a damaged file
// can be replaced.
func (f *File) Truncate(size int64) error {
	return f.truncate(size)
}

func (f *File) truncate(size int64) error {
	if size == 0 {
		return f.replaceEmpty()
	}
	if err := f.Err(); err != nil {
		return err
	}
	if size == f.content.Size() {
		return nil
	}
	if err := f.beginChange(); err != nil {
		return err
	}
	if err := f.content.Truncate(size); err != nil {
		return err
	}
	f.changed()
	return f.save(false)
}

func (f *File) changed() {
	f.unsaved = true
	f.mtime = time.Now().UnixNano()
}

// beginChange makes the content safe to change: a sealed or durable
// version is first copied to a new one, so a crash or a failed write can
// never leave an old, complete backup half overwritten.
func (f *File) beginChange() error {
	switch f.state {
	case Fresh, Copying:
		return nil
	case Broken:
		return f.damage
	}
	rec, data, content, err := f.k.newContent(!f.rec.Encrypted)
	if err != nil {
		return err
	}
	if err := copyContent(content, f.content); err != nil {
		data.Close()
		f.k.cfg.Data.RemoveData(rec.FileID)
		return fmt.Errorf("copy version %s: %w", crypto.FileID(f.rec.FileID), err)
	}
	f.data.Close()
	old := f.rec
	rec.Version = old.Version + 1
	f.state, f.old, f.rec, f.data, f.content = Copying, &old, rec, data, content
	f.changed()
	return nil
}

// startEmpty opens a closed file with a new, empty version.
func (f *File) startEmpty() error {
	var old meta.Content
	if err := f.k.cfg.Meta.View(func(tx *meta.Tx) (err error) {
		old, err = tx.Content(f.ino)
		return err
	}); err != nil {
		return err
	}
	rec, data, content, err := f.k.newContent(!old.Encrypted)
	if err != nil {
		return err
	}
	if err := f.recordEmpty(&rec); err != nil {
		data.Close()
		f.k.cfg.Data.RemoveData(rec.FileID)
		return err
	}
	f.state, f.rec, f.data, f.content = Fresh, rec, data, content
	f.unsaved = false
	return nil
}

// replaceEmpty swaps the open version for a new, empty one.
func (f *File) replaceEmpty() error {
	rec, data, content, err := f.k.newContent(!f.rec.Encrypted)
	if err != nil {
		return err
	}
	if err := f.recordEmpty(&rec); err != nil {
		data.Close()
		f.k.cfg.Data.RemoveData(rec.FileID)
		return err
	}
	if f.state == Copying {
		// The copy was never recorded; recordEmpty dealt with f.old.
		f.k.removeLater(f.rec.FileID)
	}
	if f.data != nil {
		f.data.Close()
	}
	f.state, f.rec, f.data, f.content = Fresh, rec, data, content
	f.old, f.damage, f.unsaved = nil, nil, false
	return nil
}

// recordEmpty points the record at the new, empty version rec at once; the
// version it replaces stays the fallback until rec is durable.
func (f *File) recordEmpty(rec *meta.Content) error {
	now := time.Now().UnixNano()
	var superseded *meta.Content
	err := f.k.cfg.Meta.Update(func(tx *meta.Tx) error {
		in, err := tx.Inode(f.ino)
		if err != nil {
			return err
		}
		old, err := tx.Content(f.ino)
		if err != nil {
			return err
		}
		mark, sup, err := f.k.markReplacing(tx, f.ino, old, in)
		if err != nil {
			return err
		}
		superseded = sup
		rec.Version = old.Version + 1
		in.Size, in.Mtime, in.Ctime = 0, now, now
		mark.FileID, mark.Size, mark.Seq = rec.FileID, 0, f.k.nextSeq()
		if err := tx.PutUnsettled(f.ino, mark); err != nil {
			return err
		}
		if err := tx.PutContent(f.ino, *rec); err != nil {
			return err
		}
		return tx.PutInode(in)
	})
	if err != nil {
		return err
	}
	f.k.afterSupersede(superseded)
	return nil
}

// newContent creates a ciphertext file for a new version with its own file
// ID and DEK, already holding a valid empty file, and returns its record.
// plain makes plain content (a file of a directory whose encryption is
// off); a file's later versions keep the kind of its first.
func (k *Keeper) newContent(plain bool) (meta.Content, DataFile, *crypto.File, error) {
	id, err := crypto.NewFileID()
	if err != nil {
		return meta.Content{}, nil, nil, err
	}
	data, err := k.cfg.Data.CreateData(id)
	if err != nil {
		return meta.Content{}, nil, nil, err
	}
	content, err := crypto.CreateFileWithID(k.cfg.Wrapper, data, id, k.cfg.BlockSize, plain)
	if err == nil {
		err = content.Flush()
	}
	if err != nil {
		data.Close()
		k.cfg.Data.RemoveData(id)
		return meta.Content{}, nil, nil, fmt.Errorf("create content: %w", err)
	}
	key := content.Key()
	k.markWritten()
	rec := meta.Content{
		FileID: id, KeyID: key.KeyID, WrappedDEK: key.Wrapped,
		Encrypted: !plain, Version: 1,
	}
	return rec, data, content, nil
}
