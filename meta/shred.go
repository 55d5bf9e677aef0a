package meta

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"syscall"
	"time"
)

// Shredding destroys a file: every record that holds a DEK of any of its
// versions (its content record, the fallback in its unsettled mark, its
// retired versions) is deleted with its names and its inode, and a
// tombstone per version says the version's objects are shredded, not lost.
// Deleting a record leaves earlier copies of it under the same key (in
// Badger's log until compaction, in snapshots already uploaded), so a shred
// is sealed off by a master-key rotation; until then the Shredding mark
// says one is owed.

// ErrPlainFile refuses a shred of content that was never encrypted:
// destroying a key cannot make its copies unreadable.
var ErrPlainFile = errors.New("not encrypted")

func shreddedKey(id [16]byte) []byte { return append([]byte{tagShredded}, id[:]...) }

// EachShredded calls fn with every shredded version's file ID and when it
// was shredded (unix ns), until fn returns false.
func (tx *Tx) EachShredded(fn func(id [16]byte, at int64) bool) error {
	return tx.scanKeys([]byte{tagShredded}, func(k, v []byte) (bool, error) {
		var at int64
		if err := json.Unmarshal(v, &at); err != nil {
			return false, err
		}
		var id [16]byte
		copy(id[:], k[1:])
		return fn(id, at), nil
	})
}

// Shredding is the mark of a shred that a key rotation has not yet sealed
// off: when it began, and the master key it began under (a rotation since
// is told by the key having changed).
type Shredding struct {
	At  int64    `json:"at"`
	Key [16]byte `json:"key"`
}

// Shredding returns the mark (zero At: none).
func (tx *Tx) Shredding() (Shredding, error) {
	var m Shredding
	err := tx.getJSON([]byte{tagShredding}, &m)
	if errors.Is(err, ErrNotFound) {
		return Shredding{}, nil
	}
	return m, err
}

// ClearShredding removes the mark, if it is still the one of at.
func (tx *Tx) ClearShredding(at int64) error {
	cur, err := tx.Shredding()
	if err != nil || cur.At != at {
		return err
	}
	return tx.delete([]byte{tagShredding})
}

// ShredReport says what a shred destroyed.
type ShredReport struct {
	Mark     Shredding  // the mark left until a rotation seals the shred off
	Files    int        // regular files and symlinks removed from the tree
	Dirs     int        // directories removed
	Versions [][16]byte // file IDs whose DEKs were destroyed
}

// shredTarget is one inode of the tree being shredded, with every name it
// has (a hard-linked file may have names outside the tree).
type shredTarget struct {
	ino   Ino
	dir   bool
	names []dirName
}

type dirName struct {
	dir  Ino
	name string
}

// Shred destroys the file or directory tree at p ("/a/b", as in the
// mount; not "/") and the retired versions of files deleted under it. It
// refuses, changing nothing, when anything in it holds plain content.
// key is the ID of the master key the store is open under.
func Shred(s *Store, p string, key [16]byte, now time.Time) (ShredReport, error) {
	targets, retired, err := shredTargets(s, p)
	if err != nil {
		return ShredReport{}, err
	}
	rep := ShredReport{Mark: Shredding{At: now.UnixNano(), Key: key}}
	err = s.Update(func(tx *Tx) error {
		cur, err := tx.Shredding()
		if err != nil || cur.At != 0 && cur.Key == key {
			rep.Mark = cur
			return err
		}
		return tx.putJSON([]byte{tagShredding}, rep.Mark)
	})
	if err != nil {
		return ShredReport{}, err
	}
	// One transaction per inode: a tree of any size fits, and a shred cut
	// short leaves the mark, so the next one finishes (what is left of the
	// tree is shredded again) and rotates.
	for _, t := range targets {
		var ids [][16]byte
		err := s.Update(func(tx *Tx) error {
			var err error
			ids, err = tx.shredInode(t, retired[t.ino], now)
			return err
		})
		if err != nil {
			return rep, err
		}
		rep.Versions = append(rep.Versions, ids...)
		if t.dir {
			rep.Dirs++
		} else {
			rep.Files++
		}
	}
	// Versions of files deleted under p before the shred (the trash).
	err = s.Update(func(tx *Tx) error {
		for _, r := range retired[0] {
			if err := tx.shredRetired(r, now); err != nil {
				return err
			}
			rep.Versions = append(rep.Versions, r.FileID)
		}
		return nil
	})
	return rep, err
}

// CheckShred reports what Shred of p would refuse (p missing, plain
// content in it, p the root), changing nothing.
func CheckShred(s *Store, p string) error {
	_, _, err := shredTargets(s, p)
	return err
}

// shredTargets walks the tree at p, children before their directory, and
// gathers the retired versions of its files by inode (0: files deleted
// under p, by their last path).
func shredTargets(s *Store, p string) ([]shredTarget, map[Ino][]Retired, error) {
	p = "/" + strings.Trim(p, "/")
	if p == "/" {
		return nil, nil, errors.New("will not shred the whole store: delete the store and its bucket instead")
	}
	var targets []shredTarget
	retired := map[Ino][]Retired{}
	err := s.View(func(tx *Tx) error {
		root, err := tx.LookupPath(p)
		if err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
		parent, err := tx.LookupPath(p[:strings.LastIndex(p, "/")+1])
		if err != nil {
			return err
		}
		in, err := tx.Inode(root)
		if err != nil {
			return err
		}
		inTree := map[Ino]bool{}
		var walk func(dir Ino, name string, in Inode) error
		walk = func(dir Ino, name string, in Inode) error {
			t := shredTarget{ino: in.Ino, dir: in.Mode&syscall.S_IFMT == syscall.S_IFDIR, names: []dirName{{dir, name}}}
			inTree[in.Ino] = true
			if t.dir {
				var kids []Entry
				if err := tx.Entries(in.Ino, func(e Entry) bool { kids = append(kids, e); return true }); err != nil {
					return err
				}
				for _, e := range kids {
					kin, err := tx.Inode(e.Ino)
					if err != nil {
						return fmt.Errorf("%s/%s: %w", name, e.Name, err)
					}
					if inTree[e.Ino] {
						// Another name of a hard-linked file already taken.
						for i := range targets {
							if targets[i].ino == e.Ino {
								targets[i].names = append(targets[i].names, dirName{in.Ino, e.Name})
							}
						}
						continue
					}
					if err := walk(in.Ino, e.Name, kin); err != nil {
						return err
					}
				}
			} else if c, err := tx.Content(in.Ino); err == nil && !c.Encrypted {
				return fmt.Errorf("%s holds plain content: %w", name, ErrPlainFile)
			} else if err != nil && !errors.Is(err, ErrNotFound) {
				return err
			}
			targets = append(targets, t)
			return nil
		}
		if err := walk(parent, p[strings.LastIndex(p, "/")+1:], in); err != nil {
			return err
		}
		if err := linksOutside(tx, targets, inTree); err != nil {
			return err
		}
		return tx.EachRetired(func(r Retired) bool {
			switch {
			case r.Content != nil && !r.Content.Encrypted:
			case inTree[r.Ino]:
				retired[r.Ino] = append(retired[r.Ino], r)
			case r.Deleted && (r.Path == p || strings.HasPrefix(r.Path, p+"/")):
				retired[0] = append(retired[0], r)
			}
			return true
		})
	})
	return targets, retired, err
}

// linksOutside adds to each hard-linked file its names outside the tree:
// the file is destroyed, so no name may be left pointing at nothing.
func linksOutside(tx *Tx, targets []shredTarget, inTree map[Ino]bool) error {
	linked := map[Ino]*shredTarget{}
	for i := range targets {
		t := &targets[i]
		if t.dir {
			continue
		}
		if in, err := tx.Inode(t.ino); err == nil && in.Nlink > uint32(len(t.names)) {
			linked[t.ino] = t
		}
	}
	if len(linked) == 0 {
		return nil
	}
	return tx.scanKeys([]byte{tagEntry}, func(k, v []byte) (bool, error) {
		var e Entry
		if err := decodeJSON(k, v, &e); err != nil {
			return false, err
		}
		t := linked[e.Ino]
		if t == nil {
			return true, nil
		}
		dn := dirName{inoFromKey(k), string(k[9:])}
		for _, n := range t.names {
			if n == dn {
				return true, nil
			}
		}
		t.names = append(t.names, dn)
		return true, nil
	})
}

// shredInode removes t (names, inode, every record holding a DEK of it)
// and returns the file IDs whose DEKs it destroyed.
func (tx *Tx) shredInode(t shredTarget, retired []Retired, now time.Time) ([][16]byte, error) {
	var ids [][16]byte
	c, err := tx.Content(t.ino)
	switch {
	case err == nil:
		ids = append(ids, c.FileID)
	case !errors.Is(err, ErrNotFound):
		return nil, err
	}
	u, err := tx.Unsettled(t.ino)
	switch {
	case err == nil:
		ids = append(ids, u.FileID)
		if u.Prev != nil {
			ids = append(ids, u.Prev.Content.FileID)
		}
	case !errors.Is(err, ErrNotFound):
		return nil, err
	}
	var queued []Upload
	if err := tx.Uploads(func(up Upload) bool {
		if up.Ino == t.ino {
			queued = append(queued, up)
		}
		return true
	}); err != nil {
		return nil, err
	}
	for _, up := range queued {
		if err := tx.DeleteUpload(up); err != nil {
			return nil, err
		}
	}
	for _, r := range retired {
		if err := tx.shredRetired(r, now); err != nil {
			return nil, err
		}
		ids = append(ids, r.FileID)
	}
	for _, n := range t.names {
		if err := tx.DeleteEntry(n.dir, n.name); err != nil {
			return nil, err
		}
		if err := tx.touchDir(n.dir, t.dir, now); err != nil {
			return nil, err
		}
	}
	if err := tx.DeleteInode(t.ino); err != nil {
		return nil, err
	}
	if t.dir {
		if err := tx.delete(inoKey(tagRekey, t.ino)); err != nil {
			return nil, err
		}
	}
	slices.SortFunc(ids, func(a, b [16]byte) int { return bytes.Compare(a[:], b[:]) })
	ids = slices.Compact(ids) // an unsettled mark names the current version too
	for _, id := range ids {
		if err := tx.putJSON(shreddedKey(id), now.UnixNano()); err != nil {
			return nil, err
		}
	}
	return ids, nil
}

func (tx *Tx) shredRetired(r Retired, now time.Time) error {
	if err := tx.DeleteRetired(r); err != nil {
		return err
	}
	return tx.putJSON(shreddedKey(r.FileID), now.UnixNano())
}

// touchDir updates directory dir after a name in it was removed (and its
// link count, for a subdirectory). A directory itself being shredded is
// gone already or soon: it is left alone.
func (tx *Tx) touchDir(dir Ino, subdir bool, now time.Time) error {
	in, err := tx.Inode(dir)
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if subdir && in.Nlink > 2 {
		in.Nlink--
	}
	in.Mtime, in.Ctime = now.UnixNano(), now.UnixNano()
	return tx.PutInode(in)
}
