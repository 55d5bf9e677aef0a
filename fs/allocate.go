package fs

import (
	"context"
	"syscall"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"golang.org/x/sys/unix"
)

var (
	_ = (gofs.NodeAllocater)((*node)(nil))
	_ = (gofs.NodeLseeker)((*node)(nil))
)

// Allocate is fallocate(2). Sealed content cannot be preallocated, so the
// default mode only extends the file with zeros, and FALLOC_FL_KEEP_SIZE
// succeeds without doing anything; hole punching is not supported.
func (n *node) Allocate(ctx context.Context, fh gofs.FileHandle, off uint64, size uint64, mode uint32) syscall.Errno {
	switch mode {
	case unix.FALLOC_FL_KEEP_SIZE:
		return 0
	case 0:
	default:
		return syscall.EOPNOTSUPP
	}
	f := fileOf(fh)
	if f == nil {
		return syscall.EBADF
	}
	f.Lock()
	defer f.Unlock()
	if err := f.Err(); err != nil {
		return n.contentErrno("fallocate", err)
	}
	end := int64(off + size)
	if end <= f.Size() {
		return 0
	}
	if errno := n.fsys.checkGrow(f.Size(), end); errno != 0 {
		return errno
	}
	return n.contentErrno("fallocate", f.Truncate(end))
}

// Lseek answers SEEK_DATA and SEEK_HOLE: sealed files have no holes, so all
// of the file is data and the only hole is at its end.
func (n *node) Lseek(ctx context.Context, fh gofs.FileHandle, off uint64, whence uint32) (uint64, syscall.Errno) {
	f := fileOf(fh)
	if f == nil {
		return 0, syscall.EBADF
	}
	f.RLock()
	defer f.RUnlock()
	if err := f.Err(); err != nil {
		return 0, n.contentErrno("lseek", err)
	}
	size := uint64(f.Size())
	if off >= size {
		return 0, syscall.ENXIO
	}
	switch whence {
	case unix.SEEK_DATA:
		return off, 0
	case unix.SEEK_HOLE:
		return size, 0
	}
	return 0, syscall.EINVAL
}
