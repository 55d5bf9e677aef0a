package integration

import (
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

// TestCopyLargeFile copies a 200 MiB random file in with cp and checks its
// hash on the mount, after a remount, and the size of its ciphertext.
func TestCopyLargeFile(t *testing.T) {
	const size = 200 << 20
	src := filepath.Join(t.TempDir(), "large-random.bin")
	want := writeRandomFile(t, src, size, 200)

	m := mountSealfs(t)
	dst := filepath.Join(m.Dir, "large-random.bin")
	runToolOK(t, "cp", src, dst)
	if got := sha256File(t, dst); got != want {
		t.Errorf("sha256 of %s right after cp = %s, want %s", dst, got, want)
	}

	m = m.Remount(t)
	fi, err := os.Stat(dst)
	if err != nil {
		t.Fatalf("after remount: %v", err)
	}
	if fi.Size() != size {
		t.Errorf("after remount: size %d, want %d", fi.Size(), size)
	}
	if got := sha256File(t, dst); got != want {
		t.Errorf("after remount: sha256 = %s, want %s", got, want)
	}

	m.Unmount(t)
	checkCiphertextSize(t, m.Store, size)
}

// checkCiphertextSize checks that STORE/data holds a file whose size is the
// plaintext size plus the per-block overhead plus a small header.
func checkCiphertextSize(t *testing.T, store string, plainSize int64) {
	t.Helper()
	const maxHeader = 4096
	blocks := (plainSize + blockSize - 1) / blockSize
	lo := plainSize + blocks*blockOverhead
	hi := lo + maxHeader
	var sizes []int64
	err := filepath.WalkDir(filepath.Join(store, "data"), func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		if fi.Size() >= lo && fi.Size() <= hi {
			sizes = append(sizes, fi.Size())
		} else if fi.Size() > plainSize/2 {
			t.Logf("data file %s: %d bytes", path, fi.Size())
		}
		return nil
	})
	if err != nil {
		t.Fatalf("walk store data: %v", err)
	}
	if len(sizes) == 0 {
		t.Errorf("no file under %s/data has %d..%d bytes (plaintext %d bytes, %d blocks of 28 bytes overhead, header up to %d)",
			store, lo, hi, plainSize, blocks, maxHeader)
	}
}
