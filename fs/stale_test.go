package fs_test

import (
	"bytes"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// entryExpiry outlasts the kernel's entry and attribute timeouts (one
// second), so that the next stat by path sends a LOOKUP. Waiting is the
// point of the test, not a way to synchronize with anything.
const entryExpiry = 1100 * time.Millisecond

// TestSizeAfterTruncateAndWrite: after ftruncate and a write past the new
// end, stat by path, fstat and a second descriptor all see the size the
// write made, also once the kernel's caches expired and it asks the daemon
// by LOOKUP (which used to answer with the size saved at the truncation).
func TestSizeAfterTruncateAndWrite(t *testing.T) {
	mnt, _ := mountFS(t)
	p := filepath.Join(mnt, "f")
	f, err := os.OpenFile(p, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	want := make([]byte, 151552)
	copy(want, bytes.Repeat([]byte{'a'}, 43894))
	copy(want[45056:], bytes.Repeat([]byte{'b'}, 106496))
	for i := range 3 {
		if _, err := f.WriteAt(bytes.Repeat([]byte{'a'}, 790528), 0); err != nil {
			t.Fatal(err)
		}
		if err := f.Truncate(43894); err != nil {
			t.Fatal(err)
		}
		time.Sleep(entryExpiry)
		if _, err := f.WriteAt(bytes.Repeat([]byte{'b'}, 106496), 45056); err != nil {
			t.Fatal(err)
		}
		var st, fst syscall.Stat_t
		if err := syscall.Stat(p, &st); err != nil {
			t.Fatal(err)
		}
		if err := syscall.Fstat(int(f.Fd()), &fst); err != nil {
			t.Fatal(err)
		}
		if st.Size != 151552 || fst.Size != 151552 {
			t.Fatalf("round %d: stat size %d, fstat size %d, want 151552", i, st.Size, fst.Size)
		}
		got, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("round %d: a second descriptor read %d bytes, want %d equal to what was written", i, len(got), len(want))
		}
	}
}
