package integration

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

// TestUnlinkOpenFile removes a file that is still open: the open descriptor
// keeps reading and writing the old contents until it is closed, while the
// name is free for a new file.
func TestUnlinkOpenFile(t *testing.T) {
	m := mountSealfs(t)
	p := filepath.Join(m.Dir, "unlinked-while-open.bin")
	old := randomBytes(21, 3*blockSize+17)
	mustWriteFile(t, p, old, 0o644)

	f, err := os.OpenFile(p, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := os.Remove(p); err != nil {
		t.Fatalf("unlink of an open file: %v", err)
	}
	if _, err := os.Lstat(p); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("lstat after unlink: %v, want ENOENT", err)
	}
	mustWriteFile(t, p, []byte("a new file under the old name"), 0o644)

	got := make([]byte, len(old))
	if n, err := f.ReadAt(got, 0); err != nil || n != len(old) || !bytes.Equal(got, old) {
		t.Errorf("read of the unlinked file: %d bytes, %v; %s", n, err, describeDiff(got[:n], old))
	}
	extra := randomBytes(22, blockSize)
	if _, err := f.WriteAt(extra, int64(len(old))); err != nil {
		t.Errorf("write to the unlinked file: %v", err)
	}
	want := append(append([]byte{}, old...), extra...)
	got = make([]byte, len(want))
	if n, err := f.ReadAt(got, 0); err != nil || n != len(want) || !bytes.Equal(got, want) {
		t.Errorf("read back after writing to the unlinked file: %d bytes, %v; %s", n, err, describeDiff(got[:n], want))
	}
	if fi, err := f.Stat(); err != nil || fi.Size() != int64(len(want)) {
		t.Errorf("fstat of the unlinked file: %v, %v; want size %d", fi, err, len(want))
	}
	compareBytes(t, p, []byte("a new file under the old name"))
	if err := f.Close(); err != nil {
		t.Errorf("close of the unlinked file: %v", err)
	}
	entries, err := os.ReadDir(m.Dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 || entries[0].Name() != filepath.Base(p) {
		t.Errorf("after close, the mount lists %v, want only the new file", entries)
	}
}
