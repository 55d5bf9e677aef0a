package integration

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCat: one file's plaintext from the mounted daemon, from the unmounted
// store, and from the bucket alone; a missing path is bad input and a
// damaged ciphertext an error, never wrong bytes.
func TestCat(t *testing.T) {
	_, url := fileBucket(t)
	store, key := remoteStore(t, url)
	m := mountSealfs(t, withStore(store, key))
	want := randomBytes(77, 3<<20+17)
	mustMkdir(t, filepath.Join(m.Dir, "app"), 0o755)
	mustWriteFile(t, filepath.Join(m.Dir, "app", "db.sql.gz"), want, 0o644)
	syncWait(t, store, key)
	check := func(how string, args ...string) {
		t.Helper()
		r := runSealfs(t, nil, args...)
		if r.Code != 0 || !bytes.Equal([]byte(r.Stdout), want) {
			t.Fatalf("cat %s: exit %d, %d bytes (want %d); stderr %s", how, r.Code, len(r.Stdout), len(want), r.Stderr)
		}
	}
	check("through the daemon", "cat", "--store", store, "--key-file", key, "/app/db.sql.gz")
	if r := runSealfs(t, nil, "cat", "--store", store, "--key-file", key, "/app/nope"); r.Code != 2 || !strings.Contains(r.Stderr, "no such file") {
		t.Fatalf("cat of a missing path through the daemon: exit %d, %q", r.Code, r.Stderr)
	}
	m.Unmount(t)
	check("from the store", "cat", "--store", store, "--key-file", key, "app/db.sql.gz")
	check("from the bucket alone", "cat", "--remote", url, "--key-file", key, "/app/db.sql.gz")
	if r := runSealfs(t, nil, "cat", "--store", store, "--key-file", key, "/app"); r.Code != 2 {
		t.Fatalf("cat of a directory: exit %d, %q", r.Code, r.Stderr)
	}
	// A flipped bit in the local ciphertext: an error naming the file.
	files, _ := filepath.Glob(filepath.Join(store, "data", "*", "*"))
	for _, p := range files {
		b, _ := os.ReadFile(p)
		if len(b) > 3<<20 {
			b[2<<20] ^= 1
			os.WriteFile(p, b, 0o600)
		}
	}
	r := runSealfs(t, nil, "cat", "--store", store, "--key-file", key, "/app/db.sql.gz")
	if r.Code != 1 || !strings.Contains(r.Stderr, "/app/db.sql.gz") || !strings.Contains(r.Stderr, "authentication failed") {
		t.Fatalf("cat of a damaged file: exit %d, stderr %q", r.Code, r.Stderr)
	}
	if len(r.Stdout) >= len(want) {
		t.Fatalf("cat of a damaged file wrote %d bytes", len(r.Stdout))
	}
}
