package fs

import (
	"context"
	"sync"
	"syscall"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"github.com/sealfs/sealfs/meta"
)

// node is one inode in go-fuse's tree. Its attributes live in meta; the node
// only holds what an open file has not saved yet. go-fuse keeps a single
// node per inode number, so hard links share it.
type node struct {
	gofs.Inode
	fsys *FS
	ino  meta.Ino

	// mu guards open. Reads hold it shared; writes, truncation, flush and
	// release hold it exclusively.
	mu   sync.RWMutex
	open *openFile
}

// inode loads n's attributes, with the unsaved size and mtime of an open file.
func (n *node) inode() (meta.Inode, error) {
	var in meta.Inode
	err := n.fsys.meta.View(func(tx *meta.Tx) (err error) {
		in, err = tx.Inode(n.ino)
		return err
	})
	if err != nil {
		return in, err
	}
	n.overlayOpen(&in)
	return in, nil
}

func (n *node) overlayOpen(in *meta.Inode) {
	n.mu.RLock()
	defer n.mu.RUnlock()
	if o := n.open; o != nil && o.dirty {
		in.Size = uint64(o.content.Size())
		in.Mtime, in.Ctime = o.mtime, o.mtime
	}
}

// path names n for log lines; "?" when go-fuse no longer knows a name.
func (n *node) path() string {
	p := n.Path(n.fsys.root.EmbeddedInode())
	if p == "" && n.ino != meta.RootIno {
		return "?"
	}
	return "/" + p
}

// newChild makes the go-fuse inode for in under parent and fills out.
func (f *FS) newChild(ctx context.Context, parent *gofs.Inode, in *meta.Inode, out *fuse.EntryOut) *gofs.Inode {
	fillAttr(in, &out.Attr)
	out.Ino = uint64(in.Ino)
	child := &node{fsys: f, ino: in.Ino}
	return parent.NewInode(ctx, child, gofs.StableAttr{Mode: in.Mode & syscall.S_IFMT, Ino: uint64(in.Ino)})
}

func asNode(i gofs.InodeEmbedder) *node {
	return i.(*node)
}
