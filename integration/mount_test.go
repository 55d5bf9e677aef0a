package integration

import (
	"bufio"
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

const (
	// mountTimeout bounds how long a daemon may take to show up in mountinfo.
	mountTimeout = 20 * time.Second
	// exitTimeout bounds how long a daemon may take to flush and exit after
	// its mount went away.
	exitTimeout = 60 * time.Second
	// sealfsFSType is the fstype /proc/self/mountinfo reports for a mount.
	sealfsFSType = "fuse.sealfs"
)

// mountConfig describes one `sealfs mount` invocation.
type mountConfig struct {
	store, key, mnt string
	extraArgs       []string
	// tolerateExit accepts a non-zero exit status of the daemon (tests that
	// tamper with the store on purpose).
	tolerateExit bool
	// wantExit is the exit status the daemon must end with (0: success).
	wantExit int
	// view: a read-only view of a bucket (mount --read-only --remote),
	// whose control socket is in a temporary store, not in store.
	view bool
	// unlock replaces "--key-file key" (a passphrase file or command).
	unlock []string
}

type mountOption func(*mountConfig)

// withStore mounts an existing store with its key instead of a fresh one.
func withStore(store, key string) mountOption {
	return func(c *mountConfig) { c.store, c.key = store, key }
}

// withMountpoint mounts on dir instead of a fresh directory.
func withMountpoint(dir string) mountOption {
	return func(c *mountConfig) { c.mnt = dir }
}

// expectExit makes the daemon's exit status code the one it must end with.
func expectExit(code int) mountOption {
	return func(c *mountConfig) { c.wantExit = code }
}

// asBucketView mounts a read-only view of the bucket at url: no store of
// its own (store is only a name that must not exist).
func asBucketView(url string) mountOption {
	return func(c *mountConfig) {
		c.view = true
		c.extraArgs = append(c.extraArgs, "--read-only", "--remote", url)
	}
}

// unlockWith mounts with these unlock flags instead of --key-file.
func unlockWith(args ...string) mountOption {
	return func(c *mountConfig) { c.unlock = args }
}

// tolerateExitError accepts any exit status of the daemon at cleanup.
func tolerateExitError() mountOption {
	return func(c *mountConfig) { c.tolerateExit = true }
}

// sealfsMount is a running `sealfs mount` daemon and its mountpoint.
type sealfsMount struct {
	Dir   string // the mountpoint
	Store string
	Key   string

	cfg     mountConfig
	cmd     *exec.Cmd
	stderr  *lockedBuffer
	exited  chan struct{}
	waitErr error // valid once exited is closed
	once    sync.Once
}

// mountSealfs initializes a store and key in t.TempDir() (unless withStore
// names existing ones), mounts it, waits until the mount is visible in
// /proc/self/mountinfo and registers a cleanup that unmounts it and checks
// the daemon's exit status.
func mountSealfs(t *testing.T, opts ...mountOption) *sealfsMount {
	t.Helper()
	requireFuse(t)
	var cfg mountConfig
	for _, o := range opts {
		o(&cfg)
	}
	base := t.TempDir()
	if cfg.store == "" {
		cfg.store = filepath.Join(base, "store")
		cfg.key = filepath.Join(base, "keys", "master.key")
		mustMkdir(t, filepath.Dir(cfg.key), 0o700)
		runSealfsOK(t, "init", "--store", cfg.store, "--key-file", cfg.key)
	}
	if cfg.mnt == "" {
		cfg.mnt = filepath.Join(base, "mnt")
		mustMkdir(t, cfg.mnt, 0o755)
	}
	// mountinfo shows the resolved path; TMPDIR may contain a symlink.
	if resolved, err := filepath.EvalSymlinks(cfg.mnt); err == nil {
		cfg.mnt = resolved
	}
	m := startMount(t, cfg)
	t.Cleanup(func() { m.stop(t) })
	m.waitMounted(t)
	return m
}

// startMount starts the daemon without waiting for the mount.
func startMount(t *testing.T, cfg mountConfig) *sealfsMount {
	t.Helper()
	unlock := cfg.unlock
	if unlock == nil {
		unlock = []string{"--key-file", cfg.key}
	}
	args := append([]string{"mount", "--store", cfg.store}, unlock...)
	args = append(args, cfg.extraArgs...)
	args = append(args, cfg.mnt)
	cmd := exec.Command(sealfsBin, args...)
	cmd.Env = sealfsEnv(t)
	stderr := &lockedBuffer{}
	cmd.Stdout = stderr
	cmd.Stderr = stderr
	// If the test binary dies (e.g. go test's timeout), take the daemon
	// down with it so that it unmounts instead of leaving a dead mount.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start sealfs mount: %v", err)
	}
	m := &sealfsMount{
		Dir: cfg.mnt, Store: cfg.store, Key: cfg.key,
		cfg: cfg, cmd: cmd, stderr: stderr, exited: make(chan struct{}),
	}
	go func() {
		m.waitErr = cmd.Wait()
		close(m.exited)
	}()
	return m
}

// waitMounted polls mountinfo until the mount shows up, the daemon exits or
// mountTimeout passes; the last two fail the test.
func (m *sealfsMount) waitMounted(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(mountTimeout)
	for {
		if fstype, ok := mountFSType(t, m.Dir); ok {
			if fstype != sealfsFSType {
				t.Errorf("mount %s has fstype %q, want %q", m.Dir, fstype, sealfsFSType)
			}
			// A script that waits for the mount may run `sealfs sync` or
			// `status` at once: the daemon must answer from then on.
			if _, err := os.Stat(filepath.Join(m.Store, "sealfs.sock")); err != nil && !m.cfg.view {
				t.Errorf("%s is mounted but the daemon's control socket is not there yet: %v", m.Dir, err)
			}
			return
		}
		select {
		case <-m.exited:
			t.Fatalf("sealfs mount exited before mounting (%v); output:\n%s", m.waitErr, m.stderr)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not mounted after %v; daemon output:\n%s", m.Dir, mountTimeout, m.stderr)
		}
	}
}

// Unmount unmounts, waits for the daemon to exit and checks its status. It
// is idempotent; the cleanup registered by mountSealfs calls it too.
func (m *sealfsMount) Unmount(t *testing.T) {
	t.Helper()
	m.stop(t)
}

// Remount unmounts m and mounts the same store with the same key on the
// same mountpoint.
func (m *sealfsMount) Remount(t *testing.T) *sealfsMount {
	t.Helper()
	m.Unmount(t)
	opts := []mountOption{withStore(m.Store, m.Key), withMountpoint(m.Dir)}
	if m.cfg.tolerateExit {
		opts = append(opts, tolerateExitError())
	}
	return mountSealfs(t, opts...)
}

// waitForLog reports whether the daemon's output contains s within timeout:
// the daemon may answer the kernel before it writes its log line.
func (m *sealfsMount) waitForLog(s string, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for !strings.Contains(m.Stderr(), s) {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
	return true
}

// Stderr returns everything the daemon wrote so far.
func (m *sealfsMount) Stderr() string { return m.stderr.String() }

func (m *sealfsMount) stop(t *testing.T) {
	t.Helper()
	m.once.Do(func() {
		if _, mounted := mountFSType(t, m.Dir); mounted {
			unmountDir(t, m.Dir)
		}
		select {
		case <-m.exited:
		case <-time.After(exitTimeout):
			// Only the process this helper started, by its PID.
			_ = m.cmd.Process.Kill()
			<-m.exited
			t.Errorf("sealfs mount (pid %d) did not exit within %v after unmount; killed it", m.cmd.Process.Pid, exitTimeout)
		}
		if m.cfg.wantExit != 0 {
			if code := exitCode(m.waitErr); code != m.cfg.wantExit {
				t.Errorf("sealfs mount of %s exited %d, want %d; output:\n%s", m.Dir, code, m.cfg.wantExit, m.stderr)
			}
		} else if m.waitErr != nil && !m.cfg.tolerateExit {
			t.Errorf("sealfs mount of %s exited with %v; output:\n%s", m.Dir, m.waitErr, m.stderr)
		} else if t.Failed() {
			t.Logf("sealfs mount of %s (%v) output:\n%s", m.Dir, m.waitErr, tail(m.stderr.String(), 60))
		}
	})
}

// unmountDir unmounts dir, lazily if a plain unmount fails (busy).
func unmountDir(t *testing.T, dir string) {
	t.Helper()
	plain, lazy := []string{"umount", dir}, []string{"umount", "-l", dir}
	if os.Geteuid() != 0 {
		plain, lazy = []string{"fusermount3", "-u", dir}, []string{"fusermount3", "-uz", dir}
	}
	out, err := exec.Command(plain[0], plain[1:]...).CombinedOutput()
	if err == nil {
		return
	}
	t.Errorf("%v: %v: %s (open files left on the mount?); unmounting lazily", plain, err, bytes.TrimSpace(out))
	if out, err := exec.Command(lazy[0], lazy[1:]...).CombinedOutput(); err != nil {
		t.Errorf("%v: %v: %s", lazy, err, bytes.TrimSpace(out))
	}
}

// unmountDead unmounts the mount of a daemon that was killed. Processes
// that had files open on it (rsync's receiver, after its parent exited)
// may take a moment to go, so a busy mount is retried for a while before
// unmountDir reports it.
func unmountDead(t *testing.T, dir string) {
	t.Helper()
	plain := []string{"umount", dir}
	if os.Geteuid() != 0 {
		plain = []string{"fusermount3", "-u", dir}
	}
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if exec.Command(plain[0], plain[1:]...).Run() == nil {
			return
		}
		if _, mounted := mountFSType(t, dir); !mounted {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	unmountDir(t, dir)
}

// requireFuse fails the test when FUSE cannot work on this machine.
func requireFuse(t *testing.T) {
	t.Helper()
	fi, err := os.Stat("/dev/fuse")
	if err != nil {
		t.Fatalf("FUSE unavailable: %v (load the fuse module or run the container with --device /dev/fuse)", err)
	}
	if fi.Mode()&os.ModeCharDevice == 0 {
		t.Fatalf("/dev/fuse is not a character device (mode %v)", fi.Mode())
	}
}

// mountFSType reports the fstype of the mount at dir, if dir is a mountpoint.
func mountFSType(t *testing.T, dir string) (string, bool) {
	t.Helper()
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		t.Fatalf("read mountinfo: %v", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		// "36 35 98:0 /root /mnt opts... - fstype source superopts"
		pre, post, ok := strings.Cut(sc.Text(), " - ")
		fields := strings.Fields(pre)
		if !ok || len(fields) < 5 || unescapeMountinfo(fields[4]) != dir {
			continue
		}
		if p := strings.Fields(post); len(p) > 0 {
			return p[0], true
		}
		return "", true
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("read mountinfo: %v", err)
	}
	return "", false
}

// unescapeMountinfo undoes the kernel's octal escapes (\040 for a space).
func unescapeMountinfo(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) && isOctal(s[i+1]) && isOctal(s[i+2]) && isOctal(s[i+3]) {
			b.WriteByte((s[i+1]-'0')<<6 | (s[i+2]-'0')<<3 | (s[i+3] - '0'))
			i += 3
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func isOctal(c byte) bool { return c >= '0' && c <= '7' }

// lockedBuffer is a bytes.Buffer safe for the daemon's output copier and
// the test reading it concurrently.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// tail returns the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = append([]string{"[...]"}, lines[len(lines)-n:]...)
	}
	return strings.Join(lines, "\n")
}

// exitCode extracts the exit status from an exec error (0 for nil, -1 when
// the process did not exit normally).
func exitCode(err error) int {
	if err == nil {
		return 0
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	return -1
}
