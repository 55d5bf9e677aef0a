package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/sealfs/sealfs/store"
)

const (
	// helperMountWait bounds how long the helper waits for the daemon to
	// mount: opening a bucket and taking its lease may take a while at boot.
	helperMountWait = 2 * time.Minute
	// helperPoll is how often the helper looks at the mount table.
	helperPoll = 50 * time.Millisecond
	// helperStopWait bounds how long a daemon that did not mount in time
	// may take to go after SIGTERM, before SIGKILL.
	helperStopWait = 10 * time.Second
)

// mountLogPath is where a mount started by mount(8) logs. The store is the
// one directory such a mount always has and may write to, also for a user
// mount, and its log then sits with the rest of that store's state (the
// daemon never logs a key, a DEK, a credential or plaintext).
func mountLogPath(storeDir string) string { return filepath.Join(storeDir, "mount.log") }

// check refuses, before anything starts, a missing store and a mountpoint
// that cannot be mounted on. A mountpoint that is already a mount must be
// refused here: the helper would take that mount for the daemon's.
func (c *helperCall) check() error {
	abs, err := filepath.Abs(c.store)
	if err != nil {
		return helperFail(helperUsage, "store %s: %v", c.store, err)
	}
	if !store.Exists(abs) {
		return helperFail(helperMountFailed, "no sealfs store at %s (create one with: sealfs init --store %s --key-file FILE)", abs, abs)
	}
	mnt, err := checkMountpoint(c.mountpoint)
	if err != nil {
		return helperFail(helperMountFailed, "%v", err)
	}
	c.store, c.mountpoint = abs, mnt
	return nil
}

// detachMount starts `sealfs mount` as a daemon of its own (a new session,
// stdin /dev/null, output appended to the store's mount.log) and waits
// until its mount is in the mount table, or until it exits or
// helperMountWait passes; then it returns the daemon's output as the error.
func detachMount(c helperCall, args []string, stdout io.Writer) error {
	logFile, err := os.OpenFile(mountLogPath(c.store), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return helperFail(helperSystem, "open the log: %v", err)
	}
	defer logFile.Close()
	helperLogger(logFile, c.options).Info("mount.fuse.sealfs starts sealfs mount", "store", c.store, "mountpoint", c.mountpoint, "args", strings.Join(args, " "))
	start, err := logFile.Seek(0, io.SeekEnd)
	if err != nil {
		return helperFail(helperSystem, "log: %v", err)
	}
	devNull, err := os.Open(os.DevNull)
	if err != nil {
		return helperFail(helperSystem, "%v", err)
	}
	defer devNull.Close()
	cmd, err := daemonCommand(args, devNull, logFile)
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return helperFail(helperSystem, "start sealfs mount: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	err = waitMounted(c.mountpoint, cmd.Process, exited)
	if errors.Is(err, errDaemonExited) {
		err = withDaemonOutput(err, mountLogPath(c.store), start)
	}
	if err != nil {
		return helperFailure{helperMountFailed, err}
	}
	if c.verbose {
		fmt.Fprintf(stdout, "%s: sealfs mount (pid %d) mounted %s on %s; it logs to %s\n",
			mountHelperName, cmd.Process.Pid, c.store, c.mountpoint, mountLogPath(c.store))
	}
	return nil
}

// helperLogger writes the helper's own line into the log in the format the
// daemon was asked for.
func helperLogger(w io.Writer, options []string) *slog.Logger {
	if slices.Contains(options, "log_format=json") {
		return slog.New(slog.NewJSONHandler(w, nil))
	}
	return slog.New(slog.NewTextHandler(w, nil))
}

// daemonCommand is `sealfs mount ARGS` as a daemon: the binary that runs
// now, under the name sealfs (under the helper's it would start a helper),
// in / so that it keeps no directory busy, in a session of its own so that
// it outlives mount(8) and its terminal.
func daemonCommand(args []string, devNull, logFile *os.File) (*exec.Cmd, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, helperFail(helperSystem, "find the sealfs binary: %v", err)
	}
	cmd := exec.Command(exe, args...)
	cmd.Args[0] = "sealfs"
	cmd.Dir = "/"
	cmd.Stdin, cmd.Stdout, cmd.Stderr = devNull, logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	return cmd, nil
}

// errDaemonExited: the daemon exited before its mount appeared.
var errDaemonExited = errors.New("sealfs mount exited before mounting")

// waitMounted returns nil once mnt is a fuse.sealfs mount, and an error
// when the daemon exits first or does not mount in time (it is then
// stopped: a mount that appears after mount(8) gave up would surprise).
func waitMounted(mnt string, daemon *os.Process, exited <-chan error) error {
	deadline := time.Now().Add(helperMountWait)
	tick := time.NewTicker(helperPoll)
	defer tick.Stop()
	for {
		if ok, err := isSealfsMount(mnt); err != nil || ok {
			return err
		}
		select {
		case err := <-exited:
			return fmt.Errorf("%w (%v)", errDaemonExited, err)
		case <-tick.C:
		}
		if time.Now().After(deadline) {
			stopDaemon(daemon, exited)
			return fmt.Errorf("%s was not mounted within %v; stopped sealfs mount (pid %d)", mnt, helperMountWait, daemon.Pid)
		}
	}
}

// isSealfsMount reports whether mnt is in the mount table as fuse.sealfs.
func isSealfsMount(mnt string) (bool, error) {
	mounts, err := readMounts()
	for _, m := range mounts {
		if m.point == mnt && m.fsType == "fuse.sealfs" {
			return true, nil
		}
	}
	return false, err
}

// stopDaemon ends a daemon that did not mount: SIGTERM, then SIGKILL.
func stopDaemon(daemon *os.Process, exited <-chan error) {
	_ = daemon.Signal(syscall.SIGTERM)
	select {
	case <-exited:
	case <-time.After(helperStopWait):
		_ = daemon.Kill()
		<-exited
	}
}

// withDaemonOutput replaces err by what the daemon wrote to the log after
// offset start, its own words for why it did not mount; err stays when the
// daemon wrote nothing.
func withDaemonOutput(err error, logPath string, start int64) error {
	f, oerr := os.Open(logPath)
	if oerr != nil {
		return err
	}
	defer f.Close()
	if _, serr := f.Seek(start, io.SeekStart); serr != nil {
		return err
	}
	var lines []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if line := strings.TrimSpace(sc.Text()); line != "" {
			lines = append(lines, line)
		}
	}
	if len(lines) == 0 {
		return err
	}
	return errors.New(strings.Join(lines, "\n"))
}
