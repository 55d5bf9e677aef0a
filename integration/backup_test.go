package integration

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// backupLine is the summary `sealfs backup` prints.
var backupLine = regexp.MustCompile(`^backup (/\S+\.tar\.gz): (\d+) bytes, (\d+) files \((\d+) bytes read\), \S+, (encrypted|not encrypted)\n$`)

// runBackup runs sealfs backup and returns the archive's path inside the
// filesystem.
func runBackup(t *testing.T, store, key string, args ...string) string {
	t.Helper()
	r := runSealfsOK(t, append([]string{"backup", "--store", store, "--key-file", key}, args...)...)
	m := backupLine.FindStringSubmatch(r.Stdout)
	if m == nil {
		t.Fatalf("backup printed %q, want one summary line", r.Stdout)
	}
	if m[5] != "encrypted" {
		t.Errorf("backup says %q", m[5])
	}
	return m[1]
}

// extract runs GNU tar xzf on the archive with xattrs into a new directory
// and returns the directory the source came back in.
func extract(t *testing.T, archive, src string) string {
	t.Helper()
	dest := xattrTempDir(t)
	runToolOK(t, "tar", "xzf", archive, "--xattrs", "--xattrs-include=*", "-C", dest)
	return filepath.Join(dest, strings.TrimPrefix(src, "/"))
}

// TestBackupRoundTrip: `sealfs backup` of a tree with odd names, block-edge
// sizes, symlinks, hard links, xattrs and old times, through the mounted
// daemon and into the unmounted store, is a tar.gz that GNU tar extracts
// to an equal tree (diff -r, modes, times, xattrs, links); --exclude
// leaves out what it names; the archive is 0600 and named after the time.
func TestBackupRoundTrip(t *testing.T) {
	src := filepath.Join(xattrTempDir(t), "app")
	generateBackupTree(t, src, 6, 30)
	mustMkdir(t, filepath.Join(src, "cache"), 0o755)
	mustWriteFile(t, filepath.Join(src, "cache", "big.bin"), randomBytes(9, 1<<20), 0o644)
	mustWriteFile(t, filepath.Join(src, "scratch.tmp"), []byte("scratch"), 0o644)
	m := mountSealfs(t)
	before := time.Now().UTC().Truncate(time.Second)
	p := runBackup(t, m.Store, m.Key, "--exclude", "app/cache", "--exclude", "*.tmp", src)
	if !regexp.MustCompile(`^/backups/app/app-\d{8}T\d{6}\.\d{3}Z\.tar\.gz$`).MatchString(p) {
		t.Fatalf("archive path %q", p)
	}
	stamp, err := time.Parse("20060102T150405.000Z", strings.TrimSuffix(strings.TrimPrefix(filepath.Base(p), "app-"), ".tar.gz"))
	if err != nil || stamp.Before(before) || stamp.After(time.Now().Add(time.Minute)) {
		t.Errorf("archive time %v (%v), backup started at %v", stamp, err, before)
	}
	archive := filepath.Join(m.Dir, p)
	if fi, err := os.Stat(archive); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("archive: %v, %v", fi, err)
	}
	got := extract(t, archive, src)
	if _, err := os.Stat(filepath.Join(got, "cache")); !os.IsNotExist(err) {
		t.Errorf("excluded cache/ is in the archive (%v)", err)
	}
	if _, err := os.Stat(filepath.Join(got, "scratch.tmp")); !os.IsNotExist(err) {
		t.Errorf("excluded scratch.tmp is in the archive (%v)", err)
	}
	// The source minus what was excluded, with its own mtime kept, is what
	// the archive must hold.
	fi, err := os.Stat(src)
	if err != nil {
		t.Fatal(err)
	}
	os.RemoveAll(filepath.Join(src, "cache"))
	os.Remove(filepath.Join(src, "scratch.tmp"))
	if err := os.Chtimes(src, fi.ModTime(), fi.ModTime()); err != nil {
		t.Fatal(err)
	}
	diffTrees(t, src, got)
	compareTrees(t, src, got)

	// Unmounted, straight into the store, under another name and place;
	// the mountpoint among the sources is left out, not read.
	m.Unmount(t)
	p2 := runBackup(t, m.Store, m.Key, "--name", "nightly", "--to", "/srv/archives", src)
	if !strings.HasPrefix(p2, "/srv/archives/nightly/nightly-") {
		t.Fatalf("archive path %q", p2)
	}
	m2 := mountSealfs(t, withStore(m.Store, m.Key))
	compareTrees(t, src, extract(t, filepath.Join(m2.Dir, p2), src))
	p3 := runBackup(t, m.Store, m.Key, "--name", "withmount", src, m2.Dir)
	listing := runToolOK(t, "tar", "tzf", filepath.Join(m2.Dir, p3))
	if strings.Contains(listing, strings.TrimPrefix(m2.Dir, "/")) {
		t.Errorf("the backup read its own mountpoint:\n%s", tail(listing, 10))
	}
}

// TestBackupBadInput: a missing source, a name with a slash and a bad
// pattern are refused with one line and exit 2, and nothing is written.
func TestBackupBadInput(t *testing.T) {
	m := mountSealfs(t)
	src := t.TempDir()
	for _, args := range [][]string{
		{filepath.Join(src, "missing")},
		{"--name", "a/b", src},
		{"--exclude", "[", src},
		{},
	} {
		r := runSealfs(t, nil, append([]string{"backup", "--store", m.Store, "--key-file", m.Key}, args...)...)
		if r.Code != 2 || strings.Count(strings.TrimSpace(r.Stderr), "\n") > 0 {
			t.Errorf("backup %q: exit %d, stderr %q; want 2 and one line", args, r.Code, r.Stderr)
		}
	}
	if _, err := os.Stat(filepath.Join(m.Dir, "backups")); !os.IsNotExist(err) {
		t.Errorf("refused backups made /backups (%v)", err)
	}
}

// TestBackupInterrupted: SIGINT in the middle of a backup, mounted or not,
// leaves no archive under the final name, and the unfinished file's
// ciphertext goes away.
func TestBackupInterrupted(t *testing.T) {
	src := t.TempDir()
	for _, mounted := range []bool{true, false} {
		m := mountSealfs(t)
		if !mounted {
			m.Unmount(t)
		}
		base := localDataBytes(t, m.Store)
		interrupted := false
		// A backup that finished before the signal proves nothing: try
		// again with more to archive.
		for size := 64 << 20; size <= 1<<30 && !interrupted; size *= 4 {
			mustWriteFile(t, filepath.Join(src, "dump.bin"), randomBytes(uint64(size), size), 0o644)
			interrupted = interruptBackup(t, m.Store, m.Key, src, base)
		}
		if !interrupted {
			t.Fatalf("mounted %v: every backup finished before SIGINT reached it", mounted)
		}
		if !mounted {
			m = mountSealfs(t, withStore(m.Store, m.Key))
		}
		entries, _ := os.ReadDir(filepath.Join(m.Dir, "backups", filepath.Base(src)))
		if len(entries) != 0 {
			t.Errorf("mounted %v: an interrupted backup left %v", mounted, entries)
		}
		if !waitFor(30*time.Second, func() bool { return localDataBytes(t, m.Store) <= base }) {
			t.Errorf("mounted %v: the store holds %d bytes of ciphertext after the interrupted backup, %d before", mounted, localDataBytes(t, m.Store), base)
		}
		m.Unmount(t)
	}
}

// interruptBackup starts a backup of src, sends SIGINT once its archive is
// being written (the store's ciphertext grew), and reports whether the
// signal came in time to interrupt it; then the backup must have exited 1.
func interruptBackup(t *testing.T, store, key, src string, base int64) bool {
	t.Helper()
	cmd := exec.Command(sealfsBin, "backup", "--store", store, "--key-file", key, src)
	cmd.Env = sealfsEnv(t)
	var out lockedBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	grew := waitFor(commandTimeout, func() bool {
		select {
		case err := <-exited:
			exited <- err
			return true
		default:
		}
		return localDataBytes(t, store) > base+4<<20
	})
	if !grew {
		cmd.Process.Kill()
		t.Fatalf("backup wrote nothing in %v:\n%s", commandTimeout, out.String())
	}
	cmd.Process.Signal(syscall.SIGINT)
	err := <-exited
	if err == nil {
		return false
	}
	if code := exitCode(err); code != 1 || !strings.Contains(out.String(), "interrupted: no archive was stored") {
		t.Fatalf("interrupted backup: exit %d, output:\n%s", code, out.String())
	}
	return true
}
