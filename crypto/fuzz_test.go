package crypto_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/sealfs/sealfs/crypto"
)

func FuzzParseHeader(f *testing.F) {
	h := validHeader(f)
	good, _ := h.MarshalBinary()
	f.Add(good)
	f.Add([]byte{})
	f.Add([]byte("SEALFSCT"))
	f.Add(good[:crypto.HeaderSize-1])
	v1 := validHeaderV1(f)
	goodV1, _ := v1.MarshalBinary()
	f.Add(goodV1)
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := crypto.ParseHeader(b)
		if err != nil {
			if !errors.Is(err, crypto.ErrAuth) {
				t.Fatalf("ParseHeader error %v is not ErrAuth", err)
			}
			return
		}
		out, err := h.MarshalBinary()
		if err != nil {
			t.Fatalf("marshal of a parsed header: %v", err)
		}
		if !bytes.Equal(out, b) {
			t.Fatalf("parse -> marshal changed the bytes")
		}
		h2, err := crypto.ParseHeader(out)
		if err != nil {
			t.Fatal(err)
		}
		if h2.Version != h.Version || h2.BlockSize != h.BlockSize || h2.FileID != h.FileID ||
			h2.KeyID != h.KeyID || !bytes.Equal(h2.WrappedDEK, h.WrappedDEK) || !bytes.Equal(h2.Tag, h.Tag) {
			t.Fatalf("parse -> marshal -> parse: %+v, want %+v", h2, h)
		}
	})
}

// fuzzPlain is the plaintext of every seed, cut to its size, so a file that
// decrypts must decrypt to fuzzPlain[:size].
var fuzzPlain = randBytes(99, 200)

// FuzzOpenFile feeds a wrapped DEK and a ciphertext, both mutated: a reader
// given anything but a genuine pair must fail with ErrAuth or ErrWrongKey.
func FuzzOpenFile(f *testing.F) {
	w := fixedWrapper(f)
	add := func(c []byte, k crypto.FileKey) { f.Add(k.Wrapped, c) }
	for _, size := range []int{0, 1, 15, 16, 17, 40, 200} {
		add(sealed(f, w, crypto.MinBlockSize, fuzzPlain[:size]))
	}
	add(sealed(f, w, 100, fuzzPlain[:150]))
	f.Add([]byte{}, []byte("SEALFSCT"))
	f.Fuzz(func(t *testing.T, wrapped, c []byte) {
		m := newMem(c)
		k := crypto.FileKey{KeyID: w.KeyID(), Wrapped: wrapped}
		file, err := crypto.OpenFile(w, m, k)
		if err != nil {
			if !isAny(err, crypto.ErrAuth, crypto.ErrWrongKey) {
				t.Fatalf("OpenFile error %v is neither ErrAuth nor ErrWrongKey", err)
			}
			return
		}
		got, err := readAll(file)
		if err != nil {
			if !errors.Is(err, crypto.ErrAuth) {
				t.Fatalf("read error %v is not ErrAuth", err)
			}
			return
		}
		if len(got) > len(fuzzPlain) || !bytes.Equal(got, fuzzPlain[:len(got)]) {
			t.Fatalf("decrypted %d bytes that are not the sealed plaintext", len(got))
		}
		// Whatever opened must also take writes and stay readable.
		if _, err := file.WriteAt([]byte("xyz"), int64(len(got)/2)); err != nil {
			t.Fatal(err)
		}
		if err := file.Flush(); err != nil {
			t.Fatal(err)
		}
		if _, err := crypto.OpenFile(w, m, k); err != nil {
			t.Fatal(err)
		}
	})
}
