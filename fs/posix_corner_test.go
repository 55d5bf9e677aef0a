package fs_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Corners where ext4 behaves in a way a FUSE filesystem must reproduce itself.

func TestModeZeroIsKept(t *testing.T) {
	mnt, _ := mountFS(t)
	f, d := filepath.Join(mnt, "f"), filepath.Join(mnt, "d")
	if err := os.WriteFile(f, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(f, 0); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkdir(d, 0); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{f, d} {
		fi, err := os.Lstat(p)
		if err != nil {
			t.Fatal(err)
		}
		if perm := fi.Mode().Perm(); perm != 0 {
			t.Errorf("%s: mode %o, want 0", filepath.Base(p), perm)
		}
	}
}

func TestSetgidDirectoryInheritance(t *testing.T) {
	mnt, _ := mountFS(t)
	dir := filepath.Join(mnt, "shared")
	if err := os.Mkdir(dir, 0o775); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(dir, 0, 4242); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o775|os.ModeSetgid); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "f"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	var st syscall.Stat_t
	if err := syscall.Stat(filepath.Join(dir, "f"), &st); err != nil || st.Gid != 4242 {
		t.Errorf("file gid = %d (%v), want the directory's 4242", st.Gid, err)
	}
	if err := syscall.Stat(filepath.Join(dir, "sub"), &st); err != nil || st.Gid != 4242 || st.Mode&syscall.S_ISGID == 0 {
		t.Errorf("subdir gid %d mode %o (%v), want gid 4242 and setgid", st.Gid, st.Mode, err)
	}
}

func TestNanosecondTimesRoundTrip(t *testing.T) {
	mnt, _ := mountFS(t)
	p := filepath.Join(mnt, "f")
	if err := os.WriteFile(p, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	atime := time.Unix(1_500_000_000, 123_456_789)
	mtime := time.Unix(1_600_000_000, 987_654_321)
	if err := os.Chtimes(p, atime, mtime); err != nil {
		t.Fatal(err)
	}
	var st unix.Stat_t
	if err := unix.Stat(p, &st); err != nil {
		t.Fatal(err)
	}
	if got := time.Unix(st.Mtim.Unix()); !got.Equal(mtime) {
		t.Errorf("mtime %v, want %v", got, mtime)
	}
	if got := time.Unix(st.Atim.Unix()); !got.Equal(atime) {
		t.Errorf("atime %v, want %v", got, atime)
	}
}

func TestNameAndSizeLimits(t *testing.T) {
	mnt, _ := mountFS(t)
	long := strings.Repeat("n", 255)
	if err := os.WriteFile(filepath.Join(mnt, long), []byte("ok"), 0o644); err != nil {
		t.Fatalf("255-byte name: %v", err)
	}
	err := os.WriteFile(filepath.Join(mnt, long+"x"), nil, 0o644)
	if !errors.Is(err, syscall.ENAMETOOLONG) {
		t.Errorf("256-byte name: %v, want ENAMETOOLONG", err)
	}
	p := filepath.Join(mnt, "big")
	if err := os.WriteFile(p, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(p, 999_999_999_999_999); !errors.Is(err, syscall.EFBIG) {
		t.Errorf("truncate to ~1 PB: %v, want EFBIG", err)
	}
	if fi, err := os.Stat(p); err != nil || fi.Size() != 0 {
		t.Errorf("after refused truncate: size %d (%v), want 0", fi.Size(), err)
	}
}

func TestRenameFlags(t *testing.T) {
	mnt, _ := mountFS(t)
	a, b := filepath.Join(mnt, "a"), filepath.Join(mnt, "b")
	if err := os.WriteFile(a, []byte("A"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(b, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(b, "inner"), []byte("I"), 0o644); err != nil {
		t.Fatal(err)
	}
	err := unix.Renameat2(unix.AT_FDCWD, a, unix.AT_FDCWD, b, unix.RENAME_NOREPLACE)
	if !errors.Is(err, syscall.EEXIST) {
		t.Fatalf("RENAME_NOREPLACE over an existing name: %v, want EEXIST", err)
	}
	if err := unix.Renameat2(unix.AT_FDCWD, a, unix.AT_FDCWD, b, unix.RENAME_EXCHANGE); err != nil {
		t.Fatalf("RENAME_EXCHANGE: %v", err)
	}
	if got, err := os.ReadFile(b); err != nil || string(got) != "A" {
		t.Errorf("b after exchange: %q, %v; want the file", got, err)
	}
	if got, err := os.ReadFile(filepath.Join(a, "inner")); err != nil || string(got) != "I" {
		t.Errorf("a/inner after exchange: %q, %v; want the directory", got, err)
	}
	c := filepath.Join(mnt, "c")
	if err := unix.Renameat2(unix.AT_FDCWD, b, unix.AT_FDCWD, c, unix.RENAME_NOREPLACE); err != nil {
		t.Fatalf("RENAME_NOREPLACE to a free name: %v", err)
	}
	if err := os.Mkdir(b, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(b, a); !errors.Is(err, syscall.ENOTEMPTY) && !errors.Is(err, syscall.EEXIST) {
		t.Errorf("rename over a non-empty directory: %v, want ENOTEMPTY", err)
	}
	var st syscall.Stat_t
	if err := syscall.Stat(mnt, &st); err != nil || st.Nlink != 4 {
		t.Errorf("root nlink = %d (%v), want 4 (., .., a/, b/)", st.Nlink, err)
	}
}
