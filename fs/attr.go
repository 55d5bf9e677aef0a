package fs

import (
	"context"
	"syscall"
	"time"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"github.com/sealfs/sealfs/fs/version"
	"github.com/sealfs/sealfs/meta"
)

var (
	_ = (gofs.NodeGetattrer)((*node)(nil))
	_ = (gofs.NodeSetattrer)((*node)(nil))
)

const dirSize = 4096 // what ext4 reports for a small directory

func fillAttr(in *meta.Inode, out *fuse.Attr) {
	out.Ino = uint64(in.Ino)
	out.Mode = in.Mode
	out.Nlink = in.Nlink
	out.Owner = fuse.Owner{Uid: in.Uid, Gid: in.Gid}
	out.Size = in.Size
	if in.Mode&syscall.S_IFMT == syscall.S_IFDIR {
		out.Size = dirSize
	}
	out.Rdev = in.Rdev
	out.Blksize = 4096
	out.Blocks = (out.Size + 511) / 512
	setTime(in.Atime, &out.Atime, &out.Atimensec)
	setTime(in.Mtime, &out.Mtime, &out.Mtimensec)
	setTime(in.Ctime, &out.Ctime, &out.Ctimensec)
}

func setTime(ns int64, sec *uint64, nsec *uint32) {
	*sec = uint64(ns / 1e9)
	*nsec = uint32(ns % 1e9)
}

// Getattr answers stat(2). Open files overlay their unsaved size and mtime.
func (n *node) Getattr(ctx context.Context, fh gofs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	in, err := n.inode()
	if err != nil {
		return toErrno(err)
	}
	fillAttr(&in, &out.Attr)
	return 0
}

// Setattr is chmod, chown, utimensat and truncate. It runs under the open
// file's lock, so the reply shows every change before it and no write can
// land between saving the file and setting the attributes.
func (n *node) Setattr(ctx context.Context, fh gofs.FileHandle, sa *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	if size, ok := sa.GetSize(); ok {
		if errno := n.truncate(ctx, fh, int64(size)); errno != 0 {
			return errno
		}
	}
	var in meta.Inode
	err := n.fsys.versions.WithOpen(n.ino, func(f *version.File) error {
		if f != nil {
			// Save what the writers changed first, so their size and
			// mtime cannot overwrite these attributes at close (cp -p
			// sets times on the open file).
			if err := f.Save(); err != nil {
				return err
			}
		}
		return n.fsys.meta.Update(func(tx *meta.Tx) error {
			var err error
			if in, err = tx.Inode(n.ino); err != nil {
				return err
			}
			applySetattr(&in, sa, time.Now().UnixNano())
			return tx.PutInode(in)
		})
	})
	if err != nil {
		return n.contentErrno("setattr", err)
	}
	fillAttr(&in, &out.Attr)
	// go-fuse leaves a setattr reply uncached; without this the kernel asks
	// for the attributes again right after every chmod, chown and
	// utimensat. The reply is exact (see above), and the kernel drops it
	// itself when a later write changes the size.
	out.SetTimeout(attrTimeout)
	return 0
}

// truncate changes a file's size, through the handle's open content or, by
// path, by opening it for the call. Truncating a closed file to zero does
// not read the old version, so a damaged one can be emptied.
func (n *node) truncate(ctx context.Context, fh gofs.FileHandle, size int64) syscall.Errno {
	f := fileOf(fh)
	if f == nil {
		access := version.Write
		if size == 0 {
			access = version.Replace
		}
		var err error
		if f, err = n.fsys.versions.Acquire(ctx, n.ino, access); err != nil {
			return n.contentErrno("truncate", err)
		}
		defer func() { n.fsys.versions.Release(f, n.where) }()
		if size == 0 {
			return 0 // Replace emptied it
		}
	}
	f.Lock()
	defer f.Unlock()
	if errno := n.fsys.checkGrow(f.Size(), size); errno != 0 {
		return errno
	}
	return n.contentErrno("truncate", f.Truncate(size))
}

// applySetattr changes in as sa asks. The kernel (default_permissions) has
// already checked the caller's rights and folded suid/sgid clearing into
// the mode.
func applySetattr(in *meta.Inode, sa *fuse.SetAttrIn, now int64) {
	if mode, ok := sa.GetMode(); ok {
		in.Mode = in.Mode&syscall.S_IFMT | mode&^syscall.S_IFMT
	}
	if uid, ok := sa.GetUID(); ok {
		in.Uid = uid
	}
	if gid, ok := sa.GetGID(); ok {
		in.Gid = gid
	}
	if t, ok := sa.GetATime(); ok {
		in.Atime = t.UnixNano()
	}
	if t, ok := sa.GetMTime(); ok {
		in.Mtime = t.UnixNano()
	}
	if t, ok := sa.GetCTime(); ok {
		in.Ctime = t.UnixNano()
	} else {
		in.Ctime = now
	}
}
