package main

import (
	"errors"
	"fmt"
	"path"
	"syscall"
	"time"

	"github.com/sealfs/sealfs/meta"
)

// listEntry is one row of `sealfs ls`, and its JSON form.
type listEntry struct {
	Name      string    `json:"name"`
	Path      string    `json:"path"`
	Type      string    `json:"type"`
	Size      uint64    `json:"size"`
	Encrypted bool      `json:"encrypted"`
	Sync      string    `json:"sync,omitempty"` // files only, when the store has a remote
	Modified  time.Time `json:"modified"`
}

// listPath lists directory p of the filesystem in m (its entries, or the
// whole subtree when recursive); a file path lists that file alone. With
// synced set, files carry their sync state.
func listPath(m *meta.Store, p string, recursive, synced bool) ([]listEntry, error) {
	l := lister{synced: synced, seen: map[meta.Ino]bool{}}
	return l.list(m, p, recursive)
}

type lister struct {
	synced bool
	// seen holds the directories listed so far: a directory reached
	// twice (a cycle only a damaged store can have) is listed once.
	seen map[meta.Ino]bool
}

func (l lister) list(m *meta.Store, p string, recursive bool) ([]listEntry, error) {
	p = path.Clean("/" + p)
	var out []listEntry
	err := m.View(func(tx *meta.Tx) error {
		ino, err := resolvePath(tx, p)
		if err != nil {
			return err
		}
		in, err := tx.Inode(ino)
		if ino == meta.RootIno && errors.Is(err, meta.ErrNotFound) {
			return nil // a store that was never mounted is empty
		}
		if err != nil {
			return err
		}
		if in.Mode&syscall.S_IFMT != syscall.S_IFDIR {
			e, err := l.describe(tx, path.Base(p), p, in)
			out = append(out, e)
			return err
		}
		return l.listDir(tx, ino, p, recursive, &out)
	})
	return out, err
}

func (l lister) listDir(tx *meta.Tx, dir meta.Ino, dirPath string, recursive bool, out *[]listEntry) error {
	if l.seen[dir] {
		return nil
	}
	l.seen[dir] = true
	var entries []meta.Entry
	if err := tx.Entries(dir, func(e meta.Entry) bool {
		entries = append(entries, e)
		return true
	}); err != nil && !errors.Is(err, meta.ErrDamaged) {
		return err // a damaged entry drops out; the rest is listed
	}
	for _, e := range entries {
		in, err := tx.Inode(e.Ino)
		if err != nil {
			return err
		}
		p := path.Join(dirPath, e.Name)
		row, err := l.describe(tx, e.Name, p, in)
		if err != nil {
			return err
		}
		*out = append(*out, row)
		if recursive && e.Mode == syscall.S_IFDIR {
			if err := l.listDir(tx, e.Ino, p, true, out); err != nil {
				return err
			}
		}
	}
	return nil
}

func (l lister) describe(tx *meta.Tx, name, p string, in meta.Inode) (listEntry, error) {
	e := listEntry{Name: name, Path: p, Size: in.Size, Modified: in.ModTime().UTC()}
	switch in.Mode & syscall.S_IFMT {
	case syscall.S_IFDIR:
		e.Type, e.Size = "dir", 0
	case syscall.S_IFLNK:
		e.Type = "symlink"
	case syscall.S_IFIFO:
		e.Type = "fifo"
	case syscall.S_IFSOCK:
		e.Type = "socket"
	case syscall.S_IFCHR:
		e.Type = "char-device"
	case syscall.S_IFBLK:
		e.Type = "block-device"
	case syscall.S_IFREG:
		e.Type = "file"
		c, err := tx.Content(in.Ino)
		if err != nil {
			return e, err
		}
		e.Encrypted = c.Encrypted
		if l.synced {
			e.Sync = c.SyncText()
		}
	default:
		e.Type = "special"
	}
	return e, nil
}

func resolvePath(tx *meta.Tx, p string) (meta.Ino, error) {
	ino, err := tx.LookupPath(p)
	if errors.Is(err, meta.ErrNotFound) {
		return 0, fmt.Errorf("%s: no such file or directory", p)
	}
	return ino, err
}
