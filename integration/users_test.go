package integration

import (
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The unprivileged user the tests act as (Debian's "nobody").
const nobodyID = 65534

// withMountArgs adds flags to `sealfs mount`.
func withMountArgs(args ...string) mountOption {
	return func(c *mountConfig) { c.extraArgs = append(c.extraArgs, args...) }
}

// asNobody runs a shell command as uid/gid 65534 and returns its combined
// output and error.
func asNobody(t *testing.T, dir, script string) (string, error) {
	t.Helper()
	cmd := exec.Command("sh", "-c", script)
	cmd.Dir = dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobodyID, Gid: nobodyID}}
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// openUpPath makes every directory from dir up to / traversable by others,
// as t.TempDir() creates them 0700.
func openUpPath(t *testing.T, dir string) {
	t.Helper()
	for d := dir; d != "/" && d != "."; d = filepath.Dir(d) {
		fi, err := os.Stat(d)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(d, fi.Mode().Perm()|0o011); err != nil {
			t.Fatal(err)
		}
	}
}

// TestAllowOtherEnforcesModes: with --allow-other another user may use the
// mount, and the kernel applies modes and owners to it as on ext4.
func TestAllowOtherEnforcesModes(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("this test switches users and must run as root")
	}
	m := mountSealfs(t, withMountArgs("--allow-other"))
	openUpPath(t, m.Dir)
	mustWriteFile(t, filepath.Join(m.Dir, "secret"), []byte("root only"), 0o600)
	if err := os.Mkdir(filepath.Join(m.Dir, "pub"), 0o777); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Join(m.Dir, "pub"), 0o777); err != nil {
		t.Fatal(err)
	}
	out, err := asNobody(t, m.Dir, "cat secret")
	if err == nil || !strings.Contains(out, "Permission denied") {
		t.Errorf("nobody read a 0600 root file: err=%v out=%q", err, out)
	}
	out, err = asNobody(t, m.Dir, "echo mine > pub/f && stat -c '%u:%g %a' pub/f && cat pub/f")
	if err != nil {
		t.Fatalf("nobody writing in a 0777 directory: %v: %s", err, out)
	}
	if want := "65534:65534 644\nmine\n"; out != want {
		t.Errorf("nobody's file: got %q, want %q", out, want)
	}
	if out, err := asNobody(t, m.Dir, "rm secret"); err == nil {
		t.Errorf("nobody removed root's file from a 0755 root directory: %s", out)
	}
}

// TestWithoutAllowOtherOnlyTheOwnerSees: other users cannot even stat the mount.
func TestWithoutAllowOtherOnlyTheOwnerSees(t *testing.T) {
	m := mountSealfs(t)
	openUpPath(t, m.Dir)
	out, err := asNobody(t, "/", "ls "+m.Dir)
	if err == nil || !strings.Contains(out, "Permission denied") {
		t.Errorf("another user listed a mount without --allow-other: err=%v out=%q", err, out)
	}
}

// TestUnprivilegedMount: a normal user mounts through fusermount3, uses the
// mount, and unmounts it with fusermount3 -u; the daemon exits 0.
func TestUnprivilegedMount(t *testing.T) {
	requireFuse(t)
	if _, err := exec.LookPath("fusermount3"); err != nil {
		t.Fatal("fusermount3 is missing (Debian package fuse3)")
	}
	base := t.TempDir()
	openUpPath(t, base)
	bin := filepath.Join(base, "sealfs")
	copyExecutable(t, sealfsBin, bin)
	home := filepath.Join(base, "home")
	mnt := filepath.Join(base, "mnt")
	for _, d := range []string{home, mnt} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(d, nobodyID, nobodyID); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command(bin, "mount", mnt)
	cmd.Env = []string{"HOME=" + home, "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobodyID, Gid: nobodyID}}
	stderr := &lockedBuffer{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	var waitErr error
	go func() { waitErr = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		if _, ok := mountFSType(t, mnt); ok {
			exec.Command("umount", mnt).Run()
		}
		select {
		case <-exited:
		case <-time.After(exitTimeout):
			cmd.Process.Kill()
		}
	})
	deadline := time.Now().Add(mountTimeout)
	for {
		if fstype, ok := mountFSType(t, mnt); ok && fstype == sealfsFSType {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("unprivileged mount did not appear; stderr:\n%s", stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	out, err := asNobody(t, mnt, "echo by-nobody > f && cat f && stat -c %u f")
	if err != nil || out != "by-nobody\n65534\n" {
		t.Fatalf("use of the mount by its owner: %v: %q", err, out)
	}
	if _, err := os.Stat(filepath.Join(mnt, "f")); !os.IsPermission(err) {
		t.Errorf("root reached a mount made without --allow-other: %v", err)
	}
	if !strings.Contains(stderr.String(), filepath.Join(home, ".config/sealfs/master.key")) {
		t.Errorf("mount did not print the new key file's path; stderr:\n%s", stderr.String())
	}
	if out, err := asNobody(t, "/", "fusermount3 -u "+mnt); err != nil {
		t.Fatalf("fusermount3 -u: %v: %s", err, out)
	}
	select {
	case <-exited:
		if waitErr != nil {
			t.Errorf("daemon exit: %v; stderr:\n%s", waitErr, stderr.String())
		}
	case <-time.After(exitTimeout):
		t.Fatalf("daemon still running %v after fusermount3 -u", exitTimeout)
	}
	keyInfo, err := os.Stat(filepath.Join(home, ".config/sealfs/master.key"))
	if err != nil || keyInfo.Mode().Perm() != 0o600 {
		t.Errorf("key file: %v, mode %v; want 0600", err, keyInfo.Mode().Perm())
	}
}

func copyExecutable(t *testing.T, from, to string) {
	t.Helper()
	src, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dst, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		t.Fatal(err)
	}
	if err := dst.Close(); err != nil {
		t.Fatal(err)
	}
}
