package backup_test

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/sealfs/sealfs/backup"
	"golang.org/x/sys/unix"
)

// makeTree writes a tree with every kind of entry a backup meets: nested
// files, an empty file, a name longer than ustar's 100 bytes, a symlink, a
// hard link, a FIFO, an extended attribute, an odd mode and a nanosecond
// mtime; and a cache directory and a *.tmp file to exclude.
func makeTree(t *testing.T, root string) {
	t.Helper()
	write := func(rel string, data []byte, perm os.FileMode) {
		p := filepath.Join(root, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, perm); err != nil {
			t.Fatal(err)
		}
	}
	write("etc/app.conf", []byte("password=hunter2\n"), 0o600)
	write("etc/empty", nil, 0o644)
	write("data/db.dump", bytes.Repeat([]byte("row;"), 1<<18), 0o640)
	write("data/"+strings.Repeat("long-name-", 15)+".txt", []byte("long"), 0o644)
	write("cache/blob", []byte("regenerable"), 0o644)
	write("data/scratch.tmp", []byte("scratch"), 0o644)
	must(t, os.Symlink("../etc/app.conf", filepath.Join(root, "data", "conf-link")))
	must(t, os.Link(filepath.Join(root, "data", "db.dump"), filepath.Join(root, "etc", "db.hardlink")))
	must(t, unix.Mkfifo(filepath.Join(root, "data", "fifo"), 0o644))
	must(t, unix.Setxattr(filepath.Join(root, "etc", "app.conf"), "user.origin", []byte("host1\x00binary"), 0))
	must(t, os.Chmod(filepath.Join(root, "etc"), 0o750))
	mtime := time.Unix(1700000000, 123456789)
	must(t, os.Chtimes(filepath.Join(root, "data", "db.dump"), mtime, mtime))
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// TestArchiveExtractsWithGNUTar: GNU tar restores the archive to a tree
// equal to the source (diff -r), with the modes, nanosecond times, xattrs,
// symlink, hard link and FIFO; excluded names are left out; Measure counts
// what Write archives.
func TestArchiveExtractsWithGNUTar(t *testing.T) {
	for _, tool := range []string{"tar", "diff"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is needed (scripts/test.sh installs it): %v", tool, err)
		}
	}
	base := t.TempDir()
	src := filepath.Join(base, "app")
	makeTree(t, src)
	opts := backup.Options{Exclude: []string{"*.tmp", "app/cache"}}
	want, err := backup.Measure([]string{src}, opts)
	must(t, err)
	var out bytes.Buffer
	var progressFiles int
	var progressBytes int64
	opts.Progress = func(files int, bytes int64) { progressFiles += files; progressBytes += bytes }
	got, err := backup.Write(context.Background(), &out, []string{src}, opts)
	must(t, err)
	if got != want || int64(progressFiles) != got.Files || progressBytes != got.Bytes {
		t.Errorf("Write counted %+v, progress %d files %d bytes; Measure %+v", got, progressFiles, progressBytes, want)
	}

	dest := filepath.Join(base, "restored")
	must(t, os.Mkdir(dest, 0o755))
	tar := exec.Command("tar", "xzf", "-", "--xattrs", "--xattrs-include=*", "-C", dest)
	tar.Stdin = bytes.NewReader(out.Bytes())
	if b, err := tar.CombinedOutput(); err != nil {
		t.Fatalf("tar xzf: %v\n%s", err, b)
	}
	restored := filepath.Join(dest, strings.TrimPrefix(src, "/"))
	var a, b syscall.Stat_t
	must(t, syscall.Lstat(filepath.Join(restored, "data", "fifo"), &a))
	if a.Mode&syscall.S_IFMT != syscall.S_IFIFO {
		t.Errorf("fifo restored with mode %o", a.Mode)
	}
	// diff -r compares what was archived: the source minus the excluded
	// (and the FIFO, which diff cannot compare).
	must(t, os.RemoveAll(filepath.Join(src, "cache")))
	for _, p := range []string{filepath.Join(src, "data", "scratch.tmp"), filepath.Join(src, "data", "fifo"), filepath.Join(restored, "data", "fifo")} {
		must(t, os.Remove(p))
	}
	if b, err := exec.Command("diff", "-r", "--no-dereference", src, restored).CombinedOutput(); err != nil {
		t.Fatalf("diff -r: %v\n%s", err, b)
	}
	must(t, syscall.Lstat(filepath.Join(restored, "data", "db.dump"), &a))
	must(t, syscall.Lstat(filepath.Join(restored, "etc", "db.hardlink"), &b))
	if a.Ino != b.Ino || a.Mtim.Nano() != time.Unix(1700000000, 123456789).UnixNano() || a.Mode&0o777 != 0o640 {
		t.Errorf("db.dump: ino %d (link %d), mtime %d, mode %o", a.Ino, b.Ino, a.Mtim.Nano(), a.Mode&0o777)
	}
	if fi, err := os.Stat(filepath.Join(restored, "etc")); err != nil || fi.Mode().Perm() != 0o750 {
		t.Errorf("etc: %v, %v", fi, err)
	}
	buf := make([]byte, 64)
	n, err := unix.Getxattr(filepath.Join(restored, "etc", "app.conf"), "user.origin", buf)
	if err != nil || string(buf[:n]) != "host1\x00binary" {
		t.Errorf("xattr after tar x: %q, %v", buf[:max(n, 0)], err)
	}
}

// TestArchiveMembers: member names are the source paths without their
// leading slash, as GNU tar writes them, in PAX format.
func TestArchiveMembers(t *testing.T) {
	src := filepath.Join(t.TempDir(), "src")
	must(t, os.MkdirAll(filepath.Join(src, "d"), 0o755))
	must(t, os.WriteFile(filepath.Join(src, "d", "f"), []byte("x"), 0o644))
	var out bytes.Buffer
	_, err := backup.Write(context.Background(), &out, []string{src + "/"}, backup.Options{})
	must(t, err)
	zr, err := gzip.NewReader(&out)
	must(t, err)
	tr := tar.NewReader(zr)
	var names []string
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		must(t, err)
		if h.Format != tar.FormatPAX && h.Format != tar.FormatUnknown {
			t.Errorf("%s: format %v", h.Name, h.Format)
		}
		names = append(names, h.Name)
	}
	base := strings.TrimPrefix(src, "/")
	want := []string{base + "/", base + "/d/", base + "/d/f"}
	if strings.Join(names, "|") != strings.Join(want, "|") {
		t.Errorf("members %q, want %q", names, want)
	}
}

// TestArchiveStopsWhenCancelled: a cancelled context ends Write with its
// error, and an unreadable file fails the archive naming it.
func TestArchiveStopsWhenCancelled(t *testing.T) {
	src := filepath.Join(t.TempDir(), "src")
	makeTree(t, src)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := backup.Write(ctx, io.Discard, []string{src}, backup.Options{}); !errors.Is(err, context.Canceled) {
		t.Errorf("Write with a cancelled context: %v", err)
	}
	if _, err := backup.Write(context.Background(), io.Discard, []string{filepath.Join(src, "missing")}, backup.Options{}); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Write of a missing source: %v", err)
	}
	if err := backup.CheckPatterns([]string{"[unclosed"}); err == nil {
		t.Error("a malformed pattern was accepted")
	}
}
