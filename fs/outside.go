package fs

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"
	"syscall"
	"time"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/sealfs/sealfs/meta"
)

// Changes from outside the mount: commands such as undelete write files
// into the filesystem without going through the kernel, mounted or not.
// They run the same node code as a FUSE request, on the nodes the kernel
// knows where it knows them, and then tell the kernel what changed.

var _ = (gofs.NodeOnAdder)((*node)(nil))

// OnAdd runs when go-fuse adds a node to its tree; for the root, that is
// the mount: from then on, outside changes must notify the kernel.
func (n *node) OnAdd(ctx context.Context) {
	if n.ino == meta.RootIno {
		n.fsys.mounted.Store(true)
	}
}

// FileAttrs are the attributes WriteFile gives a file.
type FileAttrs struct {
	Perm     uint32 // permission bits (and setuid, setgid, sticky)
	Uid, Gid uint32
	Mtime    time.Time // the zero time: now
	// MakeParents creates missing parent directories (mode 0755, owned
	// by Uid and Gid), as mkdir -p.
	MakeParents bool
}

// WriteFile writes what r yields into the regular file at p (a path inside
// the filesystem), as one new version, atomically: the bytes go to a
// temporary name in p's directory, are made durable, and that name is then
// renamed over p. So p shows the old file or the whole new one, never a
// part, and a failure or a crash leaves p as it was. A file p replaces is
// retired like any overwritten file (kept in the bucket for the retention
// period). It returns the new file's attributes.
func (f *FS) WriteFile(ctx context.Context, p string, a FileAttrs, r io.Reader) (meta.Inode, error) {
	p = path.Clean("/" + p)
	dirPath, name := path.Split(p)
	if name == "" {
		return meta.Inode{}, fmt.Errorf("%q names no file", p)
	}
	if len(name) > maxNameLen {
		return meta.Inode{}, syscall.ENAMETOOLONG
	}
	dir, err := f.outsideDir(ctx, dirPath, a)
	if err != nil {
		return meta.Inode{}, err
	}
	tmp, err := tempName(name)
	if err != nil {
		return meta.Inode{}, err
	}
	in, err := dir.writeTemp(ctx, tmp, a, r)
	if err != nil {
		return meta.Inode{}, err
	}
	if errno := dir.Rename(ctx, tmp, dir, name, 0); errno != 0 {
		dir.remove(tmp, func(*meta.Tx, meta.Entry) error { return nil })
		return meta.Inode{}, fmt.Errorf("rename into place: %w", errno)
	}
	f.notifyEntries(dir, name, tmp)
	return in, nil
}

// writeTemp creates the file tmp in n with r's bytes, durable, closed and
// with a's attributes.
func (n *node) writeTemp(ctx context.Context, tmp string, a FileAttrs, r io.Reader) (in meta.Inode, err error) {
	n.fsys.nsMu.Lock()
	in, file, err := n.createContent(ctx, a.Perm&^syscall.S_IFMT, func(tx *meta.Tx, in *meta.Inode) error {
		in.Uid, in.Gid = a.Uid, a.Gid
		return n.link(tx, tmp, in)
	})
	n.fsys.nsMu.Unlock()
	if err != nil {
		return in, err
	}
	defer func() {
		if rerr := n.fsys.versions.Release(file); err == nil {
			err = rerr
		}
		if err != nil {
			n.remove(tmp, func(*meta.Tx, meta.Entry) error { return nil })
		}
	}()
	buf := make([]byte, 1<<20)
	var off int64
	for {
		if err := ctx.Err(); err != nil {
			return in, err
		}
		nr, rerr := io.ReadFull(r, buf)
		if nr > 0 {
			file.Lock()
			errno := n.fsys.checkGrow(off, off+int64(nr))
			if errno == 0 {
				_, err = file.WriteAt(buf[:nr], off)
			} else {
				err = errno
			}
			file.Unlock()
			if err != nil {
				return in, err
			}
			off += int64(nr)
		}
		if rerr == io.EOF || rerr == io.ErrUnexpectedEOF {
			break
		}
		if rerr != nil {
			return in, rerr
		}
	}
	file.Lock()
	err = file.Fsync()
	file.Unlock()
	if err != nil {
		return in, err
	}
	mtime := a.Mtime
	if mtime.IsZero() {
		mtime = time.Now()
	}
	err = n.fsys.meta.Update(func(tx *meta.Tx) error {
		saved, err := tx.Inode(in.Ino)
		if err != nil {
			return err
		}
		saved.Mtime = mtime.UnixNano()
		in = saved
		return tx.PutInode(saved)
	})
	return in, err
}

// outsideDir returns the node of directory p, creating missing ones when
// a.MakeParents. It is the node in the kernel's tree where there is one, so
// that changes under it can be notified.
func (f *FS) outsideDir(ctx context.Context, p string, a FileAttrs) (*node, error) {
	cur := f.root
	known := f.mounted.Load()
	at := ""
	for _, name := range strings.Split(strings.Trim(p, "/"), "/") {
		if name == "" {
			continue
		}
		at += "/" + name
		e, err := f.lookupOrMkdir(ctx, cur, name, a)
		if errors.Is(err, meta.ErrNotFound) {
			err = syscall.ENOENT
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", at, err)
		}
		if e.Mode != syscall.S_IFDIR {
			return nil, fmt.Errorf("%s: %w", at, syscall.ENOTDIR)
		}
		next := &node{fsys: f, ino: e.Ino, at: at}
		if known {
			if child := cur.GetChild(name); child != nil && asNode(child.Operations()).ino == e.Ino {
				next = asNode(child.Operations())
			} else {
				known = false // the kernel knows nothing below here
			}
		}
		cur = next
	}
	return cur, nil
}

// lookupOrMkdir returns the entry name in dir, made as a directory if it is
// missing and a.MakeParents.
func (f *FS) lookupOrMkdir(ctx context.Context, dir *node, name string, a FileAttrs) (meta.Entry, error) {
	f.nsMu.Lock()
	defer f.nsMu.Unlock()
	var e meta.Entry
	err := f.meta.View(func(tx *meta.Tx) (err error) {
		e, err = tx.Lookup(dir.ino, name)
		return err
	})
	if !errors.Is(err, meta.ErrNotFound) || !a.MakeParents {
		return e, err
	}
	in, err := dir.newInode(ctx, syscall.S_IFDIR|0o755)
	if err != nil {
		return e, err
	}
	in.Uid, in.Gid = a.Uid, a.Gid
	err = f.meta.Update(func(tx *meta.Tx) error {
		placed := in
		return dir.link(tx, name, &placed)
	})
	if err == nil {
		f.notifyEntries(dir, name)
	}
	return meta.Entry{Name: name, Ino: in.Ino, Mode: syscall.S_IFDIR}, err
}

// notifyEntries tells the kernel that names in dir changed, when it may
// have them cached: their dentries (negative ones too) and dir's
// attributes are dropped, and go-fuse's tree forgets the names. It must run
// without nsMu: the kernel may wait for requests that need it.
func (f *FS) notifyEntries(dir *node, names ...string) {
	if !f.mounted.Load() || dir.at != "" {
		return // not mounted, or a directory the kernel does not hold
	}
	for _, name := range names {
		dir.RmChild(name)
		dir.NotifyEntry(name)
	}
	dir.NotifyContent(0, 0)
}

// tempName is the name a file is written under before it becomes name:
// hidden, and unlike any name a program would pick.
func tempName(name string) (string, error) {
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	tmp := "." + name + ".sealfs-" + hex.EncodeToString(b[:])
	if len(tmp) > maxNameLen {
		tmp = ".sealfs-" + hex.EncodeToString(b[:])
	}
	return tmp, nil
}
