package fs

import (
	"context"
	"errors"
	"syscall"
	"time"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"github.com/sealfs/sealfs/fs/version"
	"github.com/sealfs/sealfs/meta"
)

var (
	_ = (gofs.NodeLookuper)((*node)(nil))
	_ = (gofs.NodeReaddirer)((*node)(nil))
	_ = (gofs.NodeMkdirer)((*node)(nil))
	_ = (gofs.NodeMknoder)((*node)(nil))
	_ = (gofs.NodeCreater)((*node)(nil))
	_ = (gofs.NodeTmpfiler)((*node)(nil))
	_ = (gofs.NodeSymlinker)((*node)(nil))
	_ = (gofs.NodeReadlinker)((*node)(nil))
	_ = (gofs.NodeLinker)((*node)(nil))
)

const (
	maxNameLen    = 255  // as ext4
	maxSymlinkLen = 4095 // PATH_MAX - 1
	maxLinks      = 65000
)

// Lookup finds name in directory n.
func (n *node) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	if len(name) > maxNameLen {
		return nil, syscall.ENAMETOOLONG
	}
	var e meta.Entry
	err := n.fsys.meta.View(func(tx *meta.Tx) (err error) {
		e, err = tx.Lookup(n.ino, name)
		return err
	})
	if err != nil {
		return nil, toErrno(err)
	}
	in, err := n.fsys.versions.Inode(e.Ino)
	if err != nil {
		return nil, toErrno(err)
	}
	return n.fsys.newChild(ctx, n.EmbeddedInode(), &in, out), 0
}

// Readdir lists n with stable inode numbers, "." and ".." first.
func (n *node) Readdir(ctx context.Context) (gofs.DirStream, syscall.Errno) {
	parent := n.ino
	if _, p := n.Parent(); p != nil {
		parent = asNode(p.Operations()).ino
	}
	list := []fuse.DirEntry{
		{Name: ".", Ino: uint64(n.ino), Mode: syscall.S_IFDIR},
		{Name: "..", Ino: uint64(parent), Mode: syscall.S_IFDIR},
	}
	err := n.fsys.meta.View(func(tx *meta.Tx) error {
		return tx.Entries(n.ino, func(e meta.Entry) bool {
			list = append(list, fuse.DirEntry{Name: e.Name, Ino: uint64(e.Ino), Mode: e.Mode})
			return true
		})
	})
	if err != nil {
		return nil, toErrno(err)
	}
	return gofs.NewListDirStream(list), 0
}

// newInode prepares the record of a new inode owned by the caller.
func (n *node) newInode(ctx context.Context, mode uint32) (meta.Inode, error) {
	ino, err := n.fsys.meta.NextIno()
	if err != nil {
		return meta.Inode{}, err
	}
	now := time.Now().UnixNano()
	in := meta.Inode{Ino: ino, Mode: mode, Nlink: 1, Atime: now, Mtime: now, Ctime: now}
	if caller, ok := fuse.FromContext(ctx); ok {
		in.Uid, in.Gid = caller.Uid, caller.Gid
	}
	if mode&syscall.S_IFMT == syscall.S_IFDIR {
		in.Nlink = 2
		in.Size = dirSize
	}
	return in, nil
}

// link adds the new inode in under name, in transaction tx. Callers hold
// nsMu.
func (n *node) link(tx *meta.Tx, name string, in *meta.Inode) error {
	if len(name) > maxNameLen {
		return syscall.ENAMETOOLONG
	}
	if _, err := tx.Lookup(n.ino, name); err == nil {
		return syscall.EEXIST
	} else if !errors.Is(err, meta.ErrNotFound) {
		return err
	}
	dir, err := tx.Inode(n.ino)
	if err != nil {
		return err
	}
	isDir := in.Mode&syscall.S_IFMT == syscall.S_IFDIR
	if isDir {
		in.Plain = dir.Plain
	}
	if dir.Mode&syscall.S_ISGID != 0 {
		// BSD group semantics in setgid directories, as ext4.
		in.Gid = dir.Gid
		if isDir {
			in.Mode |= syscall.S_ISGID
		}
	}
	if isDir {
		dir.Nlink++
	}
	dir.Mtime, dir.Ctime = in.Ctime, in.Ctime
	if err := tx.PutInode(*in); err != nil {
		return err
	}
	if err := tx.PutEntry(n.ino, meta.Entry{Name: name, Ino: in.Ino, Mode: in.Mode & syscall.S_IFMT}); err != nil {
		return err
	}
	return tx.PutInode(dir)
}

// Mkdir creates a directory.
func (n *node) Mkdir(ctx context.Context, name string, mode uint32, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	return n.makeNode(ctx, name, syscall.S_IFDIR|mode&^syscall.S_IFMT, 0, "", out)
}

// Mknod creates a regular file, FIFO, socket or device node.
func (n *node) Mknod(ctx context.Context, name string, mode uint32, dev uint32, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	if mode&syscall.S_IFMT == syscall.S_IFREG {
		child, fh, _, errno := n.Create(ctx, name, syscall.O_RDONLY, mode, out)
		if errno == 0 {
			asNode(child.Operations()).Release(ctx, fh)
		}
		return child, errno
	}
	return n.makeNode(ctx, name, mode, dev, "", out)
}

// Symlink creates a symbolic link.
func (n *node) Symlink(ctx context.Context, target, name string, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	if len(target) > maxSymlinkLen {
		return nil, syscall.ENAMETOOLONG
	}
	return n.makeNode(ctx, name, syscall.S_IFLNK|0o777, 0, target, out)
}

func (n *node) makeNode(ctx context.Context, name string, mode, dev uint32, target string, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	n.fsys.nsMu.Lock()
	defer n.fsys.nsMu.Unlock()
	in, err := n.newInode(ctx, mode)
	if err != nil {
		return nil, toErrno(err)
	}
	in.Rdev, in.Target = dev, target
	if target != "" {
		in.Size = uint64(len(target))
	}
	err = n.fsys.meta.Update(func(tx *meta.Tx) error {
		placed := in // Update may run fn more than once
		if err := n.link(tx, name, &placed); err != nil {
			return err
		}
		in = placed
		return nil
	})
	if err != nil {
		return nil, toErrno(err)
	}
	return n.fsys.newChild(ctx, n.EmbeddedInode(), &in, out), 0
}

// Create makes a new regular file with fresh content and opens it.
func (n *node) Create(ctx context.Context, name string, flags uint32, mode uint32, out *fuse.EntryOut) (*gofs.Inode, gofs.FileHandle, uint32, syscall.Errno) {
	if len(name) > maxNameLen {
		return nil, nil, 0, syscall.ENAMETOOLONG
	}
	return n.createFile(ctx, mode, out, func(tx *meta.Tx, in *meta.Inode) error {
		return n.link(tx, name, in)
	})
}

// Tmpfile is open(O_TMPFILE): a file in no directory, an orphan until
// linkat(2) gives it a name.
func (n *node) Tmpfile(ctx context.Context, flags uint32, mode uint32, out *fuse.EntryOut) (*gofs.Inode, gofs.FileHandle, uint32, syscall.Errno) {
	return n.createFile(ctx, mode, out, n.placeUnnamed)
}

// placeUnnamed records new inode in as a file of directory n with no name
// yet: an orphan, which a crash before it gets one does not leak.
func (n *node) placeUnnamed(tx *meta.Tx, in *meta.Inode) error {
	in.Nlink = 0
	dir, err := tx.Inode(n.ino)
	if err != nil {
		return err
	}
	if dir.Mode&syscall.S_ISGID != 0 {
		in.Gid = dir.Gid
	}
	if err := tx.PutInode(*in); err != nil {
		return err
	}
	return tx.MarkOrphan(in.Ino, "")
}

// createFile makes a regular file with a new, empty version, records it
// with place (in the same transaction) and returns it open.
func (n *node) createFile(ctx context.Context, mode uint32, out *fuse.EntryOut, place func(*meta.Tx, *meta.Inode) error) (*gofs.Inode, gofs.FileHandle, uint32, syscall.Errno) {
	n.fsys.nsMu.Lock()
	defer n.fsys.nsMu.Unlock()
	in, f, err := n.createContent(ctx, mode, place)
	if err != nil {
		return nil, nil, 0, toErrno(err)
	}
	child := n.fsys.newChild(ctx, n.EmbeddedInode(), &in, out)
	return child, &handle{f}, fuse.FOPEN_KEEP_CACHE, 0
}

// createContent is createFile without the kernel's side. Callers hold nsMu.
// The content is plain when n's encryption is off.
func (n *node) createContent(ctx context.Context, mode uint32, place func(*meta.Tx, *meta.Inode) error) (meta.Inode, *version.File, error) {
	in, err := n.newInode(ctx, syscall.S_IFREG|mode&^syscall.S_IFMT)
	if err != nil {
		return in, nil, err
	}
	var dir meta.Inode
	if err := n.fsys.meta.View(func(tx *meta.Tx) (err error) {
		dir, err = tx.Inode(n.ino)
		return err
	}); err != nil {
		return in, nil, err
	}
	f, err := n.fsys.versions.Create(in.Ino, dir.Plain, func(tx *meta.Tx) error {
		placed := in // place may run more than once
		if err := place(tx, &placed); err != nil {
			return err
		}
		in = placed
		return nil
	})
	return in, f, err
}

// Readlink returns a symlink's target.
func (n *node) Readlink(ctx context.Context) ([]byte, syscall.Errno) {
	in, err := n.inode()
	if err != nil {
		return nil, toErrno(err)
	}
	if in.Mode&syscall.S_IFMT != syscall.S_IFLNK {
		return nil, syscall.EINVAL
	}
	return []byte(in.Target), 0
}

// Link adds a hard link to target under name.
func (n *node) Link(ctx context.Context, target gofs.InodeEmbedder, name string, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	if len(name) > maxNameLen {
		return nil, syscall.ENAMETOOLONG
	}
	n.fsys.nsMu.Lock()
	defer n.fsys.nsMu.Unlock()
	t := asNode(target)
	var in meta.Inode
	err := n.fsys.meta.Update(func(tx *meta.Tx) error {
		if _, err := tx.Lookup(n.ino, name); err == nil {
			return syscall.EEXIST
		} else if !errors.Is(err, meta.ErrNotFound) {
			return err
		}
		var err error
		if in, err = tx.Inode(t.ino); err != nil {
			return err
		}
		if in.Mode&syscall.S_IFMT == syscall.S_IFDIR {
			return syscall.EPERM
		}
		if in.Nlink >= maxLinks {
			return syscall.EMLINK
		}
		dir, err := tx.Inode(n.ino)
		if err != nil {
			return err
		}
		now := time.Now().UnixNano()
		if in.Nlink == 0 { // an O_TMPFILE file gets its first name
			if err := tx.UnmarkOrphan(in.Ino); err != nil {
				return err
			}
		}
		in.Nlink++
		in.Ctime = now
		dir.Mtime, dir.Ctime = now, now
		if err := tx.PutEntry(n.ino, meta.Entry{Name: name, Ino: in.Ino, Mode: in.Mode & syscall.S_IFMT}); err != nil {
			return err
		}
		if err := tx.PutInode(dir); err != nil {
			return err
		}
		return tx.PutInode(in)
	})
	if err != nil {
		return nil, toErrno(err)
	}
	if in, err = n.fsys.versions.Inode(t.ino); err != nil {
		return nil, toErrno(err)
	}
	fillAttr(&in, &out.Attr)
	out.Ino = uint64(in.Ino)
	return t.EmbeddedInode(), 0
}
