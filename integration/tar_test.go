package integration

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestTarGz copies a real .tar.gz in, lists and extracts it from the mount,
// streams a second one in through a pipe, and archives the mount back out.
func TestTarGz(t *testing.T) {
	requireTools(t, "tar", "gzip", "diff")
	parent := t.TempDir()
	const project = "project-src"
	src := filepath.Join(parent, project)
	generateSourceTree(t, src)
	work := t.TempDir()
	tarball := filepath.Join(work, "project.tar.gz")
	runToolOK(t, "tar", "czf", tarball, "-C", parent, project)
	wantList := runToolOK(t, "tar", "tzf", tarball)
	if n := strings.Count(wantList, "\n"); n < 200 {
		t.Fatalf("generated tarball lists only %d entries", n)
	}

	m := mountSealfs(t)
	mntTarball := filepath.Join(m.Dir, "project.tar.gz")
	runToolOK(t, "cp", tarball, mntTarball)
	compareFiles(t, mntTarball, tarball, "cp of tarball")
	if got := runToolOK(t, "tar", "tzf", mntTarball); got != wantList {
		t.Errorf("tar tzf of the copied tarball differs from the original's listing:\n%s", firstLineDiff(got, wantList))
	}

	t.Run("extract into mount", func(t *testing.T) {
		dst := filepath.Join(m.Dir, "extract")
		mustMkdir(t, dst, 0o755)
		runToolOK(t, "tar", "xzf", mntTarball, "-C", dst)
		diffTrees(t, src, filepath.Join(dst, project))
	})
	t.Run("extract from mount", func(t *testing.T) {
		dst := t.TempDir()
		runToolOK(t, "tar", "xzf", mntTarball, "-C", dst)
		diffTrees(t, src, filepath.Join(dst, project))
	})
	t.Run("stream into mount", func(t *testing.T) {
		streamed := filepath.Join(m.Dir, "x.tar.gz")
		f, err := os.Create(streamed)
		if err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command("tar", "czf", "-", "-C", parent, project)
		var stderr lockedBuffer
		cmd.Stdout, cmd.Stderr = f, &stderr
		err = cmd.Run()
		if cerr := f.Close(); err == nil && cerr != nil {
			err = cerr
		}
		if err != nil {
			t.Fatalf("tar czf - > %s: %v: %s", streamed, err, stderr.String())
		}
		if got := runToolOK(t, "tar", "tzf", streamed); got != wantList {
			t.Errorf("tar tzf of the streamed tarball:\n%s", firstLineDiff(got, wantList))
		}
		dst := filepath.Join(m.Dir, "extract-streamed")
		mustMkdir(t, dst, 0o755)
		runToolOK(t, "tar", "xzf", streamed, "-C", dst)
		diffTrees(t, src, filepath.Join(dst, project))
	})
	t.Run("archive from mount", func(t *testing.T) {
		out := filepath.Join(t.TempDir(), "back.tar.gz")
		runToolOK(t, "tar", "czf", out, "-C", filepath.Join(m.Dir, "extract"), project)
		dst := t.TempDir()
		runToolOK(t, "tar", "xzf", out, "-C", dst)
		diffTrees(t, src, filepath.Join(dst, project))
	})

	m.Remount(t)
	compareFiles(t, mntTarball, tarball, "tarball after remount")
	if got := runToolOK(t, "tar", "tzf", filepath.Join(m.Dir, "x.tar.gz")); got != wantList {
		t.Errorf("streamed tarball after remount:\n%s", firstLineDiff(got, wantList))
	}
	diffTrees(t, src, filepath.Join(m.Dir, "extract", project))
}

// diffTrees runs `diff -r` (symlinks compared as links) and fails the test
// on any difference.
func diffTrees(t *testing.T, want, got string) {
	t.Helper()
	r := runTool(t, "diff", "-r", "--no-dereference", want, got)
	if r.Code != 0 {
		t.Errorf("diff -r %s %s exited %d:\n%s%s", want, got, r.Code, tail(r.Stdout, 30), r.Stderr)
	}
}

// firstLineDiff describes the first differing line of two listings.
func firstLineDiff(got, want string) string {
	g, w := strings.Split(got, "\n"), strings.Split(want, "\n")
	for i := 0; i < min(len(g), len(w)); i++ {
		if g[i] != w[i] {
			return fmt.Sprintf("line %d: got %q, want %q (%d vs %d lines)", i+1, g[i], w[i], len(g), len(w))
		}
	}
	return fmt.Sprintf("got %d lines, want %d", len(g), len(w))
}

// generateSourceTree writes a deterministic tree that looks like a source
// checkout: nested packages of text files, an executable script, a binary
// asset crossing several 64 KiB blocks, an empty directory and symlinks.
func generateSourceTree(t *testing.T, root string) {
	t.Helper()
	rng := newRand(7)
	for p := 0; p < 12; p++ {
		dir := filepath.Join(root, "pkg", fmt.Sprintf("module%02d", p), "internal")
		mustMkdir(t, dir, 0o755)
		for f := 0; f < 18; f++ {
			var b strings.Builder
			fmt.Fprintf(&b, "// Package module%02d is generated.\npackage module%02d\n\n", p, p)
			for l := 0; l < int(rng.Uint64()%400); l++ {
				fmt.Fprintf(&b, "func F%d_%d(x int) int { return x*%d + %d }\n", f, l, rng.Uint64()%1000, l)
			}
			mustWriteFile(t, filepath.Join(dir, fmt.Sprintf("file%02d.go", f)), []byte(b.String()), 0o644)
		}
	}
	mustMkdir(t, filepath.Join(root, "assets"), 0o755)
	mustWriteFile(t, filepath.Join(root, "assets", "logo.bin"), randomBytes(8, 5*blockSize+123), 0o644)
	mustWriteFile(t, filepath.Join(root, "assets", "empty.txt"), nil, 0o644)
	mustWriteFile(t, filepath.Join(root, "build.sh"), []byte("#!/bin/sh\nset -e\ngo build ./...\n"), 0o755)
	mustMkdir(t, filepath.Join(root, "empty-dir"), 0o755)
	if err := os.Symlink("pkg/module00/internal/file00.go", filepath.Join(root, "main-link.go")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("../nowhere", filepath.Join(root, "assets", "dangling")); err != nil {
		t.Fatal(err)
	}
}
