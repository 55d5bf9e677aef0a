package meta

import (
	"errors"
	"strings"
	"syscall"
)

// LookupPath returns the inode at path p ("/a/b", as in the mount), or
// ErrNotFound.
func (tx *Tx) LookupPath(p string) (Ino, error) {
	ino := RootIno
	for _, name := range strings.Split(strings.Trim(p, "/"), "/") {
		if name == "" {
			continue
		}
		e, err := tx.Lookup(ino, name)
		if err != nil {
			return 0, err
		}
		ino = e.Ino
	}
	return ino, nil
}

// Paths returns a path (as seen in the mount) for every inode that has a
// name, walking the tree from the root breadth first; a hard-linked file
// gets the first path found. A directory reached twice (a cycle only
// tampering could make) is walked once, and a damaged entry is skipped.
func Paths(s *Store) (map[Ino]string, error) {
	paths := map[Ino]string{RootIno: "/"}
	queue := []Ino{RootIno}
	for len(queue) > 0 {
		dir := queue[0]
		queue = queue[1:]
		base := paths[dir]
		if base == "/" {
			base = ""
		}
		err := s.View(func(tx *Tx) error {
			return tx.Entries(dir, func(e Entry) bool {
				if _, seen := paths[e.Ino]; seen {
					return true
				}
				paths[e.Ino] = base + "/" + e.Name
				if e.Mode&syscall.S_IFMT == syscall.S_IFDIR {
					queue = append(queue, e.Ino)
				}
				return true
			})
		})
		if err != nil && !errors.Is(err, ErrDamaged) {
			return nil, err
		}
	}
	return paths, nil
}
