package integration

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// dataFileOf returns the store's ciphertext file of the only version whose
// ciphertext has the given size.
func dataFileOf(t *testing.T, store string, size int64) string {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(store, "data", "*", "*"))
	var found []string
	for _, p := range files {
		if fi, err := os.Stat(p); err == nil && fi.Size() == size {
			found = append(found, p)
		}
	}
	if len(found) != 1 {
		t.Fatalf("%d data files of %d bytes in %s, want 1", len(found), size, store)
	}
	return found[0]
}

// cipherSize is the version 2 ciphertext size of a plaintext of n bytes.
func cipherSize(n int64) int64 {
	blocks := max(1, (n+blockSize-1)/blockSize)
	return 58 + n + blocks*28
}

// TestCheck: a clean store checks clean (mounted and not); a deleted data
// file, a flipped bit (found with --read-data), a missing bucket object and
// a ciphertext without a record are each found, by path, with exit 1;
// --repair removes the orphan.
func TestCheck(t *testing.T) {
	bucketDir, url := fileBucket(t)
	store, key := remoteStore(t, url)
	m := mountSealfs(t, withStore(store, key))
	sizes := map[string]int64{"a/deleted.bin": 300_001, "a/flipped.bin": 300_002, "b/unsynced-object.bin": 300_003, "b/fine.bin": 300_004}
	mustMkdir(t, filepath.Join(m.Dir, "a"), 0o755)
	mustMkdir(t, filepath.Join(m.Dir, "b"), 0o755)
	for name, n := range sizes {
		mustWriteFile(t, filepath.Join(m.Dir, name), randomBytes(uint64(n), int(n)), 0o644)
	}
	syncWait(t, store, key)
	args := []string{"check", "--store", store, "--key-file", key}
	if r := runSealfs(t, nil, append(args, "--remote", "--read-data")...); r.Code != 0 {
		t.Fatalf("mounted check of a clean store: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	m.Unmount(t)
	if r := runSealfs(t, nil, append(args, "--remote", "--read-data")...); r.Code != 0 || !strings.Contains(r.Stdout, "0 problems") {
		t.Fatalf("check of a clean store: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}

	// The damage: a deleted local file, a flipped bit inside a middle
	// block, a deleted bucket object, a ciphertext no record names.
	os.Remove(dataFileOf(t, store, cipherSize(sizes["a/deleted.bin"])))
	flipped := dataFileOf(t, store, cipherSize(sizes["a/flipped.bin"]))
	b, _ := os.ReadFile(flipped)
	b[100_000] ^= 1
	os.WriteFile(flipped, b, 0o600)
	objects, _ := filepath.Glob(filepath.Join(bucketDir, "data", "*"))
	for _, p := range objects {
		if fi, _ := os.Stat(p); fi.Size() == cipherSize(sizes["b/unsynced-object.bin"]) {
			os.Remove(p)
		}
	}
	orphan := filepath.Join(store, "data", "ee", strings.Repeat("ee", 16))
	mustMkdir(t, filepath.Dir(orphan), 0o700)
	mustWriteFile(t, orphan, []byte("left over"), 0o600)

	r := runSealfs(t, nil, args...)
	// The deleted file was synced: locally it counts as evicted; without
	// --remote only the orphan is a finding.
	if r.Code != 1 || !strings.Contains(r.Stdout, strings.Repeat("ee", 16)) {
		t.Fatalf("check: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	r = runSealfs(t, nil, append(args, "--remote", "--read-data")...)
	for _, want := range []string{"/a/flipped.bin: content", "/b/unsynced-object.bin: object missing from the bucket"} {
		if !strings.Contains(r.Stdout, "damaged: "+want) {
			t.Errorf("check --remote --read-data does not report %q:\n%s", want, r.Stdout)
		}
	}
	if r.Code != 1 || strings.Contains(r.Stdout, "fine.bin") {
		t.Errorf("check --remote --read-data: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	r = runSealfs(t, nil, append(args, "--repair")...)
	if _, err := os.Stat(orphan); !os.IsNotExist(err) {
		t.Errorf("--repair left the orphan: %v\n%s%s", err, r.Stdout, r.Stderr)
	}
	if r := runSealfs(t, nil, append(args, "--read-data-subset", "200%")...); r.Code != 2 {
		t.Errorf("--read-data-subset 200%%: exit %d", r.Code)
	}
}
