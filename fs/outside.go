package fs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"
	"syscall"
	"time"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/sealfs/sealfs/fs/version"
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
// the filesystem), as one new version, atomically: the bytes go to a file
// with no name yet (as open(O_TMPFILE) makes), are made durable, and the
// file is then linked as p, replacing what was there. So p shows the old
// file or the whole new one, never a part; a failure leaves p as it was,
// and a crash an unnamed file the next mount deletes. A file p replaces is
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
	in, err := dir.writeUnnamed(ctx, p, a, r)
	if err == nil {
		err = dir.linkOver(in.Ino, name)
	}
	if err != nil {
		if in.Ino != 0 {
			f.destroyUnnamed(in.Ino)
		}
		return meta.Inode{}, err
	}
	f.notifyEntries(dir, name)
	in.Nlink = 1
	return in, nil
}

// writeUnnamed creates a file with no name in n, with r's bytes, durable,
// closed and with a's attributes; p is the path it is for. On failure the
// returned inode, if it has a number, is left for destroyUnnamed.
func (n *node) writeUnnamed(ctx context.Context, p string, a FileAttrs, r io.Reader) (in meta.Inode, err error) {
	n.fsys.nsMu.Lock()
	in, file, err := n.createContent(ctx, a.Perm&^syscall.S_IFMT, func(tx *meta.Tx, in *meta.Inode) error {
		in.Uid, in.Gid = a.Uid, a.Gid
		return n.placeUnnamed(tx, in)
	})
	n.fsys.nsMu.Unlock()
	if err != nil {
		return meta.Inode{}, err
	}
	werr := n.fill(ctx, file, r)
	if err := n.fsys.versions.Release(file, func() string { return p }); werr == nil {
		werr = err
	}
	if werr != nil {
		return in, werr
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

// fill writes r into file from offset 0 and makes it durable. Only io.EOF
// ends it well: any other error, io.ErrUnexpectedEOF (a cut request body)
// included, fails it.
func (n *node) fill(ctx context.Context, file *version.File, r io.Reader) error {
	buf := make([]byte, 1<<20)
	var off int64
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		nr, rerr := readChunk(r, buf)
		if nr > 0 {
			file.Lock()
			var err error
			if errno := n.fsys.checkGrow(off, off+int64(nr)); errno != 0 {
				err = errno
			} else {
				_, err = file.WriteAt(buf[:nr], off)
			}
			file.Unlock()
			if err != nil {
				return err
			}
			off += int64(nr)
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			return rerr
		}
	}
	file.Lock()
	defer file.Unlock()
	return file.Fsync()
}

// readChunk fills buf from r, as io.ReadFull does, except that the error
// is r's own: io.EOF only at a clean end, never made up from a short read.
func readChunk(r io.Reader, buf []byte) (int, error) {
	n := 0
	for n < len(buf) {
		m, err := r.Read(buf[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// linkOver gives unnamed regular file ino the name name in n, replacing a
// regular file of that name, as a rename of it over name would.
func (n *node) linkOver(ino meta.Ino, name string) error {
	n.fsys.nsMu.Lock()
	var gone *meta.Ino
	err := n.fsys.meta.Update(func(tx *meta.Tx) error {
		gone = nil
		now := time.Now().UnixNano()
		e := meta.Entry{Name: name, Ino: ino, Mode: syscall.S_IFREG}
		old, err := tx.Lookup(n.ino, name)
		switch {
		case err == nil:
			if gone, err = n.replace(tx, e, old, now); err != nil {
				return err
			}
		case !errors.Is(err, meta.ErrNotFound):
			return err
		}
		in, err := tx.Inode(ino)
		if err != nil {
			return err
		}
		in.Nlink, in.Ctime = 1, now
		if err := tx.PutInode(in); err != nil {
			return err
		}
		if err := tx.UnmarkOrphan(ino); err != nil {
			return err
		}
		return addEntry(tx, n.ino, e, now)
	})
	n.fsys.nsMu.Unlock()
	if err != nil {
		return err
	}
	if gone != nil {
		return n.fsys.destroyInode(*gone)
	}
	return nil
}

// destroyUnnamed deletes a file writeUnnamed left without a name. It never
// had a path, so versions never lists it; a bucket copy, if its upload
// started, goes after the retention period like any other.
func (f *FS) destroyUnnamed(ino meta.Ino) {
	if err := f.destroyInode(ino); err != nil {
		f.log.Error("delete an unfinished file", "ino", uint64(ino), "err", err)
	}
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

// MakeDir makes directory p and its missing parents (mode 0755, owned by
// a.Uid and a.Gid), as mkdir -p, and returns its inode.
func (f *FS) MakeDir(ctx context.Context, p string, a FileAttrs) (meta.Ino, error) {
	a.MakeParents = true
	dir, err := f.outsideDir(ctx, path.Clean("/"+p), a)
	if err != nil {
		return 0, err
	}
	return dir.ino, nil
}

// RemoveFile deletes the regular file at p, as unlink(2) through the mount
// would: its version is retired (kept in the bucket for the retention
// period), and the kernel forgets the name.
func (f *FS) RemoveFile(ctx context.Context, p string) error {
	p = path.Clean("/" + p)
	dirPath, name := path.Split(p)
	dir, err := f.outsideDir(ctx, dirPath, FileAttrs{})
	if err != nil {
		return err
	}
	errno := dir.remove(name, func(_ *meta.Tx, e meta.Entry) error {
		if e.Mode != syscall.S_IFREG {
			return syscall.EISDIR
		}
		return nil
	})
	if errno != 0 {
		return fmt.Errorf("%s: %w", p, errno)
	}
	f.notifyEntries(dir, name)
	return nil
}
