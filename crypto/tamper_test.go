package crypto_test

import (
	"bytes"
	"errors"
	"runtime"
	"testing"

	"github.com/sealfs/sealfs/crypto"
)

// Offsets of header fields and blocks in a version 2 file (docs/FORMAT.md).
const (
	offMagic     = 0
	offVersion   = 8
	offBlockSize = 10
	offFileID    = 14
	offTag       = 30
	cbs          = B + crypto.BlockOverhead
)

func blockOff(i int) int { return crypto.HeaderSize + i*cbs }

func flip(off int) func([]byte, []byte) []byte {
	return func(c, _ []byte) []byte { c[off] ^= 0x01; return c }
}

func TestTamper(t *testing.T) {
	w := newWrapper(t)
	plain := randBytes(4, 2*B+500) // blocks: full, full, 500-byte final
	orig, key := sealed(t, w, B, plain)
	other, _ := sealed(t, w, B, plain) // same key, same size, other file ID and DEK
	tests := []struct {
		name   string
		mutate func(c, other []byte) []byte
		want   error
	}{
		{"magic", flip(offMagic + 3), crypto.ErrAuth},
		{"version", flip(offVersion + 1), crypto.ErrAuth},
		{"version 1", func(c, _ []byte) []byte { c[offVersion+1] = 1; return c }, crypto.ErrAuth},
		{"block size", flip(offBlockSize + 2), crypto.ErrAuth},
		{"block size low bit", flip(offBlockSize + 3), crypto.ErrAuth},
		{"block size 16 MiB", func(c, _ []byte) []byte {
			copy(c[offBlockSize:], []byte{1, 0, 0, 0})
			return c
		}, crypto.ErrAuth},
		{"file ID", flip(offFileID + 5), crypto.ErrAuth},
		{"header tag nonce", flip(offTag), crypto.ErrAuth},
		{"header tag", flip(crypto.HeaderSize - 1), crypto.ErrAuth},
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
		{"another file whole", func(_, o []byte) []byte { return o }, crypto.ErrAuth},
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
			err := openAndRead(w, c, key, plain)
			if err == nil {
				t.Fatal("tampered file read back without error")
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("error %q is not %q", err, tt.want)
			}
		})
	}
	if err := openAndRead(w, orig, key, plain); err != nil {
		t.Fatalf("untouched file: %v", err)
	}
}

// TestTamperKey changes the wrapped DEK a reader is given (the content
// record's copy): the file must not open.
func TestTamperKey(t *testing.T) {
	w := newWrapper(t)
	plain := randBytes(4, B+1)
	c, key := sealed(t, w, B, plain)
	otherC, otherKey := sealed(t, w, B, plain)
	flipKey := func(i int) crypto.FileKey {
		k := crypto.FileKey{KeyID: key.KeyID, Wrapped: bytes.Clone(key.Wrapped)}
		k.Wrapped[i] ^= 1
		return k
	}
	tests := []struct {
		name string
		key  crypto.FileKey
		want error
	}{
		{"key ID", crypto.FileKey{KeyID: crypto.KeyID{1}, Wrapped: key.Wrapped}, crypto.ErrWrongKey},
		{"wrapped DEK nonce", flipKey(0), crypto.ErrAuth},
		{"wrapped DEK body", flipKey(20), crypto.ErrAuth},
		{"wrapped DEK tag", flipKey(crypto.WrappedDEKSize - 1), crypto.ErrAuth},
		{"short wrapped DEK", crypto.FileKey{KeyID: key.KeyID, Wrapped: key.Wrapped[:10]}, crypto.ErrAuth},
		{"no key", crypto.FileKey{}, crypto.ErrWrongKey},
		{"another file's key", otherKey, crypto.ErrAuth},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := openAndRead(w, bytes.Clone(c), tt.key, plain)
			if err == nil || !errors.Is(err, tt.want) {
				t.Fatalf("error %v, want %v", err, tt.want)
			}
		})
	}
	if err := openAndRead(w, otherC, otherKey, plain); err != nil {
		t.Fatal(err)
	}
}

// TestGiantBlockSizeAllocatesNothing: a header whose block size was raised
// to the maximum fails its tag before the reader allocates a block.
func TestGiantBlockSizeAllocatesNothing(t *testing.T) {
	w := newWrapper(t)
	c, key := sealed(t, w, crypto.MinBlockSize, randBytes(4, 100))
	copy(c[offBlockSize:], []byte{1, 0, 0, 0}) // 16 MiB
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	_, err := crypto.OpenFile(w, newMem(c), key)
	runtime.ReadMemStats(&after)
	if !errors.Is(err, crypto.ErrAuth) {
		t.Fatalf("open: %v, want ErrAuth", err)
	}
	if n := after.TotalAlloc - before.TotalAlloc; n > 1<<20 {
		t.Fatalf("open of a tampered header allocated %d bytes", n)
	}
}

// openAndRead opens c with k and reads it whole; it fails on a read that
// returns anything but plain.
func openAndRead(w *crypto.Wrapper, c []byte, k crypto.FileKey, plain []byte) error {
	f, err := crypto.OpenFile(w, newMem(c), k)
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
	c, k := sealed(t, w, B, randBytes(5, 100))
	_, err := crypto.OpenFile(newWrapper(t), newMem(c), k)
	if !errors.Is(err, crypto.ErrWrongKey) || errors.Is(err, crypto.ErrAuth) {
		t.Fatalf("open with wrong key: %v, want ErrWrongKey only", err)
	}
	h, _ := crypto.ParseHeader(c[:crypto.HeaderSize])
	if err := newWrapper(t).CheckWrapped(h.FileID, k.KeyID, k.Wrapped); !errors.Is(err, crypto.ErrWrongKey) {
		t.Fatalf("CheckWrapped with wrong key: %v", err)
	}
	if err := w.CheckWrapped(h.FileID, k.KeyID, k.Wrapped); err != nil {
		t.Fatalf("CheckWrapped with right key: %v", err)
	}
}

// TestTamperBuffered checks that a block corrupted under an open File is
// caught on read, including by a partial-block write that must read it.
func TestTamperBuffered(t *testing.T) {
	w := newWrapper(t)
	c, k := sealed(t, w, B, randBytes(6, 3*B))
	m := newMem(c)
	f, err := crypto.OpenFile(w, m, k)
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

// TestRewrap rotates the master key by rewrapping the DEK alone: the
// ciphertext is not touched.
func TestRewrap(t *testing.T) {
	oldW, newW := newWrapper(t), newWrapper(t)
	plain := randBytes(7, 2*B+500)
	c, k := sealed(t, oldW, B, plain)
	h, err := crypto.ParseHeader(c[:crypto.HeaderSize])
	if err != nil {
		t.Fatal(err)
	}
	nk, err := crypto.Rewrap(oldW, newW, h.FileID, k)
	if err != nil {
		t.Fatal(err)
	}
	if nk.KeyID != newW.KeyID() {
		t.Fatalf("rewrapped key ID %s, want %s", nk.KeyID, newW.KeyID())
	}
	if err := openAndRead(newW, c, nk, plain); err != nil {
		t.Fatalf("after rotation: %v", err)
	}
	if err := openAndRead(oldW, c, nk, plain); !errors.Is(err, crypto.ErrWrongKey) {
		t.Fatalf("old key after rotation: %v", err)
	}
	if _, err := crypto.Rewrap(oldW, newW, h.FileID, nk); !errors.Is(err, crypto.ErrWrongKey) {
		t.Fatalf("rewrap with the wrong source key: %v", err)
	}
	if _, err := crypto.Rewrap(oldW, newW, crypto.FileID{9}, k); !errors.Is(err, crypto.ErrAuth) {
		t.Fatalf("rewrap for another file ID: %v", err)
	}
}
