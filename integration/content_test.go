package integration

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"os"
	"testing"
)

// blockSize is sealfs's plaintext block size; tests sweep its edges.
const blockSize = 64 << 10

// newRand returns a fast deterministic generator; the same seed yields the
// same bytes, so a failing case can be reproduced.
func newRand(seed uint64) *mrand.ChaCha8 {
	var s [32]byte
	binary.LittleEndian.PutUint64(s[:], seed)
	return mrand.NewChaCha8(s)
}

// randomBytes returns n deterministic pseudo-random bytes.
func randomBytes(seed uint64, n int) []byte {
	b := make([]byte, n)
	_, _ = newRand(seed).Read(b)
	return b
}

// uniqueHex returns n random hex characters, different on every run, for
// markers and names that must not be found anywhere by accident.
func uniqueHex(t *testing.T, n int) string {
	t.Helper()
	b := make([]byte, (n+1)/2)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)[:n]
}

// writeRandomFile writes size pseudo-random bytes to path and returns their
// SHA-256 (hex).
func writeRandomFile(t *testing.T, path string, size int64, seed uint64) string {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	w := bufio.NewWriterSize(io.MultiWriter(f, h), 1<<20)
	if _, err := io.CopyN(w, newRand(seed), size); err != nil {
		t.Fatalf("write %s: %v", path, err)
	}
	if err := w.Flush(); err != nil {
		t.Fatalf("write %s: %v", path, err)
	}
	if err := f.Close(); err != nil {
		t.Fatalf("close %s: %v", path, err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// sha256File returns the SHA-256 (hex) of the file at path.
func sha256File(t *testing.T, path string) string {
	t.Helper()
	sum, err := hashFile(path)
	if err != nil {
		t.Fatalf("hash %s: %v", path, err)
	}
	return sum
}

func hashFile(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// describeDiff explains where two byte slices first differ, in terms of
// sealfs blocks, for failure messages.
func describeDiff(got, want []byte) string {
	n := min(len(got), len(want))
	for i := 0; i < n; i++ {
		if got[i] != want[i] {
			end := i
			for end < n && got[end] != want[end] {
				end++
			}
			return fmt.Sprintf("sizes %d/%d; first difference at offset %d (block %d, offset %d in block), %d bytes differ from there; got %x want %x",
				len(got), len(want), i, i/blockSize, i%blockSize, end-i, head(got[i:], 8), head(want[i:], 8))
		}
	}
	if len(got) != len(want) {
		return fmt.Sprintf("common prefix equal, sizes differ: got %d bytes, want %d", len(got), len(want))
	}
	return "equal"
}

func head(b []byte, n int) []byte {
	if len(b) > n {
		return b[:n]
	}
	return b
}

// compareFiles fails the test when the two files' contents differ.
func compareFiles(t *testing.T, got, want, context string) {
	t.Helper()
	g, err := os.ReadFile(got)
	if err != nil {
		t.Errorf("%s: read %s: %v", context, got, err)
		return
	}
	w, err := os.ReadFile(want)
	if err != nil {
		t.Fatalf("%s: read %s: %v", context, want, err)
	}
	if !bytes.Equal(g, w) {
		t.Errorf("%s: %s differs from %s: %s", context, got, want, describeDiff(g, w))
	}
}
