package integration

import (
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestRsync backs up a tree of more than 5,000 files with rsync -aHAX and
// checks that rsync then finds nothing to do, before and after a remount.
func TestRsync(t *testing.T) {
	requireTools(t, "rsync")
	src := filepath.Join(xattrTempDir(t), "home")
	st := generateBackupTree(t, src, 50, 100)
	if st.regular < 5000 {
		t.Fatalf("generated only %d regular files", st.regular)
	}
	t.Logf("source tree: %d regular files, %d symlinks, %d extra hard links, %d xattrs", st.regular, st.symlinks, st.hardlinks, st.xattrs)

	m := mountSealfs(t)
	dst := filepath.Join(m.Dir, "dst")
	rsyncInto(t, src, dst)
	checkRsyncUpToDate(t, src, dst)
	compareTrees(t, src, dst)

	m = m.Remount(t)
	checkRsyncUpToDate(t, src, dst)
	compareTrees(t, src, dst)

	// The next day's backup replaces, deletes and adds files in place.
	mutateBackupTree(t, src)
	rsyncInto(t, src, dst)
	checkRsyncUpToDate(t, src, dst)
	compareTrees(t, src, dst)

	m.Remount(t)
	checkRsyncUpToDate(t, src, dst)
	compareTrees(t, src, dst)
}

// rsyncInto mirrors src into dst with rsync -aHAX --delete.
func rsyncInto(t *testing.T, src, dst string) {
	t.Helper()
	r := runTool(t, "rsync", "-aHAX", "--delete", src+"/", dst+"/")
	if r.Code != 0 {
		t.Fatalf("rsync -aHAX into the mount exited %d:\n%s", r.Code, tail(r.Stderr, 30))
	}
}

var filesTransferred = regexp.MustCompile(`(?m)^Number of regular files transferred: ([0-9,]+)$`)

// checkRsyncUpToDate asserts that a checksum dry run itemizes nothing and a
// plain second rsync transfers no file.
func checkRsyncUpToDate(t *testing.T, src, dst string) {
	t.Helper()
	r := runTool(t, "rsync", "-aHAX", "--checksum", "--dry-run", "--itemize-changes", src+"/", dst+"/")
	if r.Code != 0 || r.Stdout != "" {
		lines := strings.Split(strings.TrimRight(r.Stdout, "\n"), "\n")
		t.Errorf("rsync --checksum --dry-run --itemize-changes: exit %d, %d changes itemized (want none):\n%s\n%s",
			r.Code, len(lines), strings.Join(lines[:min(len(lines), 30)], "\n"), tail(r.Stderr, 10))
	}
	r = runTool(t, "rsync", "-aHAX", "--stats", src+"/", dst+"/")
	if r.Code != 0 {
		t.Errorf("second rsync -aHAX --stats exited %d:\n%s", r.Code, tail(r.Stderr, 20))
	}
	m := filesTransferred.FindStringSubmatch(r.Stdout)
	switch {
	case m == nil:
		t.Errorf("no %q line in rsync --stats output:\n%s", "Number of regular files transferred", r.Stdout)
	case m[1] != "0":
		t.Errorf("second rsync transferred %s regular files, want 0:\n%s", m[1], r.Stdout)
	}
}
