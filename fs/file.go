package fs

import (
	"context"
	"errors"
	"io"
	"syscall"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"github.com/sealfs/sealfs/crypto"
	"github.com/sealfs/sealfs/fs/version"
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

// handle is the FileHandle go-fuse passes back: one open(2) of the file's
// shared content.
type handle struct {
	f *version.File
}

// fileOf returns the open content behind fh.
func fileOf(fh gofs.FileHandle) *version.File {
	if h, ok := fh.(*handle); ok {
		return h.f
	}
	return nil
}

// Open opens a regular file's content, shared between handles.
func (n *node) Open(ctx context.Context, flags uint32) (gofs.FileHandle, uint32, syscall.Errno) {
	access := version.Read
	if flags&syscall.O_ACCMODE != syscall.O_RDONLY {
		access = version.Write
		if flags&syscall.O_TRUNC != 0 {
			access = version.Replace
		}
	}
	f, err := n.fsys.versions.Acquire(ctx, n.ino, access)
	if err != nil {
		return nil, 0, n.contentErrno("open", err)
	}
	// Another handle may be writing: the state is read under the lock.
	f.RLock()
	broken, damage := f.State() == version.Broken, f.Err()
	f.RUnlock()
	if broken {
		n.contentErrno("open", damage) // logged; only truncation to zero will work
	}
	return &handle{f}, fuse.FOPEN_KEEP_CACHE, 0
}

// Read decrypts from the content; authentication failures become EIO.
func (n *node) Read(ctx context.Context, fh gofs.FileHandle, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	f := fileOf(fh)
	if f == nil {
		return nil, syscall.EBADF
	}
	f.RLock()
	defer f.RUnlock()
	nr, err := f.ReadAtContext(ctx, dest, off)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, n.contentErrno("read", err)
	}
	return fuse.ReadResultData(dest[:nr]), 0
}

// Write seals data into the content at off.
func (n *node) Write(ctx context.Context, fh gofs.FileHandle, data []byte, off int64) (uint32, syscall.Errno) {
	f := fileOf(fh)
	if f == nil {
		return 0, syscall.EBADF
	}
	f.Lock()
	defer f.Unlock()
	if err := f.Err(); err != nil {
		return 0, n.contentErrno("write", err)
	}
	if errno := n.fsys.checkGrow(f.Size(), off+int64(len(data))); errno != 0 {
		return 0, errno
	}
	nw, err := f.WriteAt(data, off)
	if err != nil {
		return uint32(nw), n.contentErrno("write", err)
	}
	return uint32(nw), 0
}

// Flush runs at every close(2): what was written survives a kill -9 from here on.
func (n *node) Flush(ctx context.Context, fh gofs.FileHandle) syscall.Errno {
	f := fileOf(fh)
	if f == nil {
		return 0
	}
	f.Lock()
	defer f.Unlock()
	return n.contentErrno("flush", f.Save())
}

// Fsync makes the content and its metadata durable on disk.
func (n *node) Fsync(ctx context.Context, fh gofs.FileHandle, flags uint32) syscall.Errno {
	f := fileOf(fh)
	if f == nil {
		return 0
	}
	f.Lock()
	defer f.Unlock()
	return n.contentErrno("fsync", f.Fsync())
}

// Release runs when the last reference to a handle goes away.
func (n *node) Release(ctx context.Context, fh gofs.FileHandle) syscall.Errno {
	f := fileOf(fh)
	if f == nil {
		return 0
	}
	return n.contentErrno("release", n.fsys.versions.Release(f, n.where))
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
		switch {
		case errors.Is(err, crypto.ErrAuth):
			n.fsys.log.Error("ciphertext failed authentication: file is damaged or was tampered with", attrs...)
		case errors.Is(err, meta.ErrDamaged):
			n.fsys.log.Error("metadata record failed authentication: it was altered or moved", attrs...)
		case errors.Is(err, version.ErrNoData):
			n.fsys.log.Error("file content is missing: not in the store, not in the bucket", attrs...)
		default:
			n.fsys.log.Error("content I/O failed", attrs...)
		}
	}
	return errno
}
