package fs_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	sealfs "github.com/sealfs/sealfs/fs"
)

// TestWriteFileReplacesWhatTheKernelCached: a file written from outside
// the mount over one the kernel has cached (dentry, attributes, pages) is
// what the next open and stat see at once, with the attributes asked for;
// a new path under missing directories appears although a lookup just
// failed there (a negative dentry); no temporary name is left.
func TestWriteFileReplacesWhatTheKernelCached(t *testing.T) {
	mnt, _, fsys := mountFSys(t, nil)
	p := filepath.Join(mnt, "d", "x")
	if err := os.Mkdir(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte("the old content, longer than the new"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := os.ReadFile(p); err != nil { // pages and attributes cached
		t.Fatal(err)
	}
	mtime := time.Date(2024, 5, 6, 7, 8, 9, 123456789, time.UTC)
	want := []byte("new")
	if _, err := fsys.WriteFile(context.Background(), "/d/x", sealfs.FileAttrs{Perm: 0o600, Uid: 1234, Gid: 5678, Mtime: mtime}, bytes.NewReader(want)); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(p)
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("read after WriteFile: %q, %v; want %q", got, err, want)
	}
	var st syscall.Stat_t
	if err := syscall.Stat(p, &st); err != nil {
		t.Fatal(err)
	}
	if st.Size != 3 || st.Mode != syscall.S_IFREG|0o600 || st.Uid != 1234 || st.Gid != 5678 || st.Mtim.Nano() != mtime.UnixNano() {
		t.Errorf("stat: size %d mode %o uid %d gid %d mtime %d", st.Size, st.Mode, st.Uid, st.Gid, st.Mtim.Nano())
	}

	deep := filepath.Join(mnt, "new", "deep", "y")
	if _, err := os.Stat(deep); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("stat before: %v", err)
	}
	if _, err := fsys.WriteFile(context.Background(), "/new/deep/y", sealfs.FileAttrs{Perm: 0o644, MakeParents: true}, strings.NewReader("y")); err != nil {
		t.Fatal(err)
	}
	if got, err := os.ReadFile(deep); err != nil || string(got) != "y" {
		t.Fatalf("read new file: %q, %v", got, err)
	}
	if fi, err := os.Stat(filepath.Join(mnt, "new")); err != nil || !fi.IsDir() || fi.Mode().Perm() != 0o755 {
		t.Fatalf("made parent: %v, %v", fi, err)
	}
	for _, dir := range []string{mnt, filepath.Dir(p), filepath.Dir(deep)} {
		assertNoTemp(t, dir)
	}
}

// TestWriteFileFailureKeepsTheOldFile: a reader that fails half way leaves
// the old file as it was and no temporary name.
func TestWriteFileFailureKeepsTheOldFile(t *testing.T) {
	mnt, _, fsys := mountFSys(t, nil)
	p := filepath.Join(mnt, "x")
	if err := os.WriteFile(p, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	broken := io.MultiReader(bytes.NewReader(make([]byte, 3<<20)), iotestErr{})
	if _, err := fsys.WriteFile(context.Background(), "/x", sealfs.FileAttrs{Perm: 0o644}, broken); !errors.Is(err, errBroken) {
		t.Fatalf("WriteFile with a failing reader: %v", err)
	}
	if got, err := os.ReadFile(p); err != nil || string(got) != "old" {
		t.Fatalf("after the failure: %q, %v", got, err)
	}
	assertNoTemp(t, mnt)
	cut := io.MultiReader(bytes.NewReader(make([]byte, 5000)), cutReader{})
	if _, err := fsys.WriteFile(context.Background(), "/x", sealfs.FileAttrs{Perm: 0o644}, cut); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("WriteFile with a cut body: %v, want io.ErrUnexpectedEOF", err)
	}
	if got, err := os.ReadFile(p); err != nil || string(got) != "old" {
		t.Fatalf("after a cut body: %q, %v", got, err)
	}
	if _, err := fsys.WriteFile(context.Background(), "/x/y", sealfs.FileAttrs{Perm: 0o644}, strings.NewReader("")); !errors.Is(err, syscall.ENOTDIR) {
		t.Fatalf("WriteFile under a file: %v, want ENOTDIR", err)
	}
	if _, err := fsys.WriteFile(context.Background(), "/no/y", sealfs.FileAttrs{Perm: 0o644}, strings.NewReader("")); !errors.Is(err, syscall.ENOENT) {
		t.Fatalf("WriteFile under a missing directory: %v, want ENOENT", err)
	}
}

// TestWriteFileUnmounted: a file written before the filesystem is mounted
// is there once it is.
func TestWriteFileUnmounted(t *testing.T) {
	payload := bytes.Repeat([]byte("sealfs "), 300000)
	mnt, _, _ := mountFSys(t, func(fsys *sealfs.FS) {
		if _, err := fsys.WriteFile(context.Background(), "/a/b.bin", sealfs.FileAttrs{Perm: 0o640, MakeParents: true}, bytes.NewReader(payload)); err != nil {
			t.Fatal(err)
		}
	})
	got, err := os.ReadFile(filepath.Join(mnt, "a", "b.bin"))
	if err != nil || !bytes.Equal(got, payload) {
		t.Fatalf("read: %d bytes, %v; want %d equal bytes", len(got), err, len(payload))
	}
	assertNoTemp(t, filepath.Join(mnt, "a"))
}

var errBroken = errors.New("the source broke")

type iotestErr struct{}

func (iotestErr) Read([]byte) (int, error) { return 0, errBroken }

// cutReader ends as an HTTP body cut short does.
type cutReader struct{}

func (cutReader) Read([]byte) (int, error) { return 0, io.ErrUnexpectedEOF }

func assertNoTemp(t *testing.T, dir string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if strings.Contains(e.Name(), ".sealfs-") {
			t.Errorf("temporary name left in %s: %s", dir, e.Name())
		}
	}
}
