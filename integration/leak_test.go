package integration

import (
	"bytes"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// TestNoPlaintextInStore writes distinctive content, names, link targets
// and xattrs, unmounts, and scans every byte of every file in the store for
// them.
func TestNoPlaintextInStore(t *testing.T) {
	marker := "SEALFS-PLAINTEXT-MARKER-" + uniqueHex(t, 32)
	name := func(prefix string) string { return prefix + uniqueHex(t, 16) }
	var (
		dir        = name("leakcheckdir-")
		subdir     = name("leakchecksubdir-")
		small      = name("leakchecksmall-") + ".txt"
		large      = name("leakchecklarge-") + ".dat"
		straddle   = name("leakcheckstraddle-") + ".bin"
		renamedSrc = name("leakcheckrenamedfrom-")
		renamedDst = name("leakcheckrenamedto-")
		deleted    = name("leakcheckdeleted-")
		symlink    = name("leakchecksymlink-")
		target     = name("leakchecktarget-")
		hardlink   = name("leakcheckhardlink-")
		unicode    = name("leakcheck-ünïcødé-файл-")
		xattrName  = name("leakcheckxattr")
		xattrValue = name("leakcheckxattrvalue-")
	)
	needles := []string{marker, dir, subdir, small, large, straddle, renamedSrc, renamedDst,
		deleted, symlink, target, hardlink, unicode, xattrName, xattrValue}

	m := mountSealfs(t)
	d := filepath.Join(m.Dir, dir, subdir)
	mustMkdir(t, d, 0o755)
	mustWriteFile(t, filepath.Join(d, small), []byte(marker), 0o644)
	mustWriteFile(t, filepath.Join(d, large), bytes.Repeat([]byte(marker+"\n"), 300<<10/(len(marker)+1)), 0o644)
	content := randomBytes(1, 200<<10)
	copy(content[blockSize-20:], marker) // crosses the first block boundary
	mustWriteFile(t, filepath.Join(d, straddle), content, 0o644)
	mustWriteFile(t, filepath.Join(m.Dir, renamedSrc), []byte(marker+" renamed"), 0o600)
	if err := os.Rename(filepath.Join(m.Dir, renamedSrc), filepath.Join(m.Dir, dir, renamedDst)); err != nil {
		t.Fatal(err)
	}
	mustWriteFile(t, filepath.Join(m.Dir, deleted), []byte(marker+" deleted"), 0o600)
	if err := os.Remove(filepath.Join(m.Dir, deleted)); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, filepath.Join(m.Dir, symlink)); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(filepath.Join(d, small), filepath.Join(m.Dir, hardlink)); err != nil {
		t.Fatal(err)
	}
	mustWriteFile(t, filepath.Join(m.Dir, unicode), []byte(marker), 0o644)
	if err := unix.Setxattr(filepath.Join(d, small), "user."+xattrName, []byte(xattrValue), 0); err != nil {
		t.Fatalf("setxattr: %v", err)
	}
	compareBytes(t, filepath.Join(d, straddle), content)
	m.Unmount(t)

	if n := countRegularFiles(t, filepath.Join(m.Store, "data")); n < 5 {
		t.Errorf("store data holds %d files, want at least one per written file (5)", n)
	}
	for _, hit := range findNeedles(t, m.Store, needles) {
		t.Errorf("plaintext in the store: %s", hit)
	}
}

// TestNeedleScanner checks the scanner itself, so that a broken scanner
// cannot make TestNoPlaintextInStore pass.
func TestNeedleScanner(t *testing.T) {
	root := t.TempDir()
	needle := "NEEDLE-" + uniqueHex(t, 32)
	b := make([]byte, 3*scanChunk)
	copy(b[scanChunk-5:], needle) // crosses a read boundary
	mustMkdir(t, filepath.Join(root, "a"), 0o755)
	mustWriteFile(t, filepath.Join(root, "a", "f"), b, 0o644)
	mustWriteFile(t, filepath.Join(root, "named-"+needle), nil, 0o644)
	hits := findNeedles(t, root, []string{needle, "absent-needle"})
	if len(hits) != 2 {
		t.Fatalf("findNeedles found %d hits, want 2 (content across a chunk boundary and a name): %q", len(hits), hits)
	}
}

const scanChunk = 1 << 20

// findNeedles reads every file under root and reports each needle found in
// a file's contents or in a path.
func findNeedles(t *testing.T, root string, needles []string) []string {
	t.Helper()
	var hits []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		for _, n := range needles {
			if strings.Contains(rel, n) {
				hits = append(hits, fmt.Sprintf("%q in the path %s", n, rel))
			}
		}
		if !d.Type().IsRegular() {
			return nil
		}
		found, err := scanFile(p, needles)
		for _, f := range found {
			hits = append(hits, fmt.Sprintf("%q in %s", f, rel))
		}
		return err
	})
	if err != nil {
		t.Fatalf("scan %s: %v", root, err)
	}
	return hits
}

// scanFile returns the needles that occur in the file at p, reading it in
// chunks that overlap by the longest needle.
func scanFile(p string, needles []string) ([]string, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	overlap := 0
	for _, n := range needles {
		overlap = max(overlap, len(n)-1)
	}
	found := map[string]bool{}
	buf := make([]byte, overlap+scanChunk)
	kept := 0
	for {
		n, err := io.ReadFull(f, buf[kept:])
		window := buf[:kept+n]
		for _, nd := range needles {
			if bytes.Contains(window, []byte(nd)) {
				found[nd] = true
			}
		}
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			break
		}
		if err != nil {
			return nil, err
		}
		kept = copy(buf, window[len(window)-overlap:])
	}
	return sortedKeys(found), nil
}

func countRegularFiles(t *testing.T, root string) int {
	t.Helper()
	n := 0
	err := filepath.WalkDir(root, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			n++
		}
		return err
	})
	if err != nil {
		t.Fatalf("walk %s: %v", root, err)
	}
	return n
}

// compareBytes fails the test unless the file at p holds exactly want.
func compareBytes(t *testing.T, p string, want []byte) {
	t.Helper()
	got, err := os.ReadFile(p)
	if err != nil {
		t.Errorf("read %s: %v", p, err)
		return
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s: %s", p, describeDiff(got, want))
	}
}
