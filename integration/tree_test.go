package integration

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// xattrTempDir returns a temporary directory on a file system that stores
// user xattrs: t.TempDir() unless TMPDIR is a tmpfs of a kernel older than
// 6.6, then one under /var/tmp.
func xattrTempDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if supportsUserXattrs(dir) {
		return dir
	}
	dir, err := os.MkdirTemp("/var/tmp", "sealfs-integration-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if !supportsUserXattrs(dir) {
		t.Fatalf("neither %s nor /var/tmp supports user xattrs; set TMPDIR to a directory on ext4, xfs or btrfs", os.TempDir())
	}
	return dir
}

func supportsUserXattrs(dir string) bool {
	p := filepath.Join(dir, ".xattr-probe")
	if err := os.WriteFile(p, nil, 0o600); err != nil {
		return false
	}
	defer os.Remove(p)
	return unix.Setxattr(p, "user.probe", []byte("1"), 0) == nil
}

// treeStats counts what generateBackupTree created.
type treeStats struct {
	regular, symlinks, hardlinks, xattrs int
}

// oddNames are file names that trip up careless path handling.
var oddNames = []string{
	"with space.txt",
	"  leading spaces",
	"trailing space ",
	"ünïcødé-файл-文件-🎉.txt",
	"tab\tin name",
	"new\nline",
	`quote'and"double`,
	"-starts-with-dash",
	"#hash and %percent",
	`back\slash`,
	"*star?question[bracket]",
	strings.Repeat("n", 251) + ".txt",      // 255 bytes, the NAME_MAX
	strings.Repeat("é", 127) + "x",         // 255 bytes of UTF-8
	strings.Repeat("ж", 100) + "-cyrillic", // 209 bytes
}

// boundarySizes cross sealfs's 64 KiB block edges.
var boundarySizes = []int{
	blockSize - 1, blockSize, blockSize + 1,
	2*blockSize - 1, 2 * blockSize, 2*blockSize + 1,
	2*blockSize + 500, 3 * blockSize, 1<<20 + 3,
}

// generateBackupTree writes a deterministic tree of dirs*perDir small files
// plus odd names, block-edge sizes, symlinks, hard links, xattrs, assorted
// modes and old timestamps, like a home directory to back up.
func generateBackupTree(t *testing.T, root string, dirs, perDir int) treeStats {
	t.Helper()
	var st treeStats
	rng := newRand(5000)
	mustMkdir(t, root, 0o755)
	modes := []os.FileMode{0o644, 0o600, 0o755, 0o444, 0o640}
	for d := 0; d < dirs; d++ {
		dir := filepath.Join(root, fmt.Sprintf("dir-%02d", d))
		mustMkdir(t, dir, 0o755)
		for f := 0; f < perDir; f++ {
			p := filepath.Join(dir, fmt.Sprintf("file-%04d.txt", f))
			size := int(rng.Uint64() % 3000)
			mustWriteFile(t, p, randomBytes(rng.Uint64(), size), 0o644)
			chmod(t, p, modes[f%len(modes)])
			st.regular++
		}
	}
	odd := filepath.Join(root, "odd names")
	mustMkdir(t, odd, 0o755)
	for i, n := range oddNames {
		mustWriteFile(t, filepath.Join(odd, n), randomBytes(uint64(100+i), 100+i*37), 0o644)
		st.regular++
	}
	sized := filepath.Join(root, "sizes")
	mustMkdir(t, sized, 0o755)
	for _, n := range boundarySizes {
		mustWriteFile(t, filepath.Join(sized, fmt.Sprintf("size-%d.bin", n)), randomBytes(uint64(n), n), 0o644)
		st.regular++
	}
	mustWriteFile(t, filepath.Join(sized, "empty"), nil, 0o644)
	st.regular++
	mustMkdir(t, filepath.Join(root, "empty-dir"), 0o755)
	deep := filepath.Join(append([]string{root, "deep"}, strings.Split(strings.Repeat("level/", 20), "/")...)...)
	mustMkdir(t, deep, 0o755)
	mustWriteFile(t, filepath.Join(deep, "bottom.txt"), []byte("deep down\n"), 0o644)
	st.regular++
	mustMkdir(t, filepath.Join(root, "private"), 0o700)

	st.symlinks = makeSymlinks(t, root)
	st.hardlinks = makeHardlinks(t, root)
	st.xattrs = makeXattrs(t, root)
	setOldTimes(t, root, rng.Uint64())
	return st
}

func makeSymlinks(t *testing.T, root string) int {
	t.Helper()
	links := map[string]string{
		"link-relative":         "dir-00/file-0000.txt",
		"link-absolute-missing": "/nonexistent/target/path",
		"link-to-dir":           "dir-01",
		"dir-02/link-up":        "../odd names/with space.txt",
		"link-unicode":          "odd names/ünïcødé-файл-文件-🎉.txt",
		"link-long-target":      strings.Repeat("a/", 500) + "end",
	}
	for name, target := range links {
		if err := os.Symlink(target, filepath.Join(root, name)); err != nil {
			t.Fatal(err)
		}
	}
	return len(links)
}

func makeHardlinks(t *testing.T, root string) int {
	t.Helper()
	dir := filepath.Join(root, "hardlinks")
	mustMkdir(t, dir, 0o755)
	mustWriteFile(t, filepath.Join(dir, "orig-a"), randomBytes(11, 5000), 0o644)
	mustWriteFile(t, filepath.Join(dir, "orig-b"), randomBytes(12, 2*blockSize+7), 0o600)
	links := [][2]string{
		{"hardlinks/orig-a", "hardlinks/link-a-1"},
		{"hardlinks/orig-a", "dir-03/link-a-2"},
		{"hardlinks/orig-b", "hardlinks/link b with space"},
	}
	for _, l := range links {
		if err := os.Link(filepath.Join(root, l[0]), filepath.Join(root, l[1])); err != nil {
			t.Fatal(err)
		}
	}
	return len(links)
}

func makeXattrs(t *testing.T, root string) int {
	t.Helper()
	set := func(rel, name string, value []byte) {
		if err := unix.Setxattr(filepath.Join(root, rel), name, value, 0); err != nil {
			t.Fatalf("setxattr %s %s: %v (the source tree needs a file system with user xattrs)", rel, name, err)
		}
	}
	n := 0
	for i := 0; i < 20; i++ {
		rel := fmt.Sprintf("dir-04/file-%04d.txt", i)
		set(rel, "user.comment", []byte(fmt.Sprintf("backup item %d", i)))
		set(rel, fmt.Sprintf("user.binary.%d", i), append([]byte{0, 1, 2, 0xff, 0}, randomBytes(uint64(i), i*10)...))
		n += 2
	}
	set("dir-05", "user.dir-attribute", []byte("on a directory"))
	set("sizes/size-65536.bin", "user.large", randomBytes(99, 4000))
	set("odd names/with space.txt", "user.empty", nil)
	set("hardlinks/orig-a", "user.shared-by-links", []byte("one inode"))
	return n + 4
}

// setOldTimes gives every entry an mtime in the past, deepest first so that
// setting a child's time does not disturb its parent's afterwards.
func setOldTimes(t *testing.T, root string, seed uint64) {
	t.Helper()
	rng := newRand(seed)
	var paths []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		paths = append(paths, p)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	base := time.Date(2015, 3, 14, 15, 9, 26, 0, time.UTC).Unix()
	for i := len(paths) - 1; i >= 0; i-- {
		sec := base + int64(rng.Uint64()%(5*365*86400))
		ts := []unix.Timespec{{Sec: sec, Nsec: int64(rng.Uint64() % 1e9)}, {Sec: sec, Nsec: int64(rng.Uint64() % 1e9)}}
		if err := unix.UtimesNanoAt(unix.AT_FDCWD, paths[i], ts, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			t.Fatalf("utimensat %s: %v", paths[i], err)
		}
	}
}

func chmod(t *testing.T, p string, mode os.FileMode) {
	t.Helper()
	if err := os.Chmod(p, mode); err != nil {
		t.Fatal(err)
	}
}

// entryInfo is what compareTrees checks of one tree entry.
type entryInfo struct {
	mode   uint32 // type and permission bits
	size   int64
	mtime  int64 // seconds
	sum    string
	link   string
	xattrs string // sorted name=value list of user.* xattrs
	ino    uint64
	nlink  uint64
}

// scanTree describes every entry under root by its path relative to root.
func scanTree(t *testing.T, root string) map[string]entryInfo {
	t.Helper()
	out := map[string]entryInfo{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		var st unix.Stat_t
		if err := unix.Lstat(p, &st); err != nil {
			return fmt.Errorf("lstat %s: %w", p, err)
		}
		e := entryInfo{mode: st.Mode, mtime: st.Mtim.Sec, ino: st.Ino, nlink: uint64(st.Nlink)}
		switch st.Mode & syscall.S_IFMT {
		case syscall.S_IFREG:
			e.size = st.Size
			if e.sum, err = hashFile(p); err != nil {
				return fmt.Errorf("read %s: %w", p, err)
			}
		case syscall.S_IFLNK:
			if e.link, err = os.Readlink(p); err != nil {
				return err
			}
		}
		if e.xattrs, err = userXattrs(p); err != nil {
			return fmt.Errorf("xattrs of %s: %w", p, err)
		}
		out[rel] = e
		return nil
	})
	if err != nil {
		t.Fatalf("scan %s: %v", root, err)
	}
	return out
}

// userXattrs lists p's user.* xattrs (not sealfs's own user.sealfs.*).
func userXattrs(p string) (string, error) {
	buf := make([]byte, 64<<10)
	n, err := unix.Llistxattr(p, buf)
	if err != nil {
		return "", fmt.Errorf("llistxattr: %w", err)
	}
	var attrs []string
	for _, name := range strings.Split(string(buf[:n]), "\x00") {
		if !strings.HasPrefix(name, "user.") || strings.HasPrefix(name, "user.sealfs.") {
			continue
		}
		val := make([]byte, 64<<10)
		vn, err := unix.Lgetxattr(p, name, val)
		if err != nil {
			return "", fmt.Errorf("lgetxattr %s: %w", name, err)
		}
		attrs = append(attrs, fmt.Sprintf("%s=%x", name, val[:vn]))
	}
	sort.Strings(attrs)
	return strings.Join(attrs, ","), nil
}

// compareTrees fails the test unless got holds exactly want's entries with
// the same types, modes, sizes, contents, link targets, mtimes (seconds),
// user xattrs and hard-link structure.
func compareTrees(t *testing.T, want, got string) {
	t.Helper()
	w, g := scanTree(t, want), scanTree(t, got)
	var problems []string
	for _, rel := range sortedKeys(w) {
		we, ok := g[rel]
		if !ok {
			problems = append(problems, fmt.Sprintf("%q: missing", rel))
			continue
		}
		problems = append(problems, entryProblems(rel, w[rel], we)...)
	}
	for rel := range g {
		if _, ok := w[rel]; !ok {
			problems = append(problems, fmt.Sprintf("%q: unexpected extra entry", rel))
		}
	}
	problems = append(problems, hardlinkProblems(w, g)...)
	if len(problems) > 0 {
		shown := problems[:min(len(problems), 25)]
		t.Errorf("%s differs from %s in %d ways:\n  %s", got, want, len(problems), strings.Join(shown, "\n  "))
	}
}

func entryProblems(rel string, w, g entryInfo) []string {
	var p []string
	add := func(what string, gv, wv any) { p = append(p, fmt.Sprintf("%q: %s %v, want %v", rel, what, gv, wv)) }
	if g.mode != w.mode {
		add("mode", fmt.Sprintf("%o", g.mode), fmt.Sprintf("%o", w.mode))
	}
	if g.size != w.size {
		add("size", g.size, w.size)
	}
	if g.sum != w.sum {
		add("sha256", g.sum, w.sum)
	}
	if g.link != w.link {
		add("symlink target", g.link, w.link)
	}
	if g.mtime != w.mtime {
		add("mtime", time.Unix(g.mtime, 0).UTC(), time.Unix(w.mtime, 0).UTC())
	}
	if g.xattrs != w.xattrs {
		add("user xattrs", g.xattrs, w.xattrs)
	}
	return p
}

// hardlinkProblems checks that names sharing an inode in want share one in
// got, with the same link count.
func hardlinkProblems(w, g map[string]entryInfo) []string {
	groups := map[uint64][]string{}
	for rel, e := range w {
		if e.mode&syscall.S_IFMT == syscall.S_IFREG && e.nlink > 1 {
			groups[e.ino] = append(groups[e.ino], rel)
		}
	}
	var p []string
	for _, names := range groups {
		sort.Strings(names)
		first, ok := g[names[0]]
		for _, n := range names {
			e, ok2 := g[n]
			if !ok || !ok2 {
				continue // reported as missing
			}
			if e.ino != first.ino || e.nlink != w[n].nlink {
				p = append(p, fmt.Sprintf("%q: inode %d nlink %d, want the inode of %q (%d) and nlink %d",
					n, e.ino, e.nlink, names[0], first.ino, w[n].nlink))
			}
		}
	}
	return p
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// mutateBackupTree changes a tree made by generateBackupTree the way a day of
// work does: edits (other sizes, same size), deletions, new files and
// directories, a rename, a mode change, xattr changes and a replaced symlink.
func mutateBackupTree(t *testing.T, root string) {
	t.Helper()
	p := func(rel string) string { return filepath.Join(root, rel) }
	for i := 0; i < 10; i++ {
		mustWriteFile(t, p(fmt.Sprintf("dir-06/file-%04d.txt", i)), randomBytes(uint64(6000+i), 500+i*900), 0o644)
		old, err := os.ReadFile(p(fmt.Sprintf("dir-07/file-%04d.txt", i)))
		if err != nil {
			t.Fatal(err)
		}
		mustWriteFile(t, p(fmt.Sprintf("dir-07/file-%04d.txt", i)), randomBytes(uint64(7000+i), len(old)), 0o644)
	}
	for i := 0; i < 5; i++ {
		if err := os.Remove(p(fmt.Sprintf("dir-08/file-%04d.txt", i))); err != nil {
			t.Fatal(err)
		}
		mustWriteFile(t, p(fmt.Sprintf("dir-09/new-file-%d.txt", i)), randomBytes(uint64(9000+i), 100*i), 0o600)
	}
	mustMkdir(t, p("new-dir/nested"), 0o750)
	mustWriteFile(t, p("new-dir/nested/big.bin"), randomBytes(77, 3*blockSize+3), 0o644)
	if err := os.Rename(p("dir-10/file-0000.txt"), p("dir-10/renamed-file.txt")); err != nil {
		t.Fatal(err)
	}
	chmod(t, p("dir-11/file-0000.txt"), 0o700)
	if err := os.RemoveAll(p("dir-12")); err != nil {
		t.Fatal(err)
	}
	grow, err := os.OpenFile(p("sizes/size-65536.bin"), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := grow.Write(randomBytes(78, 100)); err != nil {
		t.Fatal(err)
	}
	if err := grow.Close(); err != nil {
		t.Fatal(err)
	}
	if err := unix.Setxattr(p("dir-04/file-0000.txt"), "user.comment", []byte("changed"), 0); err != nil {
		t.Fatal(err)
	}
	if err := unix.Removexattr(p("dir-04/file-0001.txt"), "user.comment"); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(p("link-to-dir")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("dir-02", p("link-to-dir")); err != nil {
		t.Fatal(err)
	}
}
