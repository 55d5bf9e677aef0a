package meta_test

import (
	"errors"
	"testing"
	"time"

	"github.com/sealfs/sealfs/meta"
)

// shredFixture: /a (dir) holds f1 (with a retired version and an
// unsettled fallback) and b/f2, which is hard-linked as /x/link; /a/gone
// was deleted earlier (trash); /p is a plain file. Inode numbers are
// 10 + position.
func shredFixture(t *testing.T, s *meta.Store) {
	t.Helper()
	dir := func(ino meta.Ino, nlink uint32) meta.Inode { return meta.Inode{Ino: ino, Mode: 0o40755, Nlink: nlink} }
	file := func(ino meta.Ino, nlink uint32) meta.Inode { return meta.Inode{Ino: ino, Mode: 0o100600, Nlink: nlink} }
	id := func(b byte) [16]byte { return [16]byte{b} }
	err := s.Update(func(tx *meta.Tx) error {
		return errors.Join(
			tx.PutInode(dir(meta.RootIno, 4)),
			tx.PutInode(dir(10, 3)), tx.PutEntry(meta.RootIno, meta.Entry{Name: "a", Ino: 10, Mode: 0o40000}),
			tx.PutInode(file(11, 1)), tx.PutEntry(10, meta.Entry{Name: "f1", Ino: 11, Mode: 0o100000}),
			tx.PutContent(11, meta.Content{FileID: id(1), Encrypted: true, WrappedDEK: []byte("dek1")}),
			tx.PutUnsettled(11, meta.Unsettled{FileID: id(1), Prev: &meta.Prev{Content: meta.Content{FileID: id(2), Encrypted: true}}}),
			tx.PutRetired(meta.Retired{FileID: id(3), After: 5, Ino: 11, Content: &meta.Content{FileID: id(3), Encrypted: true}}),
			tx.PutUpload(meta.Upload{Ino: 11, FileID: id(1), Due: 7}),
			tx.PutInode(dir(12, 2)), tx.PutEntry(10, meta.Entry{Name: "b", Ino: 12, Mode: 0o40000}),
			tx.PutInode(file(13, 2)), tx.PutEntry(12, meta.Entry{Name: "f2", Ino: 13, Mode: 0o100000}),
			tx.PutContent(13, meta.Content{FileID: id(4), Encrypted: true}),
			tx.PutInode(dir(14, 2)), tx.PutEntry(meta.RootIno, meta.Entry{Name: "x", Ino: 14, Mode: 0o40000}),
			tx.PutEntry(14, meta.Entry{Name: "link", Ino: 13, Mode: 0o100000}),
			tx.PutRetired(meta.Retired{FileID: id(5), After: 6, Ino: 99, Deleted: true, Path: "/a/gone", Content: &meta.Content{FileID: id(5), Encrypted: true}}),
			tx.PutRetired(meta.Retired{FileID: id(6), After: 6, Ino: 98, Deleted: true, Path: "/ab", Content: &meta.Content{FileID: id(6), Encrypted: true}}),
			tx.PutInode(file(15, 1)), tx.PutEntry(meta.RootIno, meta.Entry{Name: "p", Ino: 15, Mode: 0o100000}),
			tx.PutContent(15, meta.Content{FileID: id(7)}),
		)
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestShredTree(t *testing.T) {
	s := openStore(t, t.TempDir(), newKey(t))
	defer s.Close()
	shredFixture(t, s)
	for p, want := range map[string]error{"/p": meta.ErrPlainFile, "/nowhere": meta.ErrNotFound} {
		if err := meta.CheckShred(s, p); !errors.Is(err, want) {
			t.Errorf("CheckShred(%s): %v, want %v", p, err, want)
		}
	}
	if err := meta.CheckShred(s, "/"); err == nil {
		t.Error("CheckShred(/) passed")
	}

	rep, err := meta.Shred(s, "/a", [16]byte{42}, time.Unix(100, 0))
	if err != nil {
		t.Fatal(err)
	}
	if rep.Files != 2 || rep.Dirs != 2 || len(rep.Versions) != 5 {
		t.Errorf("report %+v: want 2 files, 2 dirs, 5 versions (f1, its fallback, its retired one, f2, a/gone)", rep)
	}
	err = s.View(func(tx *meta.Tx) error {
		for _, ino := range []meta.Ino{10, 11, 12, 13} {
			if _, err := tx.Inode(ino); !errors.Is(err, meta.ErrNotFound) {
				t.Errorf("inode %d after the shred: %v", ino, err)
			}
			if _, err := tx.Content(ino); !errors.Is(err, meta.ErrNotFound) {
				t.Errorf("content of %d after the shred: %v", ino, err)
			}
		}
		if _, err := tx.Unsettled(11); !errors.Is(err, meta.ErrNotFound) {
			t.Errorf("unsettled mark after the shred: %v", err)
		}
		for _, name := range []string{"a", "x/link"} {
			if _, err := tx.LookupPath("/" + name); !errors.Is(err, meta.ErrNotFound) {
				t.Errorf("/%s after the shred: %v", name, err)
			}
		}
		if _, err := tx.LookupPath("/x"); err != nil {
			t.Errorf("/x after the shred: %v", err)
		}
		if root, err := tx.Inode(meta.RootIno); err != nil || root.Nlink != 3 {
			t.Errorf("root after a subdirectory went: nlink %d (%v), want 3", root.Nlink, err)
		}
		var retired []byte
		tx.EachRetired(func(r meta.Retired) bool { retired = append(retired, r.FileID[0]); return true })
		if string(retired) != "\x06" {
			t.Errorf("retired versions left: %v, want only /ab's (6)", retired)
		}
		n := 0
		tx.Uploads(func(meta.Upload) bool { n++; return true })
		if n != 0 {
			t.Errorf("%d uploads queued after the shred", n)
		}
		var tomb []byte
		tx.EachShredded(func(id [16]byte, at int64) bool {
			tomb = append(tomb, id[0])
			if at != time.Unix(100, 0).UnixNano() {
				t.Errorf("tombstone time %d", at)
			}
			return true
		})
		if string(tomb) != "\x01\x02\x03\x04\x05" {
			t.Errorf("tombstones %v, want 1-5", tomb)
		}
		mark, err := tx.Shredding()
		if err != nil || mark.At != time.Unix(100, 0).UnixNano() || mark.Key != [16]byte{42} {
			t.Errorf("mark %+v (%v)", mark, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
