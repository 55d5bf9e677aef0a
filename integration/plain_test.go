package integration

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestPlainDirectoryInTheBucket: a backup written under a directory whose
// encryption is off is, in the bucket, a readable .tar.gz under its own
// path (tar tzf lists it, its bytes are the file's), while its encrypted
// sibling is only ciphertext; renaming the file or its directory moves
// the copy, an overwrite replaces it, and a deleted or moved-away copy
// goes after the retention period.
func TestPlainDirectoryInTheBucket(t *testing.T) {
	bucketDir, url := fileBucket(t)
	store, key := remoteStore(t, url)
	m := mountSealfs(t, withStore(store, key), withMountArgs("--seal-after", "0s", "--retention", "3s"))
	mustMkdir(t, filepath.Join(m.Dir, "plain"), 0o755)
	out := runSealfsOK(t, "encryption", "--store", store, "--key-file", key, "off", "/plain").Stdout
	if !strings.Contains(out, "encryption off") {
		t.Fatalf("encryption off says %q", out)
	}
	src := filepath.Join(t.TempDir(), "app")
	generateSourceTree(t, src)
	plainArchive := runBackupKind(t, store, key, "not encrypted", "--to", "/plain", src)
	encArchive := runBackupKind(t, store, key, "encrypted", src)
	syncWait(t, store, key)

	object := func(p string) string { return filepath.Join(bucketDir, "plain", strings.TrimPrefix(p, "/")) }
	mounted, err := os.ReadFile(filepath.Join(m.Dir, plainArchive))
	if err != nil {
		t.Fatal(err)
	}
	assertObject(t, object(plainArchive), mounted)
	listing := runToolOK(t, "tar", "tzf", object(plainArchive))
	if !strings.Contains(listing, "app/build.sh") {
		t.Errorf("tar tzf of the bucket copy lists:\n%s", tail(listing, 10))
	}
	if _, err := os.Stat(object(encArchive)); !os.IsNotExist(err) {
		t.Errorf("the encrypted archive has a plain copy (%v)", err)
	}
	encBytes, _ := os.ReadFile(filepath.Join(m.Dir, encArchive))
	if bucketHolds(t, bucketDir, encBytes[:4096]) {
		t.Error("the encrypted archive's bytes are in the bucket in clear")
	}
	if ls := runSealfsOK(t, "ls", "-r", "--store", store, "--key-file", key, "/plain").Stdout; !strings.Contains(ls, "false") {
		t.Errorf("ls does not show the plain archive as not encrypted:\n%s", ls)
	}

	// A rename of the file, then of its directory, moves the copy.
	renamed := "/plain/app/renamed.tar.gz"
	if err := os.Rename(filepath.Join(m.Dir, plainArchive), filepath.Join(m.Dir, renamed)); err != nil {
		t.Fatal(err)
	}
	syncWait(t, store, key)
	assertObject(t, object(renamed), mounted)
	if err := os.Rename(filepath.Join(m.Dir, "plain", "app"), filepath.Join(m.Dir, "plain", "moved")); err != nil {
		t.Fatal(err)
	}
	syncWait(t, store, key)
	moved := "/plain/moved/renamed.tar.gz"
	assertObject(t, object(moved), mounted)
	if !waitFor(60*time.Second, func() bool {
		return missing(object(plainArchive)) && missing(object(renamed))
	}) {
		t.Errorf("copies under the old paths outlived the 3s retention")
	}

	// An overwrite in place replaces the copy, which then outlives the
	// retention of the version it replaced.
	newer := []byte("not a tarball any more\n")
	mustWriteFile(t, filepath.Join(m.Dir, moved), newer, 0o600)
	syncWait(t, store, key)
	assertObject(t, object(moved), newer)
	// Waiting is the point here: past the replaced version's retention,
	// its deletion must have left the current copy alone.
	time.Sleep(8 * time.Second)
	assertObject(t, object(moved), newer)

	// A delete: the copy goes after the retention period.
	if err := os.Remove(filepath.Join(m.Dir, moved)); err != nil {
		t.Fatal(err)
	}
	if !waitFor(60*time.Second, func() bool { return missing(object(moved)) }) {
		t.Errorf("the copy of a deleted plain file outlived the 3s retention")
	}
}

// runBackupKind is runBackup for an archive that must be (or not be)
// encrypted, as the summary says.
func runBackupKind(t *testing.T, store, key, kind string, args ...string) string {
	t.Helper()
	r := runSealfsOK(t, append([]string{"backup", "--store", store, "--key-file", key}, args...)...)
	m := backupLine.FindStringSubmatch(r.Stdout)
	if m == nil || m[5] != kind {
		t.Fatalf("backup printed %q, want a summary ending %q", r.Stdout, kind)
	}
	return m[1]
}

func assertObject(t *testing.T, p string, want []byte) {
	t.Helper()
	got, err := os.ReadFile(p)
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("bucket copy %s: %d bytes, %v; want the file's %d bytes", p, len(got), err, len(want))
	}
}

func missing(p string) bool {
	_, err := os.Stat(p)
	return os.IsNotExist(err)
}

// bucketHolds reports whether any object in the bucket folder contains b.
func bucketHolds(t *testing.T, dir string, b []byte) bool {
	t.Helper()
	found := false
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if data, err := os.ReadFile(p); err == nil && bytes.Contains(data, b) {
				found = true
			}
		}
		return nil
	})
	return found
}

// TestPlainFilesRecoverAndCheck: plain files come back from their readable
// copies, checked against the SHA-256 on record: read lazily through the
// mount and with cat after a recover, downloaded by recover --download,
// and verified by check --remote --read-data; a copy changed in the
// bucket reads EIO and check names it, exit 1.
func TestPlainFilesRecoverAndCheck(t *testing.T) {
	bucketDir, url := fileBucket(t)
	store, key := remoteStore(t, url)
	m := mountSealfs(t, withStore(store, key), withMountArgs("--seal-after", "0s"))
	mustMkdir(t, filepath.Join(m.Dir, "plain"), 0o755)
	runSealfsOK(t, "encryption", "--store", store, "--key-file", key, "off", "/plain")
	want := randomBytes(77, 3<<20+5)
	mustWriteFile(t, filepath.Join(m.Dir, "plain", "dump.bin"), want, 0o644)
	mustWriteFile(t, filepath.Join(m.Dir, "secret.txt"), []byte("still encrypted\n"), 0o600)
	syncWait(t, store, key)
	check := []string{"check", "--store", store, "--key-file", key, "--remote", "--read-data"}
	if r := runSealfs(t, nil, check...); r.Code != 0 {
		t.Fatalf("check of a clean store: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	m.Unmount(t)

	for _, download := range []bool{false, true} {
		recovered := filepath.Join(t.TempDir(), "store")
		args := recoverArgs(url, recovered, key)
		if download {
			args = append(args, "--download")
		}
		runSealfsOK(t, args...)
		r := runSealfsOK(t, "cat", "--store", recovered, "--key-file", key, "/plain/dump.bin")
		if !bytes.Equal([]byte(r.Stdout), want) {
			t.Fatalf("cat after recover (download %v): %d bytes, want %d", download, len(r.Stdout), len(want))
		}
		rm := mountSealfs(t, withStore(recovered, key))
		compareBytes(t, filepath.Join(rm.Dir, "plain", "dump.bin"), want)
		rm.Unmount(t)
	}

	// The readable copy changed in the bucket: never the changed bytes.
	copyPath := filepath.Join(bucketDir, "plain", "plain", "dump.bin")
	b, err := os.ReadFile(copyPath)
	if err != nil {
		t.Fatal(err)
	}
	b[1<<20] ^= 1
	if err := os.WriteFile(copyPath, b, 0o600); err != nil {
		t.Fatal(err)
	}
	recovered := filepath.Join(t.TempDir(), "store")
	runSealfsOK(t, recoverArgs(url, recovered, key)...)
	rm := mountSealfs(t, withStore(recovered, key))
	if _, err := os.ReadFile(filepath.Join(rm.Dir, "plain", "dump.bin")); !errors.Is(err, syscall.EIO) {
		t.Errorf("read of a changed readable copy: %v, want EIO", err)
	}
	got, err := os.ReadFile(filepath.Join(rm.Dir, "secret.txt"))
	if err != nil || string(got) != "still encrypted\n" {
		t.Errorf("the encrypted file next to it: %q, %v", got, err)
	}
	rm.Unmount(t)
	check = []string{"check", "--store", recovered, "--key-file", key, "--remote", "--read-data"}
	if r := runSealfs(t, nil, check...); r.Code != 1 || !strings.Contains(r.Stdout, "/plain/dump.bin") {
		t.Errorf("check of a changed readable copy: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
}
