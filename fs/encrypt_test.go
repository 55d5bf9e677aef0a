package fs_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

func getxattr(t *testing.T, p, name string) string {
	t.Helper()
	buf := make([]byte, 64)
	n, err := unix.Getxattr(p, name, buf)
	if err != nil {
		t.Fatalf("getxattr %s %s: %v", p, name, err)
	}
	return string(buf[:n])
}

// TestEncryptionToggle: user.sealfs.encrypt switches a directory's
// encryption; files made in it afterwards are plain (their bytes are in
// the store as written, still read back intact), directories made in it
// inherit the switch, files already there keep theirs, and a file's
// later versions keep the kind of its first.
func TestEncryptionToggle(t *testing.T) {
	mnt, st := mountFS(t)
	dir := filepath.Join(mnt, "plain")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if got := getxattr(t, dir, "user.sealfs.encrypt"); got != "true" {
		t.Fatalf("a new directory's toggle is %q, want true", got)
	}
	old := filepath.Join(dir, "old")
	if err := os.WriteFile(old, []byte("written before"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := unix.Setxattr(dir, "user.sealfs.encrypt", []byte("false"), 0); err != nil {
		t.Fatal(err)
	}
	if err := unix.Setxattr(dir, "user.sealfs.encrypt", []byte("perhaps"), 0); !errors.Is(err, syscall.EINVAL) {
		t.Errorf("toggle set to perhaps: %v, want EINVAL", err)
	}
	marker := []byte("a plain file's bytes, findable in the store")
	p := filepath.Join(dir, "new")
	if err := os.WriteFile(p, marker, 0o644); err != nil {
		t.Fatal(err)
	}
	sub := filepath.Join(dir, "sub")
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]string{p: "false", old: "true"} {
		if got := getxattr(t, path, "user.sealfs.encrypted"); got != want {
			t.Errorf("%s: encrypted %q, want %q", path, got, want)
		}
	}
	if got := getxattr(t, sub, "user.sealfs.encrypt"); got != "false" {
		t.Errorf("a directory made in a plain one has toggle %q", got)
	}
	// Overwritten in place and appended to: still plain.
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write([]byte(" (appended)")); err != nil {
		t.Fatal(err)
	}
	f.Close()
	want := append(bytes.Clone(marker), " (appended)"...)
	if got, err := os.ReadFile(p); err != nil || !bytes.Equal(got, want) {
		t.Fatalf("read back: %q, %v", got, err)
	}
	if got := getxattr(t, p, "user.sealfs.encrypted"); got != "false" {
		t.Errorf("after an append: encrypted %q", got)
	}
	if err := st.Meta.Sync(); err != nil {
		t.Fatal(err)
	}
	if !storeHolds(t, st.Dir, marker) {
		t.Error("the plain file's bytes are not in the store as written")
	}
	if storeHolds(t, st.Dir, []byte("written before")) {
		t.Error("the file written before the switch is in the store in clear")
	}
}

// storeHolds reports whether any data file of the store contains b.
func storeHolds(t *testing.T, storeDir string, b []byte) bool {
	t.Helper()
	found := false
	filepath.WalkDir(filepath.Join(storeDir, "data"), func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if data, err := os.ReadFile(p); err == nil && bytes.Contains(data, b) {
				found = true
			}
		}
		return nil
	})
	return found
}
