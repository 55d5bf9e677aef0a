package crypto_test

import (
	"io"
	"os"
	"testing"

	"github.com/sealfs/sealfs/crypto"
)

const (
	benchChunk = 1 << 20
	benchFile  = 64 << 20 // files are started over at this size
)

type backingFactory func(b *testing.B) crypto.Backing

var benchBackings = []struct {
	name string
	new  backingFactory
}{
	{"mem", func(*testing.B) crypto.Backing { return newMem(nil) }},
	{"file", func(b *testing.B) crypto.Backing { return osBacking(b) }},
}

// BenchmarkWriteAt appends 1 MiB writes, as cp or rsync would.
func BenchmarkWriteAt(b *testing.B) {
	for _, bk := range benchBackings {
		b.Run(bk.name, func(b *testing.B) {
			w := newWrapper(b)
			back := bk.new(b)
			chunk := randBytes(1, benchChunk)
			var f *crypto.File
			var off int64
			b.SetBytes(benchChunk)
			b.ReportAllocs()
			for b.Loop() {
				if f == nil || off >= benchFile {
					var err error
					if f, err = crypto.CreateFile(w, back, 0); err != nil {
						b.Fatal(err)
					}
					off = 0
				}
				if _, err := f.WriteAt(chunk, off); err != nil {
					b.Fatal(err)
				}
				off += benchChunk
			}
			if err := f.Flush(); err != nil {
				b.Fatal(err)
			}
		})
	}
}

// BenchmarkReadAt reads a flushed file sequentially in 1 MiB reads.
func BenchmarkReadAt(b *testing.B) {
	for _, bk := range benchBackings {
		b.Run(bk.name, func(b *testing.B) {
			w := newWrapper(b)
			back := bk.new(b)
			f, err := crypto.CreateFile(w, back, 0)
			if err != nil {
				b.Fatal(err)
			}
			chunk := randBytes(1, benchChunk)
			for off := int64(0); off < benchFile; off += benchChunk {
				if _, err := f.WriteAt(chunk, off); err != nil {
					b.Fatal(err)
				}
			}
			if err := f.Flush(); err != nil {
				b.Fatal(err)
			}
			if f, err = crypto.OpenFile(w, back, f.Key()); err != nil {
				b.Fatal(err)
			}
			p := make([]byte, benchChunk)
			var off int64
			b.SetBytes(benchChunk)
			b.ReportAllocs()
			for b.Loop() {
				if off >= benchFile {
					off = 0
				}
				if _, err := f.ReadAt(p, off); err != nil && err != io.EOF {
					b.Fatal(err)
				}
				off += benchChunk
			}
		})
	}
}

// BenchmarkWriteAtSmall appends 4 KiB writes, the size of many FUSE writes
// without big_writes.
func BenchmarkWriteAtSmall(b *testing.B) {
	w := newWrapper(b)
	back := newMem(nil)
	chunk := randBytes(2, 4096)
	var f *crypto.File
	var off int64
	b.SetBytes(4096)
	b.ReportAllocs()
	for b.Loop() {
		if f == nil || off >= benchFile {
			var err error
			if f, err = crypto.CreateFile(w, back, 0); err != nil {
				b.Fatal(err)
			}
			off = 0
		}
		if _, err := f.WriteAt(chunk, off); err != nil {
			b.Fatal(err)
		}
		off += int64(len(chunk))
	}
}

var _ crypto.Backing = (*os.File)(nil)

// BenchmarkWriteAtKind appends 1 MiB writes to encrypted and to plain
// content in memory: what encryption itself costs on top of the MAC that
// plain content computes too.
func BenchmarkWriteAtKind(b *testing.B) {
	for _, kind := range []struct {
		name  string
		plain bool
	}{{"encrypted", false}, {"plain", true}} {
		b.Run(kind.name, func(b *testing.B) {
			w := newWrapper(b)
			back := newMem(nil)
			chunk := randBytes(1, benchChunk)
			var f *crypto.File
			var off int64
			b.SetBytes(benchChunk)
			for b.Loop() {
				if f == nil || off >= benchFile {
					id, err := crypto.NewFileID()
					if err != nil {
						b.Fatal(err)
					}
					if f, err = crypto.CreateFileWithID(w, back, id, 0, kind.plain); err != nil {
						b.Fatal(err)
					}
					off = 0
				}
				if _, err := f.WriteAt(chunk, off); err != nil {
					b.Fatal(err)
				}
				off += benchChunk
			}
		})
	}
}
