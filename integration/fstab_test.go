package integration

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

const (
	// helperPath is where mount(8) looks first for the helper of type
	// fuse.sealfs; the search path (/sbin, /sbin/fs.d, /sbin/fs) is built
	// into libmount, so the test has to put the helper there.
	helperPath = "/sbin/mount.fuse.sealfs"
	// daemonDrainTimeout bounds a detached daemon's exit after umount: its
	// drain (drain_timeout below) and the final sync, on a busy machine.
	daemonDrainTimeout = 5 * time.Minute
)

// TestFstabMount runs what `mount /backup` runs for an fstab line of type
// fuse.sealfs: mount(8) finds mount.fuse.sealfs, which starts the daemon
// detached and returns once the mount is there. umount makes the daemon
// drain its uploads and exit; the next mount sees the file.
func TestFstabMount(t *testing.T) {
	installMountHelper(t)
	bucketDir, url := fileBucket(t)
	store, key := remoteStore(t, url)
	mnt := mountpointDir(t)
	opts := "defaults,key_file=" + key + ",drain_timeout=4m,_netdev"

	daemon := fstabMount(t, store, mnt, opts)
	if f, _ := statFields(daemon.pid); len(f) < 6 || f[5] != strconv.Itoa(daemon.pid) {
		t.Errorf("daemon %d: /proc stat %q, want a session of its own", daemon.pid, f)
	}
	sum := writeRandomFile(t, filepath.Join(mnt, "db.sql.gz"), 3*blockSize+17, 8)
	if got := sha256File(t, filepath.Join(mnt, "db.sql.gz")); got != sum {
		t.Errorf("read back sha256 %s, wrote %s", got, sum)
	}

	runToolOK(t, "umount", mnt)
	if !daemon.waitGone(daemonDrainTimeout) {
		t.Fatalf("daemon %d still running %v after umount; its log:\n%s", daemon.pid, daemonDrainTimeout, mountLog(t, store))
	}
	logText := mountLog(t, store)
	if !strings.Contains(logText, "msg=unmounted") || strings.Contains(logText, "not uploaded") {
		t.Errorf("daemon log after umount, want it unmounted and drained:\n%s", logText)
	}
	if n := decryptObjects(t, bucketDir, key)[sum]; n != 1 {
		t.Errorf("the bucket holds %d copies of the file after umount, want 1 (the drain)", n)
	}
	if st := runSealfsOK(t, "status", "--store", store, "--key-file", key); !strings.Contains(st.Stdout, "pending:         0 files, 0 bytes") {
		t.Errorf("status after the drain:\n%s", st.Stdout)
	}

	fstabMount(t, store, mnt, opts)
	if got := sha256File(t, filepath.Join(mnt, "db.sql.gz")); got != sum {
		t.Errorf("after a remount sha256 %s, want %s", got, sum)
	}
}

// TestFstabMountRefuses: an option the helper does not know, a missing
// store and a wrong key fail in one line with a mount(8) status, and leave
// nothing mounted and no daemon running.
func TestFstabMountRefuses(t *testing.T) {
	installMountHelper(t)
	base := t.TempDir()
	store, key := filepath.Join(base, "store"), filepath.Join(base, "keys", "master.key")
	mustMkdir(t, filepath.Dir(key), 0o700)
	runSealfsOK(t, "init", "--store", store, "--key-file", key)
	otherKey := filepath.Join(base, "keys", "other.key")
	runSealfsOK(t, "init", "--store", filepath.Join(base, "other"), "--key-file", otherKey)

	tests := []struct {
		name, store, opts string
		code              int
		want              string
		started           bool // the daemon was started (and said why it gave up)
	}{
		{"unknown option", store, "key_file=" + key + ",colour=blue", 1, `mount.fuse.sealfs: unknown option "colour=blue"`, false},
		{"read-only", store, "ro,key_file=" + key, 1, "mount.fuse.sealfs: option ro:", false},
		{"missing store", filepath.Join(base, "nothing"), "key_file=" + key, 32, "mount.fuse.sealfs: no sealfs store at", false},
		{"wrong key", store, "key_file=" + otherKey, 32, "mount.fuse.sealfs: sealfs mount: ", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mnt := mountpointDir(t)
			logBefore := mountLog(t, store)
			r := runMount(t, "-t", "fuse.sealfs", "-o", tt.opts, tt.store, mnt)
			if _, mounted := mountFSType(t, mnt); mounted {
				unmountDir(t, mnt)
				t.Fatalf("%s is mounted after a refused mount", mnt)
			}
			lines := strings.Split(strings.TrimRight(r.Stderr, "\n"), "\n")
			if r.Code != tt.code || len(lines) != 1 || !strings.HasPrefix(lines[0], tt.want) {
				t.Errorf("mount exited %d with stderr %q, want %d and one line starting %q", r.Code, r.Stderr, tt.code, tt.want)
			}
			if ds := daemonsOf(t, mnt); len(ds) != 0 {
				t.Errorf("daemons %v still running for %s", ds, mnt)
			}
			if grew := len(mountLog(t, store)) > len(logBefore); grew != tt.started {
				t.Errorf("mount.log grew: %v, want %v (a daemon started)", grew, tt.started)
			}
		})
	}
}

// installMountHelper puts sealfs at helperPath for the test, as a symlink to
// helperLink, a fixed path of the test's own that links to the binary under
// test. A lock keeps two test binaries from doing it at once; a helperPath
// that links to helperLink is what an earlier, killed run left. Anything
// else there is someone's installed helper: the test stops rather than
// touch it.
func installMountHelper(t *testing.T) {
	t.Helper()
	requireFuse(t)
	requireTools(t, "mount", "umount")
	if os.Geteuid() != 0 {
		t.Fatal("this test puts a mount helper into /sbin and must run as root")
	}
	lock := lockFile(t, filepath.Join(os.TempDir(), "sealfs-mount-helper-test.lock"))
	dir := filepath.Join(os.TempDir(), "sealfs-mount-helper-test")
	helperLink := filepath.Join(dir, "mount.fuse.sealfs")
	if target, err := os.Readlink(helperPath); err == nil && target == helperLink {
		mustRemove(t, helperPath)
	} else if !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("%s is there already (%v, -> %q): an installed helper would run instead of the binary under test; move it away for the test", helperPath, err, target)
	}
	mustMkdir(t, dir, 0o755)
	if err := os.Remove(helperLink); err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	if err := os.Symlink(sealfsBin, helperLink); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(helperLink, helperPath); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		mustRemove(t, helperPath)
		mustRemove(t, helperLink)
		mustRemove(t, dir)
		lock.Close()
	})
}

// lockFile takes an exclusive flock on path, waiting for it as long as a
// test may run, and returns the open file that holds it.
func lockFile(t *testing.T, path string) *os.File {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	if !waitFor(commandTimeout, func() bool { return syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) == nil }) {
		f.Close()
		t.Fatalf("%s stayed locked for %v (another test run installing the mount helper?)", path, commandTimeout)
	}
	return f
}

func mustRemove(t *testing.T, path string) {
	t.Helper()
	if err := os.Remove(path); err != nil {
		t.Error(err)
	}
}

// mountpointDir makes an empty directory to mount on, as mountinfo names it.
func mountpointDir(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "mnt")
	mustMkdir(t, dir, 0o755)
	resolved, err := filepath.EvalSymlinks(dir)
	if err != nil {
		t.Fatal(err)
	}
	return resolved
}

// fstabMount mounts store on mnt with mount(8) and type fuse.sealfs, checks
// that the mount is there when mount returns, and returns the daemon. The
// cleanup unmounts (if still mounted) and waits for the daemon to exit.
func fstabMount(t *testing.T, store, mnt, opts string) daemonProc {
	t.Helper()
	r := runMount(t, "-t", "fuse.sealfs", "-o", opts, store, mnt)
	t.Cleanup(func() { stopFstabMount(t, store, mnt) })
	if r.Code != 0 || r.Stdout != "" || r.Stderr != "" {
		t.Fatalf("mount exited %d, stdout %q, stderr %q; want 0 and quiet; log:\n%s", r.Code, r.Stdout, r.Stderr, mountLog(t, store))
	}
	if fstype, ok := mountFSType(t, mnt); !ok || fstype != sealfsFSType {
		// Wait for a late mount anyway, so that the cleanup finds its daemon.
		late := waitFor(mountTimeout, func() bool { _, ok := mountFSType(t, mnt); return ok })
		t.Fatalf("mount returned 0 but %s was not a %s mount yet (%q; mounted later: %v)", mnt, sealfsFSType, fstype, late)
	}
	ds := daemonsOf(t, mnt)
	if len(ds) != 1 {
		t.Fatalf("daemons for %s: %v, want one", mnt, ds)
	}
	return ds[0]
}

// stopFstabMount waits for the daemons of mnt to exit, unmounting mnt
// whenever it is mounted (a daemon may mount only after a failed test
// looked); one that does not exit is killed, by its PID, and its dead
// mount unmounted.
func stopFstabMount(t *testing.T, store, mnt string) {
	t.Helper()
	for _, d := range daemonsOf(t, mnt) {
		gone := waitFor(daemonDrainTimeout, func() bool {
			if _, mounted := mountFSType(t, mnt); mounted {
				_ = exec.Command("umount", mnt).Run()
			}
			return !d.alive()
		})
		if !gone {
			d.kill()
			t.Errorf("daemon %d for %s did not exit within %v after umount; killed it", d.pid, mnt, daemonDrainTimeout)
		}
	}
	if _, mounted := mountFSType(t, mnt); mounted {
		unmountDead(t, mnt)
	}
	if t.Failed() {
		t.Logf("%s:\n%s", filepath.Join(store, "mount.log"), tail(mountLog(t, store), 40))
	}
}

// runMount runs mount(8) with the environment of every sealfs process.
func runMount(t *testing.T, args ...string) cmdResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "mount", args...)
	cmd.Env = sealfsEnv(t)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("mount %q timed out after %v; stderr:\n%s", args, commandTimeout, stderr.String())
	}
	code := exitCode(err)
	if code < 0 {
		t.Fatalf("mount %q: %v; stderr:\n%s", args, err, stderr.String())
	}
	return cmdResult{Stdout: stdout.String(), Stderr: stderr.String(), Code: code}
}

// mountLog is the store's mount.log ("" when there is none).
func mountLog(t *testing.T, store string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(store, "mount.log"))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	return string(b)
}

// daemonProc is a daemon mount.fuse.sealfs started: not a child of the
// test, so it is known by its PID and, against PID reuse, its start time.
type daemonProc struct {
	pid   int
	start string // field 22 of /proc/PID/stat
}

// daemonsOf lists the running processes of the binary under test whose
// last argument is mnt: the daemons mount.fuse.sealfs started for it.
func daemonsOf(t *testing.T, mnt string) []daemonProc {
	t.Helper()
	bin, err := filepath.EvalSymlinks(sealfsBin)
	if err != nil {
		t.Fatal(err)
	}
	ents, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	var ds []daemonProc
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		exe, _ := os.Readlink(filepath.Join("/proc", e.Name(), "exe"))
		cmdline, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		args := strings.Split(strings.TrimRight(string(cmdline), "\x00"), "\x00")
		if exe != bin || len(args) < 3 || args[1] != "mount" || args[len(args)-1] != mnt {
			continue
		}
		if f, ok := statFields(pid); ok && len(f) >= 22 {
			if d := (daemonProc{pid, f[21]}); d.alive() {
				ds = append(ds, d)
			}
		}
	}
	return ds
}

// statFields splits /proc/PID/stat into the fields of proc(5); the command
// name (field 2) may hold spaces, so the rest is split after its paren.
func statFields(pid int) ([]string, bool) {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return nil, false
	}
	s := string(b)
	open, end := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
	if open < 0 || end < open {
		return nil, false
	}
	return append([]string{strings.TrimSpace(s[:open]), s[open+1 : end]}, strings.Fields(s[end+1:])...), true
}

// alive: the process still runs (a zombie nobody reaped yet has exited).
func (d daemonProc) alive() bool {
	f, ok := statFields(d.pid)
	return ok && len(f) >= 22 && f[21] == d.start && f[2] != "Z" && f[2] != "X"
}

// waitGone waits up to timeout for the daemon to exit.
func (d daemonProc) waitGone(timeout time.Duration) bool {
	return waitFor(timeout, func() bool { return !d.alive() })
}

// kill sends SIGKILL to the daemon, if it is still the same process.
func (d daemonProc) kill() {
	if d.alive() {
		_ = syscall.Kill(d.pid, syscall.SIGKILL)
	}
}
