package crypto_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/sealfs/sealfs/crypto"
)

// Offsets of header fields and blocks in a version 1 file (docs/FORMAT.md).
const (
	offMagic     = 0
	offVersion   = 8
	offBlockSize = 10
	offFileID    = 14
	offKeyID     = 30
	offWrapped   = 46
	cbs          = B + crypto.BlockOverhead
)

func blockOff(i int) int { return crypto.HeaderSize + i*cbs }

func flip(off int) func([]byte, []byte) []byte {
	return func(c, _ []byte) []byte { c[off] ^= 0x01; return c }
}

func TestTamper(t *testing.T) {
	w := newWrapper(t)
	plain := randBytes(4, 2*B+500) // blocks: full, full, 500-byte final
	orig := sealed(t, w, B, plain)
	other := sealed(t, w, B, plain) // same key, same size, other file ID and DEK
	tests := []struct {
		name   string
		mutate func(c, other []byte) []byte
		want   error
	}{
		{"magic", flip(offMagic + 3), crypto.ErrAuth},
		{"version", flip(offVersion + 1), crypto.ErrAuth},
		{"block size", flip(offBlockSize + 2), crypto.ErrAuth},
		{"block size low bit", flip(offBlockSize + 3), crypto.ErrAuth},
		{"file ID", flip(offFileID + 5), crypto.ErrAuth},
		{"key ID", flip(offKeyID), crypto.ErrWrongKey},
		{"wrapped DEK nonce", flip(offWrapped), crypto.ErrAuth},
		{"wrapped DEK body", flip(offWrapped + 20), crypto.ErrAuth},
		{"wrapped DEK tag", flip(crypto.HeaderSize - 1), crypto.ErrAuth},
		{"nonce of block 0", flip(blockOff(0)), crypto.ErrAuth},
		{"ciphertext of block 1", flip(blockOff(1) + 12 + 1000), crypto.ErrAuth},
		{"tag of block 1", flip(blockOff(2) - 1), crypto.ErrAuth},
		{"ciphertext of final block", flip(blockOff(2) + 20), crypto.ErrAuth},
		{"tag of final block", flip(len(orig) - 1), crypto.ErrAuth},
		{"blocks 0 and 1 swapped", func(c, _ []byte) []byte {
			b0 := bytes.Clone(c[blockOff(0):blockOff(1)])
			copy(c[blockOff(0):], c[blockOff(1):blockOff(2)])
			copy(c[blockOff(1):], b0)
			return c
		}, crypto.ErrAuth},
		{"block 1 from another file", func(c, o []byte) []byte {
			copy(c[blockOff(1):blockOff(2)], o[blockOff(1):blockOff(2)])
			return c
		}, crypto.ErrAuth},
		{"final block from another file", func(c, o []byte) []byte {
			copy(c[blockOff(2):], o[blockOff(2):])
			return c
		}, crypto.ErrAuth},
		{"header from another file", func(c, o []byte) []byte {
			copy(c, o[:crypto.HeaderSize])
			return c
		}, crypto.ErrAuth},
		{"cut at block boundary", func(c, _ []byte) []byte { return c[:blockOff(2)] }, crypto.ErrAuth},
		{"cut to one block", func(c, _ []byte) []byte { return c[:blockOff(1)] }, crypto.ErrAuth},
		{"cut to header", func(c, _ []byte) []byte { return c[:crypto.HeaderSize] }, crypto.ErrAuth},
		{"cut inside header", func(c, _ []byte) []byte { return c[:crypto.HeaderSize-1] }, crypto.ErrAuth},
		{"cut to nothing", func(c, _ []byte) []byte { return c[:0] }, crypto.ErrAuth},
		{"cut mid-block", func(c, _ []byte) []byte { return c[:len(c)-10] }, crypto.ErrAuth},
		{"cut final block to a fragment", func(c, _ []byte) []byte { return c[:blockOff(2)+5] }, crypto.ErrAuth},
		{"cut final block to its overhead", func(c, _ []byte) []byte { return c[:blockOff(2)+crypto.BlockOverhead] }, crypto.ErrAuth},
		{"garbage appended", func(c, _ []byte) []byte { return append(c, "garbage"...) }, crypto.ErrAuth},
		{"empty block appended", func(c, _ []byte) []byte {
			return append(c, make([]byte, crypto.BlockOverhead)...)
		}, crypto.ErrAuth},
		{"block appended", func(c, _ []byte) []byte { return append(c, c[blockOff(0):blockOff(1)]...) }, crypto.ErrAuth},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := tt.mutate(bytes.Clone(orig), bytes.Clone(other))
			err := openAndRead(w, c, plain)
			if err == nil {
				t.Fatal("tampered file read back without error")
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("error %q is not %q", err, tt.want)
			}
		})
	}
	if err := openAndRead(w, orig, plain); err != nil {
		t.Fatalf("untouched file: %v", err)
	}
}

// openAndRead opens c and reads it whole; it fails on a read that returns
// anything but plain.
func openAndRead(w *crypto.Wrapper, c, plain []byte) error {
	f, err := crypto.OpenFile(w, newMem(c))
	if err != nil {
		return err
	}
	got, err := readAll(f)
	if err != nil {
		return err
	}
	if !bytes.Equal(got, plain) {
		return errors.New("read back wrong bytes without error")
	}
	return nil
}

func TestWrongKey(t *testing.T) {
	w := newWrapper(t)
	c := sealed(t, w, B, randBytes(5, 100))
	_, err := crypto.OpenFile(newWrapper(t), newMem(c))
	if !errors.Is(err, crypto.ErrWrongKey) || errors.Is(err, crypto.ErrAuth) {
		t.Fatalf("open with wrong key: %v, want ErrWrongKey only", err)
	}
	h, _ := crypto.ParseHeader(c[:crypto.HeaderSize])
	if err := newWrapper(t).CheckWrapped(h.FileID, h.KeyID, h.WrappedDEK); !errors.Is(err, crypto.ErrWrongKey) {
		t.Fatalf("CheckWrapped with wrong key: %v", err)
	}
	if err := w.CheckWrapped(h.FileID, h.KeyID, h.WrappedDEK); err != nil {
		t.Fatalf("CheckWrapped with right key: %v", err)
	}
}

// TestTamperBuffered checks that a block corrupted under an open File is
// caught on read, including by a partial-block write that must read it.
func TestTamperBuffered(t *testing.T) {
	w := newWrapper(t)
	m := newMem(sealed(t, w, B, randBytes(6, 3*B)))
	f, err := crypto.OpenFile(w, m)
	if err != nil {
		t.Fatal(err)
	}
	m.data[blockOff(1)+40] ^= 0x80
	if _, err := f.ReadAt(make([]byte, 10), B+5); !errors.Is(err, crypto.ErrAuth) {
		t.Fatalf("read of corrupted block: %v", err)
	}
	if _, err := f.WriteAt([]byte("x"), B+5); !errors.Is(err, crypto.ErrAuth) {
		t.Fatalf("partial write to corrupted block: %v", err)
	}
	if err := f.Truncate(B + 5); !errors.Is(err, crypto.ErrAuth) {
		t.Fatalf("truncate into corrupted block: %v", err)
	}
	// A full-block overwrite heals it: nothing of the old block is read.
	if _, err := f.WriteAt(make([]byte, B), B); err != nil {
		t.Fatal(err)
	}
	if _, err := readAll(f); err != nil {
		t.Fatal(err)
	}
}

// TestRewrap rotates the master key by rewriting only the header.
func TestRewrap(t *testing.T) {
	oldW, newW := newWrapper(t), newWrapper(t)
	plain := randBytes(7, 2*B+500)
	c := sealed(t, oldW, B, plain)
	h, err := crypto.ParseHeader(c[:crypto.HeaderSize])
	if err != nil {
		t.Fatal(err)
	}
	nh, err := crypto.Rewrap(oldW, newW, *h)
	if err != nil {
		t.Fatal(err)
	}
	hb, err := nh.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	rotated := append(hb, c[crypto.HeaderSize:]...)
	if err := openAndRead(newW, rotated, plain); err != nil {
		t.Fatalf("after rotation: %v", err)
	}
	if err := openAndRead(oldW, rotated, plain); !errors.Is(err, crypto.ErrWrongKey) {
		t.Fatalf("old key after rotation: %v", err)
	}
	if _, err := crypto.Rewrap(oldW, newW, nh); !errors.Is(err, crypto.ErrWrongKey) {
		t.Fatalf("rewrap with the wrong source key: %v", err)
	}
}
