package fs

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"syscall"
	"time"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/sealfs/sealfs/meta"
	"golang.org/x/sys/unix"
)

var (
	_ = (gofs.NodeGetxattrer)((*node)(nil))
	_ = (gofs.NodeSetxattrer)((*node)(nil))
	_ = (gofs.NodeListxattrer)((*node)(nil))
	_ = (gofs.NodeRemovexattrer)((*node)(nil))
)

const (
	// Virtual, read-only attributes. They are answered by name but not
	// listed, so that rsync -X and cp --preserve=xattr, which copy every
	// listed attribute and remove unlisted ones, never try to write them.
	xattrPrefix    = "user.sealfs."
	xattrEncrypted = xattrPrefix + "encrypted"
	xattrSync      = xattrPrefix + "sync"
	// xattrEncrypt is a directory's encryption toggle, and the one
	// writable sealfs attribute: "true" or "false".
	xattrEncrypt = xattrPrefix + "encrypt"

	maxXattrValue = 64 << 10 // XATTR_SIZE_MAX
	maxXattrName  = 255      // XATTR_NAME_MAX
)

// Getxattr returns an extended attribute.
func (n *node) Getxattr(ctx context.Context, attr string, dest []byte) (uint32, syscall.Errno) {
	value, err := n.xattr(attr)
	if err != nil {
		return 0, toXattrErrno(err)
	}
	if len(dest) < len(value) {
		return uint32(len(value)), syscall.ERANGE
	}
	return uint32(copy(dest, value)), 0
}

func (n *node) xattr(attr string) ([]byte, error) {
	if strings.HasPrefix(attr, xattrPrefix) {
		return n.virtualXattr(attr)
	}
	var value []byte
	err := n.fsys.meta.View(func(tx *meta.Tx) (err error) {
		value, err = tx.Xattr(n.ino, attr)
		return err
	})
	return value, err
}

func (n *node) virtualXattr(attr string) ([]byte, error) {
	if attr == xattrEncrypt && n.StableAttr().Mode == syscall.S_IFDIR {
		var dir meta.Inode
		err := n.fsys.meta.View(func(tx *meta.Tx) (err error) {
			dir, err = tx.Inode(n.ino)
			return err
		})
		return []byte(strconv.FormatBool(!dir.Plain)), err
	}
	if !n.IsRegular() || (attr != xattrEncrypted && attr != xattrSync) {
		return nil, meta.ErrNotFound
	}
	if attr == xattrSync && n.fsys.upload == nil {
		return nil, meta.ErrNotFound // no bucket: nothing is synced anywhere
	}
	var c meta.Content
	err := n.fsys.meta.View(func(tx *meta.Tx) (err error) {
		c, err = tx.Content(n.ino)
		return err
	})
	if err != nil {
		return nil, err
	}
	if attr == xattrSync {
		return []byte(c.SyncText()), nil
	}
	return []byte(strconv.FormatBool(c.Encrypted)), nil
}

// ParseToggle reads an encryption toggle value: true/false, on/off, 1/0.
func ParseToggle(s string) (bool, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "true", "on", "1":
		return true, nil
	case "false", "off", "0":
		return false, nil
	}
	return false, fmt.Errorf("want true or false (on, off), not %q", s)
}

// SetEncryption switches encryption on or off for what is made in
// directory dir from now on; what is in it keeps the kind it was written
// with.
func SetEncryption(tx *meta.Tx, dir meta.Ino, on bool) error {
	in, err := tx.Inode(dir)
	if err != nil {
		return err
	}
	if in.Mode&syscall.S_IFMT != syscall.S_IFDIR {
		return syscall.ENOTDIR
	}
	in.Plain = !on
	return tx.PutInode(in)
}

// IsRegular reports whether n is a regular file.
func (n *node) IsRegular() bool { return n.StableAttr().Mode == syscall.S_IFREG }

// Setxattr sets an extended attribute, honouring XATTR_CREATE and XATTR_REPLACE.
func (n *node) Setxattr(ctx context.Context, attr string, data []byte, flags uint32) syscall.Errno {
	if attr == xattrEncrypt && n.StableAttr().Mode == syscall.S_IFDIR {
		on, err := ParseToggle(string(data))
		if err != nil {
			return syscall.EINVAL
		}
		return toErrno(n.updateXattr(func(tx *meta.Tx) error { return SetEncryption(tx, n.ino, on) }))
	}
	if errno := n.checkXattrWrite(attr); errno != 0 {
		return errno
	}
	if len(data) > maxXattrValue {
		return syscall.E2BIG
	}
	return toXattrErrno(n.updateXattr(func(tx *meta.Tx) error {
		_, err := tx.Xattr(n.ino, attr)
		exists := err == nil
		if err != nil && !errors.Is(err, meta.ErrNotFound) {
			return err
		}
		if exists && flags&unix.XATTR_CREATE != 0 {
			return syscall.EEXIST
		}
		if !exists && flags&unix.XATTR_REPLACE != 0 {
			return syscall.ENODATA
		}
		return tx.SetXattr(n.ino, attr, data)
	}))
}

// Removexattr deletes an extended attribute.
func (n *node) Removexattr(ctx context.Context, attr string) syscall.Errno {
	if errno := n.checkXattrWrite(attr); errno != 0 {
		return errno
	}
	return toXattrErrno(n.updateXattr(func(tx *meta.Tx) error {
		if _, err := tx.Xattr(n.ino, attr); err != nil {
			return err
		}
		return tx.RemoveXattr(n.ino, attr)
	}))
}

// checkXattrWrite applies the kernel's rules that a FUSE filesystem must
// enforce itself: name limits, read-only sealfs attributes, user.* only on
// files and directories, and no ACLs (the mount does not enable them).
func (n *node) checkXattrWrite(attr string) syscall.Errno {
	switch {
	case len(attr) > maxXattrName:
		return syscall.ERANGE
	case strings.HasPrefix(attr, xattrPrefix):
		return syscall.EPERM
	case strings.HasPrefix(attr, "system."):
		return syscall.EOPNOTSUPP
	case strings.HasPrefix(attr, "user."):
		mode := n.StableAttr().Mode
		if mode != syscall.S_IFREG && mode != syscall.S_IFDIR {
			return syscall.EPERM
		}
	}
	return 0
}

// updateXattr runs fn and bumps ctime in the same transaction.
func (n *node) updateXattr(fn func(tx *meta.Tx) error) error {
	return n.fsys.meta.Update(func(tx *meta.Tx) error {
		if err := fn(tx); err != nil {
			return err
		}
		return touchCtime(tx, n.ino, time.Now().UnixNano())
	})
}

// Listxattr lists the stored attribute names, NUL-terminated.
func (n *node) Listxattr(ctx context.Context, dest []byte) (uint32, syscall.Errno) {
	var names []string
	err := n.fsys.meta.View(func(tx *meta.Tx) (err error) {
		names, err = tx.ListXattrs(n.ino)
		return err
	})
	if err != nil {
		return 0, toErrno(err)
	}
	size := 0
	for _, name := range names {
		size += len(name) + 1
	}
	if len(dest) < size {
		return uint32(size), syscall.ERANGE
	}
	off := 0
	for _, name := range names {
		off += copy(dest[off:], name)
		dest[off] = 0
		off++
	}
	return uint32(size), 0
}

// toXattrErrno is toErrno with "no such attribute" as ENODATA.
func toXattrErrno(err error) syscall.Errno {
	if errors.Is(err, meta.ErrNotFound) {
		return syscall.ENODATA
	}
	return toErrno(err)
}
