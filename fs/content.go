package fs

import (
	"fmt"
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
	f.markTouched(id)
	rec := meta.Content{
		FileID: h.FileID, KeyID: h.KeyID, WrappedDEK: h.WrappedDEK,
		Encrypted: true, Version: 1, Sync: meta.SyncPending,
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
// to zero starts a new content file under a fresh DEK, so a new backup never
// shares a key with the one it replaces.
func (n *node) truncateLocked(size int64) error {
	o := n.open
	if size == 0 {
		return n.replaceContentLocked()
	}
	if err := o.content.Truncate(size); err != nil {
		return err
	}
	o.dirty = true
	o.mtime = time.Now().UnixNano()
	return n.saveLocked()
}

func (n *node) replaceContentLocked() error {
	o := n.open
	rec, data, content, err := n.fsys.newContent()
	if err != nil {
		return err
	}
	now := time.Now().UnixNano()
	err = n.fsys.meta.Update(func(tx *meta.Tx) error {
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
		if err := tx.PutContent(n.ino, rec); err != nil {
			return err
		}
		return tx.PutInode(in)
	})
	if err != nil {
		data.Close()
		n.fsys.data.RemoveData(rec.FileID)
		return err
	}
	oldID := o.id
	o.data.Close()
	o.id, o.data, o.content, o.dirty = rec.FileID, data, content, false
	return n.fsys.data.RemoveData(oldID)
}
