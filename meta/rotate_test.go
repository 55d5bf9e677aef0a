package meta_test

import (
	"bytes"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/sealfs/sealfs/meta"
)

// fillStore writes n files (inode, entry, content record, one xattr).
func fillStore(t *testing.T, s *meta.Store, n int) {
	t.Helper()
	for i := 0; i < n; i += 100 {
		err := s.Update(func(tx *meta.Tx) error {
			for j := i; j < min(n, i+100); j++ {
				ino := meta.Ino(100 + j)
				errs := errors.Join(
					tx.PutInode(meta.Inode{Ino: ino, Mode: 0o100600, Nlink: 1, Size: uint64(j)}),
					tx.PutContent(ino, meta.Content{FileID: [16]byte{byte(j), byte(j >> 8)}, KeyID: [16]byte{1}, Encrypted: true, Version: 1}),
					tx.PutEntry(meta.RootIno, meta.Entry{Name: fmt.Sprintf("f%05d", j), Ino: ino, Mode: 0o100000}),
					tx.SetXattr(ino, "user.n", []byte(fmt.Sprint(j))),
					tx.PutRetired(meta.Retired{FileID: [16]byte{9, byte(j), byte(j >> 8)}, After: int64(j), Ino: ino,
						Content: &meta.Content{FileID: [16]byte{9, byte(j), byte(j >> 8)}, KeyID: [16]byte{1}}}),
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
	}
}

// checkStore reads every file fillStore wrote; keyID is what every
// content record's KeyID must be.
func checkStore(t *testing.T, s *meta.Store, n int, keyID byte) {
	t.Helper()
	err := s.View(func(tx *meta.Tx) error {
		for j := 0; j < n; j++ {
			ino := meta.Ino(100 + j)
			e, err := tx.Lookup(meta.RootIno, fmt.Sprintf("f%05d", j))
			if err != nil || e.Ino != ino {
				return fmt.Errorf("entry %d: %v %v", j, e, err)
			}
			in, err := tx.Inode(ino)
			if err != nil || in.Size != uint64(j) {
				return fmt.Errorf("inode %d: %v %v", j, in, err)
			}
			c, err := tx.Content(ino)
			if err != nil || c.KeyID != [16]byte{keyID} || c.FileID != [16]byte{byte(j), byte(j >> 8)} {
				return fmt.Errorf("content %d: %+v %v", j, c, err)
			}
			x, err := tx.Xattr(ino, "user.n")
			if err != nil || string(x) != fmt.Sprint(j) {
				return fmt.Errorf("xattr %d: %q %v", j, x, err)
			}
		}
		retired := 0
		err := tx.EachRetired(func(r meta.Retired) bool {
			if r.Content == nil || r.Content.KeyID != [16]byte{keyID} {
				return false
			}
			retired++
			return true
		})
		if err == nil && retired != n {
			err = fmt.Errorf("%d of %d retired versions under key %d", retired, n, keyID)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

// rewrapContent stands for the store's DEK rewrap: content records under
// key 1 move to key 2.
var rewrapContent = meta.RewrapContent(func(c *meta.Content) (bool, error) {
	if c.KeyID != [16]byte{1} {
		return false, nil
	}
	c.KeyID = [16]byte{2}
	return true, nil
})

func TestResealMovesEveryValueToTheNewKey(t *testing.T) {
	const n = 1234
	dir, k1 := t.TempDir(), newKey(t)
	s := openStore(t, dir, k1)
	fillStore(t, s, n)
	s.Close()

	k2 := newKey(t)
	k2.AtRest = k1.AtRest
	both := k2
	both.PrevValues = k1.Values
	s = openStore(t, dir, both)
	checkStore(t, s, n, 1) // mid-rotation, everything opens
	var seen []int
	rep, err := s.Reseal(rewrapContent, func(n int) { seen = append(seen, n) })
	if err != nil {
		t.Fatal(err)
	}
	if rep.Written < 5*n || len(rep.Damaged) != 0 || len(seen) < 2 || seen[len(seen)-1] != rep.Seen {
		t.Fatalf("reseal: %+v, progress %v", rep, seen)
	}
	again, err := s.Reseal(rewrapContent, nil)
	if err != nil || again.Written != 0 {
		t.Fatalf("second reseal: %+v %v (it must be idempotent)", again, err)
	}
	s.Close()

	s = openStore(t, dir, k2)
	checkStore(t, s, n, 2)
	s.Close()
	old := k1
	s = openStore(t, dir, old)
	err = s.View(func(tx *meta.Tx) error { _, err := tx.Inode(100); return err })
	if !errors.Is(err, meta.ErrDamaged) {
		t.Fatalf("the old value key after reseal: %v, want ErrDamaged", err)
	}
	s.Close()
}

// TestResealBesideWriters: writes going on during a reseal are neither
// lost nor undone by it.
func TestResealBesideWriters(t *testing.T) {
	const n = 1500
	dir, k1 := t.TempDir(), newKey(t)
	s := openStore(t, dir, k1)
	fillStore(t, s, n)
	s.Close()
	k2 := newKey(t)
	k2.AtRest = k1.AtRest
	both := k2
	both.PrevValues = k1.Values
	s = openStore(t, dir, both)
	defer s.Close()

	var wg sync.WaitGroup
	stop := make(chan struct{})
	final := make([]uint64, n)
	wg.Go(func() {
		for round := uint64(1); ; round++ {
			select {
			case <-stop:
				return
			default:
			}
			for j := 0; j < n; j += 97 {
				ino := meta.Ino(100 + j)
				size := 1_000_000*round + uint64(j)
				if err := s.Update(func(tx *meta.Tx) error {
					return tx.PutInode(meta.Inode{Ino: ino, Mode: 0o100600, Nlink: 1, Size: size})
				}); err != nil {
					t.Error(err)
					return
				}
				final[j] = size
			}
		}
	})
	rep, err := s.Reseal(rewrapContent, nil)
	close(stop)
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	if rep.Written == 0 {
		t.Fatal("reseal wrote nothing")
	}
	err = s.View(func(tx *meta.Tx) error {
		for j := 0; j < n; j++ {
			in, err := tx.Inode(meta.Ino(100 + j))
			if err != nil {
				return err
			}
			want := uint64(j)
			if final[j] != 0 {
				want = final[j]
			}
			if in.Size != want {
				return fmt.Errorf("inode %d: size %d, want %d (a concurrent write was lost)", 100+j, in.Size, want)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestResealLeavesDamage: a record that opens under neither key is
// reported, not resealed (that would make tampering authentic).
func TestResealLeavesDamage(t *testing.T) {
	dir, k1 := t.TempDir(), newKey(t)
	s := openStore(t, dir, k1)
	fillStore(t, s, 3)
	raw, err := s.RawValue(meta.InodeKey(101))
	if err != nil {
		t.Fatal(err)
	}
	raw[len(raw)/2] ^= 1
	if err := s.SetRawValue(meta.InodeKey(101), raw); err != nil {
		t.Fatal(err)
	}
	s.Close()
	k2 := newKey(t)
	k2.AtRest = k1.AtRest
	both := k2
	both.PrevValues = k1.Values
	s = openStore(t, dir, both)
	defer s.Close()
	rep, err := s.Reseal(nil, nil)
	if err != nil || len(rep.Damaged) != 1 {
		t.Fatalf("reseal of a damaged store: %+v %v", rep, err)
	}
	if after, _ := s.RawValue(meta.InodeKey(101)); !bytes.Equal(after, raw) {
		t.Error("the damaged record was rewritten")
	}
}

func TestRotateAtRest(t *testing.T) {
	dir, k := t.TempDir(), newKey(t)
	s := openStore(t, dir, k)
	fillStore(t, s, 50)
	s.Close()
	next := k
	next.AtRest = newKey(t).AtRest
	if err := meta.RotateAtRest(dir, k.AtRest, next.AtRest); err != nil {
		t.Fatal(err)
	}
	if _, err := meta.Open(dir, k); !errors.Is(err, meta.ErrWrongKey) {
		t.Fatalf("the old at-rest key after rotation: %v, want ErrWrongKey", err)
	}
	// Done already: a second run (a rotation resumed) changes nothing.
	if err := meta.RotateAtRest(dir, k.AtRest, next.AtRest); err != nil {
		t.Fatalf("second rotation: %v", err)
	}
	s = openStore(t, dir, next)
	checkStore(t, s, 50, 1)
	fillStore(t, s, 60) // and it writes
	s.Close()
	if err := meta.RotateAtRest(dir, newKey(t).AtRest, newKey(t).AtRest); !errors.Is(err, meta.ErrWrongKey) {
		t.Fatalf("rotation from a wrong key: %v", err)
	}
}

// TestRotateOpenStore rotates a store while it is open and written to:
// Advance, Reseal, RotateAtRestOpen. A content record read before the
// rotation and written back after it goes through the rewrite; after a
// reopen every value, including those written since, opens under the new
// keys alone, and Badger refuses the old at-rest key.
func TestRotateOpenStore(t *testing.T) {
	dir, k := t.TempDir(), newKey(t)
	s := openStore(t, dir, k)
	fillStore(t, s, 400)
	var stale meta.Content
	if err := s.View(func(tx *meta.Tx) (err error) { stale, err = tx.Content(100); return err }); err != nil {
		t.Fatal(err)
	}
	next := newKey(t)
	// KeyID{1} stands for the old master key, {2} for the new one.
	rewrite := meta.RewrapContent(func(c *meta.Content) (bool, error) {
		if c.KeyID != [16]byte{1} {
			return false, nil
		}
		c.KeyID = [16]byte{2}
		return true, nil
	})
	if err := s.Advance(next.Values, rewrite); err != nil {
		t.Fatal(err)
	}
	if err := s.Advance(newKey(t).Values, rewrite); err == nil {
		t.Fatal("a second Advance before a reopen was accepted")
	}
	if _, err := s.Reseal(rewrite, nil); err != nil {
		t.Fatal(err)
	}
	// Written back from memory after the reseal: moved all the same.
	if err := s.Update(func(tx *meta.Tx) error { return tx.PutContent(100, stale) }); err != nil {
		t.Fatal(err)
	}
	if err := s.RotateAtRestOpen(k.AtRest, next.AtRest); err != nil {
		t.Fatal(err)
	}
	fillStore(t, s, 450) // after the rotation, into new tables
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := meta.Open(dir, k); !errors.Is(err, meta.ErrWrongKey) {
		t.Fatalf("the old at-rest key: %v, want ErrWrongKey", err)
	}
	mixed := next
	mixed.Values = k.Values
	s = openStore(t, dir, mixed)
	err := s.View(func(tx *meta.Tx) error { _, err := tx.Inode(150); return err })
	s.Close()
	if !errors.Is(err, meta.ErrDamaged) {
		t.Fatalf("a value under the old value key: %v, want ErrDamaged", err)
	}
	s = openStore(t, dir, next)
	defer s.Close()
	// fillStore rewrote every file with KeyID {1}; the rewrite made it {2}.
	checkStore(t, s, 450, 2)
}
