package integration

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// versionJSON is one row of `sealfs versions --json`.
type versionJSON struct {
	ID        string    `json:"id"`
	State     string    `json:"state"`
	Size      uint64    `json:"size"`
	Modified  time.Time `json:"modified"`
	Where     string    `json:"where"`
	Encrypted bool      `json:"encrypted"`
}

func listVersions(t *testing.T, store, key, p string) []versionJSON {
	t.Helper()
	r := runSealfsOK(t, "versions", "--json", "--store", store, "--key-file", key, p)
	var rows []versionJSON
	if err := json.Unmarshal([]byte(r.Stdout), &rows); err != nil {
		t.Fatalf("versions --json: %v\n%s", err, r.Stdout)
	}
	return rows
}

// mtimeOf is p's modification time.
func mtimeOf(t *testing.T, p string) time.Time {
	t.Helper()
	var st syscall.Stat_t
	if err := syscall.Stat(p, &st); err != nil {
		t.Fatal(err)
	}
	return time.Unix(0, st.Mtim.Nano())
}

func assertFile(t *testing.T, p string, want []byte, perm os.FileMode, mtime time.Time) {
	t.Helper()
	got, err := os.ReadFile(p)
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("%s: %d bytes, %v; want %d equal bytes", p, len(got), err, len(want))
	}
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != perm || !mtimeOf(t, p).Equal(mtime) {
		t.Errorf("%s: mode %v mtime %v, want %v and %v", p, fi.Mode().Perm(), mtimeOf(t, p), perm, mtime)
	}
}

// TestVersionsAndUndelete: a file overwritten in place, replaced by a
// rename (as rsync does) and deleted keeps each version for the retention
// period; versions lists them newest first with where they are, and
// undelete brings any of them back, byte for byte with its mode and time,
// through the mount (seen at once), into the unmounted store, and after a
// recover from the bucket alone.
func TestVersionsAndUndelete(t *testing.T) {
	_, url := fileBucket(t)
	store, key := remoteStore(t, url)
	m := mountSealfs(t, withStore(store, key), withMountArgs("--seal-after", "0s"))
	mustMkdir(t, filepath.Join(m.Dir, "app"), 0o755)
	p := filepath.Join(m.Dir, "app", "db.sql")
	v1, v2, v3 := randomBytes(1, 1<<20+3), randomBytes(2, 70000), randomBytes(3, 5)
	mustWriteFile(t, p, v1, 0o640)
	mtime1 := mtimeOf(t, p)
	syncWait(t, store, key)
	mustWriteFile(t, p, v2, 0o640) // O_TRUNC: a new version of the same inode
	mtime2 := mtimeOf(t, p)
	syncWait(t, store, key)
	tmp := filepath.Join(m.Dir, "app", ".db.sql.XYZ")
	mustWriteFile(t, tmp, v3, 0o600)
	mtime3 := mtimeOf(t, tmp)
	if err := os.Rename(tmp, p); err != nil {
		t.Fatal(err)
	}
	syncWait(t, store, key)

	rows := listVersions(t, store, key, "/app/db.sql")
	if len(rows) != 3 {
		t.Fatalf("%d versions, want 3: %+v", len(rows), rows)
	}
	for i, want := range []struct {
		state string
		size  int
		mtime time.Time
	}{{"current", len(v3), mtime3}, {"replaced", len(v2), mtime2}, {"replaced", len(v1), mtime1}} {
		r := rows[i]
		if r.State != want.state || r.Size != uint64(want.size) || !r.Modified.Equal(want.mtime) || !r.Encrypted || !strings.Contains(r.Where, "bucket") {
			t.Errorf("version %d: %+v, want %s, %d bytes, modified %v, encrypted, in the bucket", i, r, want.state, want.size, want.mtime)
		}
	}
	table := runSealfsOK(t, "versions", "--store", store, "--key-file", key, "app/db.sql").Stdout
	if !strings.Contains(table, rows[2].ID[:8]) || !strings.Contains(table, "KEPT UNTIL") {
		t.Errorf("versions table lacks the oldest version:\n%s", table)
	}

	// Through the daemon: the first version to another path, seen at once.
	runSealfsOK(t, "undelete", "--store", store, "--key-file", key, "--version", rows[2].ID[:6], "--to", "/restored/db-v1.sql", "/app/db.sql")
	assertFile(t, filepath.Join(m.Dir, "restored", "db-v1.sql"), v1, 0o640, mtime1)
	assertFile(t, p, v3, 0o600, mtime3)

	// Deleted: the newest version is the default.
	if err := os.Remove(p); err != nil {
		t.Fatal(err)
	}
	if rows := listVersions(t, store, key, "/app/db.sql"); len(rows) != 3 || rows[0].State != "deleted" || rows[0].Size != uint64(len(v3)) {
		t.Fatalf("versions after delete: %+v", rows)
	}
	out := runSealfsOK(t, "undelete", "--store", store, "--key-file", key, "/app/db.sql").Stdout
	if !strings.Contains(out, "restored /app/db.sql") {
		t.Errorf("undelete says %q", out)
	}
	assertFile(t, p, v3, 0o600, mtime3)

	for _, bad := range [][]string{
		{"/app/nope"},
		{"--version", "zzzz", "/app/db.sql"},
		{"--version", "ab", "/app/db.sql"},
		{"--to", "/app", "/app/db.sql"},
	} {
		r := runSealfs(t, nil, append([]string{"undelete", "--store", store, "--key-file", key}, bad...)...)
		if r.Code != 2 || strings.Count(strings.TrimSpace(r.Stderr), "\n") > 0 {
			t.Errorf("undelete %q: exit %d, stderr %q; want 2 and one line", bad, r.Code, r.Stderr)
		}
	}
	assertFile(t, p, v3, 0o600, mtime3)
	syncWait(t, store, key)
	m.Unmount(t)

	// Unmounted: the second version over the current file, which is kept.
	out = runSealfsOK(t, "undelete", "--store", store, "--key-file", key, "--version", rows[1].ID, "/app/db.sql").Stdout
	if !strings.Contains(out, "kept as a version") {
		t.Errorf("undelete over a file says %q", out)
	}
	m = mountSealfs(t, withStore(store, key), withMountArgs("--seal-after", "0s"))
	assertFile(t, filepath.Join(m.Dir, "app", "db.sql"), v2, 0o640, mtime2)
	syncWait(t, store, key)
	m.Unmount(t)

	// From the bucket alone: recover lazily, then bring back the first
	// version, read from its bucket object.
	recovered := filepath.Join(t.TempDir(), "recovered")
	runSealfsOK(t, recoverArgs(url, recovered, key)...)
	rows = listVersions(t, recovered, key, "/app/db.sql")
	var first *versionJSON
	for i := range rows {
		if rows[i].Size == uint64(len(v1)) && rows[i].State == "replaced" {
			first = &rows[i]
		}
	}
	if rows[0].State != "current" || rows[0].Size != uint64(len(v2)) || first == nil || first.Where != "bucket" {
		t.Fatalf("versions after recover: %+v", rows)
	}
	runSealfsOK(t, "undelete", "--store", recovered, "--key-file", key, "--version", first.ID, "--to", "/app/db-v1.sql", "/app/db.sql")
	r := runSealfsOK(t, "cat", "--store", recovered, "--key-file", key, "/app/db-v1.sql")
	if !bytes.Equal([]byte(r.Stdout), v1) {
		t.Fatalf("the first version after recover: %d bytes, want %d equal", len(r.Stdout), len(v1))
	}
}
