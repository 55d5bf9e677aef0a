package crypto_test

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/sealfs/sealfs/crypto"
)

const B = crypto.DefaultBlockSize

// memBacking is an in-memory Backing for fast tests.
type memBacking struct {
	mu   sync.RWMutex
	data []byte
}

func newMem(b []byte) *memBacking { return &memBacking{data: bytes.Clone(b)} }

func (m *memBacking) ReadAt(p []byte, off int64) (int, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if off >= int64(len(m.data)) {
		return 0, io.EOF
	}
	n := copy(p, m.data[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func (m *memBacking) WriteAt(p []byte, off int64) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if end := off + int64(len(p)); end > int64(len(m.data)) {
		m.data = append(m.data, make([]byte, end-int64(len(m.data)))...)
	}
	return copy(m.data[off:], p), nil
}

func (m *memBacking) Truncate(size int64) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if size <= int64(len(m.data)) {
		m.data = m.data[:size]
	} else {
		m.data = append(m.data, make([]byte, size-int64(len(m.data)))...)
	}
	return nil
}

func (m *memBacking) Stat() (os.FileInfo, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return memInfo(len(m.data)), nil
}

func (m *memBacking) bytes() []byte {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return bytes.Clone(m.data)
}

type memInfo int64

func (s memInfo) Name() string       { return "mem" }
func (s memInfo) Size() int64        { return int64(s) }
func (s memInfo) Mode() fs.FileMode  { return 0o600 }
func (s memInfo) ModTime() time.Time { return time.Time{} }
func (s memInfo) IsDir() bool        { return false }
func (s memInfo) Sys() any           { return nil }

// newWrapper returns a wrapper for a fresh random master key.
func newWrapper(t testing.TB) *crypto.Wrapper {
	t.Helper()
	k, err := crypto.GenerateMasterKey()
	if err != nil {
		t.Fatal(err)
	}
	return crypto.NewWrapper(k)
}

// fixedWrapper returns a wrapper for a constant key, for fuzzing.
func fixedWrapper(t testing.TB) *crypto.Wrapper {
	t.Helper()
	k, err := crypto.ParseMasterKey([]byte("sealfs-master-key-v1 " +
		"000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n"))
	if err != nil {
		t.Fatal(err)
	}
	return crypto.NewWrapper(k)
}

// randBytes returns n deterministic pseudo-random bytes.
func randBytes(seed uint64, n int) []byte {
	var s [32]byte
	s[0] = byte(seed)
	s[1] = byte(seed >> 8)
	b := make([]byte, n)
	_, _ = rand.NewChaCha8(s).Read(b)
	return b
}

// osBacking opens a fresh file in a temp dir.
func osBacking(t testing.TB) *os.File {
	t.Helper()
	f, err := os.OpenFile(filepath.Join(t.TempDir(), "content"), os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// sealed returns the ciphertext of plain, written in one call and flushed,
// and its wrapped DEK.
func sealed(t testing.TB, w *crypto.Wrapper, bs int, plain []byte) ([]byte, crypto.FileKey) {
	t.Helper()
	m := newMem(nil)
	f, err := crypto.CreateFile(w, m, bs)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt(plain, 0); err != nil {
		t.Fatal(err)
	}
	if err := f.Flush(); err != nil {
		t.Fatal(err)
	}
	return m.bytes(), f.Key()
}

// readAll reads f's whole plaintext the way a consumer of an io.ReaderAt would.
func readAll(f *crypto.File) ([]byte, error) {
	return io.ReadAll(io.NewSectionReader(f, 0, f.Size()))
}

func mustEqual(t testing.TB, what string, got, want []byte) {
	t.Helper()
	if !bytes.Equal(got, want) {
		t.Fatalf("%s: got %d bytes sha256 %x, want %d bytes sha256 %x",
			what, len(got), sha256.Sum256(got), len(want), sha256.Sum256(want))
	}
}

func isAny(err error, targets ...error) bool {
	for _, t := range targets {
		if errors.Is(err, t) {
			return true
		}
	}
	return false
}
