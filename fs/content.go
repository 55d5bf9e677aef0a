package fs

import (
	"errors"
	"fmt"
	"io"
	"os"
	"syscall"
	"time"

	"github.com/sealfs/sealfs/crypto"
	"github.com/sealfs/sealfs/meta"
)

// newContent creates a fresh ciphertext file with its own file ID and DEK,
// already holding a valid empty file, and returns its content record.
func (f *FS) newContent() (meta.Content, *os.File, *crypto.File, error) {
	id, err := crypto.NewFileID()
	if err != nil {
		return meta.Content{}, nil, nil, err
	}
	data, err := f.data.CreateData(id)
	if err != nil {
		return meta.Content{}, nil, nil, err
	}
	content, err := crypto.CreateFileWithID(f.wrapper, data, id, f.blockSize)
	if err == nil {
		err = content.Flush()
	}
	if err != nil {
		data.Close()
		f.data.RemoveData(id)
		return meta.Content{}, nil, nil, fmt.Errorf("create content: %w", err)
	}
	h := content.Header()
	f.markWritten()
	rec := meta.Content{
		FileID: h.FileID, KeyID: h.KeyID, WrappedDEK: h.WrappedDEK,
		Encrypted: true, Version: 1,
	}
	return rec, data, content, nil
}

// truncate changes a file's size whether or not it is open.
func (n *node) truncate(size int64) syscall.Errno {
	n.mu.Lock()
	defer n.mu.Unlock()
	var err error
	if size == 0 && n.open == nil {
		// Nothing of the old version is read: a damaged one can be emptied.
		if err := n.startEmptyLocked(); err != nil {
			return n.contentErrno("truncate", err)
		}
	} else {
		if err := n.acquireLocked(true); err != nil {
			return n.contentErrno("truncate", err)
		}
		err = n.truncateLocked(size)
	}
	if rerr := n.releaseLocked(); err == nil {
		err = rerr
	}
	return n.contentErrno("truncate", err)
}

// truncateLocked resizes the open content and saves the new size. Truncating
// to zero starts a new, empty version under a fresh DEK, so a new backup
// never shares a key with the one it replaces.
func (n *node) truncateLocked(size int64) error {
	o := n.open
	if size == 0 {
		return n.newVersionLocked(false)
	}
	if o.broken != nil {
		return o.broken
	}
	if size == o.content.Size() {
		return nil
	}
	if errno := n.fsys.checkGrow(o.content.Size(), size); errno != 0 {
		return errno
	}
	if err := n.beginChangeLocked(); err != nil {
		return err
	}
	if err := o.content.Truncate(size); err != nil {
		return err
	}
	o.dirty = true
	o.mtime = time.Now().UnixNano()
	return n.saveLocked(false)
}

// beginChangeLocked makes the open content safe to change: a sealed version
// is first copied to a new one, so a crash or a failed write can never leave
// an old, complete backup half overwritten.
func (n *node) beginChangeLocked() error {
	if n.open.fresh {
		return nil
	}
	return n.newVersionLocked(true)
}

// newVersionLocked replaces the open content by a new version under a fresh
// file ID and DEK. With keep, the new version starts as a copy of the old
// one, and the record moves to it at the next save, once it is complete on
// disk. Without keep (truncation to zero) the new, empty version takes the
// record at once. The old ciphertext is removed once the switch is durable.
func (n *node) newVersionLocked(keep bool) error {
	o := n.open
	rec, data, content, err := n.fsys.newContent()
	if err != nil {
		return err
	}
	if keep {
		if err = o.broken; err == nil {
			err = copyContent(content, o.content)
		}
	} else {
		err = n.recordEmptyVersion(&rec, o.replaced)
	}
	if err != nil {
		data.Close()
		n.fsys.data.RemoveData(rec.FileID)
		return err
	}
	prev := o.rec
	if o.data != nil {
		o.data.Close()
	}
	switch {
	case !keep:
		// recordEmptyVersion retired whatever the record pointed at.
		if o.replaced != nil {
			n.fsys.removeLater(o.replaced.FileID)
			o.replaced = nil
		}
		n.fsys.removeLater(prev.FileID)
		o.dirty = false
	case o.replaced == nil:
		o.replaced = &prev // the record still points at it
		o.dirty, o.mtime = true, time.Now().UnixNano()
	default:
		// prev was an unsaved copy: no record ever pointed at it.
		n.fsys.removeLater(prev.FileID)
		o.dirty, o.mtime = true, time.Now().UnixNano()
	}
	rec.Version = prev.Version + 1
	o.rec, o.data, o.content, o.broken = rec, data, content, nil
	o.fresh, o.started = true, true
	return nil
}

// recordEmptyVersion points n's record at the new, empty version rec and
// retires the version the record pointed at (and replaced, an older one
// kept for a crash, if any).
func (n *node) recordEmptyVersion(rec *meta.Content, replaced *meta.Content) error {
	now := time.Now().UnixNano()
	return n.fsys.meta.Update(func(tx *meta.Tx) error {
		in, err := tx.Inode(n.ino)
		if err != nil {
			return err
		}
		old, err := tx.Content(n.ino)
		if err != nil {
			return err
		}
		rec.Version = old.Version + 1
		in.Size, in.Mtime, in.Ctime = 0, now, now
		if err := n.fsys.retireVersion(tx, old.FileID); err != nil {
			return err
		}
		if replaced != nil && replaced.FileID != old.FileID {
			if err := n.fsys.retireVersion(tx, replaced.FileID); err != nil {
				return err
			}
		}
		if err := tx.PutContent(n.ino, *rec); err != nil {
			return err
		}
		return tx.PutInode(in)
	})
}

// startEmptyLocked opens n with a new, empty version without reading the
// old one: open(O_TRUNC) and truncate(0) must work on a damaged file too.
func (n *node) startEmptyLocked() error {
	var old meta.Content
	if err := n.fsys.meta.View(func(tx *meta.Tx) (err error) {
		old, err = tx.Content(n.ino)
		return err
	}); err != nil {
		return err
	}
	rec, data, content, err := n.fsys.newContent()
	if err != nil {
		return err
	}
	if err := n.recordEmptyVersion(&rec, nil); err != nil {
		data.Close()
		n.fsys.data.RemoveData(rec.FileID)
		return err
	}
	n.fsys.removeLater(old.FileID)
	n.open = &openFile{refs: 1, rec: rec, data: data, content: content, fresh: true, started: true}
	return nil
}

// copyContentChunk bounds the memory a copy-on-write takes.
const copyContentChunk = 1 << 20

func copyContent(dst, src *crypto.File) error {
	buf := make([]byte, copyContentChunk)
	for off := int64(0); off < src.Size(); {
		n, err := src.ReadAt(buf, off)
		if n > 0 {
			if _, werr := dst.WriteAt(buf[:n], off); werr != nil {
				return werr
			}
			off += int64(n)
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return err
		}
		if n == 0 {
			break
		}
	}
	return dst.Flush()
}
