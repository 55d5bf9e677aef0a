package fs_test

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// The hot paths of a small-file workload (rsync, tar x, ls -lR), each
// through an in-process mount: a FUSE round trip into the daemon per
// operation, with the allocations of both sides reported. Compare runs
// with benchstat; these are not timed tests.

// BenchmarkCreateSmallFile: create, write 2 KiB and close a new file, as
// tar x does for each member.
func BenchmarkCreateSmallFile(b *testing.B) {
	mnt, _ := mountFS(b)
	data := make([]byte, 2048)
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for i := 0; b.Loop(); i++ {
		if err := os.WriteFile(filepath.Join(mnt, fmt.Sprintf("f%07d", i)), data, 0o644); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkLookupMissing: a lookup of a name that is not there (rsync
// and tar ask before each create); every name is new, so the kernel's
// negative cache never answers.
func BenchmarkLookupMissing(b *testing.B) {
	mnt, _ := mountFS(b)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if _, err := os.Lstat(filepath.Join(mnt, fmt.Sprintf("missing%07d", i))); !os.IsNotExist(err) {
			b.Fatalf("lstat of a missing name: %v", err)
		}
	}
}

// BenchmarkGetattr: statx with AT_STATX_FORCE_SYNC, which makes the kernel
// ask the daemon (GETATTR) instead of its attribute cache.
func BenchmarkGetattr(b *testing.B) {
	mnt, _ := mountFS(b)
	p := filepath.Join(mnt, "f")
	if err := os.WriteFile(p, []byte("x"), 0o644); err != nil {
		b.Fatal(err)
	}
	var stx unix.Statx_t
	b.ReportAllocs()
	for b.Loop() {
		if err := unix.Statx(unix.AT_FDCWD, p, unix.AT_STATX_FORCE_SYNC, unix.STATX_BASIC_STATS, &stx); err != nil {
			b.Fatal(err)
		}
	}
	if stx.Size != 1 {
		b.Fatalf("size %d, want 1", stx.Size)
	}
}

// BenchmarkSetattrChmod: a chmod, one of the three SETATTRs (mode, owner,
// times) rsync and tar send per file.
func BenchmarkSetattrChmod(b *testing.B) {
	mnt, _ := mountFS(b)
	p := filepath.Join(mnt, "f")
	if err := os.WriteFile(p, []byte("x"), 0o644); err != nil {
		b.Fatal(err)
	}
	modes := []os.FileMode{0o600, 0o644}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if err := os.Chmod(p, modes[i%2]); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkReaddir1000: list a directory of 1,000 files (READDIRPLUS; the
// kernel does not cache directory listings of this filesystem).
func BenchmarkReaddir1000(b *testing.B) {
	mnt, _ := mountFS(b)
	dir := filepath.Join(mnt, "d")
	if err := os.Mkdir(dir, 0o755); err != nil {
		b.Fatal(err)
	}
	for i := range 1000 {
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("f%04d", i)), nil, 0o644); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		entries, err := os.ReadDir(dir)
		if err != nil {
			b.Fatal(err)
		}
		if len(entries) != 1000 {
			b.Fatalf("%d entries, want 1000", len(entries))
		}
	}
}
