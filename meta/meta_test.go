package meta_test

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"testing"

	"github.com/sealfs/sealfs/meta"
)

func newKey(t *testing.T) meta.Keys {
	t.Helper()
	k := meta.Keys{AtRest: make([]byte, 32), Values: make([]byte, 32)}
	if _, err := rand.Read(k.AtRest); err != nil {
		t.Fatal(err)
	}
	if _, err := rand.Read(k.Values); err != nil {
		t.Fatal(err)
	}
	return k
}

func openStore(t *testing.T, dir string, key meta.Keys) *meta.Store {
	t.Helper()
	s, err := meta.Open(dir, key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestRecordsRoundTripAcrossReopen(t *testing.T) {
	dir, key := t.TempDir(), newKey(t)
	s := openStore(t, dir, key)
	ino, err := s.NextIno()
	if err != nil {
		t.Fatal(err)
	}
	if ino <= meta.RootIno {
		t.Fatalf("NextIno = %d, want > root", ino)
	}
	in := meta.Inode{Ino: ino, Mode: 0o100640, Uid: 7, Gid: 8, Nlink: 1, Size: 12345, Mtime: 1234567890123456789}
	c := meta.Content{FileID: [16]byte{1, 2, 3}, KeyID: [16]byte{9}, WrappedDEK: []byte("wrapped"), Encrypted: true, Version: 3}
	err = s.Update(func(tx *meta.Tx) error {
		return errors.Join(
			tx.PutInode(in),
			tx.PutContent(ino, c),
			tx.PutEntry(meta.RootIno, meta.Entry{Name: "b", Ino: ino, Mode: 0o100000}),
			tx.PutEntry(meta.RootIno, meta.Entry{Name: "a", Ino: ino, Mode: 0o100000}),
			tx.SetXattr(ino, "user.k", []byte("v")),
		)
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = openStore(t, dir, key)
	defer s.Close()
	next, err := s.NextIno()
	if err != nil {
		t.Fatal(err)
	}
	if next <= ino {
		t.Errorf("inode number reused after reopen: %d <= %d", next, ino)
	}
	err = s.View(func(tx *meta.Tx) error {
		got, err := tx.Inode(ino)
		if err != nil || got != in {
			t.Errorf("Inode = %+v, %v; want %+v", got, err, in)
		}
		gc, err := tx.Content(ino)
		if err != nil || gc.FileID != c.FileID || !bytes.Equal(gc.WrappedDEK, c.WrappedDEK) || gc.Version != 3 || !gc.Encrypted {
			t.Errorf("Content = %+v, %v; want %+v", gc, err, c)
		}
		var names []string
		if err := tx.Entries(meta.RootIno, func(e meta.Entry) bool {
			names = append(names, e.Name)
			return true
		}); err != nil {
			t.Error(err)
		}
		if !slices.Equal(names, []string{"a", "b"}) {
			t.Errorf("Entries = %q, want [a b] in name order", names)
		}
		v, err := tx.Xattr(ino, "user.k")
		if err != nil || string(v) != "v" {
			t.Errorf("Xattr = %q, %v", v, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestDeleteInodeRemovesEverything(t *testing.T) {
	s := openStore(t, t.TempDir(), newKey(t))
	defer s.Close()
	const ino = meta.Ino(42)
	err := s.Update(func(tx *meta.Tx) error {
		return errors.Join(tx.PutInode(meta.Inode{Ino: ino}), tx.PutContent(ino, meta.Content{}),
			tx.SetXattr(ino, "user.a", nil), tx.MarkOrphan(ino, "/gone"))
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Update(func(tx *meta.Tx) error { return tx.DeleteInode(ino) }); err != nil {
		t.Fatal(err)
	}
	err = s.View(func(tx *meta.Tx) error {
		if _, err := tx.Inode(ino); !errors.Is(err, meta.ErrNotFound) {
			t.Errorf("Inode after delete: %v, want ErrNotFound", err)
		}
		if _, err := tx.Content(ino); !errors.Is(err, meta.ErrNotFound) {
			t.Errorf("Content after delete: %v, want ErrNotFound", err)
		}
		if names, _ := tx.ListXattrs(ino); len(names) != 0 {
			t.Errorf("xattrs after delete: %q", names)
		}
		if orphans, _ := tx.Orphans(); len(orphans) != 0 {
			t.Errorf("orphans after delete: %v", orphans)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestWrongKeyIsRefused(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir, newKey(t))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := meta.Open(dir, newKey(t)); !errors.Is(err, meta.ErrWrongKey) {
		t.Fatalf("Open with another key: %v, want ErrWrongKey", err)
	}
}

// TestNamesAreEncryptedAtRest scans every byte Badger wrote for a file
// name, an xattr value and a symlink target.
func TestNamesAreEncryptedAtRest(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir, newKey(t))
	secrets := []string{"payroll-2026-secret-name.sql", "xattr-value-do-not-leak", "/target/of/secret/link"}
	err := s.Update(func(tx *meta.Tx) error {
		return errors.Join(
			tx.PutEntry(meta.RootIno, meta.Entry{Name: secrets[0], Ino: 5}),
			tx.SetXattr(5, "user.x", []byte(secrets[1])),
			tx.PutInode(meta.Inode{Ino: 5, Target: secrets[2]}),
		)
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Sync(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		for _, secret := range secrets {
			if bytes.Contains(b, []byte(secret)) {
				t.Errorf("%s contains %q in plaintext", p, secret)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestUpdateRollsBackOnError(t *testing.T) {
	s := openStore(t, t.TempDir(), newKey(t))
	defer s.Close()
	boom := errors.New("boom")
	err := s.Update(func(tx *meta.Tx) error {
		if err := tx.PutInode(meta.Inode{Ino: 9}); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("Update = %v, want boom", err)
	}
	_ = s.View(func(tx *meta.Tx) error {
		if _, err := tx.Inode(9); !errors.Is(err, meta.ErrNotFound) {
			t.Errorf("inode of a failed transaction is visible: %v", err)
		}
		return nil
	})
}

// A kill while Badger opens can leave its new value log at zero bytes;
// the store must still open, with everything in it.
func TestOpenAfterEmptyValueLog(t *testing.T) {
	dir := t.TempDir()
	key := newKey(t)
	s := openStore(t, dir, key)
	fillStore(t, s, 20)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	logs, _ := filepath.Glob(filepath.Join(dir, "*.vlog"))
	if len(logs) == 0 {
		t.Fatal("no value log in a closed store")
	}
	sort.Strings(logs)
	var last int
	fmt.Sscanf(filepath.Base(logs[len(logs)-1]), "%06d.vlog", &last)
	empty := filepath.Join(dir, fmt.Sprintf("%06d.vlog", last+1))
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := meta.OpenReadOnly(dir, key); !errors.Is(err, meta.ErrNeedsRecovery) {
		t.Fatalf("read-only open beside an empty value log: %v, want ErrNeedsRecovery", err)
	}
	s = openStore(t, dir, key)
	defer s.Close()
	checkStore(t, s, 20, 1)
}
