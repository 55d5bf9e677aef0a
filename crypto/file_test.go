package crypto_test

import (
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"sync"
	"testing"

	"github.com/sealfs/sealfs/crypto"
)

// cipherSize is the backing size of a complete file of plaintext size n.
func cipherSize(n, bs int64) int64 {
	blocks := max(1, (n+bs-1)/bs)
	return int64(crypto.HeaderSize) + n + blocks*crypto.BlockOverhead
}

func TestRoundTrip(t *testing.T) {
	w := newWrapper(t)
	sizes := []int{0, 1, B - 1, B, B + 1, 2*B + 500, 10 << 20}
	steps := []int{1, 4096, B - 1, B, 3*B + 7, 0} // 0: whole
	for _, size := range sizes {
		plain := randBytes(uint64(size), size)
		for _, step := range steps {
			if step == 1 && size > 2*B+500 {
				continue // ten million one-byte writes prove nothing new
			}
			t.Run(fmt.Sprintf("size=%d/step=%d", size, step), func(t *testing.T) {
				b := osBacking(t)
				f, err := crypto.CreateFile(w, b, 0)
				if err != nil {
					t.Fatal(err)
				}
				if step == 0 {
					step = max(1, size)
				}
				for off := 0; off < size; off += step {
					chunk := plain[off:min(size, off+step)]
					if n, err := f.WriteAt(chunk, int64(off)); err != nil || n != len(chunk) {
						t.Fatalf("WriteAt(%d bytes, %d) = %d, %v", len(chunk), off, n, err)
					}
				}
				if f.Size() != int64(size) {
					t.Fatalf("Size = %d, want %d", f.Size(), size)
				}
				got, err := readAll(f) // before Flush: the tail is in memory
				if err != nil {
					t.Fatal(err)
				}
				mustEqual(t, "before flush", got, plain)
				if err := f.Flush(); err != nil {
					t.Fatal(err)
				}
				fi, _ := b.Stat()
				if want := cipherSize(int64(size), B); fi.Size() != want {
					t.Fatalf("ciphertext is %d bytes, want %d", fi.Size(), want)
				}
				g := reopen(t, w, b.Name(), f.Key())
				if g.Size() != int64(size) || g.Header().FileID != f.Header().FileID {
					t.Fatalf("reopened: size %d file ID %s, want %d %s", g.Size(), g.Header().FileID, size, f.Header().FileID)
				}
				got, err = readAll(g)
				if err != nil {
					t.Fatal(err)
				}
				mustEqual(t, "after reopen", got, plain)
			})
		}
	}
}

func reopen(t *testing.T, w *crypto.Wrapper, path string, k crypto.FileKey) *crypto.File {
	t.Helper()
	b, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	f, err := crypto.OpenFile(w, b, k)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// model applies the same operations to a plain byte slice and to a File,
// and checks they agree.
type model struct {
	t     *testing.T
	w     *crypto.Wrapper
	bs    int
	b     *memBacking
	f     *crypto.File
	plain []byte
}

func newModel(t *testing.T, bs int) *model {
	m := &model{t: t, w: newWrapper(t), bs: bs, b: newMem(nil)}
	f, err := crypto.CreateFile(m.w, m.b, bs)
	if err != nil {
		t.Fatal(err)
	}
	m.f = f
	return m
}

func (m *model) write(off int, p []byte) {
	m.t.Helper()
	if n, err := m.f.WriteAt(p, int64(off)); err != nil || n != len(p) {
		m.t.Fatalf("WriteAt(%d bytes, %d) = %d, %v", len(p), off, n, err)
	}
	if len(p) == 0 {
		return // a zero-length write never extends
	}
	if end := off + len(p); end > len(m.plain) {
		m.plain = append(m.plain, make([]byte, end-len(m.plain))...)
	}
	copy(m.plain[off:], p)
}

func (m *model) truncate(size int) {
	m.t.Helper()
	if err := m.f.Truncate(int64(size)); err != nil {
		m.t.Fatalf("Truncate(%d): %v", size, err)
	}
	if size <= len(m.plain) {
		m.plain = m.plain[:size]
	} else {
		m.plain = append(m.plain, make([]byte, size-len(m.plain))...)
	}
}

func (m *model) check(what string) {
	m.t.Helper()
	if m.f.Size() != int64(len(m.plain)) {
		m.t.Fatalf("%s: Size = %d, want %d", what, m.f.Size(), len(m.plain))
	}
	got, err := readAll(m.f)
	if err != nil {
		m.t.Fatalf("%s: %v", what, err)
	}
	mustEqual(m.t, what, got, m.plain)
}

// flushReopen flushes, checks the ciphertext size and continues on a
// freshly opened File.
func (m *model) flushReopen() {
	m.t.Helper()
	if err := m.f.Flush(); err != nil {
		m.t.Fatal(err)
	}
	if got, want := int64(len(m.b.bytes())), cipherSize(int64(len(m.plain)), int64(m.bs)); got != want {
		m.t.Fatalf("ciphertext is %d bytes, want %d", got, want)
	}
	f, err := crypto.OpenFile(m.w, m.b, m.f.Key())
	if err != nil {
		m.t.Fatal(err)
	}
	m.f = f
	m.check("reopened")
}

func TestRandomWrites(t *testing.T) {
	for _, bs := range []int{16, 100, 4096, B} {
		t.Run(fmt.Sprintf("bs=%d", bs), func(t *testing.T) {
			r := rand.New(rand.NewPCG(uint64(bs), 1))
			m := newModel(t, bs)
			limit := 5 * bs
			for op := range 400 {
				off, n := r.IntN(limit), r.IntN(2*bs+2)
				switch r.IntN(10) {
				case 0:
					m.truncate(r.IntN(limit))
				case 1:
					m.flushReopen()
				default:
					m.write(off, randBytes(uint64(op), n))
				}
				if op%7 == 0 {
					m.check(fmt.Sprintf("op %d", op))
					lo := r.IntN(len(m.plain) + 1)
					hi := lo + r.IntN(len(m.plain)-lo+1)
					got := make([]byte, hi-lo)
					if n, err := m.f.ReadAt(got, int64(lo)); n != hi-lo || (err != nil && err != io.EOF) {
						t.Fatalf("ReadAt [%d,%d) = %d, %v", lo, hi, n, err)
					}
					mustEqual(t, "range", got, m.plain[lo:hi])
				}
			}
			m.flushReopen()
		})
	}
}

func TestTruncate(t *testing.T) {
	tests := []struct {
		name string
		from int
		to   []int
	}{
		{"grow empty", 0, []int{1, B, 2*B + 500}},
		{"shrink in last block", 2*B + 500, []int{2*B + 1, 2 * B}},
		{"shrink across blocks", 3*B + 7, []int{B + 3, 1}},
		{"shrink to boundary", 3 * B, []int{B}},
		{"down then up", 2*B + 500, []int{B - 1, 3*B + 1, 5}},
		{"to zero and back", 2*B + 500, []int{0, B + 1}},
		{"same size", B, []int{B}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := newModel(t, B)
			m.write(0, randBytes(1, tt.from))
			m.check("written")
			for _, size := range tt.to {
				m.truncate(size)
				m.check(fmt.Sprintf("truncated to %d", size))
				m.flushReopen()
			}
			// Writing after a shrink must not resurrect cut bytes.
			m.write(len(m.plain)+B/2, []byte("x"))
			m.check("hole after truncate")
			m.flushReopen()
		})
	}
}

func TestTruncateToZeroNewDEK(t *testing.T) {
	m := newModel(t, B)
	m.write(0, randBytes(1, B+10))
	before, beforeKey := m.f.Header(), m.f.Key()
	m.truncate(0)
	after, afterKey := m.f.Header(), m.f.Key()
	if string(beforeKey.Wrapped) == string(afterKey.Wrapped) || string(before.Tag) == string(after.Tag) {
		t.Fatal("Truncate(0) kept the DEK")
	}
	if before.FileID != after.FileID {
		t.Fatal("Truncate(0) changed the file ID")
	}
	m.write(0, []byte("new content"))
	m.flushReopen()
}

func TestHoles(t *testing.T) {
	m := newModel(t, B)
	m.write(3*B+100, []byte("after a hole"))
	m.write(B/2, []byte("inside"))
	m.check("holes")
	m.flushReopen()
}

func TestReadAtSemantics(t *testing.T) {
	w := newWrapper(t)
	plain := randBytes(2, B+10)
	c, k := sealed(t, w, B, plain)
	f, err := crypto.OpenFile(w, newMem(c), k)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		off, n  int
		wantN   int
		wantEOF bool
	}{
		{0, 0, 0, false},
		{0, 10, 10, false},
		{B - 5, 10, 10, false},
		{B, 10, 10, false},
		{B + 5, 10, 5, true},
		{B + 10, 1, 0, true},
		{B + 100, 1, 0, true},
	}
	for _, tt := range tests {
		p := make([]byte, tt.n)
		n, err := f.ReadAt(p, int64(tt.off))
		if n != tt.wantN || (err == io.EOF) != tt.wantEOF || (err != nil && err != io.EOF) {
			t.Errorf("ReadAt(%d, %d) = %d, %v; want %d, EOF %v", tt.n, tt.off, n, err, tt.wantN, tt.wantEOF)
		}
		mustEqual(t, "ReadAt", p[:n], plain[min(tt.off, len(plain)):][:n])
	}
	if _, err := f.ReadAt(make([]byte, 1), -1); err == nil {
		t.Error("ReadAt at -1 succeeded")
	}
	if _, err := f.WriteAt(make([]byte, 1), -1); err == nil {
		t.Error("WriteAt at -1 succeeded")
	}
	if err := f.Truncate(-1); err == nil {
		t.Error("Truncate(-1) succeeded")
	}
}

func TestCreateFileBlockSize(t *testing.T) {
	w := newWrapper(t)
	for _, bs := range []int{-1, 1, crypto.MinBlockSize - 1, crypto.MaxBlockSize + 1} {
		if _, err := crypto.CreateFile(w, newMem(nil), bs); err == nil {
			t.Errorf("CreateFile with block size %d succeeded", bs)
		}
	}
	f, err := crypto.CreateFile(w, newMem([]byte("old content to be truncated")), 0)
	if err != nil {
		t.Fatal(err)
	}
	if h := f.Header(); h.BlockSize != B || h.Version != crypto.Version || f.Key().KeyID != w.KeyID() {
		t.Fatalf("header %+v", h)
	}
}

// TestConcurrent runs readers against a writer under the race detector.
func TestConcurrent(t *testing.T) {
	w := newWrapper(t)
	plain := randBytes(3, 4*B)
	c, k := sealed(t, w, B, plain)
	f, err := crypto.OpenFile(w, newMem(c), k)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 9)
	for r := range 8 {
		wg.Go(func() {
			p := make([]byte, B+r)
			for i := range 50 {
				off := int64((i * 7919 * (r + 1)) % (3 * B))
				if _, err := f.ReadAt(p, off); err != nil && !errors.Is(err, io.EOF) {
					errs <- err
					return
				}
			}
		})
	}
	wg.Go(func() {
		for i := range 50 {
			if _, err := f.WriteAt(plain[i*100:i*100+B], int64(i*100)); err != nil {
				errs <- err
				return
			}
		}
	})
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// countingBacking counts the backing writes a workload causes.
type countingBacking struct {
	*memBacking
	writes int
}

func (c *countingBacking) WriteAt(p []byte, off int64) (int, error) {
	c.writes++
	return c.memBacking.WriteAt(p, off)
}

// TestAppendsSealOnce checks the performance contract: appends do not
// reseal the tail on every call, and a large write is one backing call.
func TestAppendsSealOnce(t *testing.T) {
	tests := []struct {
		name       string
		size, step int
		maxWrites  int // header + blocks written + final flush
	}{
		{"1-byte appends", 2*B + 10, 1, 1 + 2 + 1},
		{"4 KiB appends", 10 * B, 4096, 1 + 9 + 1},
		{"one 1 MiB write", 1 << 20, 1 << 20, 1 + 1 + 1},
		{"1 MiB appends", 8 << 20, 1 << 20, 1 + 8 + 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &countingBacking{memBacking: newMem(nil)}
			f, err := crypto.CreateFile(newWrapper(t), c, 0)
			if err != nil {
				t.Fatal(err)
			}
			plain := randBytes(8, tt.size)
			for off := 0; off < tt.size; off += tt.step {
				if _, err := f.WriteAt(plain[off:off+tt.step], int64(off)); err != nil {
					t.Fatal(err)
				}
			}
			if err := f.Flush(); err != nil {
				t.Fatal(err)
			}
			if c.writes > tt.maxWrites {
				t.Fatalf("%d backing writes, want at most %d", c.writes, tt.maxWrites)
			}
		})
	}
}

func TestCreateFileWithID(t *testing.T) {
	w := newWrapper(t)
	id, err := crypto.NewFileID()
	if err != nil {
		t.Fatal(err)
	}
	m := newMem(nil)
	f, err := crypto.CreateFileWithID(w, m, id, 0, false)
	if err != nil {
		t.Fatal(err)
	}
	plain := randBytes(9, B+3)
	if _, err := f.WriteAt(plain, 0); err != nil {
		t.Fatal(err)
	}
	if err := f.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := openAndRead(w, m.bytes(), f.Key(), plain); err != nil {
		t.Fatal(err)
	}
	if g, _ := crypto.OpenFile(w, m, f.Key()); g.Header().FileID != id {
		t.Fatalf("file ID %s, want %s", g.Header().FileID, id)
	}
}
