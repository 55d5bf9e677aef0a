package integration

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// lsEntry is one object of `sealfs ls --json`.
type lsEntry struct {
	Name      string `json:"name"`
	Path      string `json:"path"`
	Type      string `json:"type"`
	Size      int64  `json:"size"`
	Encrypted bool   `json:"encrypted"`
	Modified  string `json:"modified"`
}

// wantEntry is what a listing must say about one path.
type wantEntry struct {
	typ  string
	size int64 // checked for files only
}

// TestLs lists the filesystem with `sealfs ls` (table and JSON, flat and
// recursive) while it is mounted and again after unmounting.
func TestLs(t *testing.T) {
	start := time.Now().Add(-time.Minute)
	m := mountSealfs(t)
	want := map[string]wantEntry{
		"/ls-alpha.bin":                {"file", 12345},
		"/ls-dir":                      {"dir", 0},
		"/ls-dir/ls-beta.txt":          {"file", 70000},
		"/ls-dir/ls-sub":               {"dir", 0},
		"/ls-dir/ls-sub/ls-gamma.data": {"file", 0},
		"/ls-dir/ls-sub/ls-delta.bin":  {"file", 3*blockSize + 1},
		"/ls-link":                     {"symlink", 0},
	}
	for _, p := range sortedKeys(want) {
		full := filepath.Join(m.Dir, p)
		switch want[p].typ {
		case "dir":
			mustMkdir(t, full, 0o755)
		case "file":
			mustWriteFile(t, full, randomBytes(uint64(want[p].size), int(want[p].size)), 0o644)
		case "symlink":
			if err := os.Symlink("ls-alpha.bin", full); err != nil {
				t.Fatal(err)
			}
		}
	}
	args := []string{"--store", m.Store, "--key-file", m.Key}
	check := func(t *testing.T) {
		checkLsJSON(t, args, "/", true, want, start)
		checkLsJSON(t, args, "/", false, want, start)
		checkLsJSON(t, args, "/ls-dir", false, want, start)
		checkLsTable(t, args, "/", want)
		checkLsTable(t, args, "/ls-dir/ls-sub", want)
	}
	t.Run("mounted", func(t *testing.T) {
		check(t)
		// A path on the host under the mountpoint lists as the path in
		// the filesystem; -r names entries relative to PATH; -h sizes.
		host := runSealfsOK(t, append([]string{"ls"}, append(args, filepath.Join(m.Dir, "ls-dir"))...)...).Stdout
		inside := runSealfsOK(t, append([]string{"ls"}, append(args, "/ls-dir")...)...).Stdout
		if host != inside {
			t.Errorf("ls of the host path:\n%s\nls of /ls-dir:\n%s", host, inside)
		}
		rec := runSealfsOK(t, append([]string{"ls", "-r", "-h"}, append(args, "/ls-dir")...)...).Stdout
		if !strings.Contains(rec, "ls-sub/") || strings.Contains(rec, "/ls-dir/") {
			t.Errorf("ls -r /ls-dir does not name entries relative to it:\n%s", rec)
		}
	})
	m.Unmount(t)
	t.Run("unmounted", func(t *testing.T) {
		before := storeHash(t, m.Store)
		check(t)
		runSealfsOK(t, append([]string{"status"}, args...)...)
		if after := storeHash(t, m.Store); after != before {
			t.Errorf("ls and status on an unmounted store changed it:\nbefore: %s\nafter:  %s", before, after)
		}
	})
}

// TestLsAfterCrash lists a store whose daemon was killed: what it had
// written lives only in Badger's log, which must be recovered once.
func TestLsAfterCrash(t *testing.T) {
	start := time.Now().Add(-time.Minute)
	m := mountSealfs(t, tolerateExitError())
	want := map[string]wantEntry{"/crash-dir": {"dir", 0}}
	mustMkdir(t, filepath.Join(m.Dir, "crash-dir"), 0o755)
	for i := range 20 {
		p := "/crash-dir/f" + strconv.Itoa(i)
		want[p] = wantEntry{"file", int64(1000 * i)}
		mustWriteFile(t, filepath.Join(m.Dir, p), randomBytes(uint64(i), 1000*i), 0o644)
	}
	// The listing must show every file, so the writes must be in Badger
	// before the kill: the daemon's own listing syncs first.
	args := []string{"--store", m.Store, "--key-file", m.Key}
	checkLsJSON(t, args, "/", true, want, start)
	if err := m.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-m.exited
	unmountDir(t, m.Dir)
	// The first look recovers Badger's log, as a mount would; from then on
	// looking changes nothing.
	checkLsJSON(t, args, "/", true, want, start)
	before := storeHash(t, m.Store)
	checkLsJSON(t, args, "/", true, want, start)
	runSealfsOK(t, append([]string{"status"}, args...)...)
	if after := storeHash(t, m.Store); after != before {
		t.Errorf("ls and status after a crash changed the store:\nbefore: %s\nafter:  %s", before, after)
	}
	m = mountSealfs(t, withStore(m.Store, m.Key), withMountpoint(m.Dir))
	compareBytes(t, filepath.Join(m.Dir, "crash-dir", "f7"), randomBytes(7, 7000))
}

// TestLsEmptyStore lists a store that was initialized but never mounted.
func TestLsEmptyStore(t *testing.T) {
	base := t.TempDir()
	args := []string{"--store", filepath.Join(base, "store"), "--key-file", filepath.Join(base, "key")}
	runSealfsOK(t, append([]string{"init"}, args...)...)
	r := runSealfs(t, nil, append([]string{"ls", "--json", "-r"}, args...)...)
	if r.Code != 0 || strings.TrimSpace(r.Stdout) != "[]" {
		t.Errorf("ls --json -r of a new store: exit %d, stdout %q, stderr %q; want exit 0 and []", r.Code, r.Stdout, r.Stderr)
	}
	r = runSealfs(t, nil, append([]string{"ls"}, args...)...)
	if lines := strings.Split(strings.TrimSpace(r.Stdout), "\n"); r.Code != 0 || len(lines) != 1 {
		t.Errorf("ls of a new store: exit %d, stdout %q, stderr %q; want exit 0 and only the header", r.Code, r.Stdout, r.Stderr)
	}
}

// subset returns the entries of want directly in dir, or anywhere below it
// when recursive.
func subset(want map[string]wantEntry, dir string, recursive bool) map[string]wantEntry {
	out := map[string]wantEntry{}
	prefix := strings.TrimSuffix(dir, "/") + "/"
	for p, e := range want {
		if !strings.HasPrefix(p, prefix) {
			continue
		}
		if recursive || !strings.Contains(strings.TrimPrefix(p, prefix), "/") {
			out[p] = e
		}
	}
	return out
}

func checkLsJSON(t *testing.T, common []string, dir string, recursive bool, all map[string]wantEntry, start time.Time) {
	t.Helper()
	args := append([]string{"ls"}, common...)
	args = append(args, "--json")
	if recursive {
		args = append(args, "-r")
	}
	args = append(args, dir)
	r := runSealfs(t, nil, args...)
	if r.Code != 0 {
		t.Errorf("sealfs %q exited %d: %s", args, r.Code, r.Stderr)
		return
	}
	var got []lsEntry
	if err := json.Unmarshal([]byte(r.Stdout), &got); err != nil {
		t.Errorf("sealfs %q: output is not a JSON array of entries: %v\n%s", args, err, r.Stdout)
		return
	}
	want := subset(all, dir, recursive)
	seen := map[string]bool{}
	for _, e := range got {
		w, ok := want[e.Path]
		switch {
		case !ok:
			t.Errorf("sealfs %q lists unexpected path %q", args, e.Path)
			continue
		case seen[e.Path]:
			t.Errorf("sealfs %q lists %q twice", args, e.Path)
		case e.Name != filepath.Base(e.Path):
			t.Errorf("sealfs %q: %q has name %q", args, e.Path, e.Name)
		case e.Type != w.typ:
			t.Errorf("sealfs %q: %q has type %q, want %q", args, e.Path, e.Type, w.typ)
		case w.typ == "file" && (e.Size != w.size || !e.Encrypted):
			t.Errorf("sealfs %q: %q has size %d encrypted %v, want size %d encrypted true", args, e.Path, e.Size, e.Encrypted, w.size)
		}
		seen[e.Path] = true
		mod, err := time.Parse(time.RFC3339Nano, e.Modified)
		if err != nil || mod.Before(start) || mod.After(time.Now().Add(time.Minute)) {
			t.Errorf("sealfs %q: %q modified %q (%v), want an RFC 3339 time of this test run", args, e.Path, e.Modified, err)
		}
	}
	for p := range want {
		if !seen[p] {
			t.Errorf("sealfs %q does not list %q", args, p)
		}
	}
}

func checkLsTable(t *testing.T, common []string, dir string, all map[string]wantEntry) {
	t.Helper()
	args := append(append([]string{"ls"}, common...), dir)
	r := runSealfs(t, nil, args...)
	if r.Code != 0 {
		t.Errorf("sealfs %q exited %d: %s", args, r.Code, r.Stderr)
		return
	}
	lines := strings.Split(strings.TrimRight(r.Stdout, "\n"), "\n")
	if h := strings.Join(strings.Fields(lines[0]), " "); h != "NAME TYPE SIZE ENCRYPTED SYNC MODIFIED" {
		t.Errorf("sealfs %q: header %q, want NAME TYPE SIZE ENCRYPTED SYNC MODIFIED", args, lines[0])
	}
	rows := map[string][]string{}
	for _, l := range lines[1:] {
		if f := strings.Fields(l); len(f) > 0 {
			rows[strings.TrimSuffix(f[0], "/")] = f
		}
	}
	want := subset(all, dir, false)
	if len(rows) != len(want) {
		t.Errorf("sealfs %q: %d rows, want %d:\n%s", args, len(rows), len(want), r.Stdout)
	}
	for _, p := range sortedKeys(want) {
		f, ok := rows[filepath.Base(p)]
		if !ok {
			f, ok = rows[p]
		}
		if !ok {
			t.Errorf("sealfs %q: no row for %q:\n%s", args, filepath.Base(p), r.Stdout)
			continue
		}
		if len(f) < 3 || f[1] != want[p].typ {
			t.Errorf("sealfs %q: row %q, want type %s", args, f, want[p].typ)
			continue
		}
		if want[p].typ != "file" {
			continue
		}
		if !containsAny(f, "true", "yes") {
			t.Errorf("sealfs %q: row %q does not say the file is encrypted", args, f)
		}
		if n, err := strconv.ParseInt(f[2], 10, 64); err != nil || n != want[p].size {
			t.Errorf("sealfs %q: row %q has size %d, want %d", args, f, n, want[p].size)
		}
	}
}

func containsAny(fields []string, values ...string) bool {
	for _, f := range fields {
		if slices.Contains(values, f) {
			return true
		}
	}
	return false
}
