package integration

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

const (
	// tamperPlainSize is the size of each tampered file: four full blocks
	// and a partial fifth.
	tamperPlainSize = 300 << 10
	// blockOverhead is the per-block nonce and tag of the ciphertext.
	blockOverhead = 28
)

// tamperCase corrupts the ciphertext of victims files of tamperPlainSize.
type tamperCase struct {
	name    string
	victims int
	tamper  func(t *testing.T, files []string)
}

// tamperCases are the attacks DESIGN.md promises to detect.
var tamperCases = []tamperCase{
	{"flipped byte", 1, func(t *testing.T, f []string) { flipMiddleByte(t, f[0]) }},
	{"cut at a block boundary", 1, func(t *testing.T, f []string) { truncateFile(t, f[0], blockOffset(t, f[0], 4)) }},
	{"cut mid-block", 1, func(t *testing.T, f []string) { truncateFile(t, f[0], blockOffset(t, f[0], 2)+1000) }},
	{"extended by a block", 1, func(t *testing.T, f []string) { appendBytes(t, f[0], randomBytes(9, blockSize+blockOverhead)) }},
	{"blocks swapped", 1, func(t *testing.T, f []string) {
		a, b := readBlock(t, f[0], 1), readBlock(t, f[0], 2)
		writeBlock(t, f[0], 1, b)
		writeBlock(t, f[0], 2, a)
	}},
	{"header block size raised to 16 MiB", 1, func(t *testing.T, f []string) {
		// Version 2 header: block size at offset 10; the header tag fails.
		patchFile(t, f[0], 10, []byte{1, 0, 0, 0})
	}},
	{"two files' ciphertexts swapped", 2, func(t *testing.T, f []string) {
		a, _ := os.ReadFile(f[0])
		b, _ := os.ReadFile(f[1])
		mustWriteFile(t, f[0], b, 0o600)
		mustWriteFile(t, f[1], a, 0o600)
	}},
	{"block moved between files", 2, func(t *testing.T, f []string) {
		a, b := readBlock(t, f[0], 1), readBlock(t, f[1], 1)
		writeBlock(t, f[0], 1, b)
		writeBlock(t, f[1], 1, a)
	}},
}

// TestTamperedCiphertext corrupts the ciphertext of files in a store while
// it is unmounted: reading them must fail with EIO and the daemon must log
// their paths, while other files still read correctly.
func TestTamperedCiphertext(t *testing.T) {
	for _, tc := range tamperCases {
		t.Run(tc.name, func(t *testing.T) { runTamperCase(t, tc) })
	}
}

func runTamperCase(t *testing.T, tc tamperCase) {
	bystanders := map[string][]byte{
		"tamper-bystander-one.txt": []byte("first small file, must stay readable\n"),
		"tamper-bystander-two.txt": randomBytes(301, 4000),
	}
	m := mountSealfs(t, tolerateExitError())
	var victims []string
	for i := 0; i < tc.victims; i++ {
		name := fmt.Sprintf("tamper-victim-%d.bin", i)
		victims = append(victims, name)
		mustWriteFile(t, filepath.Join(m.Dir, name), randomBytes(uint64(300+i), tamperPlainSize), 0o644)
	}
	for name, data := range bystanders {
		mustWriteFile(t, filepath.Join(m.Dir, name), data, 0o644)
	}
	m.Unmount(t)

	tc.tamper(t, dataFilesLargerThan(t, m.Store, 200<<10, tc.victims))

	m = m.Remount(t)
	for _, name := range victims {
		p := filepath.Join(m.Dir, name)
		got, err := os.ReadFile(p)
		if !errors.Is(err, syscall.EIO) {
			t.Errorf("reading tampered %s: got %d bytes and error %v, want EIO", name, len(got), err)
		}
		if tc.name == "flipped byte" {
			if r := runTool(t, "cat", p); r.Code == 0 || !strings.Contains(r.Stderr, "Input/output error") {
				t.Errorf("cat of tampered %s: exit %d, stderr %q; want a failure with \"Input/output error\"", name, r.Code, r.Stderr)
			}
		}
		if want := "path=/" + name; !m.waitForLog(want, 5*time.Second) {
			t.Errorf("daemon log does not contain %q; log:\n%s", want, tail(m.Stderr(), 30))
		}
	}
	for name, data := range bystanders {
		compareBytes(t, filepath.Join(m.Dir, name), data)
	}
}

// dataFilesLargerThan returns the files under STORE/data bigger than
// minSize, failing the test unless there are exactly want of them.
func dataFilesLargerThan(t *testing.T, store string, minSize int64, want int) []string {
	t.Helper()
	var found []string
	err := filepath.WalkDir(filepath.Join(store, "data"), func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		fi, err := d.Info()
		if err == nil && fi.Size() > minSize {
			found = append(found, p)
		}
		return err
	})
	if err != nil {
		t.Fatalf("walk store data: %v", err)
	}
	if len(found) != want {
		t.Fatalf("want %d data files larger than %d bytes in %s/data, found %q", want, minSize, store, found)
	}
	return found
}

// blockOffset returns where ciphertext block i starts in the data file p of
// a tamperPlainSize file, deriving the header size from the file size.
func blockOffset(t *testing.T, p string, i int64) int64 {
	t.Helper()
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	blocks := int64((tamperPlainSize + blockSize - 1) / blockSize)
	header := fi.Size() - tamperPlainSize - blocks*blockOverhead
	if header <= 0 || header > 4096 {
		t.Fatalf("%s: %d bytes do not look like a header plus %d blocks of %d bytes with %d bytes overhead",
			p, fi.Size(), blocks, blockSize, blockOverhead)
	}
	return header + i*(blockSize+blockOverhead)
}

func readBlock(t *testing.T, p string, i int64) []byte {
	t.Helper()
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, blockSize+blockOverhead)
	if _, err := f.ReadAt(b, blockOffset(t, p, i)); err != nil {
		t.Fatalf("read block %d of %s: %v", i, p, err)
	}
	return b
}

func writeBlock(t *testing.T, p string, i int64, b []byte) {
	t.Helper()
	off := blockOffset(t, p, i)
	f, err := os.OpenFile(p, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatalf("write block %d of %s: %v", i, p, err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

func truncateFile(t *testing.T, p string, size int64) {
	t.Helper()
	if err := os.Truncate(p, size); err != nil {
		t.Fatal(err)
	}
}

func appendBytes(t *testing.T, p string, b []byte) {
	t.Helper()
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// flipMiddleByte inverts the byte in the middle of the file at p.
func flipMiddleByte(t *testing.T, p string) {
	t.Helper()
	f, err := os.OpenFile(p, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 1)
	off := fi.Size() / 2
	if _, err := f.ReadAt(b, off); err != nil {
		t.Fatal(err)
	}
	b[0] ^= 0xff
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// patchFile overwrites p at off with b.
func patchFile(t *testing.T, p string, off int64, b []byte) {
	t.Helper()
	f, err := os.OpenFile(p, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
}
