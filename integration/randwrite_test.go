package integration

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

// fileOp is one shell-level operation on a file, run identically on sealfs
// and on a plain directory.
type fileOp struct {
	desc string
	argv func(rnd, file string) []string
}

// ddAt writes n bytes taken from offset skip of the random file at byte
// offset off, keeping the rest of the file.
func ddAt(off, n, skip int64) fileOp {
	return fileOp{fmt.Sprintf("dd %d bytes at %d", n, off), func(rnd, f string) []string {
		return []string{"dd", "if=" + rnd, "of=" + f, "bs=" + itoa(n), "count=1", "seek=" + itoa(off),
			"skip=" + itoa(skip), "oflag=seek_bytes", "iflag=skip_bytes,fullblock", "conv=notrunc", "status=none"}
	}}
}

// ddBytewise writes n bytes at off with one write(2) per byte.
func ddBytewise(off, n int64) fileOp {
	return fileOp{fmt.Sprintf("dd bs=1 count=%d seek=%d", n, off), func(rnd, f string) []string {
		return []string{"dd", "if=" + rnd, "of=" + f, "bs=1", "count=" + itoa(n), "seek=" + itoa(off),
			"skip=" + itoa(off%4096), "conv=notrunc", "status=none"}
	}}
}

// ddBlocks writes count blocks of bs bytes starting at block seek.
func ddBlocks(bs, seek, count int64) fileOp {
	return fileOp{fmt.Sprintf("dd bs=%d seek=%d count=%d", bs, seek, count), func(rnd, f string) []string {
		return []string{"dd", "if=" + rnd, "of=" + f, "bs=" + itoa(bs), "seek=" + itoa(seek), "count=" + itoa(count),
			"iflag=fullblock", "conv=notrunc", "status=none"}
	}}
}

// ddCutAt truncates the file at off and writes n bytes there (dd without
// conv=notrunc).
func ddCutAt(off, n int64) fileOp {
	return fileOp{fmt.Sprintf("dd (truncating) %d bytes at %d", n, off), func(rnd, f string) []string {
		return []string{"dd", "if=" + rnd, "of=" + f, "bs=" + itoa(n), "count=1", "seek=" + itoa(off),
			"oflag=seek_bytes", "iflag=fullblock", "status=none"}
	}}
}

// ddAppend appends n bytes with O_APPEND.
func ddAppend(n int64) fileOp {
	return fileOp{fmt.Sprintf("dd append %d bytes", n), func(rnd, f string) []string {
		return []string{"dd", "if=" + rnd, "of=" + f, "bs=" + itoa(n), "count=1", "skip=7",
			"iflag=skip_bytes,fullblock", "oflag=append", "conv=notrunc", "status=none"}
	}}
}

func truncateTo(size int64) fileOp {
	return fileOp{fmt.Sprintf("truncate -s %d", size), func(_, f string) []string {
		return []string{"truncate", "-s", itoa(size), f}
	}}
}

// copyOver replaces the file's contents with cp (open with O_TRUNC).
func copyOver() fileOp {
	return fileOp{"cp over the file (O_TRUNC)", func(rnd, f string) []string {
		return []string{"cp", rnd, f}
	}}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

const mib = 1 << 20

// randomWriteScenarios are per-file operation sequences around block edges,
// holes and truncation in both directions.
var randomWriteScenarios = []struct {
	file string
	ops  []fileOp
}{
	{"boundaries.bin", []fileOp{
		ddAt(0, 200000, 0),
		ddBytewise(0, 1),
		ddBytewise(65535, 1),
		ddBytewise(65536, 1),
		ddBytewise(65537, 1),
		ddBytewise(65535, 3),
		ddAt(131071, 2, 777),
		ddAt(2*blockSize+500, 100, 1234),
		ddAt(65530, 70000, 4321),
		ddAt(1000000, 10, 99), // far past EOF: a hole
		truncateTo(150000),    // down, mid-block
		truncateTo(300000),    // up: the old tail must read back as zeros
		truncateTo(65536),
		ddAppend(100),
		truncateTo(65535),
		ddAt(65536, 1, 5), // one byte past EOF
		truncateTo(0),
		ddAt(65537, 10, 6),
		ddBlocks(blockSize, 1, 3),
		ddCutAt(100000, 50),
	}},
	{"sparse.bin", []fileOp{
		truncateTo(10 * mib),
		ddAt(5*mib-1000, 100<<10, 0),
		truncateTo(20 * mib),
		ddAt(15*mib+65535, 3, 1),
		ddAt(20*mib+5*blockSize, 1, 2),
		truncateTo(5 * mib),
	}},
	{"small.bin", []fileOp{
		ddAt(0, 100, 0),
		ddAt(65536, 1, 1),
		ddAt(50, 10, 2),
		truncateTo(70),
		truncateTo(70000),
		ddAt(69999, 2, 3),
	}},
	{"replaced.bin", []fileOp{
		ddAt(0, 300000, 0),
		copyOver(),
		ddAt(100, 5, 1),
	}},
	{"blocks.bin", []fileOp{
		ddBlocks(4096, 15, 2),
		ddBlocks(blockSize, 2, 2),
		ddBlocks(mib, 1, 1),
		ddBlocks(512, 255, 3),
	}},
}

// afterRemountOps modify every file again once it is sealed and remounted,
// which goes through copy-on-write of a stored version.
var afterRemountOps = []fileOp{
	ddBytewise(65535, 3),
	ddAt(131000, 200, 55),
	ddAppend(1000),
	truncateTo(123457),
}

// TestRandomWrites runs the same dd/truncate sequences on sealfs and on a
// plain directory and compares the files after every step and after a
// remount.
func TestRandomWrites(t *testing.T) {
	requireTools(t, "dd", "truncate")
	rnd := filepath.Join(t.TempDir(), "random-input")
	writeRandomFile(t, rnd, 2*mib, 42)
	plain := t.TempDir()
	m := mountSealfs(t)
	for _, sc := range randomWriteScenarios {
		applyOps(t, rnd, plain, m.Dir, sc.file, sc.ops)
	}
	m = m.Remount(t)
	for _, sc := range randomWriteScenarios {
		if sameFile(t, filepath.Join(m.Dir, sc.file), filepath.Join(plain, sc.file), sc.file+" after remount") {
			applyOps(t, rnd, plain, m.Dir, sc.file, afterRemountOps)
		}
	}
	m.Remount(t)
	for _, sc := range randomWriteScenarios {
		sameFile(t, filepath.Join(m.Dir, sc.file), filepath.Join(plain, sc.file), sc.file+" after the second remount")
	}
}

// applyOps runs ops on file in the plain directory and on the mount,
// comparing the two after every step; it stops at the first difference.
func applyOps(t *testing.T, rnd, plain, mnt, file string, ops []fileOp) {
	t.Helper()
	for i, op := range ops {
		step := fmt.Sprintf("%s step %d (%s)", file, i+1, op.desc)
		pargv := op.argv(rnd, filepath.Join(plain, file))
		if r := runTool(t, pargv[0], pargv[1:]...); r.Code != 0 {
			t.Fatalf("%s on a plain directory exited %d: %s", step, r.Code, r.Stderr)
		}
		argv := op.argv(rnd, filepath.Join(mnt, file))
		if r := runTool(t, argv[0], argv[1:]...); r.Code != 0 {
			t.Errorf("%s on sealfs exited %d: %s", step, r.Code, r.Stderr)
			return
		}
		if !sameFile(t, filepath.Join(mnt, file), filepath.Join(plain, file), step) {
			return // later steps would only repeat the difference
		}
	}
}

// sameFile reports whether got has want's size and bytes, failing the test
// with the first difference if not.
func sameFile(t *testing.T, got, want, context string) bool {
	t.Helper()
	gi, err := os.Stat(got)
	if err != nil {
		t.Errorf("%s: %v", context, err)
		return false
	}
	wi, err := os.Stat(want)
	if err != nil {
		t.Fatalf("%s: %v", context, err)
	}
	g, err := os.ReadFile(got)
	if err != nil {
		t.Errorf("%s: read: %v", context, err)
		return false
	}
	w, err := os.ReadFile(want)
	if err != nil {
		t.Fatal(err)
	}
	ok := true
	if gi.Size() != wi.Size() {
		t.Errorf("%s: stat size %d, want %d", context, gi.Size(), wi.Size())
		ok = false
	}
	if !bytes.Equal(g, w) {
		t.Errorf("%s: sha256 %s, want %s: %s", context, sha256Hex(g), sha256Hex(w), describeDiff(g, w))
		ok = false
	}
	return ok
}
