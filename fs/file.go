package fs

import (
	"context"
	"errors"
	"io"
	"syscall"
	"time"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"github.com/sealfs/sealfs/crypto"
	"github.com/sealfs/sealfs/meta"
)

var (
	_ = (gofs.NodeOpener)((*node)(nil))
	_ = (gofs.NodeReader)((*node)(nil))
	_ = (gofs.NodeWriter)((*node)(nil))
	_ = (gofs.NodeFlusher)((*node)(nil))
	_ = (gofs.NodeFsyncer)((*node)(nil))
	_ = (gofs.NodeReleaser)((*node)(nil))
)

// openFile is the content of a regular file while at least one handle is open.
type openFile struct {
	refs    int
	rec     meta.Content // the version being read or written
	data    DataFile
	content *crypto.File
	// fresh: the version may be changed in place. It was started by this
	// open (create, O_TRUNC or copy-on-write) and not fsynced since. A
	// sealed version from an earlier open, or one fsync made durable, is
	// copied to a new version by the next change.
	fresh bool
	// started: this open made a new version, to be sealed at the last close.
	started bool
	// replaced is the version the record pointed at before this open copied
	// it. The record keeps pointing at it until the copy is saved, so a
	// crash in between finds the old, complete version.
	replaced *meta.Content
	// broken is set when the version failed authentication but was opened
	// for writing anyway, so that the truncation the kernel sends after the
	// open (O_TRUNC) can replace it. Everything else fails with it.
	broken error
	dirty  bool  // size or mtime changed since they were last saved
	mtime  int64 // of the last write, valid when dirty
}

// handle is the FileHandle go-fuse passes back; all state is on the node.
type handle struct{}

// Open opens a regular file's content, sharing it between handles.
func (n *node) Open(ctx context.Context, flags uint32) (gofs.FileHandle, uint32, syscall.Errno) {
	n.mu.Lock()
	defer n.mu.Unlock()
	truncating := flags&syscall.O_TRUNC != 0 && flags&syscall.O_ACCMODE != syscall.O_RDONLY
	if truncating && n.open == nil {
		// Nothing of the old version is read: a damaged one can be replaced.
		if err := n.startEmptyLocked(); err != nil {
			return nil, 0, n.contentErrno("open", err)
		}
		return &handle{}, fuse.FOPEN_KEEP_CACHE, 0
	}
	if err := n.acquireLocked(flags&syscall.O_ACCMODE != syscall.O_RDONLY); err != nil {
		return nil, 0, n.contentErrno("open", err)
	}
	if truncating {
		if err := n.truncateLocked(0); err != nil {
			n.releaseLocked()
			return nil, 0, n.contentErrno("truncate", err)
		}
	}
	return &handle{}, fuse.FOPEN_KEEP_CACHE, 0
}

// acquireLocked opens the content if no handle has, and counts one more
// user. A damaged version opened for writing opens broken (see openFile).
func (n *node) acquireLocked(writable bool) error {
	if n.open != nil {
		n.open.refs++
		return nil
	}
	var in meta.Inode
	var c meta.Content
	err := n.fsys.meta.View(func(tx *meta.Tx) (err error) {
		if in, err = tx.Inode(n.ino); err != nil {
			return err
		}
		c, err = tx.Content(n.ino)
		return err
	})
	if err != nil {
		return err
	}
	id := crypto.FileID(c.FileID)
	data, err := n.fsys.openVersion(id, c)
	if err != nil {
		return err
	}
	content, err := crypto.OpenFile(n.fsys.wrapper, data)
	if err == nil && (content.Header().FileID != id || uint64(content.Size()) != in.Size) {
		// A ciphertext that was cut, extended or swapped for another file's.
		err = crypto.ErrAuth
	}
	if err != nil {
		data.Close()
		if writable && (errors.Is(err, crypto.ErrAuth) || errors.Is(err, crypto.ErrWrongKey)) {
			n.contentErrno("open", err) // logged; only truncation to zero will work
			n.open = &openFile{refs: 1, rec: c, broken: err}
			return nil
		}
		return err
	}
	n.open = &openFile{refs: 1, rec: c, data: data, content: content}
	return nil
}

// releaseLocked drops one user; the last one saves and closes the content.
func (n *node) releaseLocked() error {
	o := n.open
	o.refs--
	if o.refs > 0 {
		return nil
	}
	err := n.saveLocked(true)
	if o.data != nil {
		if cerr := o.data.Close(); err == nil {
			err = cerr
		}
	}
	n.open = nil
	return err
}

// saveLocked writes buffered ciphertext and saves size and mtime, so the
// file survives a kill of the daemon. At the last close (seal) it also
// queues the version for upload.
func (n *node) saveLocked(seal bool) error {
	o := n.open
	if o.broken != nil {
		return nil // nothing was written: writes fail
	}
	if err := o.content.Flush(); err != nil {
		return err
	}
	seal = seal && o.started && n.fsys.upload != nil
	if !o.dirty && !seal && o.replaced == nil {
		return nil
	}
	err := n.fsys.meta.Update(func(tx *meta.Tx) error {
		in, err := tx.Inode(n.ino)
		if err != nil {
			return err
		}
		if o.dirty {
			in.Size = uint64(o.content.Size())
			in.Mtime, in.Ctime = o.mtime, o.mtime
			if err := tx.PutInode(in); err != nil {
				return err
			}
		}
		if o.replaced != nil {
			if err := n.fsys.retireVersion(tx, o.replaced.FileID); err != nil {
				return err
			}
		}
		if seal {
			return n.sealLocked(tx, &in)
		}
		return tx.PutContent(n.ino, o.rec)
	})
	if err != nil {
		return err
	}
	if o.replaced != nil {
		n.fsys.removeLater(o.replaced.FileID)
		o.replaced = nil
	}
	o.dirty = false
	n.fsys.markWritten()
	if seal && n.fsys.upload.Queued != nil {
		n.fsys.upload.Queued()
	}
	return nil
}

// Read decrypts from the content; authentication failures become EIO.
func (n *node) Read(ctx context.Context, fh gofs.FileHandle, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	n.mu.RLock()
	defer n.mu.RUnlock()
	if n.open == nil {
		return nil, syscall.EBADF
	}
	if n.open.broken != nil {
		return nil, syscall.EIO
	}
	nr, err := n.open.content.ReadAt(dest, off)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, n.contentErrno("read", err)
	}
	return fuse.ReadResultData(dest[:nr]), 0
}

// Write seals data into the content at off.
func (n *node) Write(ctx context.Context, fh gofs.FileHandle, data []byte, off int64) (uint32, syscall.Errno) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.open == nil {
		return 0, syscall.EBADF
	}
	if n.open.broken != nil {
		return 0, syscall.EIO
	}
	if errno := n.fsys.checkGrow(n.open.content.Size(), off+int64(len(data))); errno != 0 {
		return 0, errno
	}
	if err := n.beginChangeLocked(); err != nil {
		return 0, n.contentErrno("write", err)
	}
	nw, err := n.open.content.WriteAt(data, off)
	if nw > 0 {
		n.open.dirty = true
		n.open.mtime = time.Now().UnixNano()
	}
	if err != nil {
		return uint32(nw), n.contentErrno("write", err)
	}
	return uint32(nw), 0
}

// Flush runs at every close(2): what was written survives a kill -9 from here on.
func (n *node) Flush(ctx context.Context, fh gofs.FileHandle) syscall.Errno {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.open == nil {
		return 0
	}
	return n.contentErrno("flush", n.saveLocked(false))
}

// Fsync makes the content and its metadata durable on disk.
func (n *node) Fsync(ctx context.Context, fh gofs.FileHandle, flags uint32) syscall.Errno {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.open == nil {
		return 0
	}
	if n.open.broken != nil {
		return syscall.EIO
	}
	if err := n.saveLocked(false); err != nil {
		return n.contentErrno("fsync", err)
	}
	if err := n.open.data.Sync(); err != nil {
		return n.contentErrno("fsync", err)
	}
	if err := n.fsys.meta.Sync(); err != nil {
		return n.contentErrno("fsync", err)
	}
	// What fsync made durable must survive later writes torn by a crash.
	n.open.fresh = false
	return 0
}

// Release runs when the last reference to a handle goes away.
func (n *node) Release(ctx context.Context, fh gofs.FileHandle) syscall.Errno {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.open == nil {
		return 0
	}
	return n.contentErrno("release", n.releaseLocked())
}

// contentErrno logs a content failure with the file's path (never its bytes)
// and maps it to an errno.
func (n *node) contentErrno(op string, err error) syscall.Errno {
	if err == nil {
		return 0
	}
	errno := toErrno(err)
	if errno == syscall.EIO {
		attrs := []any{"op", op, "path", n.path(), "ino", uint64(n.ino), "err", err}
		if errors.Is(err, crypto.ErrAuth) {
			n.fsys.log.Error("ciphertext failed authentication: file is damaged or was tampered with", attrs...)
		} else {
			n.fsys.log.Error("content I/O failed", attrs...)
		}
	}
	return errno
}
