package fs

import (
	"context"
	"errors"
	"syscall"
	"time"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/sealfs/sealfs/meta"
	"golang.org/x/sys/unix"
)

var _ = (gofs.NodeRenamer)((*node)(nil))

// Rename moves name in n to newName in newParent, replacing what is there
// unless RENAME_NOREPLACE, or swapping the two with RENAME_EXCHANGE. The
// kernel has already refused moving a directory into itself.
func (n *node) Rename(ctx context.Context, name string, newParent gofs.InodeEmbedder, newName string, flags uint32) syscall.Errno {
	if len(newName) > maxNameLen {
		return syscall.ENAMETOOLONG
	}
	if flags&^(unix.RENAME_NOREPLACE|unix.RENAME_EXCHANGE) != 0 {
		return syscall.EINVAL
	}
	dst := asNode(newParent)
	n.fsys.nsMu.Lock()
	defer n.fsys.nsMu.Unlock()
	var gone *meta.Ino
	var queued bool
	err := n.fsys.meta.Update(func(tx *meta.Tx) error {
		gone, queued = nil, false
		src, err := tx.Lookup(n.ino, name)
		if err != nil {
			return err
		}
		old, err := tx.Lookup(dst.ino, newName)
		exists := err == nil
		if err != nil && !errors.Is(err, meta.ErrNotFound) {
			return err
		}
		now := time.Now().UnixNano()
		switch {
		case flags&unix.RENAME_EXCHANGE != 0:
			if !exists {
				return syscall.ENOENT
			}
			if err := exchange(tx, n, src, dst, old, now); err != nil {
				return err
			}
			q1, err := n.fsys.renamed(tx, src, dst.childPath(newName))
			if err != nil {
				return err
			}
			q2, err := n.fsys.renamed(tx, old, n.childPath(name))
			queued = q1 || q2
			return err
		case exists && flags&unix.RENAME_NOREPLACE != 0:
			return syscall.EEXIST
		case exists && old.Ino == src.Ino:
			return nil // both names are links to one inode: POSIX says do nothing
		case exists:
			if gone, err = dst.replace(tx, src, old, now); err != nil {
				return err
			}
			if gone != nil && src.Mode == syscall.S_IFREG && old.Mode == syscall.S_IFREG {
				taken, err := n.fsys.versions.InheritReplaced(tx, src.Ino, *gone)
				if err != nil {
					return err
				}
				if taken {
					gone = nil
				}
			}
		}
		if err := move(tx, n, src, dst, newName, now); err != nil {
			return err
		}
		queued, err = n.fsys.renamed(tx, src, dst.childPath(newName))
		return err
	})
	if err != nil {
		return toErrno(err)
	}
	if queued {
		n.fsys.versions.Wake()
	}
	if gone != nil {
		return toErrno(n.fsys.destroyInode(*gone))
	}
	return 0
}

// renamed lets the bucket copies of plain files follow entry e to path p.
func (f *FS) renamed(tx *meta.Tx, e meta.Entry, p string) (bool, error) {
	if p == "" || e.Mode != syscall.S_IFREG && e.Mode != syscall.S_IFDIR {
		return false, nil
	}
	return f.versions.Renamed(tx, e.Ino, e.Mode == syscall.S_IFDIR, p)
}

// replace removes old from dst so that src can take its name.
func (dst *node) replace(tx *meta.Tx, src, old meta.Entry, now int64) (*meta.Ino, error) {
	srcDir, oldDir := src.Mode == syscall.S_IFDIR, old.Mode == syscall.S_IFDIR
	switch {
	case srcDir && !oldDir:
		return nil, syscall.ENOTDIR
	case !srcDir && oldDir:
		return nil, syscall.EISDIR
	}
	if err := dst.dropEntry(tx, old, now); err != nil {
		return nil, err
	}
	if oldDir {
		if err := checkEmptyDir(tx, old.Ino); err != nil {
			return nil, err
		}
	}
	return dst.unlinkInode(tx, old, now)
}

// move takes entry src out of from and puts it under to as newName.
func move(tx *meta.Tx, from *node, src meta.Entry, to *node, newName string, now int64) error {
	if err := from.dropEntry(tx, src, now); err != nil {
		return err
	}
	if err := addEntry(tx, to.ino, meta.Entry{Name: newName, Ino: src.Ino, Mode: src.Mode}, now); err != nil {
		return err
	}
	return touchCtime(tx, src.Ino, now)
}

// exchange swaps two entries atomically (RENAME_EXCHANGE).
func exchange(tx *meta.Tx, from *node, a meta.Entry, to *node, b meta.Entry, now int64) error {
	aName, bName := a.Name, b.Name
	if err := from.dropEntry(tx, a, now); err != nil {
		return err
	}
	if err := to.dropEntry(tx, b, now); err != nil {
		return err
	}
	a.Name, b.Name = bName, aName
	if err := addEntry(tx, to.ino, a, now); err != nil {
		return err
	}
	if err := addEntry(tx, from.ino, b, now); err != nil {
		return err
	}
	if err := touchCtime(tx, a.Ino, now); err != nil {
		return err
	}
	return touchCtime(tx, b.Ino, now)
}

// addEntry puts e into dir and updates dir's times and link count.
func addEntry(tx *meta.Tx, dir meta.Ino, e meta.Entry, now int64) error {
	if err := tx.PutEntry(dir, e); err != nil {
		return err
	}
	in, err := tx.Inode(dir)
	if err != nil {
		return err
	}
	if e.Mode == syscall.S_IFDIR {
		in.Nlink++
	}
	in.Mtime, in.Ctime = now, now
	return tx.PutInode(in)
}

func touchCtime(tx *meta.Tx, ino meta.Ino, now int64) error {
	in, err := tx.Inode(ino)
	if err != nil {
		return err
	}
	in.Ctime = now
	return tx.PutInode(in)
}
