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
	if err := n.acquireLocked(); err != nil {
		return n.contentErrno("truncate", err)
	}
	err := n.truncateLocked(size)
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
// file ID and DEK, holding a copy of the old plaintext when keep is set. The
// old ciphertext is removed once the switch is durable.
func (n *node) newVersionLocked(keep bool) error {
	o := n.open
	rec, data, content, err := n.fsys.newContent()
	if err != nil {
		return err
	}
	if keep {
		err = copyContent(content, o.content)
	}
	now := time.Now().UnixNano()
	if err == nil {
		rec.Version = o.rec.Version + 1
		err = n.fsys.meta.Update(func(tx *meta.Tx) error {
			in, err := tx.Inode(n.ino)
			if err != nil {
				return err
			}
			in.Size = uint64(content.Size())
			if !keep {
				in.Mtime, in.Ctime = now, now
			}
			if err := n.fsys.retireVersion(tx, o.rec.FileID); err != nil {
				return err
			}
			if err := tx.PutContent(n.ino, rec); err != nil {
				return err
			}
			return tx.PutInode(in)
		})
	}
	if err != nil {
		data.Close()
		n.fsys.data.RemoveData(rec.FileID)
		return err
	}
	old := o.rec.FileID
	o.data.Close()
	o.rec, o.data, o.content, o.fresh = rec, data, content, true
	if !keep {
		o.dirty = false
	}
	n.fsys.removeLater(old)
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
