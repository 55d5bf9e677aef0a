package crypto_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/sealfs/sealfs/crypto"
)

// TestPlainContent: plain content (PlainVersion) reads back what was
// written, through random writes, truncation and reopening; its blocks
// hold the plaintext itself; and every byte is still authenticated: a
// flipped plaintext bit, a swapped block, a header turned into an
// encrypted one (or an encrypted file's into a plain one) fail with ErrAuth.
func TestPlainContent(t *testing.T) {
	w := newWrapper(t)
	id, err := crypto.NewFileID()
	if err != nil {
		t.Fatal(err)
	}
	m := newMem(nil)
	f, err := crypto.CreateFileWithID(w, m, id, 0, true)
	if err != nil {
		t.Fatal(err)
	}
	plain := randBytes(31, 3*B+77)
	for off := 0; off < len(plain); off += 10007 {
		if _, err := f.WriteAt(plain[off:min(len(plain), off+10007)], int64(off)); err != nil {
			t.Fatal(err)
		}
	}
	patch := []byte("patched in the middle of block one")
	copy(plain[B+100:], patch)
	if _, err := f.WriteAt(patch, B+100); err != nil {
		t.Fatal(err)
	}
	if err := f.Flush(); err != nil {
		t.Fatal(err)
	}
	if !f.Header().Plain() {
		t.Fatal("header is not plain")
	}
	c := m.bytes()
	if int64(len(c)) != cipherSize(int64(len(plain)), B) {
		t.Fatalf("%d bytes on disk, want %d (the encrypted layout)", len(c), cipherSize(int64(len(plain)), B))
	}
	if !bytes.Equal(c[blockOff(1)+12:blockOff(1)+12+B], plain[B:2*B]) {
		t.Fatal("block 1 does not hold its plaintext")
	}
	if err := openAndRead(w, c, f.Key(), plain); err != nil {
		t.Fatal(err)
	}
	mutations := map[string]func([]byte) []byte{
		"plaintext bit of block 1":         flipAt(blockOff(1) + 12 + 500),
		"plaintext bit of the final block": flipAt(len(c) - 17),
		"tag of block 0":                   flipAt(blockOff(1) - 1),
		"version 3 made 2":                 func(b []byte) []byte { b[offVersion+1] = 2; return b },
		"blocks 0 and 1 swapped": func(b []byte) []byte {
			b0 := bytes.Clone(b[blockOff(0):blockOff(1)])
			copy(b[blockOff(0):], b[blockOff(1):blockOff(2)])
			copy(b[blockOff(1):], b0)
			return b
		},
	}
	for name, mutate := range mutations {
		if err := openAndRead(w, mutate(bytes.Clone(c)), f.Key(), plain); !errors.Is(err, crypto.ErrAuth) {
			t.Errorf("%s: %v, want ErrAuth", name, err)
		}
	}
	enc, key := sealed(t, w, B, plain)
	enc[offVersion+1] = crypto.PlainVersion
	if err := openAndRead(w, enc, key, plain); !errors.Is(err, crypto.ErrAuth) {
		t.Errorf("an encrypted file presented as plain: %v, want ErrAuth", err)
	}

	g, err := crypto.OpenFile(w, newMem(c), f.Key())
	if err != nil {
		t.Fatal(err)
	}
	if err := g.Truncate(B + 5); err != nil {
		t.Fatal(err)
	}
	if err := g.Truncate(0); err != nil {
		t.Fatal(err)
	}
	if _, err := g.WriteAt([]byte("again"), 0); err != nil || !g.Header().Plain() {
		t.Fatalf("write after truncation to zero: %v, plain %v", err, g.Header().Plain())
	}
}

func flipAt(i int) func([]byte) []byte {
	return func(b []byte) []byte { b[i] ^= 1; return b }
}
