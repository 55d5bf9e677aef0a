package fs

import (
	"context"
	"syscall"
	"time"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/sealfs/sealfs/meta"
)

var (
	_ = (gofs.NodeUnlinker)((*node)(nil))
	_ = (gofs.NodeRmdirer)((*node)(nil))
	_ = (gofs.NodeOnForgetter)((*node)(nil))
)

// Unlink removes a name. An inode that loses its last name is marked
// orphan; it is destroyed once the kernel forgets it (after the last
// close), so fstat on an open descriptor keeps working as on ext4.
func (n *node) Unlink(ctx context.Context, name string) syscall.Errno {
	return n.remove(name, func(tx *meta.Tx, e meta.Entry) error {
		if e.Mode == syscall.S_IFDIR {
			return syscall.EISDIR
		}
		return nil
	})
}

// remove takes name out of n after check approved its entry, and destroys
// the inode once nothing references it.
func (n *node) remove(name string, check func(*meta.Tx, meta.Entry) error) syscall.Errno {
	n.fsys.nsMu.Lock()
	defer n.fsys.nsMu.Unlock()
	var gone *meta.Ino
	err := n.fsys.meta.Update(func(tx *meta.Tx) error {
		e, err := tx.Lookup(n.ino, name)
		if err != nil {
			return err
		}
		if err := check(tx, e); err != nil {
			return err
		}
		now := time.Now().UnixNano()
		if err := n.dropEntry(tx, e, now); err != nil {
			return err
		}
		gone, err = n.unlinkInode(tx, e, now)
		return err
	})
	if err != nil {
		return toErrno(err)
	}
	if gone != nil {
		return toErrno(n.fsys.destroyInode(*gone))
	}
	return 0
}

// dropEntry removes e from n and updates n's times (and link count, for a
// subdirectory's "..").
func (n *node) dropEntry(tx *meta.Tx, e meta.Entry, now int64) error {
	if err := tx.DeleteEntry(n.ino, e.Name); err != nil {
		return err
	}
	dir, err := tx.Inode(n.ino)
	if err != nil {
		return err
	}
	if e.Mode == syscall.S_IFDIR {
		dir.Nlink--
	}
	dir.Mtime, dir.Ctime = now, now
	return tx.PutInode(dir)
}

// unlinkInode drops one link of the inode of e (all of a directory's). It
// returns the inode number when nothing references it any more and it should
// be destroyed after the transaction commits.
func (n *node) unlinkInode(tx *meta.Tx, e meta.Entry, now int64) (*meta.Ino, error) {
	ino := e.Ino
	in, err := tx.Inode(ino)
	if err != nil {
		return nil, err
	}
	in.Nlink--
	if e.Mode == syscall.S_IFDIR {
		in.Nlink = 0
	}
	in.Ctime = now
	if err := tx.PutInode(in); err != nil {
		return nil, err
	}
	if in.Nlink > 0 {
		return nil, nil
	}
	if err := tx.MarkOrphan(ino, n.childPath(e.Name)); err != nil {
		return nil, err
	}
	if n.GetChild(e.Name) != nil {
		return nil, nil // the kernel still holds it: OnForget destroys it
	}
	return &ino, nil
}

// OnForget runs when the kernel drops its last reference to n; an inode
// without names is destroyed then.
func (n *node) OnForget() {
	var in meta.Inode
	err := n.fsys.meta.View(func(tx *meta.Tx) (err error) {
		in, err = tx.Inode(n.ino)
		return err
	})
	if err != nil || in.Nlink > 0 || n.ino == meta.RootIno {
		return
	}
	if err := n.fsys.destroyInode(n.ino); err != nil {
		n.fsys.log.Error("delete unlinked inode", "ino", uint64(n.ino), "err", err)
	}
}

// Rmdir removes an empty directory.
func (n *node) Rmdir(ctx context.Context, name string) syscall.Errno {
	return n.remove(name, func(tx *meta.Tx, e meta.Entry) error {
		if e.Mode != syscall.S_IFDIR {
			return syscall.ENOTDIR
		}
		return checkEmptyDir(tx, e.Ino)
	})
}

func checkEmptyDir(tx *meta.Tx, ino meta.Ino) error {
	has, err := tx.HasEntries(ino)
	if err != nil {
		return err
	}
	if has {
		return syscall.ENOTEMPTY
	}
	return nil
}
