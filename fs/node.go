package fs

import (
	"context"
	"syscall"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"github.com/sealfs/sealfs/meta"
)

// node is one inode in go-fuse's tree. Its attributes live in meta and the
// content of an open file in the version keeper, both keyed by inode number:
// go-fuse may make a second node for an inode it already has (and keep the
// first), so a node holds no state of its own.
type node struct {
	gofs.Inode
	fsys *FS
	ino  meta.Ino
	// at is the path of a node made for a change from outside the mount
	// (see outside.go), which the kernel's tree may not hold.
	at string
}

// inode loads n's attributes as the kernel must see them, with the unsaved
// size and mtime of an open file.
func (n *node) inode() (meta.Inode, error) {
	return n.fsys.versions.Inode(n.ino)
}

// path names n for log lines; "?" when go-fuse no longer knows a name.
func (n *node) path() string {
	if n.at != "" {
		return n.at
	}
	p := n.Path(n.fsys.root.EmbeddedInode())
	if p == "" && n.ino != meta.RootIno {
		return "?"
	}
	return "/" + p
}

// where is n's path for a plain file's readable copy in the bucket; "" when
// go-fuse no longer knows a name.
func (n *node) where() string {
	if p := n.path(); p != "?" {
		return p
	}
	return ""
}

// childPath is the path of name in directory n; "" when n's is unknown.
func (n *node) childPath(name string) string {
	switch p := n.path(); p {
	case "?":
		return ""
	case "/":
		return "/" + name
	default:
		return p + "/" + name
	}
}

// newChild makes the go-fuse inode for in under parent and fills out. in
// must come from inode() (or be new), so that it shows unsaved changes.
func (f *FS) newChild(ctx context.Context, parent *gofs.Inode, in *meta.Inode, out *fuse.EntryOut) *gofs.Inode {
	fillAttr(in, &out.Attr)
	out.Ino = uint64(in.Ino)
	child := &node{fsys: f, ino: in.Ino}
	return parent.NewInode(ctx, child, gofs.StableAttr{Mode: in.Mode & syscall.S_IFMT, Ino: uint64(in.Ino)})
}

func asNode(i gofs.InodeEmbedder) *node {
	return i.(*node)
}
