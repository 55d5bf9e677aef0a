package meta_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/sealfs/sealfs/meta"
)

// twoFiles stores two inodes with content records and entries.
func twoFiles(t *testing.T, s *meta.Store) (a, b meta.Ino) {
	t.Helper()
	a, b = 10, 11
	err := s.Update(func(tx *meta.Tx) error {
		for i, ino := range []meta.Ino{a, b} {
			errs := errors.Join(
				tx.PutInode(meta.Inode{Ino: ino, Mode: 0o100600, Nlink: 1, Size: uint64(100 + i)}),
				tx.PutContent(ino, meta.Content{FileID: [16]byte{byte(i + 1)}, Encrypted: true, Version: 1}),
				tx.PutEntry(meta.RootIno, meta.Entry{Name: string(rune('a' + i)), Ino: ino, Mode: 0o100000}),
			)
			if errs != nil {
				return errs
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return a, b
}

// TestSealedValuesDetectTampering plays an attacker with write access to
// the store and no key: a flipped bit, a value moved to another key, a
// plaintext value put in: each is ErrDamaged naming the record, never
// another record's content.
func TestSealedValuesDetectTampering(t *testing.T) {
	s := openStore(t, t.TempDir(), newKey(t))
	defer s.Close()
	a, b := twoFiles(t, s)
	rawA, err := s.RawValue(meta.ContentKey(a))
	if err != nil {
		t.Fatal(err)
	}
	rawB, err := s.RawValue(meta.ContentKey(b))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(rawA, []byte("file_id")) {
		t.Fatal("content record stored in the clear")
	}
	flipped := bytes.Clone(rawA)
	flipped[len(flipped)/2] ^= 1
	plain, _ := json.Marshal(meta.Content{FileID: [16]byte{2}, Encrypted: true})
	for _, tc := range []struct {
		name  string
		value []byte
	}{
		{"flipped bit", flipped},
		{"swapped file_id (b's record under a)", rawB},
		{"plaintext record", plain},
		{"empty", nil},
		{"cut short", rawA[:10]},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := s.SetRawValue(meta.ContentKey(a), tc.value); err != nil {
				t.Fatal(err)
			}
			err := s.View(func(tx *meta.Tx) error { _, err := tx.Content(a); return err })
			if !errors.Is(err, meta.ErrDamaged) {
				t.Fatalf("Content: %v, want ErrDamaged", err)
			}
			if !strings.Contains(err.Error(), "content record of inode 10") {
				t.Fatalf("error %q does not name the record", err)
			}
			err = s.View(func(tx *meta.Tx) error {
				return tx.Contents(func(meta.Ino, meta.Content) bool { return true })
			})
			if !errors.Is(err, meta.ErrDamaged) {
				t.Fatalf("Contents: %v, want ErrDamaged", err)
			}
		})
	}
	// b is untouched.
	err = s.View(func(tx *meta.Tx) error {
		c, err := tx.Content(b)
		if err == nil && c.FileID != [16]byte{2} {
			t.Errorf("content of b: file ID %x", c.FileID)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	// An inode record moved to another inode number.
	rawInoB, _ := s.RawValue(meta.InodeKey(b))
	if err := s.SetRawValue(meta.InodeKey(a), rawInoB); err != nil {
		t.Fatal(err)
	}
	if err := s.View(func(tx *meta.Tx) error { _, err := tx.Inode(a); return err }); !errors.Is(err, meta.ErrDamaged) {
		t.Fatalf("inode moved from another number: %v, want ErrDamaged", err)
	}
}

// TestDamagedEntryLeavesDirectoryListable: readdir gets every good entry
// and ErrDamaged for the bad one.
func TestDamagedEntryLeavesDirectoryListable(t *testing.T) {
	s := openStore(t, t.TempDir(), newKey(t))
	defer s.Close()
	twoFiles(t, s)
	raw, _ := s.RawValue(meta.EntryKey(meta.RootIno, "a"))
	raw[len(raw)-1] ^= 1
	if err := s.SetRawValue(meta.EntryKey(meta.RootIno, "a"), raw); err != nil {
		t.Fatal(err)
	}
	var names []string
	err := s.View(func(tx *meta.Tx) error {
		return tx.Entries(meta.RootIno, func(e meta.Entry) bool { names = append(names, e.Name); return true })
	})
	if !errors.Is(err, meta.ErrDamaged) || len(names) != 1 || names[0] != "b" {
		t.Fatalf("entries %q, err %v; want [b] and ErrDamaged", names, err)
	}
}

// TestSealPlainValues upgrades format 1 values (plaintext under Badger's
// encryption) in place, and is idempotent.
func TestSealPlainValues(t *testing.T) {
	s := openStore(t, t.TempDir(), newKey(t))
	defer s.Close()
	const n = 2500 // more than one upgrade batch
	want := map[meta.Ino]meta.Inode{}
	for i := range n {
		in := meta.Inode{Ino: meta.Ino(100 + i), Mode: 0o100644, Nlink: 1, Size: uint64(i)}
		b, _ := json.Marshal(in)
		if err := s.SetRawValue(meta.InodeKey(in.Ino), b); err != nil {
			t.Fatal(err)
		}
		want[in.Ino] = in
	}
	got, err := s.SealPlainValues()
	if err != nil || got != n {
		t.Fatalf("SealPlainValues = %d, %v; want %d", got, err, n)
	}
	if again, err := s.SealPlainValues(); err != nil || again != 0 {
		t.Fatalf("second SealPlainValues = %d, %v; want 0", again, err)
	}
	err = s.View(func(tx *meta.Tx) error {
		for ino, w := range want {
			in, err := tx.Inode(ino)
			if err != nil {
				return err
			}
			if in != w {
				t.Fatalf("inode %d: %+v, want %+v", ino, in, w)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestNextInoAboveEveryInode: inode numbers never repeat one in use, even
// when the sequence (Badger's own, unsealed value) is behind.
func TestNextInoAboveEveryInode(t *testing.T) {
	dir, key := t.TempDir(), newKey(t)
	s := openStore(t, dir, key)
	if err := s.Update(func(tx *meta.Tx) error { return tx.PutInode(meta.Inode{Ino: 700, Mode: 0o100600}) }); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openStore(t, dir, key)
	defer s.Close()
	ino, err := s.NextIno()
	if err != nil || ino <= 700 {
		t.Fatalf("NextIno = %d, %v; want > 700", ino, err)
	}
}

func TestVerifyNamesDamagedRecords(t *testing.T) {
	s := openStore(t, t.TempDir(), newKey(t))
	defer s.Close()
	a, b := twoFiles(t, s)
	var clean []meta.Damage
	if err := s.Verify(func(d meta.Damage) { clean = append(clean, d) }); err != nil || len(clean) != 0 {
		t.Fatalf("clean store: %v, %v", clean, err)
	}
	raw, _ := s.RawValue(meta.ContentKey(b))
	raw[5] ^= 1
	s.SetRawValue(meta.ContentKey(b), raw)
	rawA, _ := s.RawValue(meta.InodeKey(a))
	s.SetRawValue(meta.InodeKey(b), rawA)
	var got []meta.Damage
	if err := s.Verify(func(d meta.Damage) { got = append(got, d) }); err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Ino != b || got[1].Ino != b {
		t.Fatalf("damage %+v, want two records of inode %d", got, b)
	}
}
